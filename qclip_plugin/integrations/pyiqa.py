"""Q-CLIP as a pyiqa metric: ``pyiqa.create_metric("qclip")``, and ``pyiqa qclip -t img.png``.

:mod:`qclip_plugin.integrations.pyiqa_hook` adds the names to pyiqa's tables (``qclip``: the paper
preset, ``qclip-release``, ``qclip-tiny``; see ``PYIQA_PRESETS``) and registers :class:`QCLIPArch`
lazily; this module is imported only when pyiqa builds one of them.

pyiqa's ``InferenceModel`` passes image batches ``(N, 3, H, W)`` in [0, 1] (gray ``(N, 1, H, W)``
too) and reads image files itself; :class:`QCLIPArch` scores them as
:class:`~qclip_plugin.metrics.VideoQualityMetric` does, each image a one-frame video, and returns pyiqa's
no-reference shape ``(N, 1)``. Keywords of ``pyiqa.create_metric("qclip", ...)`` go to
:func:`qclip_plugin.metrics.qclip.create_qclip_metric` (``preset``, ``checkpoint``, ``pretrained``, ``trust_pickle``, ...);
pyiqa keeps its own ``device``, ``as_loss`` and input-range check.
"""

from __future__ import annotations

from typing import Any

import torch

from qclip_plugin.metrics.qclip import create_qclip_metric

__all__ = ["QCLIPArch"]


class QCLIPArch(torch.nn.Module):
    """pyiqa arch: images ``(N, C, H, W)`` in [0, 1] -> Q-CLIP scores ``(N, 1)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        # pyiqa moves the arch to its device, checks the input range and owns as_loss (gradients)
        kwargs.setdefault("check_input_range", False)
        self.metric = create_qclip_metric(device="cpu", **kwargs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"pyiqa passes image batches (N, C, H, W), got {tuple(images.shape)}")
        return self.metric.score_frames(self.metric.frames(images)).reshape(-1, 1)
