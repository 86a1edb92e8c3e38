"""Pseudo-MOS of the synthetic demo clips: full-reference SSIM mapped to a 1-5 scale.

The raw score is SSIM (Wang et al., 2004) exactly as pyiqa's ``ssim`` metric
computes it (luma of YIQ rounded to 8-bit levels, 11x11 Gaussian window with
sigma 1.5, "valid" filtering, data range 255, no down-sampling), between each
decoded frame of the written clip and the same frame of the pristine content,
averaged over frames. pyiqa's metric wrapper casts to float64, which is about
8x slower on CPU; here its own ``ssim`` function runs in float32, which agrees
with the wrapper within 3e-7 (DESIGN.md §8; tested against ``pyiqa.create_metric('ssim')``).
MS-SSIM would need frames of at least ~176 px for its five scales.

Mapping to MOS (fixed constants, the same for both parts so their scales agree):

    q   = -10 * log10(1 - SSIM)                    (SSIM in decibels, capped at 40 dB)
    MOS = 1 + 4 / (1 + exp(-(q - q_mid) / q_scale))

SSIM in decibels spreads the values crowded just below 1 (0.99 -> 20 dB,
0.95 -> 13 dB, 0.8 -> 7 dB, 0.5 -> 3 dB) and the logistic keeps every MOS
strictly inside (1, 5), so no two clips tie at a clipped bound.
"""

from __future__ import annotations

import numpy as np
import torch

MAX_DB = 40.0


def _pyiqa_ssim():
    # pyiqa imports its whole package (~2 s); load it when first needed
    from pyiqa.archs.func_util import preprocess_rgb
    from pyiqa.archs.ssim_arch import ssim

    return preprocess_rgb, ssim


def frame_ssim(distorted: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-frame SSIM of pyiqa's ``ssim`` metric (luma, 8-bit rounded), computed in float32.

    Accepts ``uint8`` frames ``(T, H, W, 3)`` or float tensors ``(T, 3, H, W)`` in [0, 1]
    (pyiqa's input convention). Returns float64 ``(T,)``.
    """
    preprocess_rgb, ssim = _pyiqa_ssim()
    x, y = _as_batch(distorted), _as_batch(reference)
    if x.shape != y.shape:
        raise ValueError(f"distorted {tuple(x.shape)} and reference {tuple(y.shape)} frames differ in shape")
    with torch.no_grad():
        x = preprocess_rgb(x, test_y_channel=True, data_range=255, color_space="yiq")
        y = preprocess_rgb(y, test_y_channel=True, data_range=255, color_space="yiq")
        return ssim(x, y, data_range=255).double().numpy()


def _as_batch(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
        return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().float() / 255.0
    return frames.float()


def video_ssim(distorted: np.ndarray, reference: np.ndarray) -> float:
    """Mean over frames of :func:`frame_ssim`."""
    return float(frame_ssim(distorted, reference).mean())


def ssim_db(ssim: float | np.ndarray) -> np.ndarray:
    """SSIM in decibels, ``-10 log10(1 - SSIM)``, capped at :data:`MAX_DB`."""
    gap = np.maximum(1.0 - np.asarray(ssim, dtype=np.float64), 10 ** (-MAX_DB / 10))
    return -10.0 * np.log10(gap)


def ssim_to_mos(ssim: float | np.ndarray, q_mid: float, q_scale: float) -> np.ndarray:
    """Map SSIM to a pseudo-MOS in (1, 5) (logistic of SSIM in dB; see the module docstring)."""
    if q_scale <= 0:
        raise ValueError(f"q_scale must be positive, got {q_scale}")
    return 1.0 + 4.0 / (1.0 + np.exp(-(ssim_db(ssim) - q_mid) / q_scale))
