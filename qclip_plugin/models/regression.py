"""Quality regression, eqs. 11-12 of the paper.

``s_k = t_k . V / (|t_k| |V|)`` (11): cosine similarity between the video feature V (the
mean of the per-frame image features) and each prompt feature t_k; ``Q = sum_k w_k s_k``
(12) with learnable weights w_k (no bias). The release initialises w ~ N(0, K^-1/2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["QualityRegressor", "level_similarities"]


def level_similarities(video: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
    """Eq. 11: cosine similarities ``(B, K)`` of video features ``(B, D)`` and prompt features ``(K, D)``."""
    return F.normalize(video, dim=-1) @ F.normalize(prompts, dim=-1).t()


class QualityRegressor(nn.Module):
    """Eq. 12: ``Q = S @ w`` with ``w`` of shape ``(K,)``."""

    def __init__(self, num_levels: int, init_std: float | None = None):
        super().__init__()
        std = num_levels**-0.5 if init_std is None else init_std
        self.weight = nn.Parameter(torch.randn(num_levels) * std)

    def forward(self, similarities: torch.Tensor) -> torch.Tensor:
        return similarities @ self.weight.to(similarities.dtype)
