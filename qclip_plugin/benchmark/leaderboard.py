"""Leaderboards: measured results beside the published rows, as CSV, Markdown and scatter plots.

A leaderboard folder holds ``leaderboard.csv`` (one row per method, test set and split),
``leaderboard.md`` (one table per test set, the mapping and the run metadata named), one
``scatter_<test set>.png`` per test set (prediction vs MOS with the fitted mapping) and
``predictions_<test set>.csv`` (per-video predictions of the measured model). Every row says
whether it is ``measured`` (this run) or ``published`` (copied from the source it names,
``leaderboard/published/*.csv``). All files are written atomically.

Published rows carry SROCC/PLCC only, as the papers print them (KROCC/RMSE are empty), and
their PLCC is whatever the source used (DOVER/FAST-VQA/Q-CLIP rescale linearly, which is
why ``linear`` is the default mapping here, DESIGN.md section 5).
"""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qclip_plugin.atomic_files import atomic_write_bytes, atomic_write_text
from qclip_plugin.errors import UserError
from qclip_plugin.resources import resource_dir

__all__ = [
    "COLUMNS",
    "METRICS",
    "PUBLISHED_DIR",
    "LeaderboardFiles",
    "PublishedRowsMissingError",
    "git_commit",
    "load_published",
    "render_markdown",
    "scatter_plot",
    "summarize_splits",
    "write_leaderboard",
]

METRICS: tuple[str, ...] = ("SROCC", "PLCC", "KROCC", "RMSE")
#: Columns of ``leaderboard.csv``, in order.
COLUMNS: tuple[str, ...] = (
    "kind", "method", "protocol", "test_set", "split", "seed", "n_videos",
    *METRICS, *(f"{m}_std" for m in METRICS),
    "mapping", "selected_epoch", "train_set", "preset", "backbone", "sampler",
    "commit", "date", "source", "table", "note",
)  # fmt: skip
#: The published reference rows: the checkout's ``leaderboard/published/``, or an installed package's copy.
PUBLISHED_DIR = resource_dir("leaderboard/published")
#: Summary rows of multi-split protocols carry this in ``split``.
MEAN_STD = "mean±std"
#: Pixel size of every scatter plot (width, height).
PLOT_SIZE_PX = (600, 480)
_PLOT_DPI = 100


class PublishedRowsMissingError(UserError, FileNotFoundError):
    """The folder of published rows does not exist."""


@dataclass
class LeaderboardFiles:
    """The files one :func:`write_leaderboard` call wrote."""

    directory: Path
    csv: Path
    markdown: Path
    plots: dict[str, Path] = field(default_factory=dict)
    predictions: dict[str, Path] = field(default_factory=dict)


def git_commit(path: str | os.PathLike | None = None) -> str:
    """Short commit hash of the repository holding ``path`` (this package by default), ``+dirty`` if
    it has uncommitted changes; ``"unknown"`` outside a git checkout."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=where, capture_output=True, text=True, timeout=10
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_published(
    protocol: str | Iterable[str] | None = None,
    test_sets: Iterable[str] | None = None,
    directory: str | os.PathLike | None = None,
    methods: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The published rows (``leaderboard/published/*.csv``) of a protocol and test sets, ``kind='published'``.

    Args:
        protocol: the rows' protocol (``cross-dataset``), several (a list), or ``None``: any.
        test_sets: only these test sets (``None``: all).
        directory: the folder of CSV files (default :data:`PUBLISHED_DIR`; sub-folders are not read).
        methods: only these methods, by their exact names (``None``: all).

    A missing folder is an error, never an empty table (the package ships :data:`PUBLISHED_DIR`).
    """
    folder = Path(directory) if directory else PUBLISHED_DIR
    if not folder.is_dir():
        raise PublishedRowsMissingError(
            f"no published rows: {folder} does not exist"
            + ("" if directory else "; the package is incomplete, reinstall qclip-plugin")
        )
    frames = [pd.read_csv(path, dtype={"table": str, "note": str}) for path in sorted(folder.glob("*.csv"))]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    table = pd.concat(frames, ignore_index=True)
    if protocol is not None:
        table = table[table["protocol"].isin([protocol] if isinstance(protocol, str) else list(protocol))]
    if test_sets is not None:
        table = table[table["test_set"].isin(list(test_sets))]
    if methods is not None:
        table = table[table["method"].isin(list(methods))]
    table = table.assign(kind="published")
    return _with_columns(table).reset_index(drop=True)


def _with_columns(table: pd.DataFrame) -> pd.DataFrame:
    for column in COLUMNS:
        if column not in table:
            table[column] = np.nan if column in METRICS or column.endswith("_std") else ""
    return table[list(COLUMNS)]


