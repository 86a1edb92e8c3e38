"""Leaderboards: measured results beside the published rows, as CSV, Markdown and scatter plots.

A leaderboard folder holds ``leaderboard.csv`` (one row per method, test set and split),
``leaderboard.md`` (first the methods × datasets table researchers read, SROCC/PLCC per test set with
measured, untrained-baseline and published rows marked; then the run metadata and one table per
test set with all four criteria and the mapping named), ``metadata.json`` (that metadata, kept when
rows are added later), one ``scatter_<method>__<test set>.png`` per measured method and test set
(prediction vs MOS with the fitted mapping; several splits pooled and coloured by split) and
``predictions_<method>__<test set>.csv`` (the per-video predictions plotted). Every row says whether
it is ``measured`` (this run) or ``published`` (copied from the source it names,
``leaderboard/published/*.csv``). All files are written atomically.

Folders written side by side (``leaderboard/<protocol>[-demo]/``) get an index in their parent,
``README.md``: every folder's methods × datasets table, linked to its page
(:func:`write_leaderboard_index`).

Published rows carry SROCC/PLCC only, as the papers print them (KROCC/RMSE are empty), and
their PLCC is whatever the source used (DOVER/FAST-VQA/Q-CLIP rescale linearly, which is
why ``linear`` is the default mapping here, DESIGN.md section 5).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from qclip_plugin.atomic_files import atomic_write_bytes, atomic_write_text
from qclip_plugin.errors import UserError
from qclip_plugin.resources import resource_dir

__all__ = [
    "COLUMNS",
    "CRITERIA",
    "PUBLISHED_DIR",
    "TABLE_CRITERIA",
    "UNTRAINED_SUFFIX",
    "LeaderboardFiles",
    "LeaderboardIndexError",
    "PublishedRowsMissingError",
    "git_commit",
    "load_published",
    "methods_table",
    "plot_title",
    "protocol_predictions",
    "read_leaderboard",
    "read_metadata",
    "refresh_leaderboard_index",
    "render_markdown",
    "render_methods_table",
    "row_source",
    "scatter_figure",
    "scatter_plot",
    "summarize_splits",
    "write_leaderboard",
    "write_leaderboard_index",
]

#: The criteria columns of a leaderboard (each with a ``<criterion>_std`` column for multi-split summaries).
CRITERIA: tuple[str, ...] = ("SROCC", "PLCC", "KROCC", "RMSE")
#: Columns of ``leaderboard.csv``, in order.
COLUMNS: tuple[str, ...] = (
    "kind", "method", "protocol", "test_set", "split", "seed", "n_videos",
    *CRITERIA, *(f"{m}_std" for m in CRITERIA),
    "mapping", "selected_epoch", "train_set", "preset", "backbone", "sampler",
    "commit", "date", "source", "table", "note",
)  # fmt: skip
#: The published reference rows: the checkout's ``leaderboard/published/``, or an installed package's copy.
PUBLISHED_DIR = resource_dir("leaderboard/published")
#: Summary rows of multi-split protocols carry this in ``split``.
MEAN_STD = "mean±std"
#: The criteria of the methods × datasets table (what the papers print).
TABLE_CRITERIA: tuple[str, ...] = ("SROCC", "PLCC")
#: The untrained baseline's method name ends with this (``Q-CLIP (tiny), untrained``).
UNTRAINED_SUFFIX = ", untrained"
#: A leaderboard folder's run metadata, read back when rows are added to it.
METADATA_FILE = "metadata.json"
#: The index of the leaderboard folders side by side, in their parent folder.
INDEX_FILE = "README.md"
# first line of every index written: a README.md without it is someone else's and never replaced
_INDEX_MARK = "<!-- written by qclip-bench: the index of the leaderboards in this folder, rewritten with each -->"
#: Pixel size of every scatter plot (width, height).
PLOT_SIZE_PX = (600, 480)
_PLOT_DPI = 100


class PublishedRowsMissingError(UserError, FileNotFoundError):
    """The folder of published rows does not exist."""


class LeaderboardIndexError(UserError, FileExistsError):
    """The index would replace a ``README.md`` that qclip-bench did not write."""


@dataclass
class LeaderboardFiles:
    """The files one :func:`write_leaderboard` call wrote."""

    directory: Path
    csv: Path
    markdown: Path
    plots: dict[tuple[str, str], Path] = field(default_factory=dict)  # (method, test set) -> PNG
    predictions: dict[tuple[str, str], Path] = field(default_factory=dict)  # (method, test set) -> CSV
    index: Path | None = None  # the index of the neighbouring leaderboards, if it was refreshed


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
    return _as_leaderboard_columns(table).reset_index(drop=True)


def _as_leaderboard_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with exactly :data:`COLUMNS`, in their order; missing ones added empty (NaN for numbers)."""
    for column in COLUMNS:
        if column not in table:
            table[column] = np.nan if column in CRITERIA or column.endswith("_std") else ""
    return table[list(COLUMNS)]


