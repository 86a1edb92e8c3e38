"""``VQAMetric``: the mmengine metric of VQA benchmarks (SROCC, PLCC, KROCC, RMSE)."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mmengine.evaluator import BaseMetric

from qclip_plugin.atomic_files import atomic_write
from qclip_plugin.evaluation.correlation import DEFAULT_MAPPING, MAPPINGS, evaluate_predictions
from qclip_plugin.registry import METRICS


def _field(sample: Any, key: str) -> Any:
    if isinstance(sample, dict):
        if key not in sample:
            raise KeyError(
                f"VQAMetric: a prediction lacks {key!r}; the model's predict mode must return "
                f"dicts with 'name', 'mos' and 'pred_score' (got keys {sorted(sample)})"
            )
        return sample[key]
    if not hasattr(sample, key):
        raise KeyError(f"VQAMetric: a prediction of type {type(sample).__name__} lacks {key!r}")
    return getattr(sample, key)


def _scalar(value: Any, key: str, name: str) -> float:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size != 1:
        raise ValueError(f"VQAMetric: {key!r} of video {name!r} should be one number, got shape {arr.shape}")
    return float(arr[0])


def aggregate_per_video(records: Sequence[tuple[str, float, float]]) -> pd.DataFrame:
    """Average clip predictions per video name.

    Args:
        records: ``(name, mos, pred)`` per clip, several clips per name allowed.

    Returns:
        A DataFrame with columns ``name, mos, pred, num_clips``, one row per video, in
        order of first appearance.
    """
    frame = pd.DataFrame(list(records), columns=["name", "mos", "pred"])
    grouped = frame.groupby("name", sort=False)
    mos_spread = grouped["mos"].agg(lambda s: float(s.max() - s.min()))
    if (mos_spread > 1e-9).any():
        first = mos_spread[mos_spread > 1e-9].index[0]
        warnings.warn(
            f"VQAMetric: clips of {int((mos_spread > 1e-9).sum())} videos carry different MOS values "
            f"(first: {first!r}); using their mean. Are two videos sharing a name?",
            RuntimeWarning,
            stacklevel=2,
        )
    out = grouped.agg(mos=("mos", "mean"), pred=("pred", "mean"), num_clips=("pred", "size")).reset_index()
    return out


def write_predictions_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write per-video predictions (``name, mos, pred[, num_clips]``) atomically."""
    return atomic_write(path, lambda handle: table.to_csv(handle, index=False, float_format="%.10g"))


@METRICS.register_module()
class VQAMetric(BaseMetric):
    """SROCC, PLCC, KROCC and RMSE of a VQA model, one prediction per video.

    ``process`` takes the model's predict outputs: dicts ``{"name": str, "mos": float,
    "pred_score": float}`` (attributes of a data element work too). ``compute_metrics``
    averages the predictions of clips sharing a video name, then returns
    ``{"SROCC", "PLCC", "KROCC", "RMSE"}`` (mmengine prefixes them, ``vqa/SROCC`` by
    default); PLCC and RMSE after ``mapping`` (see
    :mod:`qclip_plugin.evaluation.correlation`).

    Args:
        mapping: ``none | linear | logistic4 | logistic5``; ``linear`` compares with the
            published tables.
        predictions_file: if set, each evaluation writes ``name,mos,pred,num_clips`` there
            (atomically), e.g. for the leaderboard scatter plots. ``{prefix}`` in the path is
            replaced by the metric prefix.
        collect_device, prefix, collect_dir: as in mmengine's ``BaseMetric``.

    After each evaluation, :attr:`last_predictions` holds the per-video table and
    :attr:`last_mapping` the mapping actually used (on the main process).
    """

    default_prefix = "vqa"

    def __init__(
        self,
        mapping: str = DEFAULT_MAPPING,
        predictions_file: str | os.PathLike | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        collect_dir: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if mapping not in MAPPINGS:
            raise ValueError(f"VQAMetric: unknown mapping {mapping!r}; choose one of {', '.join(MAPPINGS)}")
        self.mapping = mapping
        self.predictions_file = predictions_file
        self.last_predictions: pd.DataFrame | None = None
        self.last_mapping: str | None = None

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store ``(name, mos, pred_score)`` of each clip of the batch."""
        for sample in data_samples:
            name = str(_field(sample, "name"))
            mos = _scalar(_field(sample, "mos"), "mos", name)
            pred = _scalar(_field(sample, "pred_score"), "pred_score", name)
            self.results.append((name, mos, pred))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Average clips per video, then evaluate; NaN metrics when fewer than 2 videos."""
        table = aggregate_per_video(results)
        self.last_predictions = table
        if self.predictions_file is not None:
            write_predictions_csv(table, str(self.predictions_file).replace("{prefix}", self.prefix or "vqa"))
        if len(table) < 2:
            warnings.warn(
                f"VQAMetric: {len(table)} video(s) evaluated; correlations need at least 2",
                RuntimeWarning,
                stacklevel=2,
            )
            self.last_mapping = self.mapping
            return dict.fromkeys(("SROCC", "PLCC", "KROCC", "RMSE"), math.nan)
        scores = evaluate_predictions(table["pred"].to_numpy(), table["mos"].to_numpy(), self.mapping)
        self.last_mapping = scores.pop("mapping")
        return scores