def summarize_splits(rows: pd.DataFrame) -> pd.DataFrame:
    """One ``mean±std`` row per method and test set from per-split rows (sample std, ``ddof=1``)."""
    out = []
    for _key, group in rows.groupby(["method", "test_set"], sort=False):
        first = group.iloc[0].to_dict()
        summary = {**first, "split": MEAN_STD, "seed": ",".join(str(s) for s in group["seed"])}
        for metric in METRICS:
            values = pd.to_numeric(group[metric], errors="coerce")
            summary[metric] = float(values.mean())
            summary[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        summary["n_videos"] = int(pd.to_numeric(group["n_videos"], errors="coerce").sum())
        epochs = sorted({str(e) for e in group["selected_epoch"] if str(e) not in ("", "nan")})
        summary["selected_epoch"] = ",".join(epochs)
        summary["note"] = f"{len(group)} splits"
        out.append(summary)
    return pd.DataFrame(out)


def _fmt(value: Any, std: Any = None, digits: int = 4) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(value):
        return "—"
    text = f"{value:.{digits}f}"
    try:
        std = float(std)
    except (TypeError, ValueError):
        return text
    return text if math.isnan(std) else f"{text} ± {std:.{digits}f}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


def render_markdown(
    table: pd.DataFrame,
    title: str,
    metadata: Mapping[str, Any],
    plots: Mapping[str, str] | None = None,
) -> str:
    """Markdown of a leaderboard table: metadata, then one table per test set (measured rows
    first, published rows by SROCC), then per-split rows when there are splits."""
    mapping = ", ".join(sorted({str(m) for m in table.loc[table["kind"] == "measured", "mapping"] if str(m)}))
    lines = [f"# {title}", ""]
    lines += [f"- **{key}**: {value}" for key, value in metadata.items() if value not in (None, "")]
    lines += [
        "",
        f"SROCC and KROCC on raw predictions; PLCC and RMSE of measured rows after the **{mapping or 'linear'}** "
        "mapping (`linear`: predictions rescaled to the MOS mean and std, as DOVER/FAST-VQA/Q-CLIP report; "
        "`logistic4`/`logistic5`: VQEG logistic fits). *measured*: this run. *published*: copied from the "
        "source named (SROCC/PLCC only, their own mapping).",
        "",
    ]
    for test_set, group in table.groupby("test_set", sort=False):
        measured = group[(group["kind"] == "measured") & (group["split"].isin(["", MEAN_STD]) | group["split"].isna())]
        published = group[group["kind"] == "published"].sort_values("SROCC", ascending=False, na_position="last")
        lines += [f"## {test_set}", "", "| kind | method | SROCC | PLCC | KROCC | RMSE | mapping | source |"]
        lines += ["|---|---|---|---|---|---|---|---|"]
        for _, row in pd.concat([measured, published]).iterrows():
            # published values keep the precision they were printed with
            digits = 3 if row["kind"] == "published" else 4
            cells = [_fmt(row[m], row.get(f"{m}_std"), digits) for m in METRICS]
            source = row["source"] if row["kind"] == "published" else f"this run ({row['note']})" if row["note"] else "this run"
            if row["kind"] == "published" and row["table"]:
                source = f"{source}, {row['table']}"
            mapping_cell = row["mapping"] if row["kind"] == "measured" else "as published"
            lines.append(f"| {row['kind']} | {row['method']} | " + " | ".join(cells) + f" | {mapping_cell} | {source} |")
        if plots and test_set in plots:
            lines += ["", f"![prediction vs MOS on {test_set}]({plots[test_set]})"]
        lines.append("")
    splits = table[(table["kind"] == "measured") & ~table["split"].isin(["", MEAN_STD]) & table["split"].notna()]
    if len(splits):
        lines += ["## Per split", "", "| test set | method | split | seed | selected epoch | SROCC | PLCC | KROCC | RMSE |"]
        lines += ["|---|---|---|---|---|---|---|---|---|"]
        for _, row in splits.iterrows():
            cells = " | ".join(_fmt(row[m]) for m in METRICS)
            lines.append(
                f"| {row['test_set']} | {row['method']} | {row['split']} | {row['seed']} | {row['selected_epoch']} | {cells} |"
            )
        lines.append("")
    return "\n".join(lines)


def scatter_plot(
    pred: Sequence[float],
    mos: Sequence[float],
    path: str | os.PathLike,
    mapping: str = "linear",
    title: str = "",
) -> Path:
    """Prediction vs MOS with the fitted ``mapping`` drawn over it, as a PNG of :data:`PLOT_SIZE_PX`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from qclip_plugin.evaluation import evaluate_predictions, fit_mapping

    x, y = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    fig = Figure(figsize=(PLOT_SIZE_PX[0] / _PLOT_DPI, PLOT_SIZE_PX[1] / _PLOT_DPI), dpi=_PLOT_DPI)
    ax = fig.add_subplot()
    ax.scatter(x, y, s=12, alpha=0.7, label=f"{len(x)} videos")
    if len(x) >= 2 and np.ptp(x) > 0:
        fitted = fit_mapping(x, y, mapping)
        grid = np.linspace(x.min(), x.max(), 200)
        ax.plot(grid, fitted(grid), color="C3", label=f"{fitted.name} mapping")
        scores = evaluate_predictions(x, y, mapping)
        ax.set_title(f"{title}\nSROCC {scores['SROCC']:.3f}  PLCC {scores['PLCC']:.3f}".strip(), fontsize=10)
    else:
        ax.set_title(title, fontsize=10)
    ax.set_xlabel("prediction")
    ax.set_ylabel("MOS")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_PLOT_DPI)
    return atomic_write_bytes(path, buffer.getvalue())


def write_leaderboard(
    directory: str | os.PathLike,
    protocol: str,
    measured: pd.DataFrame | Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any] | None = None,
    predictions: Mapping[str, pd.DataFrame] | None = None,
    mapping: str = "linear",
    published: bool | pd.DataFrame = True,
    title: str | None = None,
) -> LeaderboardFiles:
    """Write a protocol's leaderboard folder (CSV, Markdown, scatter plots, per-video predictions).

    Args:
        directory: the folder; created if missing, files in it replaced atomically.
        protocol: ``intra-dataset``, ``cross-dataset``, ``finetune`` (or an experiment name);
            selects the published rows.
        measured: rows with at least ``method, test_set`` and the four metrics; rows with a
            ``split`` other than empty are summarised into ``mean±std`` rows.
        metadata: run metadata shown at the top of the Markdown and filled into the measured
            rows' columns of the same names (``backbone``, ``preset``, ``sampler``, ``commit``, ...).
        predictions: per test set, a frame with ``pred`` and ``mos`` columns (the selected
            model's per-video predictions) — one scatter plot and one CSV each.
        mapping: the mapping PLCC/RMSE used, drawn in the plots.
        published: include the published rows of ``protocol`` (or pass them).
    """
    directory = Path(directory)
    metadata = dict(metadata or {})
    rows = pd.DataFrame(list(measured) if not isinstance(measured, pd.DataFrame) else measured)
    if rows.empty:
        raise ValueError(f"no measured results to write to the {protocol} leaderboard in {directory}")
    rows = rows.assign(kind="measured", protocol=rows.get("protocol", protocol))
    for key in ("train_set", "preset", "backbone", "sampler", "commit", "date"):
        if key in metadata and (key not in rows or rows[key].isna().all()):
            rows[key] = metadata[key]
    rows = _with_columns(rows)
    rows["split"] = rows["split"].fillna("").astype(str)
    split_rows = rows[rows["split"] != ""]
    measured_rows = pd.concat([rows, summarize_splits(split_rows)], ignore_index=True) if len(split_rows) else rows
    test_sets = list(dict.fromkeys(measured_rows["test_set"]))
    if isinstance(published, pd.DataFrame):
        reference = _with_columns(published.assign(kind="published"))
    elif published:
        reference = load_published(protocol, test_sets)
    else:
        reference = pd.DataFrame(columns=list(COLUMNS))
    table = pd.concat([_with_columns(measured_rows), reference], ignore_index=True)
    order = {name: i for i, name in enumerate(test_sets)}
    table = table.sort_values(["test_set"], key=lambda s: s.map(order), kind="stable").reset_index(drop=True)

    files = LeaderboardFiles(directory, directory / "leaderboard.csv", directory / "leaderboard.md")
    plots_md: dict[str, str] = {}
    for test_set, frame in (predictions or {}).items():
        slug = _slug(test_set)
        files.predictions[test_set] = atomic_write_text(
            directory / f"predictions_{slug}.csv", frame.to_csv(index=False, float_format="%.8g")
        )
        files.plots[test_set] = scatter_plot(
            frame["pred"], frame["mos"], directory / f"scatter_{slug}.png", mapping, title=f"{protocol}: {test_set}"
        )
        plots_md[test_set] = files.plots[test_set].name
    atomic_write_text(files.csv, table.to_csv(index=False, float_format="%.6g"))
    heading = title or f"Leaderboard: {protocol}"
    atomic_write_text(files.markdown, render_markdown(table, heading, metadata, plots_md))
    return files