def summarize_splits(rows: pd.DataFrame) -> pd.DataFrame:
    """One ``mean±std`` row per method and test set from per-split rows (sample std, ``ddof=1``)."""
    out = []
    for _key, group in rows.groupby(["method", "test_set"], sort=False):
        first = group.iloc[0].to_dict()
        summary = {**first, "split": MEAN_STD, "seed": ",".join(str(s) for s in group["seed"])}
        for metric in CRITERIA:
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


def _text(value: Any) -> str:
    """A cell as text: empty for NaN (what ``read_csv`` makes of an empty string)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


def _file_stem(method: str, test_set: str) -> str:
    """``<method>__<test set>``: the name part of a method's scatter plot and predictions on a set."""
    return f"{_slug(method)}__{_slug(test_set)}"


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool]) -> list[str]:
    """Markdown table lines; numeric columns right-aligned, ``|`` in cells escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), line(["---:" if n else "---" for n in numeric]), *map(line, rows)]


# --- the methods × datasets table ------------------------------------------------------------


def _summary_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows a table shows: published ones, and measured ones without a split or summarising splits."""
    split = table["split"].map(_text)
    return table[(table["kind"] == "published") | split.isin(["", MEAN_STD])]


def row_source(row: Mapping[str, Any]) -> str:
    """How the methods table marks a row: ``measured`` (``, untrained baseline``; ``: <its source>`` for
    an evaluated predictions file) or ``published: <source>``."""
    source = _text(row.get("source"))
    if row["kind"] == "published":
        return f"published: {source}"
    label = "measured, untrained baseline" if str(row["method"]).endswith(UNTRAINED_SUFFIX) else "measured"
    return f"{label}: {source}" if source else label


def methods_table(table: pd.DataFrame, criteria: Sequence[str] = TABLE_CRITERIA) -> pd.DataFrame:
    """The methods × datasets view of a leaderboard (its ``leaderboard.csv`` as a frame), as papers print it.

    One row per method and source (:func:`row_source`): columns ``method``, ``kind``, ``source``, then for
    each test set (in the table's order) and criterion ``"<test set> <criterion>"`` and its
    ``"<test set> <criterion>_std"`` (measured ``mean±std`` summaries of several splits; NaN otherwise).
    A method without a result on a set has NaN there. Measured rows come first, in their order (the
    trained model before its untrained baseline); published rows follow by their mean ``criteria[0]``
    over the sets, rows without one last.
    """
    rows = _summary_rows(table).to_dict("records")
    test_sets = list(dict.fromkeys(row["test_set"] for row in rows))
    columns = [f"{t} {c}{s}" for t in test_sets for c in criteria for s in ("", "_std")]
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        source = row_source(row)
        record = records.setdefault((row["method"], source), {"method": row["method"], "kind": row["kind"], "source": source})
        for criterion in criteria:
            for column in (criterion, f"{criterion}_std"):
                record.setdefault(f"{row['test_set']} {column}", _number(row.get(column)))
    wide = pd.DataFrame(list(records.values()), columns=["method", "kind", "source", *columns]).astype(
        {column: float for column in columns}
    )
    published = wide[wide["kind"] == "published"]
    order = published[[f"{t} {criteria[0]}" for t in test_sets]].mean(axis=1, skipna=True)
    published = published.loc[order.sort_values(ascending=False, na_position="last", kind="stable").index]
    return pd.concat([wide[wide["kind"] == "measured"], published], ignore_index=True)


