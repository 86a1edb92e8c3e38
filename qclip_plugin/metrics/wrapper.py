"""The generic metric object: :class:`VideoQualityMetric` (a net behind pyiqa's interface) and the
input forms every metric of this package accepts.

A metric is a callable ``torch.nn.Module`` that takes videos or images in any of the forms below and
returns one score per video or image, shape ``(B,)``; it carries pyiqa's attributes (``lower_better``,
``score_range``, ``metric_mode == "NR"``, ``device``, ``as_loss``) and the contract its scorers read
(``metric_input``, :mod:`qclip_plugin.metrics.contract`)::

    import qclip_plugin
    metric = qclip_plugin.create_metric("qclip", checkpoint="qclip-paper.safetensors")
    metric("video.mp4")                      # tensor([0.73])
    metric(["a.mp4", "b.mp4"])               # tensor([0.73, 0.41])

Input forms, one convention (pyiqa's for images; ``pyiqa.create_metric("qclip")`` reads them the same):

- a path (``str`` / ``os.PathLike``): a video, decoded and sampled with the metric's ``sampler``
  and ``num_frames`` (short videos repeat frames); an image when its extension is one of
  :data:`IMAGE_EXTENSIONS` (a one-frame video). A list of paths is a batch (images and videos are
  not mixed in one list: they have different frame counts);
- a 4-D tensor or array is N images, N scores: float ``(N, 3, H, W)`` in ``[0, 1]`` (gray
  ``(N, 1, H, W)`` too), or ``uint8`` ``(N, H, W, 3)``. Each image is a one-frame video; a 3-D
  tensor is one image;
- a 5-D tensor or array is B videos: float ``(B, T, 3, H, W)`` in ``[0, 1]`` (frames already
  chosen: resized and normalised, not sampled again), or decoded ``uint8`` ``(B, T, H, W, 3)``,
  sampled like the files they come from (``metric(decoded[None])`` for one).

Float inputs are the differentiable path (``as_loss=True``). The metric scores on its ``device``,
which follows ``.to(device)`` / ``.cuda()``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from qclip_plugin.errors import UserError
from qclip_plugin.metrics.contract import UINT8_FRAMES, MetricInput
from qclip_plugin.preprocessing import Preprocessing

__all__ = [
    "DeviceModule",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "VideoInput",
    "VideoQualityMetric",
    "default_device",
    "read_image",
]

#: File extensions read as images (lower case); every other path is a video.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

#: What a metric accepts (see the module docstring).
VideoInput = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], np.ndarray, torch.Tensor]  # noqa: UP007


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file as float ``(1, 3, H, W)`` in [0, 1], RGB (as pyiqa's ``imread2tensor`` reads it)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except OSError as error:  # missing, unreadable or not an image
        raise ImageReadError(f"cannot read image {path}: {error}") from error
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0


class ImageReadError(UserError, OSError):
    """An image file that cannot be read (missing, unreadable, not an image)."""


class DeviceModule(torch.nn.Module):
    """A module whose ``device`` is where its tensors are: an empty buffer travels with
    ``.to(device)`` / ``.cuda()``, so a metric scores where it was last moved, not where it was made."""

    def __init__(self, device: str | torch.device | None = None) -> None:
        super().__init__()
        where = torch.device(device) if device is not None else default_device()
        self.register_buffer("_device_anchor", torch.empty(0, device=where), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._device_anchor.device


class VideoQualityMetric(DeviceModule):
    """A no-reference video quality metric with pyiqa's interface (see the module docstring).

    ``net`` maps normalised frames ``(B, T, 3, H, W)`` to scores ``(B,)``; this class turns every
    input form into those frames with ``preprocessing`` (the backbone's
    :class:`~qclip_plugin.preprocessing.Preprocessing` record: size, mean/std, resize mode) after
    choosing ``num_frames`` frames with ``sampler`` (random strategies drawn from ``seed``), and
    carries pyiqa's attributes. ``metric_input`` is the contract scorers read
    (:class:`~qclip_plugin.metrics.contract.MetricInput`): :meth:`load` gives both uint8 and float
    frames, so either ``UINT8_FRAMES`` (the default, what decoding workers should send) or
    ``FLOAT_FRAMES`` holds.
    """

    metric_mode = "NR"

    def __init__(
        self,
        net: torch.nn.Module,
        preprocessing: Preprocessing,
        *,
        name: str,
        score_range: str,
        lower_better: bool = False,
        device: str | torch.device | None = None,
        as_loss: bool = False,
        loss_weight: float | None = None,
        loss_reduction: str = "mean",
        check_input_range: bool = True,
        weights: str = "",
        num_frames: int = 8,
        sampler: str = "UNISampl",
        seed: int | None = 0,
        metric_input: MetricInput = UINT8_FRAMES,
    ) -> None:
        super().__init__(device)
        if metric_input.frames == "file":
            raise ValueError("a VideoQualityMetric loads frames itself: metric_input is UINT8_FRAMES or FLOAT_FRAMES")
        self.metric_input = metric_input
        self.metric_name = name
        self.weights = weights
        self.preprocessing = preprocessing
        self.num_frames, self.sampler, self.seed = int(num_frames), sampler, seed
        self.score_range = score_range
        self.lower_better = lower_better
        self.as_loss = as_loss
        self.loss_weight = loss_weight
        self.loss_reduction = loss_reduction
        self.check_input_range = check_input_range and not as_loss
        self.net = net.to(self.device).eval()

    # inputs -> normalised frames --------------------------------------------------------------
    def load(self, path: str | os.PathLike, *, normalize: bool = True) -> torch.Tensor:
        """Decode and sample one video file: normalised ``(T, 3, H, W)`` float32 on the CPU
        (``normalize=False``: ``uint8``, which ``metric.preprocessing.normalize(x)`` turns into
        exactly the same float32 frames; what DataLoader workers should send)."""
        from qclip_plugin.data.pipeline import load_video

        return load_video(
            Path(path), num_frames=self.num_frames, sampler=self.sampler, preprocessing=self.preprocessing,
            seed=self.seed, test_mode=True, normalize=normalize,
        )

    def from_array(self, video: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Sample and normalise one decoded uint8 video ``(T, H, W, 3)`` as :meth:`load` samples a file.

        Decoded at the model's input size (``open_video(path, size=metric.preprocessing.image_size)``)
        the frames, and so the score, equal the file's in the ``decoder`` resize mode; at another
        size they are resized here (``decoder`` mode: torch, about one grey level from the decoder's
        resize; ``pil`` mode: PIL, as for files). Frame-difference samplers compute their profile
        (eq. 13) from the array as given.
        """
        from qclip_plugin.sampling import build_sampler, consecutive_mse, profile_from_differences

        frames = video.numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"a decoded video is uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
        strategy = build_sampler(self.sampler, test_mode=True)
        profile = (lambda: profile_from_differences(consecutive_mse(frames))) if strategy.needs_profile else None
        indices = strategy(len(frames), self.num_frames, profile=profile, rng=self.seed)
        return self.preprocessing.to_tensor(frames[indices])

    def from_unit_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Resize (squash, bilinear) and normalise float frames ``(..., 3, H, W)`` in [0, 1]; differentiable."""
        if self.check_input_range:
            lo, hi = float(frames.min()), float(frames.max())
            if lo < -1e-6 or hi > 1 + 1e-6:
                raise ValueError(
                    f"float frames must be in [0, 1] (got min={lo:.4f}, max={hi:.4f}); pass uint8 images "
                    "(N, H, W, 3) or decoded videos (B, T, H, W, 3) as they are, or divide by 255"
                )
        return self.preprocessing.normalize_unit(frames)

    def frames(self, x: VideoInput) -> torch.Tensor:
        """Any accepted input as normalised ``(B, T, 3, H, W)`` frames (see the module docstring)."""
        if isinstance(x, (str, os.PathLike)):
            return self._from_path(x).unsqueeze(0)
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        if isinstance(x, torch.Tensor):
            return self._from_tensor(x)
        if isinstance(x, Sequence) and x and all(isinstance(v, (str, os.PathLike)) for v in x):
            items = [self._from_path(v) for v in x]
            if len({item.shape for item in items}) > 1:
                raise ValueError("a list of paths mixes images and videos; score them in separate calls")
            return torch.stack(items)
        raise TypeError(
            f"cannot score {type(x).__name__}: pass a path, a list of paths, images (N, 3, H, W) / "
            "uint8 (N, H, W, 3), or videos (B, T, 3, H, W) / uint8 (B, T, H, W, 3)"
        )

    def _from_path(self, path: str | os.PathLike) -> torch.Tensor:
        if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
            return self.from_unit_frames(read_image(path))  # a one-frame video
        return self.load(path)

    def _from_tensor(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8 and x.shape[-1:] == (3,):  # decoded pixels, channels last
            if x.dim() in (3, 4):  # images
                return self.from_unit_frames(x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2) / 255.0).unsqueeze(1)
            if x.dim() == 5:  # decoded videos, sampled as their files would be
                return torch.stack([self.from_array(video) for video in x])
        elif x.is_floating_point() and x.dim() in (3, 4, 5) and x.shape[-3] in (1, 3):  # channels first
            if x.shape[-3] == 1:  # gray, as pyiqa accepts
                x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])
            frames = self.from_unit_frames(x)
            return frames if x.dim() == 5 else frames.reshape(-1, 1, *frames.shape[-3:])
        raise ValueError(
            f"cannot score a {x.dtype} tensor of shape {tuple(x.shape)}: pass images float (N, 3, H, W) in "
            "[0, 1] or uint8 (N, H, W, 3), or videos float (B, T, 3, H, W) or uint8 (B, T, H, W, 3)"
        )

    # scoring ----------------------------------------------------------------------------------
    def score_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Scores ``(B,)`` of normalised frames ``(B, T, 3, H, W)``."""
        return self.net(frames.to(self.device)).reshape(-1)

    def forward(self, x: VideoInput) -> torch.Tensor:
        with torch.set_grad_enabled(self.as_loss):
            scores = self.score_frames(self.frames(x))
        if not self.as_loss:
            return scores
        weighted = scores * self.loss_weight if self.loss_weight is not None else scores
        if self.loss_reduction == "none":
            return weighted
        if self.loss_reduction == "sum":
            return weighted.sum()
        return weighted.mean()

    def describe(self) -> dict[str, Any]:
        """What determines this metric's scores (name, weights, preprocessing, the net's own
        ``describe()`` if it has one), JSON-able; ``score_videos`` refuses to resume across a change."""
        net_describe = getattr(self.net, "describe", None)
        return {
            "name": self.metric_name,
            "weights": self.weights,
            "preprocessing": self.preprocessing.as_dict(),
            "frames": {"num_frames": self.num_frames, "sampler": self.sampler, "seed": self.seed},
            "net": net_describe() if callable(net_describe) else type(self.net).__name__,
        }

    def extra_repr(self) -> str:
        p = self.preprocessing
        return (
            f"name={self.metric_name!r}, metric_mode='NR', score_range={self.score_range!r}, "
            f"lower_better={self.lower_better}, frames={self.num_frames} ({self.sampler}), size={p.image_size}, "
            f"resize={p.resize!r}"
        )
