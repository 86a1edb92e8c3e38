"""Distortions of the synthetic demo benchmark, each at four levels (1 = mildest).

A distortion maps pristine ``uint8`` frames ``(T, H, W, 3)`` to distorted ones. The
H.264 distortion is the one exception: it changes nothing in the pixels and instead
sets the CRF at which the clip is written (every other clip is written losslessly,
so what a model decodes is exactly the distortion applied; see ``codec.py``).

The level parameters are data (:data:`DISTORTIONS`), part of the parameter hash of
a generated set, so changing one regenerates the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

DistortFn = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Distortion:
    """One distortion kind: its level parameters (level ``i`` uses ``params[i - 1]``) and what they mean."""

    name: str
    params: tuple[float, ...]
    unit: str
    apply: DistortFn
    sets_crf: bool = False

    @property
    def num_levels(self) -> int:
        return len(self.params)

    def param(self, level: int) -> float:
        if not 1 <= level <= self.num_levels:
            raise ValueError(f"{self.name}: level must be in 1..{self.num_levels}, got {level}")
        return self.params[level - 1]


def _as_float(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32)


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def blur(frames: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Spatial Gaussian blur of standard deviation ``sigma`` pixels (defocus-like), every frame."""
    return _to_uint8(gaussian_filter(_as_float(frames), sigma=(0, sigma, sigma, 0), mode="reflect"))


def noise(frames: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise of ``std`` 8-bit levels, drawn anew for every frame (sensor-like)."""
    # std times a standard normal field: with the same seed, levels scale one noise field
    return _to_uint8(_as_float(frames) + std * rng.standard_normal(frames.shape, dtype=np.float32))


def h264(frames: np.ndarray, crf: float, rng: np.random.Generator) -> np.ndarray:
    """H.264 compression: the pixels are left alone, the writer encodes at CRF ``crf``."""
    return frames


def scaling(frames: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Down-scaling by ``factor`` (antialiased bilinear) and back up (bilinear): low-resolution upload."""
    t, h, w, _ = frames.shape
    x = torch.from_numpy(_as_float(frames)).permute(0, 3, 1, 2)
    small = (max(1, round(h / factor)), max(1, round(w / factor)))
    x = F.interpolate(x, size=small, mode="bilinear", antialias=True, align_corners=False)
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return _to_uint8(x.permute(0, 2, 3, 1).numpy())


def frame_drop(frames: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Drop ``round(fraction * T)`` random frames (never the first); each is replaced by the last shown one.

    The clip keeps its length and frame rate, so drops show as freezes and jumps
    (random positions, not a regular pattern: every-other-frame drops would be
    invisible to 8-of-16 uniform sampling, DESIGN.md §8).
    """
    t = frames.shape[0]
    count = min(t - 1, max(1, round(fraction * t)))
    # a prefix of one permutation: with the same seed, a higher level drops a superset
    dropped = np.sort(rng.permutation(np.arange(1, t))[:count])
    out = frames.copy()
    for i in dropped:
        out[i] = out[i - 1]
    return out


def exposure(frames: np.ndarray, gain: float, rng: np.random.Generator) -> np.ndarray:
    """Over-exposure (pixels times ``gain``, clipped) or under-exposure (divided by ``gain``), one per clip at random."""
    x = _as_float(frames)
    return _to_uint8(x * gain if rng.random() < 0.5 else x / gain)


def posterize(frames: np.ndarray, bits: float, rng: np.random.Generator) -> np.ndarray:
    """Quantisation to ``bits`` bits per channel (banding, as from a poor bit-depth conversion)."""
    step = 256.0 / 2 ** int(bits)
    return _to_uint8(np.floor(_as_float(frames) / step) * step + (step - 1) / 2)


DISTORTIONS: dict[str, Distortion] = {
    d.name: d
    for d in (
        Distortion("blur", (0.5, 0.75, 1.2, 2.2), "Gaussian sigma (px)", blur),
        Distortion("noise", (10.0, 20.0, 32.0, 56.0), "Gaussian std (8-bit levels)", noise),
        Distortion("h264", (24.0, 30.0, 36.0, 44.0), "x264 CRF", h264, sets_crf=True),
        Distortion("scaling", (1.15, 1.4, 2.0, 3.0), "down-up factor", scaling),
        Distortion("frame_drop", (0.125, 0.25, 0.45, 0.65), "fraction of frames dropped", frame_drop),
        Distortion("exposure", (1.25, 1.5, 2.0, 2.75), "gain (x or 1/x)", exposure),
        Distortion("posterize", (5.0, 4.0, 3.0, 2.0), "bits per channel", posterize),
    )
}


def apply_distortion(
    frames: np.ndarray, kind: str, level: int, rng: np.random.Generator
) -> tuple[np.ndarray, float | None]:
    """Apply distortion ``kind`` at ``level``; return the frames and the CRF to encode at (``None``: lossless)."""
    if kind not in DISTORTIONS:
        raise KeyError(f"unknown distortion kind {kind!r}; choose from {', '.join(DISTORTIONS)}")
    d = DISTORTIONS[kind]
    p = d.param(level)
    return d.apply(frames, p, rng), (p if d.sets_crf else None)
