"""Frame preprocessing, all of it: one record per backbone (:class:`Preprocessing`) and the code that
applies it (resizing, normalisation with the backbone's mean/std).

Decoded RGB frames become a backbone's input in one of two ``resize`` modes:

- ``"decoder"`` (default, fast): the video decoder squash-resizes to ``image_size`` (bilinear,
  FFmpeg's swscale); normalisation is one float32 multiply and one subtract,
  ``x * scale - shift`` with ``scale = 1 / (255 std)`` and ``shift = mean / std``.
- ``"pil"``: the official release's frames. Decode at the video's own size, resize every frame
  with PIL's bilinear filter (antialiased; what torchvision's ``Resize((h, w))`` does to PIL
  images), then normalise as torchvision's ``ToTensor`` and ``Normalize`` do:
  ``(x / 255 - mean) / std`` in three float32 roundings. Bit-exact with the release's tensors.
  The two modes differ by ~1 grey level on average (0.07-1.66 over real clips); the two
  normalisations by one float32 ulp for ~40 % of the values (PE's 0.5/0.5).

Both normalisations are exact wherever they run: the ``decoder`` arithmetic is a multiply and a
subtract in IEEE float32 on any device; the ``pil`` arithmetic is a 256-entry table per channel
computed once on the CPU, so a GPU gives the same bits. ``uint8`` frames sent by DataLoader workers
and normalised later (the scoring loop, ``QCLIPVQAModel``) are therefore bit-identical to frames
normalised in the pipeline.

The record is built from the backbone (:func:`qclip_plugin.models.backbone.resolve_preprocess`),
held by the model (``model.preprocess``) and the metric (``metric.preprocessing``), and read by the
data pipeline. This module sits on the bottom floor: it imports neither ``data`` nor ``models``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DEFAULT_SIZE",
    "PE_MEAN",
    "PE_STD",
    "RESIZE_MODES",
    "Preprocessing",
    "affine",
    "frames_to_tensor",
    "normalize_frames",
    "normalize_uint8",
    "pil_resize",
    "torchvision_table",
]

#: Perception Encoder (PE-Core) normalisation, the default backbone's (DESIGN.md §1).
PE_MEAN = (0.5, 0.5, 0.5)
PE_STD = (0.5, 0.5, 0.5)
DEFAULT_SIZE = (336, 336)
RESIZE_MODES: tuple[str, ...] = ("decoder", "pil")


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"image_size must be positive (height, width), got {size}")
    return int(height), int(width)


def _triple(values: Sequence[float], what: str) -> tuple[float, float, float]:
    out = tuple(float(v) for v in np.asarray(values, np.float64).reshape(-1))
    if len(out) != 3:
        raise ValueError(f"{what} needs three values (R, G, B), got {values}")
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocessing:
    """How decoded RGB frames become a backbone's normalised ``(T, 3, H, W)`` float32 input.

    Attributes:
        image_size: ``(height, width)`` of the backbone's input.
        mean, std: per-channel normalisation of values in [0, 1] (the backbone's; PE: 0.5/0.5).
        resize: ``"decoder"`` or ``"pil"`` (see the module docstring).
        interpolation, resize_mode: the backbone's own transform as open_clip describes it
            (e.g. ``bicubic``/``shortest`` for OpenAI CLIP), recorded for reference; this project
            squash-resizes bilinearly in both modes, as the paper and the release do.
    """

    image_size: tuple[int, int] = DEFAULT_SIZE
    mean: tuple[float, float, float] = PE_MEAN
    std: tuple[float, float, float] = PE_STD
    resize: str = "decoder"
    interpolation: str = "bilinear"
    resize_mode: str = "squash"

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", _pair(self.image_size))
        object.__setattr__(self, "mean", _triple(self.mean, "mean"))
        object.__setattr__(self, "std", _triple(self.std, "std"))
        if any(s == 0 for s in self.std):
            raise ValueError(f"std may not contain zero, got {self.std}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")

    # --- derived ---------------------------------------------------------------------------
    @property
    def decode_size(self) -> tuple[int, int] | None:
        """The size to ask the video decoder for: ``image_size`` (``decoder``) or the video's own (``pil``)."""
        return self.image_size if self.resize == "decoder" else None

    def with_(self, **changes: Any) -> Preprocessing:
        """A copy with some fields changed (``record.with_(resize="pil")``)."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """JSON-able fields (what checkpoints and ``describe()`` record)."""
        out = asdict(self)
        for key in ("image_size", "mean", "std"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        """The inverse of :meth:`as_dict` (unknown keys are refused; missing ones take the defaults)."""
        return cls(**data)

    # --- applying it -----------------------------------------------------------------------
    def normalize(self, frames: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """``uint8 (..., 3, H, W)`` frames (one tensor, or a list of same-shape tensors, stacked)
        -> float32 normalised with this record's arithmetic; float frames are returned unchanged
        (taken as normalised already). CPU tensors are computed with numpy, others on their device."""
        return normalize_frames(frames, self.mean, self.std, arithmetic=self._arithmetic)

    def to_tensor(self, frames: np.ndarray | torch.Tensor, *, resize: bool = True) -> torch.Tensor:
        """In-memory frames ``(T, H, W, 3)`` (``uint8``, or float in [0, 1]) -> normalised float32
        ``(T, 3, h, w)``, resized to ``image_size`` unless ``resize=False``."""
        return frames_to_tensor(
            frames,
            size=self.image_size if resize else None,
            mean=self.mean,
            std=self.std,
            resize=self.resize,
        )

    def normalize_unit(self, frames: torch.Tensor) -> torch.Tensor:
        """Float frames ``(..., 3, H, W)`` in [0, 1] -> resized (torch, bilinear, antialiased) and
        normalised; differentiable, so in both modes torch resizes (PIL cannot carry gradients)."""
        lead = frames.shape[:-3]
        flat = frames.reshape(-1, *frames.shape[-3:]).float()
        if tuple(flat.shape[-2:]) != self.image_size:
            flat = F.interpolate(
                flat, size=self.image_size, mode="bilinear", align_corners=False, antialias=True
            )
        mean = flat.new_tensor(self.mean).view(1, 3, 1, 1)
        std = flat.new_tensor(self.std).view(1, 3, 1, 1)
        return ((flat - mean) / std).reshape(*lead, 3, *self.image_size)

    @property
    def _arithmetic(self) -> str:
        return "torchvision" if self.resize == "pil" else "affine"


# --- normalisation ---------------------------------------------------------------------------------


def affine(mean: Sequence[float], std: Sequence[float], value_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float32 ``scale, shift`` of shape ``(1, 3, 1, 1)`` with
    ``(x / value_range - mean) / std == x * scale - shift`` (computed in float64, rounded once)."""
    mean_a, std_a = np.asarray(mean, np.float64).reshape(-1), np.asarray(std, np.float64).reshape(-1)
    if mean_a.size != 3 or std_a.size != 3 or np.any(std_a == 0):
        raise ValueError(f"mean and std need three values each and std no zero, got {mean}, {std}")
    scale = (1.0 / (value_range * std_a)).astype(np.float32).reshape(1, 3, 1, 1)
    return scale, (mean_a / std_a).astype(np.float32).reshape(1, 3, 1, 1)


def torchvision_table(mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(3, 256)`` float32: torchvision's ``Normalize(mean, std)(ToTensor()(x))`` for every uint8 ``x``
    (``x / 255``, ``- mean``, ``/ std``, each rounded to float32, as torch does on the CPU)."""
    x = np.arange(256, dtype=np.float32)[None, :] / np.float32(255)
    mean32 = np.asarray(mean, np.float32).reshape(3, 1)
    std32 = np.asarray(std, np.float32).reshape(3, 1)
    return ((x - mean32) / std32).astype(np.float32)


def _torchvision_numpy(x: np.ndarray, mean: Sequence[float], std: Sequence[float], out: np.ndarray) -> None:
    """torchvision's three float32 roundings on uint8 ``x (..., 3, H, W)``, into ``out`` (IEEE float32
    division in numpy is torch's on the CPU; 10x faster than a table lookup)."""
    np.divide(x, np.float32(255), out=out, dtype=np.float32, casting="unsafe")
    out -= np.asarray(mean, np.float32).reshape(3, 1, 1)
    out /= np.asarray(std, np.float32).reshape(3, 1, 1)


def normalize_uint8(
    frames: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, arithmetic: str = "affine"
) -> torch.Tensor:
    """``uint8 (..., 3, H, W)`` -> ``(x / 255 - mean) / std`` in float32 on the frames' device (torch).

    ``arithmetic="torchvision"`` looks the values up in :func:`torchvision_table`: a CUDA division by a
    scalar multiplies by its reciprocal, which would round differently from the release's CPU workers.
    """
    if arithmetic == "torchvision":
        table = torch.from_numpy(torchvision_table(mean, std)).to(frames.device)
        offsets = (torch.arange(3, device=frames.device) * 256).view(3, 1, 1)
        return table.reshape(-1)[frames.long() + offsets].contiguous()
    scale, shift = affine(mean, std, 255.0)
    out = frames.to(torch.float32, memory_format=torch.contiguous_format)
    out.mul_(torch.from_numpy(scale.reshape(3, 1, 1)).to(frames.device))
    out.sub_(torch.from_numpy(shift.reshape(3, 1, 1)).to(frames.device))
    return out


def normalize_frames(
    frames: torch.Tensor | Sequence[torch.Tensor],
    mean: Sequence[float] = PE_MEAN,
    std: Sequence[float] = PE_STD,
    *,
    arithmetic: str = "affine",
) -> torch.Tensor:
    """``uint8 (..., 3, H, W)`` frames -> normalised float32 ``(x / 255 − mean) / std``.

    ``frames`` is one tensor, or a list of same-shape tensors (e.g. the ``load_video(...,
    normalize=False)`` outputs of a batch), stacked into the result in the same pass. Bit-identical
    to :func:`frames_to_tensor` (so to ``load_video``) with the same arithmetic (``"affine"``, the
    ``decoder`` mode's; ``"torchvision"``, the ``pil`` mode's; prefer ``Preprocessing.normalize``);
    any strides (the permuted views ``load_video`` returns) are read in place. CPU tensors are
    computed with numpy, others with torch on their device. Float frames are taken as normalised
    already and returned unchanged.
    """
    items = [frames] if isinstance(frames, torch.Tensor) else list(frames)
    if not items:
        raise ValueError("no frames to normalise")
    if all(x.is_floating_point() for x in items):
        return frames if isinstance(frames, torch.Tensor) else torch.stack(items)
    shapes = {tuple(x.shape) for x in items}
    if any(x.dtype != torch.uint8 for x in items):
        raise TypeError(
            f"frames to normalise must be uint8 in [0, 255], got {sorted({str(x.dtype) for x in items})}"
        )
    if len(shapes) != 1:
        raise ValueError(f"frames to normalise together must have one shape, got {sorted(shapes)}")
    shape = shapes.pop()
    if len(shape) < 3 or shape[-3] != 3:
        raise ValueError(f"frames must be (..., 3, H, W), got shape {shape}")
    lead = () if isinstance(frames, torch.Tensor) else (len(items),)
    if items[0].device.type != "cpu":
        stacked = items[0] if not lead else torch.stack(items)
        return normalize_uint8(stacked, mean, std, arithmetic=arithmetic)
    out = np.empty(lead + shape, np.float32)
    if arithmetic == "torchvision":
        for i, x in enumerate(items):
            _torchvision_numpy(x.numpy(), mean, std, out if not lead else out[i])
        return torch.from_numpy(out)
    scale, shift = affine(mean, std, 255.0)
    scale, shift = scale.reshape(3, 1, 1), shift.reshape(3, 1, 1)
    for i, x in enumerate(items):
        target = out if not lead else out[i]
        np.multiply(x.numpy(), scale, out=target, casting="unsafe")
        target -= shift
    return torch.from_numpy(out)


# --- resizing ----------------------------------------------------------------------------------------


def pil_resize(frames: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """``uint8 (T, H, W, 3)`` -> ``(T, h, w, 3)``: each frame through PIL's bilinear resize
    (antialiased: the filter widens when shrinking), exactly torchvision's ``Resize((h, w))`` on PIL
    images, as the official release prepares frames."""
    from PIL import Image

    height, width = _pair(size)
    out = np.empty((len(frames), height, width, 3), np.uint8)
    for i, frame in enumerate(frames):
        image = Image.fromarray(np.ascontiguousarray(frame))
        out[i] = np.asarray(image.resize((width, height), Image.BILINEAR))
    return out


def frames_to_tensor(
    frames: np.ndarray | torch.Tensor,
    *,
    size: int | Sequence[int] | None = None,
    mean: Sequence[float] = PE_MEAN,
    std: Sequence[float] = PE_STD,
    resize: str = "decoder",
) -> torch.Tensor:
    """In-memory frames ``(T, H, W, 3)`` -> normalised float32 ``(T, 3, h, w)``.

    ``frames`` are ``uint8`` in [0, 255] or floating point in [0, 1], numpy or torch (CPU). With
    ``size`` they are squash-resized bilinearly: ``resize="decoder"``: torch with antialiasing (the
    file readers resize in FFmpeg instead, so the two differ by rounding, ~1 grey level), then the
    affine normalisation; ``resize="pil"``: PIL, then torchvision's arithmetic, as the release
    (``uint8`` frames only).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {tuple(frames.shape)}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu()
        frames = frames.numpy() if frames.dtype != torch.bfloat16 else frames.float().numpy()
    if frames.dtype == np.uint8:
        value_range = 255.0
    elif np.issubdtype(frames.dtype, np.floating):
        value_range = 1.0
    else:
        raise TypeError(f"frames must be uint8 in [0, 255] or float in [0, 1], got {frames.dtype}")
    out_size = None if size is None else _pair(size)
    if resize == "pil":
        if value_range != 255.0:
            raise TypeError(
                "resize='pil' reproduces the release's pipeline on uint8 frames; pass uint8 (T, H, W, 3)"
            )
        if out_size is not None:
            frames = pil_resize(frames, out_size)
        return normalize_frames(
            torch.from_numpy(frames).permute(0, 3, 1, 2), mean, std, arithmetic="torchvision"
        )
    scale, shift = affine(mean, std, value_range)
    x = frames.transpose(0, 3, 1, 2)
    if out_size is not None and tuple(x.shape[-2:]) != out_size:
        resized = F.interpolate(
            torch.from_numpy(x.astype(np.float32)),
            size=out_size,
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        x = resized.numpy()
    # One pass converting and reordering (NHWC -> NCHW), one in place; numpy, not torch: torch's
    # intra-op threads made this 10x slower on a busy machine (benchmarks/bench_loading.py).
    out = np.empty(x.shape, np.float32)
    np.multiply(x, scale, out=out, casting="unsafe")
    out -= shift
    return torch.from_numpy(out)
