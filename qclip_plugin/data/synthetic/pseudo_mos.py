"""Pseudo-MOS of the synthetic demo clips: full-reference SSIM mapped to a 1-5 scale.

The raw score is SSIM (Wang et al., 2004) as pyiqa's ``ssim`` metric computes it
(luma of YIQ rounded to 8-bit levels by pyiqa's own ``preprocess_rgb``, its 11x11
Gaussian window with sigma 1.5, "valid" filtering, data range 255, no
down-sampling, relu on the contrast-structure map), between each decoded frame of
the written clip and the same frame of the pristine content, averaged over frames.
pyiqa's metric wrapper casts to float64, which is about 8x slower on CPU; here the
same formula runs in float32 with the local variances computed on mean-shifted
frames, which agrees with the wrapper within 1e-6 (tested against
``pyiqa.create_metric('ssim')``; pyiqa's own function run in float32 drifts by up
to ~1e-5 on smooth content, more than DESIGN.md §8 measured on noisier frames).
Frames enter as float32 in [0, 1], as pyiqa's image loader gives them: pyiqa rounds
the luma in the input's dtype, and 8-bit pixels often sit exactly on a rounding tie
(0.299 R + 0.587 G + 0.114 B = k + 0.5), so float64 inputs round some pixels the
other way (a ~1e-5 change of SSIM).
MS-SSIM would need frames of at least ~176 px for its five scales.

Mapping to MOS (fixed constants, the same for both parts so their scales agree):

    q   = -10 * log10(1 - SSIM)                    (SSIM in decibels, capped at 40 dB)
    MOS = 1 + 4 / (1 + exp(-(q - q_mid) / q_scale))

With the defaults of :class:`~.config.DemoConfig` (``q_mid = 6`` dB, i.e. SSIM 0.75,
about the median of part A; ``q_scale = 3`` dB), SSIM 0.99 maps to 4.96, 0.95 to 4.65,
0.8 to 3.33, 0.7 to 2.74 and 0.5 to 2.08. SSIM in decibels spreads the values crowded just below 1 (0.99 -> 20 dB,
0.95 -> 13 dB, 0.8 -> 7 dB, 0.5 -> 3 dB) and the logistic keeps every MOS
strictly inside (1, 5), so no two clips tie at a clipped bound.
"""

from __future__ import annotations

import numpy as np
import torch

MAX_DB = 40.0


def frame_ssim(distorted: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-frame SSIM of pyiqa's ``ssim`` metric (luma, 8-bit rounded), computed in float32.

    Accepts ``uint8`` frames ``(T, H, W, 3)`` or float tensors ``(T, 3, H, W)`` in [0, 1]
    (pyiqa's input convention). Returns float64 ``(T,)``.
    """
    # pyiqa imports its whole package (~2 s): only when first needed
    from pyiqa.archs.func_util import preprocess_rgb

    x, y = _as_batch(distorted), _as_batch(reference)
    if x.shape != y.shape:
        raise ValueError(f"distorted {tuple(x.shape)} and reference {tuple(y.shape)} frames differ in shape")
    with torch.no_grad():
        x = preprocess_rgb(x, test_y_channel=True, data_range=255, color_space="yiq")
        y = preprocess_rgb(y, test_y_channel=True, data_range=255, color_space="yiq")
        return _ssim_float32(x, y).double().numpy()


def _ssim_float32(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0, tile: int = 16) -> torch.Tensor:
    """pyiqa's ``ssim_arch.ssim`` (Gaussian 11x11, sigma 1.5, 'valid', relu on the cs map), float32-safe.

    ``E_w[X^2] - E_w[X]^2`` on raw 0-255 values loses up to ~5e-5 of SSIM to float32
    cancellation (flat areas far from mid-grey, over/under-exposed frames). Here the
    output is computed in tiles of ``tile x tile`` positions; in each tile the moments
    are taken of ``X - a`` and ``Y - b`` (``a``, ``b``: the tile's rounded means, so
    flat areas become exact zeros) and shifted back exactly. pyiqa's float32 window
    sums to ``W = 1 - d`` (``d ~ 6e-9``), which leaves shift-dependent terms in pyiqa's
    own results, e.g. ``E_w[XY] - E_w[X] E_w[Y] = Cov_w + d (a mu_y' + b mu_x' + a b W)``
    (``mu'``: means of the shifted frames); they are added back, so this agrees with
    the float64 formula to ~1e-14 in float64 and within 1e-6 in float32.
    """
    from pyiqa.matlab_utils import fspecial

    k = 11
    n, _, h, w = x.shape
    out_h, out_w = h - k + 1, w - k + 1
    tiles_h, tiles_w = -(-out_h // tile), -(-out_w // tile)
    size = tile + k - 1
    # replicate-pad so the tiles cover the output; positions past it are cropped below
    xy = torch.nn.functional.pad(
        torch.cat([x, y], dim=1), (0, tiles_w * tile + k - 1 - w, 0, tiles_h * tile + k - 1 - h), mode="replicate"
    )
    patches = torch.nn.functional.unfold(xy, size, stride=tile)  # (N, 2 * size * size, tiles)
    patches = patches.view(n, 2, size, size, -1).permute(0, 4, 1, 2, 3).reshape(-1, 2, size, size)
    shift = patches.mean(dim=(2, 3), keepdim=True).round()  # integers: shifted 8-bit values stay exact
    xs, ys = (patches - shift).unbind(1)
    xs, ys = xs.unsqueeze(1), ys.unsqueeze(1)
    stack = torch.cat([xs, ys, xs * xs, ys * ys, xs * ys], dim=1)
    window = fspecial(k, 1.5, 5).to(stack)
    total = float(window[0].double().sum())
    d = 1.0 - total
    mu_xs, mu_ys, e_xx, e_yy, e_xy = torch.nn.functional.conv2d(stack, window, groups=5).unbind(1)
    a, b = shift[:, 0], shift[:, 1]  # (tiles, 1, 1)
    sigma_x = e_xx - mu_xs**2 + d * (2 * a * mu_xs + a * a * total)
    sigma_y = e_yy - mu_ys**2 + d * (2 * b * mu_ys + b * b * total)
    sigma_xy = e_xy - mu_xs * mu_ys + d * (a * mu_ys + b * mu_xs + a * b * total)
    mu_x, mu_y = mu_xs + a * total, mu_ys + b * total
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    cs = torch.relu((2 * sigma_xy + c2) / (sigma_x + sigma_y + c2))
    ssim_map = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
    ssim_map = ssim_map.view(n, tiles_h, tiles_w, tile, tile).permute(0, 1, 3, 2, 4)
    ssim_map = ssim_map.reshape(n, tiles_h * tile, tiles_w * tile)[:, :out_h, :out_w]
    return ssim_map.mean(dim=(1, 2))


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