def render_methods_table(table: pd.DataFrame, criteria: Sequence[str] = TABLE_CRITERIA) -> list[str]:
    """Markdown lines of :func:`methods_table`: measured values to 4 decimals (``mean ± std`` over
    splits), published ones as printed (3 decimals), ``—`` where a method has no result."""
    wide = methods_table(table, criteria)
    test_sets = list(dict.fromkeys(_summary_rows(table)["test_set"]))
    header = ["method", *(f"{t} {c}" for t in test_sets for c in criteria), "source"]
    body = []
    for _, row in wide.iterrows():
        digits = 3 if row["kind"] == "published" else 4
        cells = [_fmt(row[f"{t} {c}"], row[f"{t} {c}_std"], digits) for t in test_sets for c in criteria]
        body.append([row["method"], *cells, row["source"]])
    return _markdown_table(header, body, [False, *([True] * (len(header) - 2)), False])


# --- the leaderboard's Markdown -----------------------------------------------------------------


def render_markdown(
    table: pd.DataFrame,
    title: str,
    metadata: Mapping[str, Any],
    plots: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """Markdown of a leaderboard table: the methods × datasets table (SROCC/PLCC), the metadata, then
    one table per test set with all four criteria (measured rows first, published rows by SROCC) and
    the scatter plots of its measured methods (``plots``: ``(method, test set) -> file name``), then
    per-split rows when there are splits."""
    mapping = ", ".join(sorted({str(m) for m in table.loc[table["kind"] == "measured", "mapping"] if str(m)}))
    lines = [f"# {title}", "", *render_methods_table(table), ""]
    lines += [
        "SROCC and PLCC per test set. *measured*: computed here (this run, or a predictions file evaluated with "
        "`qclip-bench evaluate`); *untrained baseline*: the same model as built, before any training; "
        "*published*: copied from the source named (as printed, their own mapping). Details below.",
        "",
    ]
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
        measured = group[(group["kind"] == "measured") & group["split"].map(_text).isin(["", MEAN_STD])]
        published = group[group["kind"] == "published"].sort_values("SROCC", ascending=False, na_position="last")
        lines += [f"## {test_set}", "", "| kind | method | SROCC | PLCC | KROCC | RMSE | mapping | source |"]
        lines += ["|---|---|---|---|---|---|---|---|"]
        for _, row in pd.concat([measured, published]).iterrows():
            # published values keep the precision they were printed with
            digits = 3 if row["kind"] == "published" else 4
            cells = [_fmt(row[m], row.get(f"{m}_std"), digits) for m in CRITERIA]
            note, source = _text(row["note"]), _text(row["source"])
            if row["kind"] == "measured":
                source = ", ".join(p for p in (source or "this run", note) if p)
            elif _text(row["table"]):
                source = f"{source}, {row['table']}"
            mapping_cell = row["mapping"] if row["kind"] == "measured" else "as published"
            lines.append(f"| {row['kind']} | {row['method']} | " + " | ".join(cells) + f" | {mapping_cell} | {source} |")
        for method in measured["method"]:
            if plots and (method, test_set) in plots:
                lines += ["", f"![prediction vs MOS: {method} on {test_set}]({plots[(method, test_set)]})"]
        lines.append("")
    splits = table[(table["kind"] == "measured") & ~table["split"].map(_text).isin(["", MEAN_STD])]
    if len(splits):
        lines += ["## Per split", "", "| test set | method | split | seed | selected epoch | SROCC | PLCC | KROCC | RMSE |"]
        lines += ["|---|---|---|---|---|---|---|---|---|"]
        for _, row in splits.iterrows():
            cells = " | ".join(_fmt(row[m]) for m in CRITERIA)
            lines.append(
                f"| {row['test_set']} | {row['method']} | {row['split']} | {row['seed']} | {row['selected_epoch']} | {cells} |"
            )
        lines.append("")
    return "\n".join(lines)


# --- scatter plots -------------------------------------------------------------------------------


def plot_title(method: str, test_set: str, splits: Sequence[str] = ()) -> str:
    """A scatter plot's title: the method and the set, and which splits it shows (``splits``: the
    distinct split labels of its points; none for a protocol without splits)."""
    title = f"{method} on {test_set}"
    if len(splits) == 1:
        return f"{title}, split {splits[0]}"
    return f"{title}, all {len(splits)} splits pooled" if splits else title


def scatter_figure(
    pred: Sequence[float],
    mos: Sequence[float],
    mapping: str = "linear",
    title: str = "",
    groups: Sequence[Any] | None = None,
):
    """Prediction vs MOS with the fitted ``mapping`` drawn over it, a ``matplotlib`` Figure of
    :data:`PLOT_SIZE_PX` (Agg canvas). ``groups`` (e.g. each point's split) colours the points by group;
    the mapping and the SROCC/PLCC in the title's second line are those of all points together."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from qclip_plugin.evaluation import evaluate_predictions, fit_mapping

    x, y = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    fig = Figure(figsize=(PLOT_SIZE_PX[0] / _PLOT_DPI, PLOT_SIZE_PX[1] / _PLOT_DPI), dpi=_PLOT_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if groups is None:
        ax.scatter(x, y, s=12, alpha=0.7, label=f"{len(x)} videos")
    else:
        labels = np.asarray([str(g) for g in groups])
        for group in dict.fromkeys(labels):
            chosen = labels == group
            ax.scatter(x[chosen], y[chosen], s=12, alpha=0.7, label=f"split {group} ({int(chosen.sum())})")
    if len(x) >= 2 and np.ptp(x) > 0:
        fitted = fit_mapping(x, y, mapping)
        grid = np.linspace(x.min(), x.max(), 200)
        ax.plot(grid, fitted(grid), color="black", label=f"{fitted.name} mapping")
        scores = evaluate_predictions(x, y, mapping)
        pooled = " (pooled)" if groups is not None and len(set(map(str, groups))) > 1 else ""
        ax.set_title(f"{title}\nSROCC {scores['SROCC']:.3f}  PLCC {scores['PLCC']:.3f}{pooled}".strip(), fontsize=10)
    else:
        ax.set_title(title, fontsize=10)
    ax.set_xlabel("prediction")
    ax.set_ylabel("MOS")
    ax.legend(loc="best", fontsize=7, ncol=2 if groups is not None else 1)
    fig.tight_layout()
    return fig


def scatter_plot(
    pred: Sequence[float],
    mos: Sequence[float],
    path: str | os.PathLike,
    mapping: str = "linear",
    title: str = "",
    groups: Sequence[Any] | None = None,
) -> Path:
    """:func:`scatter_figure` saved as a PNG at ``path`` (atomically)."""
    buffer = io.BytesIO()
    scatter_figure(pred, mos, mapping, title, groups).savefig(buffer, format="png", dpi=_PLOT_DPI)
    return atomic_write_bytes(path, buffer.getvalue())


def protocol_predictions(runs: Iterable[Any], method: str) -> dict[tuple[str, str], pd.DataFrame]:
    """A protocol's per-video predictions for its scatter plots, per ``(method, test set)``: the trained
    model's as ``method``, the untrained baseline's as ``method + UNTRAINED_SUFFIX``.

    ``runs``: the protocol's split runs (:class:`qclip_plugin.benchmark.protocols.SplitRun`: ``split_index``,
    ``result.trained``, ``result.untrained``). Several splits are pooled with a ``split`` column (one
    plot, coloured by split); without splits the first run that tested a set gives its predictions.
    """
    frames: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for run in runs:
        for label, results in ((method, run.result.trained), (f"{method}{UNTRAINED_SUFFIX}", run.result.untrained)):
            for test_set, result in results.items():
                if run.split_index is None:
                    frames.setdefault((label, test_set), [result.predictions])
                else:
                    frames.setdefault((label, test_set), []).append(result.predictions.assign(split=str(run.split_index)))
    return {key: pd.concat(parts, ignore_index=True) for key, parts in frames.items()}


# --- writing a leaderboard folder --------------------------------------------------------------------


def _plotted_method(rows: pd.DataFrame, test_set: str) -> str:
    """The method predictions given for a test set alone belong to: its first measured trained row's."""
    trained = rows[(rows["test_set"] == test_set) & ~rows["method"].astype(str).str.endswith(UNTRAINED_SUFFIX)]
    if trained.empty:
        raise ValueError(f"predictions for {test_set!r}, but no measured row on it to plot them for")
    return str(trained["method"].iloc[0])


