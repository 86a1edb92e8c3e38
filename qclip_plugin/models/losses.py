"""Training losses of Q-CLIP: PLCC loss + 0.3 x rank loss.

The paper does not state its loss; the official release trains with the loss of
FAST-VQA and DOVER (DESIGN.md section 1). Both functions below follow
FAST-VQA's training script (Wu et al., "FAST-VQA: Efficient End-to-end Video
Quality Assessment with Fragment Sampling", ECCV 2022; ``plcc_loss`` and
``rank_loss`` in ``train_one_phase`` of github.com/VQAssessment/FAST-VQA-and-FasterVQA),
which DOVER (Wu et al., ICCV 2023) reuses unchanged. Keeping them equal to the
source matters: the 0.3 weight was tuned for exactly these scales.
"""

from __future__ import annotations

import torch
from torch import nn

from qclip_plugin.registry import MODELS

__all__ = ["PLCCRankLoss", "plcc_loss", "rank_loss"]

_EPS = 1e-8


def _flat(x: torch.Tensor, name: str) -> torch.Tensor:
    x = x.reshape(-1)
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


def plcc_loss(pred: torch.Tensor, mos: torch.Tensor) -> torch.Tensor:
    """PLCC loss of FAST-VQA: ``((1 - rho) / 2 + (1 - rho^2) / 4) / 2`` in closed form.

    Both vectors are z-scored (population std, +1e-8); ``loss0 = MSE(p, y) / 4`` and
    ``loss1 = MSE(rho * p, y) / 4`` with ``rho = mean(p * y)`` (Pearson's r), and the
    loss is their mean. 0 for a perfect linear fit, 0.5 for r = -1.
    """
    pred, mos = _flat(pred, "pred"), _flat(mos, "mos").to(pred.dtype)
    sigma_hat, m_hat = torch.std_mean(pred, unbiased=False)
    p = (pred - m_hat) / (sigma_hat + _EPS)
    sigma, m = torch.std_mean(mos, unbiased=False)
    y = (mos - m) / (sigma + _EPS)
    loss0 = nn.functional.mse_loss(p, y) / 4
    rho = torch.mean(p * y)
    loss1 = nn.functional.mse_loss(rho * p, y) / 4
    return (loss0 + loss1) / 2


def rank_loss(pred: torch.Tensor, mos: torch.Tensor) -> torch.Tensor:
    """Pairwise rank (hinge) loss of FAST-VQA.

    ``sum_ij relu((p_i - p_j) * sign(y_j - y_i)) / (B (B - 1)) / (1 + max_ij ...)``: every
    ordered pair whose predictions are in the wrong order contributes its margin, scaled
    by one plus the largest violation (not detached, as in the source).
    """
    pred, mos = _flat(pred, "pred"), _flat(mos, "mos").to(pred.dtype)
    n = pred.shape[0]
    violation = nn.functional.relu((pred[:, None] - pred[None, :]) * torch.sign(mos[None, :] - mos[:, None]))
    scale = 1 + torch.max(violation)
    return torch.sum(violation) / n / (n - 1) / scale


@MODELS.register_module()
class PLCCRankLoss(nn.Module):
    """``plcc_weight * plcc_loss + rank_weight * rank_loss`` (FAST-VQA / DOVER / official Q-CLIP: 1 and 0.3).

    Both terms are undefined for fewer than two videos (a correlation and a ranking need
    pairs); such a batch (e.g. the last one of an epoch) gives zero losses that keep the
    graph, so training goes on instead of producing NaN.
    """

    def __init__(self, plcc_weight: float = 1.0, rank_weight: float = 0.3) -> None:
        super().__init__()
        self.plcc_weight = float(plcc_weight)
        self.rank_weight = float(rank_weight)

    def forward(self, pred: torch.Tensor, mos: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return ``{"loss_plcc": ..., "loss_rank": ...}``, already weighted (mmengine sums ``loss*`` keys)."""
        if pred.numel() != mos.numel():
            raise ValueError(f"pred has {pred.numel()} scores but mos has {mos.numel()}")
        if pred.numel() < 2:
            zero = pred.sum() * 0.0
            return {"loss_plcc": zero, "loss_rank": zero.clone()}
        return {
            "loss_plcc": self.plcc_weight * plcc_loss(pred, mos),
            "loss_rank": self.rank_weight * rank_loss(pred, mos),
        }

    def extra_repr(self) -> str:
        return f"plcc_weight={self.plcc_weight}, rank_weight={self.rank_weight}"
