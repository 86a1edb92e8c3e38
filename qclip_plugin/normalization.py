"""Frame normalisation ``(x / value_range - mean) / std``, shared by the data pipeline and the model.

Both compute it as one float32 multiply and one subtract with the same scale and shift
(:func:`affine`, computed in float64 and rounded once), so frames normalised in a DataLoader
worker and ``uint8`` frames normalised later by the model are bit-identical. It lives below
``data`` and ``models``, which do not import each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["affine", "normalize_uint8"]


def affine(mean: Sequence[float], std: Sequence[float], value_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float32 ``scale, shift`` of shape ``(1, 3, 1, 1)`` with
    ``(x / value_range - mean) / std == x * scale - shift``."""
    mean_a, std_a = np.asarray(mean, np.float64).reshape(-1), np.asarray(std, np.float64).reshape(-1)
    if mean_a.size != 3 or std_a.size != 3 or np.any(std_a == 0):
        raise ValueError(f"mean and std need three values each and std no zero, got {mean}, {std}")
    scale = (1.0 / (value_range * std_a)).astype(np.float32).reshape(1, 3, 1, 1)
    return scale, (mean_a / std_a).astype(np.float32).reshape(1, 3, 1, 1)


def normalize_uint8(frames: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``uint8 (..., 3, H, W)`` -> ``(x / 255 - mean) / std`` in float32 on the frames' device (torch)."""
    scale, shift = affine(mean, std, 255.0)
    out = frames.to(torch.float32, memory_format=torch.contiguous_format)
    out.mul_(torch.from_numpy(scale.reshape(3, 1, 1)).to(frames.device))
    out.sub_(torch.from_numpy(shift.reshape(3, 1, 1)).to(frames.device))
    return out
