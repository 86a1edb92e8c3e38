"""The metric contract: what a metric's ``load(path)`` gives a scorer, and how a batch of those is put together.

Every metric declares it as its ``metric_input`` attribute (a :class:`MetricInput`), next to pyiqa's
``metric_mode``; the scorers (:func:`qclip_plugin.benchmark.scoring.score_videos`, the Ray stages of
:mod:`qclip_plugin.integrations.ray_data`) read it through :func:`load_item` and :func:`collate_batch`
and never inspect the metric to find out. A metric that declares nothing is taken as
:data:`FLOAT_FRAMES` (``load(path)`` -> normalised float frames, stacked), the plainest duck type.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

__all__ = [
    "FILE_VIEWS",
    "FLOAT_FRAMES",
    "UINT8_FRAMES",
    "MetricInput",
    "collate_batch",
    "declared_input",
    "load_item",
]

FRAME_KINDS = ("uint8", "float", "file")
COLLATES = ("normalize", "stack", "list")
# the one collate each kind of item can have
_COLLATE_OF = {"uint8": "normalize", "float": "stack", "file": "list"}


@dataclass(frozen=True)
class MetricInput:
    """What one item of a metric's input is, and how a batch of items becomes ``score_frames``' argument.

    ``frames``:

    - ``"uint8"``: ``load(path, normalize=False)`` gives uint8 frames ``(T, 3, H, W)`` at the model's
      size; ``metric.preprocessing.normalize(items)`` turns a list of them into the float batch
      ``(B, T, 3, H, W)``, bit-identical to stacking ``load(path)`` (decoding workers send a quarter
      of float32's bytes);
    - ``"float"``: ``load(path)`` gives normalised float frames ``(T, 3, H, W)``;
    - ``"file"``: ``load(path)`` gives whatever the metric reads from the file itself (another
      package's views); the scorer passes the items on untouched.

    ``collate``: ``"normalize"`` (``metric.preprocessing.normalize``), ``"stack"`` (``torch.stack``)
    or ``"list"`` (the items as they are); each kind of frames has exactly one.
    """

    frames: Literal["uint8", "float", "file"]
    collate: Literal["normalize", "stack", "list"]

    def __post_init__(self) -> None:
        if self.frames not in FRAME_KINDS:
            raise ValueError(f"MetricInput.frames must be one of {FRAME_KINDS}, got {self.frames!r}")
        if self.collate != _COLLATE_OF[self.frames]:
            raise ValueError(
                f"{self.frames} items are collated by {_COLLATE_OF[self.frames]!r}, not {self.collate!r}"
            )


#: Q-CLIP and every :class:`~qclip_plugin.metrics.VideoQualityMetric`: uint8 frames, normalised as a batch.
UINT8_FRAMES = MetricInput("uint8", "normalize")
#: Normalised float frames, stacked (a metric that declares nothing).
FLOAT_FRAMES = MetricInput("float", "stack")
#: The metric reads its own views from the file (DOVER, FAST-VQA); a batch is their list.
FILE_VIEWS = MetricInput("file", "list")


def declared_input(metric: Any) -> MetricInput:
    """The metric's ``metric_input``, or :data:`FLOAT_FRAMES` when it declares none."""
    declared = getattr(metric, "metric_input", None)
    if declared is None:
        return FLOAT_FRAMES
    if not isinstance(declared, MetricInput):
        raise TypeError(f"{type(metric).__name__}.metric_input must be a MetricInput, got {declared!r}")
    return declared


def load_item(metric: Any, path: str | os.PathLike, declared: MetricInput | None = None) -> Any:
    """One video's item as the contract says: uint8 frames, float frames or the metric's own views."""
    declared = declared or declared_input(metric)
    if declared.frames == "uint8":
        return metric.load(path, normalize=False)
    return metric.load(path)


def collate_batch(metric: Any, items: Sequence[Any], declared: MetricInput | None = None) -> Any:
    """The argument of ``metric.score_frames`` for a batch of :func:`load_item` items."""
    declared = declared or declared_input(metric)
    if declared.collate == "normalize":
        return metric.preprocessing.normalize(list(items))
    if declared.collate == "stack":
        return torch.stack(list(items))
    return list(items)
