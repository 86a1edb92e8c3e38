"""Q-CLIP inside pyiqa: ``pyiqa.create_metric("qclip")`` after ``import qclip_plugin``.

pyiqa 0.1.16 resolves a metric name in two tables (DESIGN.md §6): ``DEFAULT_CONFIGS`` (checked by an
``assert`` in ``create_metric`` before any plugin is loaded) and ``ARCH_REGISTRY`` (which loads the
``pyiqa.archs`` entry points on a miss). So :func:`register` adds both: this package declares it as its
``pyiqa.archs`` entry point, and ``import qclip_plugin`` runs it as soon as pyiqa is imported (see
``qclip_plugin/__init__.py``), which is what makes the ``DEFAULT_CONFIGS`` entry exist in time.

pyiqa's ``InferenceModel`` passes only 4-D image batches ``(B, 3, H, W)`` in [0, 1]; :class:`QCLIPArch`
scores each image as a one-frame video and returns ``(B, 1)`` like pyiqa's own no-reference archs.
Keywords of ``pyiqa.create_metric("qclip", ...)`` go to :func:`qclip_plugin.api.create_qclip_metric`
(``preset``, ``checkpoint``, ``pretrained``, ...); pyiqa's own ``device`` and ``as_loss`` stay pyiqa's.
"""

from __future__ import annotations

from typing import Any

import torch

from qclip_plugin.api import create_qclip_metric

#: The entries added to ``pyiqa.default_model_configs.DEFAULT_CONFIGS``.
PYIQA_CONFIGS: dict[str, dict[str, Any]] = {
    "qclip": {
        "metric_opts": {"type": "QCLIPArch"},
        "metric_mode": "NR",
        "lower_better": False,
        "score_range": "unbounded",
    },
}

ARCH_NAME = "QCLIPArch"


def add_default_configs(default_configs: dict) -> None:
    """Add :data:`PYIQA_CONFIGS` to pyiqa's ``DEFAULT_CONFIGS`` (keeps an entry the user changed)."""
    for name, config in PYIQA_CONFIGS.items():
        default_configs.setdefault(name, {**config, "metric_opts": dict(config["metric_opts"])})


def add_arch(arch_registry: Any) -> None:
    """Register :class:`QCLIPArch` lazily in pyiqa's ``ARCH_REGISTRY`` (imported on first use)."""
    arch_registry.register_lazy(ARCH_NAME, f"{__name__}:{ARCH_NAME}", override=True)


def register() -> None:
    """The ``pyiqa.archs`` entry point: make ``"qclip"`` a pyiqa metric. Idempotent; imports pyiqa."""
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    from pyiqa.utils.registry import ARCH_REGISTRY

    add_default_configs(DEFAULT_CONFIGS)
    add_arch(ARCH_REGISTRY)


class QCLIPArch(torch.nn.Module):
    """pyiqa arch: images ``(B, 3, H, W)`` in [0, 1] -> Q-CLIP scores ``(B, 1)`` (one-frame videos)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        # pyiqa moves the arch to its device, checks the input range and owns as_loss;
        # the metric here only resizes and normalises.
        kwargs.setdefault("check_input_range", False)
        self.metric = create_qclip_metric(device="cpu", **kwargs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"QCLIPArch takes (B, 3, H, W) images, got {tuple(images.shape)}")
        if images.shape[1] == 1:  # pyiqa accepts gray images
            images = images.expand(-1, 3, -1, -1)
        frames = self.metric.from_unit_frames(images).unsqueeze(1)
        return self.metric.net(frames).reshape(-1, 1)
