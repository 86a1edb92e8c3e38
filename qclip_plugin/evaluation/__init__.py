"""Evaluation of VQA predictions: SROCC, KROCC, PLCC and RMSE with a named mapping
(DESIGN.md §5), and ``VQAMetric``, the mmengine metric registered in ``METRICS``."""

from qclip_plugin.evaluation.correlation import (
    DEFAULT_MAPPING,
    MAPPINGS,
    METRIC_NAMES,
    FittedMapping,
    evaluate_predictions,
    fit_mapping,
    krocc,
    plcc,
    rmse,
    srocc,
)
from qclip_plugin.evaluation.vqa_metric import VQAMetric, aggregate_per_video, write_predictions_csv

__all__ = [
    "DEFAULT_MAPPING",
    "MAPPINGS",
    "METRIC_NAMES",
    "FittedMapping",
    "VQAMetric",
    "aggregate_per_video",
    "evaluate_predictions",
    "fit_mapping",
    "krocc",
    "plcc",
    "rmse",
    "srocc",
    "write_predictions_csv",
]