def write_leaderboard(
    directory: str | os.PathLike,
    protocol: str,
    measured: pd.DataFrame | Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any] | None = None,
    predictions: Mapping[str | tuple[str, str], pd.DataFrame] | None = None,
    mapping: str = "linear",
    published: bool | pd.DataFrame = True,
    title: str | None = None,
    index: bool = True,
) -> LeaderboardFiles:
    """Write a protocol's leaderboard folder (CSV, Markdown, metadata, scatter plots, per-video predictions).

    Args:
        directory: the folder; created if missing, files in it replaced atomically.
        protocol: ``intra-dataset``, ``cross-dataset``, ``finetune`` (or an experiment name);
            selects the published rows.
        measured: rows with at least ``method, test_set`` and the four criteria; rows with a
            ``split`` other than empty are summarised into ``mean±std`` rows.
        metadata: run metadata shown at the top of the Markdown, kept in ``metadata.json``, and filled
            into the measured rows' columns of the same names (``backbone``, ``preset``, ``sampler``, ...).
        predictions: per ``(method, test set)`` (or a test set alone: its first trained method's, see
            :func:`_plotted_method`), a frame with ``pred`` and ``mos`` columns, and ``split`` to pool
            several splits — one scatter plot (``scatter_<method>__<set>.png``) and one CSV each.
            Plots that earlier writes left for rows still in the table stay linked.
        mapping: the mapping PLCC/RMSE used, drawn in the plots.
        published: include the published rows of ``protocol`` (or pass them).
        index: refresh the index of the neighbouring leaderboards (:func:`refresh_leaderboard_index`).
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
    rows = _as_leaderboard_columns(rows)
    rows["split"] = rows["split"].fillna("").astype(str)
    split_rows = rows[rows["split"] != ""]
    measured_rows = pd.concat([rows, summarize_splits(split_rows)], ignore_index=True) if len(split_rows) else rows
    test_sets = list(dict.fromkeys(measured_rows["test_set"]))
    if isinstance(published, pd.DataFrame):
        reference = _as_leaderboard_columns(published.assign(kind="published"))
    elif published:
        reference = load_published(protocol, test_sets)
    else:
        reference = pd.DataFrame(columns=list(COLUMNS))
    table = pd.concat([_as_leaderboard_columns(measured_rows), reference], ignore_index=True)
    order = {name: i for i, name in enumerate(test_sets)}
    table = table.sort_values(["test_set"], key=lambda s: s.map(order), kind="stable").reset_index(drop=True)

    files = LeaderboardFiles(directory, directory / "leaderboard.csv", directory / "leaderboard.md")
    for key, frame in (predictions or {}).items():
        method, test_set = key if isinstance(key, tuple) else (_plotted_method(measured_rows, key), key)
        stem = _file_stem(method, test_set)
        files.predictions[(method, test_set)] = atomic_write_text(
            directory / f"predictions_{stem}.csv", frame.to_csv(index=False, float_format="%.8g")
        )
        groups = frame["split"] if "split" in frame else None
        splits = list(dict.fromkeys(map(str, groups))) if groups is not None else []
        files.plots[(method, test_set)] = scatter_plot(
            frame["pred"], frame["mos"], directory / f"scatter_{stem}.png", mapping,
            title=plot_title(method, test_set, splits), groups=groups,
        )
    plots_md = {
        (m, t): f"scatter_{_file_stem(m, t)}.png"
        for m, t in zip(measured_rows["method"], measured_rows["test_set"], strict=True)
        if (directory / f"scatter_{_file_stem(m, t)}.png").is_file()
    }
    atomic_write_text(files.csv, table.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(directory / METADATA_FILE, json.dumps(metadata, indent=1, default=str))
    heading = title or f"Leaderboard: {protocol}"
    atomic_write_text(files.markdown, render_markdown(table, heading, metadata, plots_md))
    files.index = refresh_leaderboard_index(directory) if index else None
    return files


def read_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """The metadata a leaderboard folder was written with (``metadata.json``; empty if there is none)."""
    path = Path(directory) / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def read_leaderboard(directory: str | os.PathLike) -> pd.DataFrame:
    """A leaderboard folder's ``leaderboard.csv`` as written (text columns as text, empty splits ``""``)."""
    table = pd.read_csv(
        Path(directory) / "leaderboard.csv",
        dtype={"split": str, "seed": str, "table": str, "note": str, "source": str},
    )
    table["split"] = table["split"].fillna("") if "split" in table else ""
    return table


