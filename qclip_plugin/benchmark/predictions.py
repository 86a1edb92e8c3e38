"""Evaluate any method's per-video predictions against a label list (``qclip-bench evaluate``).

Prediction files are CSV with a header; the video name is the ``name`` column (or ``path``, as
``qclip-bench score`` writes it) and the score is found, in this order, as:

- ``aesthetic`` and ``technical`` columns: DOVER's released two-branch predictions, fused by z-scoring
  each branch over the file and summing (:func:`fuse_branches`; DESIGN.md §4);
- a ``score``, ``pred``, ``pred_score`` or ``prediction`` column (``qclip-bench score`` output, the
  ``VQAMetric`` predictions file);
- otherwise the file must have exactly two columns, ``name,score`` (with or without a header).

Rows of a ``qclip-bench score`` file whose ``status`` is not ``ok`` are dropped. Names are matched to
the label list exactly, else by their trailing path components (``/data/KoNViD/123.mp4`` matches
``KoNViD_1k_videos/123.mp4`` through ``123.mp4``) when that is unambiguous.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from qclip_plugin.errors import UserError

SCORE_COLUMNS: tuple[str, ...] = ("score", "pred", "pred_score", "prediction")
NAME_COLUMNS: tuple[str, ...] = ("name", "path", "video")
#: DOVER's two branches (its released ``<set>.csv`` files: ``name, mos, aesthetic, technical``).
DOVER_BRANCHES: tuple[str, ...] = ("aesthetic", "technical")


class PredictionsError(UserError, ValueError):
    """A predictions file that cannot be evaluated; the message names the file (and the line)."""


class MissingPredictionsError(UserError, FileNotFoundError):
    """No predictions file at the given path."""


@dataclass
class PredictionsEvaluation:
    """SROCC/PLCC/KROCC/RMSE of a predictions file, with what was matched."""

    predictions: str
    labels: str
    mapping: str
    n: int  # videos evaluated (in both files)
    SROCC: float
    PLCC: float
    KROCC: float
    RMSE: float
    fused_branches: tuple[str, ...] = ()
    missing: list[str] = field(default_factory=list)  # labelled videos without a prediction
    unmatched: list[str] = field(default_factory=list)  # predictions without a label
    table: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # name, mos, pred per video

    def as_dict(self) -> dict:
        """Everything but the per-video table, JSON-ready."""
        return {k: v for k, v in asdict(self).items() if k != "table"}

    def summary(self) -> str:
        fused = f" (fused {' + '.join(self.fused_branches)} by z-score)" if self.fused_branches else ""
        lines = [
            f"{self.predictions}{fused} vs {self.labels}: {self.n} videos, mapping {self.mapping}",
            f"  SROCC {self.SROCC:.4f}  PLCC {self.PLCC:.4f}  KROCC {self.KROCC:.4f}  RMSE {self.RMSE:.4f}",
        ]
        if self.missing:
            lines.append(f"  {len(self.missing)} labelled videos have no prediction (e.g. {self.missing[0]})")
        if self.unmatched:
            lines.append(f"  {len(self.unmatched)} predictions have no label (e.g. {self.unmatched[0]})")
        return "\n".join(lines)


def fuse_branches(table: pd.DataFrame, branches: Sequence[str] = DOVER_BRANCHES) -> pd.Series:
    """Sum of the z-scored branch columns (DOVER's fusion of its aesthetic and technical heads).

    Each branch is standardised over the whole file (population std), so branches on different
    scales weigh equally.
    """
    fused = pd.Series(0.0, index=table.index)
    for branch in branches:
        values = table[branch].astype(float)
        std = values.std(ddof=0)
        if not std > 0:
            raise PredictionsError(f"branch column {branch!r} is constant; it cannot be z-scored")
        fused += (values - values.mean()) / std
    return fused


def _read_csv(path: Path, **options) -> pd.DataFrame:
    """A CSV as UTF-8 text, with errors that name the file and the line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise PredictionsError(
            f"{path}, line {line}: not UTF-8 text (byte {data[error.start]:#04x}); save the file as UTF-8"
        ) from None
    try:
        return pd.read_csv(io.StringIO(text), skipinitialspace=True, **options)
    except pd.errors.EmptyDataError:
        raise PredictionsError(f"{path} is empty: no predictions to evaluate") from None
    except pd.errors.ParserError as error:
        raise PredictionsError(f"{path}: not a CSV table ({str(error).strip()})") from None


def _floats(path: Path, column: pd.Series, name: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any():
        first = bad.idxmax()
        raise PredictionsError(
            f"{path}, line {int(first) + 2}: the {name!r} column holds {column[first]!r}, not a number"
        )
    return values.astype(float)


def read_predictions(path: str | os.PathLike) -> tuple[pd.Series, tuple[str, ...]]:
    """Per-video scores of a predictions file, indexed by name, and the branches fused (if any).

    Rows without a score (an empty cell, or a ``qclip-bench score`` row whose ``status`` is not
    ``ok``) are left out; a file left with none raises :class:`PredictionsError`.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingPredictionsError(f"predictions file {path} does not exist")
    table = _read_csv(path)
    columns = {str(c).strip().lower(): c for c in table.columns}
    name_col = next((columns[c] for c in NAME_COLUMNS if c in columns), None)
    if name_col is None:
        if len(table.columns) != 2:
            raise PredictionsError(
                f"{path}: cannot tell which column holds the video names (columns: {list(table.columns)}); "
                f"name it one of {NAME_COLUMNS}, or give a two-column name,score file"
            )
        # headerless name,score: the first row was read as a header
        table = _read_csv(path, header=None, names=["name", "score"])
        columns, name_col = {"name": "name", "score": "score"}, "name"
    total = len(table)
    if "status" in columns:
        table = table[table[columns["status"]].astype(str) == "ok"]
    fused: tuple[str, ...] = ()
    if all(b in columns for b in DOVER_BRANCHES):
        fused = DOVER_BRANCHES
        for b in DOVER_BRANCHES:
            table[columns[b]] = _floats(path, table[columns[b]], columns[b])
        table = table.dropna(subset=[columns[b] for b in DOVER_BRANCHES])
        scores = fuse_branches(table, [columns[b] for b in DOVER_BRANCHES]) if len(table) else pd.Series(dtype=float)
    else:
        score_col = next((columns[c] for c in SCORE_COLUMNS if c in columns), None)
        if score_col is None:
            others = [c for c in table.columns if c != name_col]
            if len(others) != 1:
                raise PredictionsError(
                    f"{path}: no score column; name it one of {SCORE_COLUMNS} (columns: {list(table.columns)}), "
                    f"or give {DOVER_BRANCHES} for DOVER's two-branch predictions"
                )
            score_col = others[0]
        scores = _floats(path, table[score_col], str(score_col))
        table, scores = table[scores.notna()], scores[scores.notna()]
    if scores.empty:
        status = " (the status column says every video failed)" if "status" in columns and total else ""
        raise PredictionsError(
            f"{path}: no usable prediction row: {total} rows{status}; score the videos first, or check the file"
        )
    scores.index = table[name_col].astype(str).str.strip()
    if scores.index.has_duplicates:
        duplicated = scores.index[scores.index.duplicated()].unique()
        raise PredictionsError(f"{path}: {len(duplicated)} videos are predicted twice (e.g. {duplicated[0]})")
    return scores, fused


def match_names(predicted: Sequence[str], labelled: Sequence[str]) -> dict[str, str]:
    """Map predicted names to labelled names: exact, else by the longest unambiguous path suffix."""
    labelled_set = set(labelled)
    mapping = {name: name for name in predicted if name in labelled_set}
    rest = [name for name in predicted if name not in mapping]
    if not rest:
        return mapping
    taken = set(mapping.values())
    by_suffix: dict[tuple[str, ...], list[str]] = {}
    for name in labelled:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        for k in range(1, len(parts) + 1):
            by_suffix.setdefault(parts[-k:], []).append(name)
    for name in rest:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        for k in range(len(parts), 0, -1):
            candidates = by_suffix.get(parts[-k:], [])
            if len(candidates) == 1:  # ambiguous over all labels, not just the unclaimed ones
                if candidates[0] not in taken:
                    mapping[name] = candidates[0]
                    taken.add(candidates[0])
                break
    return mapping


def evaluate_predictions_file(
    predictions: str | os.PathLike,
    labels: str | os.PathLike,
    mapping: str = "linear",
    label_format: str = "auto",
    min_videos: int = 3,
) -> PredictionsEvaluation:
    """SROCC/PLCC/KROCC/RMSE of a predictions file against a label file.

    ``labels`` is any format :func:`qclip_plugin.data.labels.read_labels` reads (the community lists
    ``path, duration, fps, MOS``, or the official files; ``label_format`` if the name does not tell).

    PLCC and RMSE are computed after ``mapping`` (``none | linear | logistic4 | logistic5``; DESIGN.md §5).
    DOVER's released KoNViD-1k predictions give SROCC 0.8825 and PLCC 0.8836.
    """
    from qclip_plugin.data.labels import read_labels
    from qclip_plugin.evaluation import evaluate_predictions

    scores, fused = read_predictions(predictions)
    table = read_labels(labels, label_format=label_format)
    mos = pd.Series(table["mos"].to_numpy(dtype=np.float64), index=table["name"].astype(str))
    names = match_names(list(scores.index), list(mos.index))
    if len(names) < min_videos:
        raise PredictionsError(
            f"only {len(names)} of the {len(scores)} predictions in {predictions} name a video of {labels} "
            f"(e.g. prediction {scores.index[0]!r}, label {next(iter(mos.index), None)!r}); are they for the "
            "same dataset?"
        )
    matched = scores[list(names)]
    labelled = mos[[names[n] for n in matched.index]].to_numpy(dtype=np.float64)
    metrics = evaluate_predictions(matched.to_numpy(dtype=np.float64), labelled, mapping=mapping)
    used = set(names.values())
    return PredictionsEvaluation(
        predictions=str(predictions),
        labels=str(labels),
        mapping=metrics["mapping"],
        n=len(matched),
        SROCC=metrics["SROCC"],
        PLCC=metrics["PLCC"],
        KROCC=metrics["KROCC"],
        RMSE=metrics["RMSE"],
        fused_branches=fused,
        missing=[n for n in mos.index if n not in used],
        unmatched=[n for n in scores.index if n not in names],
        table=pd.DataFrame(
            {"name": [names[n] for n in matched.index], "mos": labelled, "pred": matched.to_numpy(np.float64)}
        ),
    )


def add_to_leaderboard(
    result: PredictionsEvaluation,
    leaderboard: str | os.PathLike,
    *,
    method: str,
    test_set: str,
    train_set: str = "",
    protocol: str = "cross-dataset",
    source: str = "",
):
    """Add (or replace) the measured row ``method`` x ``test_set`` of a leaderboard folder.

    The folder is rewritten with :func:`qclip_plugin.benchmark.leaderboard.write_leaderboard`: the measured
    rows already in its ``leaderboard.csv`` are kept, this result's row replaces any row of the same
    method and test set (adding the same result twice leaves one row), the published rows of
    ``protocol`` are added, and this method's scatter plot and per-video predictions on the set are
    written (the plots of the other rows stay linked). The folder's metadata is kept, with the last
    addition named. The row names the predictions file and the mapping, so it is never mistaken for a
    published number. Returns the :class:`LeaderboardFiles` written.
    """
    from qclip_plugin.benchmark.leaderboard import (
        MEAN_STD,
        read_leaderboard,
        read_metadata,
        utc_now,
        write_leaderboard,
    )

    directory = Path(leaderboard)
    rows = pd.DataFrame()
    if (directory / "leaderboard.csv").is_file():
        rows = read_leaderboard(directory)
        same = (rows["method"] == method) & (rows["test_set"] == test_set)
        # published rows and mean±std summaries are regenerated by write_leaderboard
        rows = rows[(rows["kind"] == "measured") & (rows["split"] != MEAN_STD) & ~same].drop(columns="kind")
    date = utc_now()
    row = {
        "method": method, "protocol": protocol, "test_set": test_set, "split": "", "train_set": train_set,
        "n_videos": result.n, "SROCC": result.SROCC, "PLCC": result.PLCC, "KROCC": result.KROCC,
        "RMSE": result.RMSE, "mapping": result.mapping, "date": date,
        "source": source or f"predictions file {Path(result.predictions).name}",
        "note": "qclip-bench evaluate" + (f", fused {'+'.join(result.fused_branches)}" if result.fused_branches else ""),
    }
    measured = pd.concat([rows, pd.DataFrame([row])], ignore_index=True)
    metadata = {"protocol": protocol, **read_metadata(directory),
                "last added": f"{method} on {test_set} (qclip-bench evaluate, {date})"}
    return write_leaderboard(
        directory, protocol, measured, metadata, predictions={(method, test_set): result.table},
        mapping=result.mapping.split("->")[0],
    )
