"""Figure 1 of the paper: trainable parameters (log scale) against SROCC.

Published points: the paper states Q-CLIP's **0.14 M** trainable parameters and, in its
Efficiency section, that Q-CLIP trains **197×** fewer than FAST-VQA, **666×** fewer than MBVQA,
**3,964×** fewer than CLIPVQA and **58,556×** fewer than Q-Align. It prints no counts for
those methods, so theirs are *derived* here as ``0.14 M × ratio`` (FAST-VQA 27.58 M, MBVQA
93.24 M, CLIPVQA 554.96 M, Q-Align 8,197.84 M); the chart's note and the data file say so
row by row. Their SROCC is the paper's Table 1 row on the chosen test set (LSVQ_test, as
figure 1); Q-CLIP's is its best Table 1 row there unless a method is named.

Measured points: the trained rows of protocol runs (:mod:`.runs`), with the trainable count
read from each run's exported checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qclip_plugin.analysis.plotting import new_figure, save_png
from qclip_plugin.analysis.runs import MeasuredRun, find_runs, preset_trainable_parameters
from qclip_plugin.atomic_files import atomic_write_text

__all__ = [
    "EFFICIENCY_COLUMNS",
    "PAPER_RATIOS",
    "QCLIP_PAPER_TRAINABLE",
    "EfficiencyFiles",
    "EfficiencyPoint",
    "efficiency_figure",
    "measured_efficiency_points",
    "plot_efficiency",
    "published_efficiency_points",
    "run_efficiency",
]

#: Q-CLIP's trainable parameters as the paper states them (abstract, introduction, Efficiency).
QCLIP_PAPER_TRAINABLE = 0.14e6
#: "Q-CLIP reduces the fine-tuned parameters by N×" (paper, Efficiency section).
PAPER_RATIOS: dict[str, int] = {"FAST-VQA": 197, "MBVQA": 666, "CLIPVQA": 3964, "Q-Align": 58556}
DERIVATION_NOTE = (
    "published counts: Q-CLIP 0.14 M as stated by the paper; FAST-VQA, MBVQA, CLIPVQA, Q-Align derived as "
    "0.14 M × the reduction ratios the paper states (197×, 666×, 3,964×, 58,556×)"
)
EFFICIENCY_COLUMNS = ("method", "kind", "test_set", "trainable_params", "SROCC", "PLCC", "params_source",
                      "score_source")


@dataclass(frozen=True)
class EfficiencyPoint:
    """One point of the chart and where its two numbers come from."""

    method: str
    kind: str  # "published" or "measured"
    test_set: str
    trainable_params: float
    SROCC: float
    PLCC: float
    params_source: str
    score_source: str


@dataclass
class EfficiencyFiles:
    png: Path
    csv: Path
    points: list[EfficiencyPoint]


def _published_rows(test_set: str, directory: str | os.PathLike | None) -> pd.DataFrame:
    from qclip_plugin.benchmark.leaderboard import load_published

    rows = load_published(test_sets=[test_set], directory=directory)
    return rows[rows["protocol"].isin(["intra-dataset", "cross-dataset"]) & (rows["table"] == "Table 1")]


def published_efficiency_points(
    test_set: str = "LSVQ_test",
    qclip_method: str | None = None,
    published_dir: str | os.PathLike | None = None,
) -> list[EfficiencyPoint]:
    """Q-CLIP and the four methods the paper compares with, on ``test_set`` (a Table 1 test set:
    LSVQ_test, LSVQ_1080p, KoNViD-1k, LIVE-VQC). ``qclip_method``: which Q-CLIP row (e.g.
    ``"Q-CLIP (UNISampl)"``; default: the best SROCC among the paper's Q-CLIP rows)."""
    rows = _published_rows(test_set, published_dir)
    if rows.empty:
        raise ValueError(f"no published Table 1 rows on {test_set!r} (leaderboard/published/); "
                         "Table 1 test sets: LSVQ_test, LSVQ_1080p, KoNViD-1k, LIVE-VQC")
    qclip = rows[rows["method"].str.startswith("Q-CLIP")]
    if qclip_method is not None:
        qclip = qclip[qclip["method"] == qclip_method]
        if qclip.empty:
            raise ValueError(f"no published row {qclip_method!r} on {test_set}; Q-CLIP rows: "
                             f"{sorted(set(rows['method'][rows['method'].str.startswith('Q-CLIP')]))}")
    best = qclip.sort_values("SROCC", ascending=False).iloc[0]
    source = f"Q-CLIP paper, {best['table']}"
    points = [EfficiencyPoint(str(best["method"]), "published", test_set, QCLIP_PAPER_TRAINABLE,
                              float(best["SROCC"]), float(best["PLCC"]), "0.14 M, stated by the paper",
                              source + (" (best Q-CLIP row)" if qclip_method is None else ""))]
    for method, ratio in PAPER_RATIOS.items():
        row = rows[rows["method"] == method]
        if row.empty:
            continue
        row = row.iloc[0]
        points.append(EfficiencyPoint(
            method, "published", test_set, QCLIP_PAPER_TRAINABLE * ratio, float(row["SROCC"]), float(row["PLCC"]),
            f"derived: 0.14 M × {ratio:,} (the paper's stated reduction ratio)", f"Q-CLIP paper, {row['table']}",
        ))
    return points


def _run_params(run: MeasuredRun) -> tuple[float, str] | None:
    if run.trainable_params is not None:
        return float(run.trainable_params), run.params_source
    if run.preset:
        count = preset_trainable_parameters(run.preset)
        return float(count), f"preset {run.preset!r} as built (no checkpoint beside {run.source})"
    return None


def measured_efficiency_points(
    runs: Sequence[MeasuredRun], test_sets: Iterable[str] | None = None
) -> list[EfficiencyPoint]:
    """One point per measured run and test set (all test sets unless ``test_sets`` is given).

    Raises:
        ValueError: a run's trainable parameter count is unknown (no checkpoint, column or preset).
    """
    wanted = None if test_sets is None else set(test_sets)
    points = []
    for run in runs:
        rows = run.rows if wanted is None else run.rows[run.rows["test_set"].isin(wanted)]
        if rows.empty:
            continue
        params = _run_params(run)
        if params is None:
            raise ValueError(f"{run.source}: the trainable parameter count is unknown; pass the protocol's work dir "
                             "(its result.json names the exported checkpoint) instead of the leaderboard folder")
        for _, row in rows.iterrows():
            points.append(EfficiencyPoint(f"{row['method']} [{run.name}]", "measured", str(row["test_set"]),
                                          params[0], float(row["SROCC"]), float(row["PLCC"]), params[1],
                                          f"measured, {run.source}"))
    return points


def _label(value: float) -> str:
    return f"{value / 1e6:,.2f} M" if value >= 1e5 else f"{value / 1e3:,.1f} K" if value >= 1e3 else f"{value:,.0f}"


def plot_efficiency(points: Sequence[EfficiencyPoint], path: str | os.PathLike, title: str = "") -> Path:
    """Trainable parameters (log x) against SROCC; published circles, Q-CLIP's published star,
    measured triangles; every point labelled with its method and count."""
    return save_png(efficiency_figure(points, title), path)


def efficiency_figure(points: Sequence[EfficiencyPoint], title: str = ""):
    """The matplotlib ``Figure`` :func:`plot_efficiency` saves."""
    if not points:
        raise ValueError("no points to plot")
    # a measured SROCC can be undefined (constant predictions on a tiny test set): kept in the data
    # files, left out of the chart
    drawn = [p for p in points if np.isfinite(p.SROCC) and np.isfinite(p.trainable_params)]
    if not drawn:
        raise ValueError("no point has a SROCC to plot (every SROCC is undefined)")
    fig, axes = new_figure(1100, 720)
    ax = axes[0, 0]
    styles = {
        "published": dict(marker="o", s=70, color="tab:blue", label="published (SROCC from the paper's Table 1)"),
        "qclip": dict(marker="*", s=260, color="tab:red", label="Q-CLIP, published"),
        "measured": dict(marker="^", s=80, color="tab:green", label="measured (this toolkit)"),
    }
    used: set[str] = set()
    for point in drawn:
        style = "qclip" if point.kind == "published" and point.method.startswith("Q-CLIP") else point.kind
        kwargs = dict(styles[style])
        label = kwargs.pop("label")
        ax.scatter(point.trainable_params, point.SROCC, edgecolors="black", linewidths=0.6, zorder=3,
                   label=None if style in used else label, **kwargs)
        used.add(style)
        text = f"{point.method}\n{_label(point.trainable_params)}"
        if point.kind == "measured":
            text = f"{point.method}\non {point.test_set}, {_label(point.trainable_params)}"
        ax.annotate(text, (point.trainable_params, point.SROCC), textcoords="offset points", xytext=(7, -4),
                    fontsize=7.5, va="top")
    xs = np.array([p.trainable_params for p in drawn])
    ys = np.array([p.SROCC for p in drawn])
    ax.set_xscale("log")
    ax.set_xlim(xs.min() / 3, xs.max() * 8)
    pad = max(0.01, 0.08 * float(np.ptp(ys)))
    ax.set_ylim(ys.min() - 3 * pad, ys.max() + 2 * pad)
    ax.set_xlabel("trainable parameters (log scale)")
    test_sets = sorted({p.test_set for p in drawn if p.kind == "published"})
    ax.set_ylabel("SROCC" + (f" (published: {', '.join(test_sets)})" if test_sets else ""))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title or "Trainable parameters vs accuracy (figure 1)", fontsize=11)
    notes = [DERIVATION_NOTE] if any(p.params_source.startswith("derived") for p in drawn) else []
    if len(drawn) < len(points):
        notes.append(f"{len(points) - len(drawn)} measured point(s) without a SROCC left out (see the data file)")
    if notes:
        fig.text(0.01, 0.01, "; ".join(notes), fontsize=7, ha="left", va="bottom", color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def run_efficiency(
    out_dir: str | os.PathLike,
    runs: Iterable[str | os.PathLike] = (),
    *,
    test_set: str = "LSVQ_test",
    measured_test_sets: Iterable[str] | None = None,
    qclip_method: str | None = None,
    published: bool = True,
    published_dir: str | os.PathLike | None = None,
    title: str = "",
) -> EfficiencyFiles:
    """Write ``efficiency.png`` and ``efficiency.csv`` (one row per point, with the source of its
    parameter count and of its score; the derivation note in ``efficiency.json``).

    Args:
        out_dir: where the files go.
        runs: protocol work dirs / leaderboard folders with measured rows (:func:`.runs.find_runs`).
        test_set: the published rows' test set (Table 1's; figure 1 uses LSVQ_test).
        measured_test_sets: measured rows to show (default: every test set of every run).
        qclip_method: the published Q-CLIP row (default: its best on ``test_set``).
        published: include the published points.
    """
    points: list[EfficiencyPoint] = []
    if published:
        points += published_efficiency_points(test_set, qclip_method, published_dir)
    found = find_runs(runs) if runs else []
    points += measured_efficiency_points(found, measured_test_sets)
    if not points:
        raise ValueError("nothing to plot: no published points asked for and no measured runs found in "
                         f"{[str(r) for r in runs]}")
    out = Path(out_dir)
    table = pd.DataFrame([asdict(p) for p in points], columns=list(EFFICIENCY_COLUMNS))
    csv = atomic_write_text(out / "efficiency.csv", table.to_csv(index=False, float_format="%.10g"))
    atomic_write_text(out / "efficiency.json", json.dumps({
        "note": DERIVATION_NOTE,
        "qclip_trainable_paper": QCLIP_PAPER_TRAINABLE,
        "ratios": PAPER_RATIOS,
        "points": [asdict(p) for p in points],
    }, indent=1) + "\n")
    png = plot_efficiency(points, out / "efficiency.png", title=title)
    return EfficiencyFiles(png=png, csv=csv, points=points)