# --- the index of all leaderboards -------------------------------------------------------------------


def write_leaderboard_index(root: str | os.PathLike) -> Path:
    """Write ``<root>/README.md``: the methods × datasets table of every leaderboard folder in ``root``
    (sub-folders with a ``leaderboard.csv``, by name), each linked to its ``leaderboard.md``.

    Raises :class:`LeaderboardIndexError` rather than replace a ``README.md`` it did not write.
    """
    root = Path(root)
    target = root / INDEX_FILE
    if target.is_file() and not target.read_text(errors="replace").startswith(_INDEX_MARK):
        raise LeaderboardIndexError(f"{target} exists and was not written by qclip-bench; move it to write the index")
    lines = [
        _INDEX_MARK, "", "# Leaderboards", "",
        "Every leaderboard in this folder: SROCC and PLCC per test set. *measured*: computed here (a protocol "
        "run, or a predictions file evaluated with `qclip-bench evaluate`); *untrained baseline*: the model as "
        "built, before training; *published*: copied from the source named. Each heading links to the "
        "leaderboard's own page (run metadata, KROCC/RMSE, scatter plots).",
        "",
    ]
    if (root / "published" / "README.md").is_file():
        lines += ["The published rows and their sources: [published/README.md](published/README.md).", ""]
    for folder in sorted(p for p in root.iterdir() if (p / "leaderboard.csv").is_file()):
        table = read_leaderboard(folder)
        if not {"kind", "method", "test_set", "source", *TABLE_CRITERIA} <= set(table.columns):
            continue  # a leaderboard.csv of some other tool
        meta = read_metadata(folder)
        lines += [f"## [{folder.name}]({quote(folder.name)}/leaderboard.md)", ""]
        about = [f"protocol **{meta['protocol']}**" if meta.get("protocol") else "",
                 f"model {meta['model']}" if meta.get("model") else "",
                 f"written {meta['date']}" if meta.get("date") else ""]
        if any(about):
            lines += ["; ".join(a for a in about if a), ""]
        lines += [*render_methods_table(table), ""]
    return atomic_write_text(target, "\n".join(lines))


def refresh_leaderboard_index(directory: str | os.PathLike) -> Path | None:
    """After a leaderboard was written to ``directory``: rewrite the index of its parent folder
    (:func:`write_leaderboard_index`), unless that parent is the current directory (a user's project
    folder, e.g. ``evaluate --leaderboard board``) or holds a ``README.md`` of its own. Returns the
    index written, or None."""
    root = Path(directory).resolve().parent
    own = root / INDEX_FILE
    if root == Path.cwd().resolve() or (own.is_file() and not own.read_text(errors="replace").startswith(_INDEX_MARK)):
        return None
    return write_leaderboard_index(root)
