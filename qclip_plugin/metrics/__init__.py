"""pyiqa-style metrics: ``create_metric`` / ``list_metrics``, discovered through entry points.

::

    import qclip_plugin
    metric = qclip_plugin.create_metric("qclip", checkpoint="qclip-paper.safetensors")
    metric("video.mp4")                      # tensor([0.73])

- :mod:`~qclip_plugin.metrics.discovery`: ``create_metric``, ``list_metrics``, ``register_metric``,
  ``metric_sources`` (the entry-point group ``qclip_plugin.metrics``);
- :mod:`~qclip_plugin.metrics.contract`: what a metric's input is and how a batch is put together
  (``MetricInput``, each metric's ``metric_input``), read by the scorers;
- :mod:`~qclip_plugin.metrics.wrapper`: :class:`VideoQualityMetric`, a net behind pyiqa's interface,
  and the input forms it accepts (paths, images, decoded videos, frame tensors);
- :mod:`~qclip_plugin.metrics.configs`: the built-in metrics as table rows (``METRIC_CONFIGS``);
- :mod:`~qclip_plugin.metrics.qclip`: the ``"qclip"`` metric and where its trained weights are found
  (imported when first used: it imports the model).
"""

from __future__ import annotations

import importlib
from typing import Any

from qclip_plugin.metrics.configs import METRIC_CONFIGS, MetricConfig
from qclip_plugin.metrics.contract import (
    FILE_VIEWS,
    FLOAT_FRAMES,
    UINT8_FRAMES,
    MetricInput,
    collate_batch,
    declared_input,
    load_item,
)
from qclip_plugin.metrics.discovery import (
    METRICS_GROUP,
    MetricSource,
    create_metric,
    list_metrics,
    metric_sources,
    register_metric,
)
from qclip_plugin.metrics.wrapper import (
    IMAGE_EXTENSIONS,
    DeviceModule,
    ImageReadError,
    VideoInput,
    VideoQualityMetric,
    default_device,
    read_image,
)
from qclip_plugin.preprocessing import Preprocessing

_QCLIP = ("CHECKPOINT_NAME", "MissingWeightsError", "create_qclip_metric", "default_checkpoint", "resolve_checkpoint")

__all__ = [
    "DeviceModule",
    "FILE_VIEWS",
    "FLOAT_FRAMES",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "METRICS_GROUP",
    "METRIC_CONFIGS",
    "MetricConfig",
    "MetricInput",
    "MetricSource",
    "Preprocessing",
    "UINT8_FRAMES",
    "VideoInput",
    "VideoQualityMetric",
    "collate_batch",
    "create_metric",
    "declared_input",
    "default_device",
    "list_metrics",
    "load_item",
    "metric_sources",
    "read_image",
    "register_metric",
    *_QCLIP,
]


def __getattr__(name: str) -> Any:
    if name in _QCLIP:  # the Q-CLIP factory's module imports the model: only when asked for
        return getattr(importlib.import_module("qclip_plugin.metrics.qclip"), name)
    raise AttributeError(f"module 'qclip_plugin.metrics' has no attribute {name!r}")
