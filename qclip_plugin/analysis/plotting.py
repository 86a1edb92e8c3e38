"""Matplotlib figures without a display (the Agg canvas) saved atomically as PNG."""

from __future__ import annotations

import io
import os
from pathlib import Path

from qclip_plugin.atomic_files import atomic_write_bytes

__all__ = ["DPI", "LEVEL_RANK", "level_colours", "new_figure", "save_png"]

DPI = 100
#: Quality rank of the prompt level words (higher is better), for colours and orderings.
LEVEL_RANK: dict[str, int] = {"bad": 1, "poor": 2, "fair": 3, "good": 4, "excellent": 5, "low": 1, "high": 5}


def new_figure(width_px: int, height_px: int, rows: int = 1, cols: int = 1):
    """A ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot state, safe in threads) and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def save_png(fig, path: str | os.PathLike) -> Path:
    """Render ``fig`` to ``path`` (PNG), replacing any old file atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return atomic_write_bytes(path, buffer.getvalue())


def level_colours(levels: list[str]) -> list[tuple[float, float, float, float]]:
    """One colour per prompt level: red (bad) to green (excellent) for known words, tab10 otherwise."""
    from matplotlib import colormaps

    if all(level in LEVEL_RANK for level in levels):
        cmap = colormaps["RdYlGn"]
        return [cmap(0.05 + 0.9 * (LEVEL_RANK[level] - 1) / 4) for level in levels]
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(len(levels))]
