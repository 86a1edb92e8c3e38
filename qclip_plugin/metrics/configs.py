"""The built-in metrics as table rows (pyiqa's ``DEFAULT_CONFIGS``): one :class:`MetricConfig` per name.

A row says what the metric is (score range, direction, the input it declares) and the options its
family's builder starts from; ``create_metric(name, **options)`` overrides them. The builders are
small functions beside their nets: :func:`qclip_plugin.metrics.qclip.create_qclip_metric`,
:func:`qclip_plugin.baselines.zero_shot.build_zero_shot`, and the adapters' classes in
:mod:`qclip_plugin.baselines` (which take the name and range from their authors' options). Nothing
here imports a model, so reading the table is cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from qclip_plugin.metrics.contract import FILE_VIEWS, UINT8_FRAMES, MetricInput

__all__ = ["FIVE_LEVEL_VALUES", "FRAME_OPTIONS", "METRIC_CONFIGS", "MetricConfig", "metric_config", "wrap_net"]


@dataclass(frozen=True)
class MetricConfig:
    """One row of :data:`METRIC_CONFIGS`."""

    score_range: str
    metric_input: MetricInput
    lower_better: bool = False
    #: the builder's defaults (read-only); ``create_metric``'s keywords override them
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def merged(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The row's options with ``options`` over them."""
        return {**self.options, **options}


#: How a VideoQualityMetric chooses frames unless told otherwise (the paper's test setting).
FRAME_OPTIONS: Mapping[str, Any] = MappingProxyType(dict(num_frames=8, sampler="UNISampl", seed=0))
#: The score of each of the five levels, best first (``clip-five-level``).
FIVE_LEVEL_VALUES: tuple[float, ...] = (5.0, 4.0, 3.0, 2.0, 1.0)
# the zero-shot baselines' backbone: PE-Core-L with Meta's weights, the paper's
_ZERO_SHOT = dict(backbone="PE-Core-L-14-336", backbone_weights="meta", template=None, logit_scale=None,
                  **FRAME_OPTIONS)  # fmt: skip

METRIC_CONFIGS: Mapping[str, MetricConfig] = MappingProxyType({
    "qclip": MetricConfig("unbounded", UINT8_FRAMES, options=dict(preset="paper", init_seed=0, **FRAME_OPTIONS)),
    "clip-antonym": MetricConfig("0, 1", UINT8_FRAMES, options=dict(prompt_mode="antonym", values=(1.0, 0.0),
                                                                    **_ZERO_SHOT)),
    "clip-five-level": MetricConfig("1, 5", UINT8_FRAMES, options=dict(prompt_mode="five_levels",
                                                                       values=FIVE_LEVEL_VALUES, **_ZERO_SHOT)),
    "fast-vqa": MetricConfig("0, 1", FILE_VIEWS, options=dict(model="FAST-VQA")),
    "fastervqa": MetricConfig("0, 1", FILE_VIEWS, options=dict(model="FasterVQA")),
    # fusion="technical"/"aesthetic": one raw branch, unbounded (DoverMetric sets its own range)
    "dover": MetricConfig("0, 1", FILE_VIEWS),
})  # fmt: skip


def metric_config(name: str) -> MetricConfig:
    """The row of the built-in metric ``name``."""
    try:
        return METRIC_CONFIGS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a built-in metric (rows: {', '.join(METRIC_CONFIGS)})") from None


def wrap_net(
    name: str,
    net: torch.nn.Module,
    preprocessing: Any,
    *,
    weights: str,
    device: str | torch.device | None,
    as_loss: bool,
    options: Mapping[str, Any],
):
    """``net`` as the :class:`~qclip_plugin.metrics.wrapper.VideoQualityMetric` ``name``: its row's
    range, direction and input; ``options`` (frames, loss and range-check keywords) as given."""
    from qclip_plugin.metrics.wrapper import VideoQualityMetric

    config = metric_config(name)
    return VideoQualityMetric(
        net, preprocessing, name=name, score_range=config.score_range, lower_better=config.lower_better,
        metric_input=config.metric_input, device=device, as_loss=as_loss, weights=weights, **options,
    )  # fmt: skip
