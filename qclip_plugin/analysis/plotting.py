"""Matplotlib figures without a display (the Agg canvas) saved atomically as PNG."""

from __future__ import annotations

import io
import os
from functools import cache
from pathlib import Path

from qclip_plugin.atomic_files import atomic_write_bytes

__all__ = ["DPI", "level_colours", "level_ranks", "new_figure", "save_png"]

DPI = 100


@cache
def level_ranks() -> dict[str, int]:
    """Quality rank of the prompt level words (higher is better), for colours and orderings: the five
    levels of :mod:`qclip_plugin.models.prompts` (bad = 1 ... excellent = 5), and low / high."""
    from qclip_plugin.models.prompts import FIVE_LEVELS  # here: the models package loads torch and open_clip

    ranks = {level: len(FIVE_LEVELS) - i for i, level in enumerate(FIVE_LEVELS)}
    return {**ranks, "low": 1, "high": len(FIVE_LEVELS)}


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

    ranks = level_ranks()
    if all(level in ranks for level in levels):
        cmap = colormaps["RdYlGn"]
        return [cmap(0.05 + 0.9 * (ranks[level] - 1) / 4) for level in levels]
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(len(levels))]
