"""PLCC + rank loss against hand computations and FAST-VQA's original formulation."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy import stats

from qclip_plugin.models.losses import PLCCRankLoss, plcc_loss, rank_loss


def _fastvqa_rank_loss(y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # FAST-VQA's code (up to redundant parentheses), on (B, 1) column vectors.
    ranking_loss = torch.nn.functional.relu((y_pred - y_pred.t()) * torch.sign(y.t() - y))
    scale = 1 + torch.max(ranking_loss)
    return (torch.sum(ranking_loss) / y_pred.shape[0] / (y_pred.shape[0] - 1) / scale).float()


def _fastvqa_plcc_loss(y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    sigma_hat, m_hat = torch.std_mean(y_pred, unbiased=False)
    y_pred = (y_pred - m_hat) / (sigma_hat + 1e-8)
    sigma, m = torch.std_mean(y, unbiased=False)
    y = (y - m) / (sigma + 1e-8)
    loss0 = torch.nn.functional.mse_loss(y_pred, y) / 4
    rho = torch.mean(y_pred * y)
    loss1 = torch.nn.functional.mse_loss(rho * y_pred, y) / 4
    return ((loss0 + loss1) / 2).float()


def test_rank_loss_by_hand() -> None:
    # Fully reversed: ordered pairs (i, j) violating are (1,0),(0,1): 1; (2,0),(0,2): 2; (2,1),(1,2): 1.
    # sum 8, max 2, n 3 -> 8 / 3 / 2 / 3.
    pred = torch.tensor([1.0, 2.0, 3.0])
    mos = torch.tensor([3.0, 2.0, 1.0])
    assert rank_loss(pred, mos).item() == pytest.approx(8 / 3 / 2 / 3, abs=1e-7)
    assert rank_loss(pred, torch.tensor([1.0, 2.0, 3.0])).item() == 0.0
    # Ties in MOS carry no ranking constraint (sign 0).
    assert rank_loss(pred, torch.tensor([1.0, 1.0, 1.0])).item() == 0.0


def test_rank_loss_against_explicit_double_loop() -> None:
    g = torch.Generator().manual_seed(0)
    pred, mos = torch.randn(12, generator=g, dtype=torch.float64), torch.rand(12, generator=g, dtype=torch.float64)
    n = len(pred)
    terms = [max(0.0, float((pred[i] - pred[j]) * torch.sign(mos[j] - mos[i]))) for i, j in itertools.product(range(n), range(n))]
    expected = sum(terms) / n / (n - 1) / (1 + max(terms))
    assert rank_loss(pred, mos).item() == pytest.approx(expected, rel=1e-12)


def test_plcc_loss_closed_form_against_scipy() -> None:
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(12, generator=g, dtype=torch.float64)
    mos = pred * 0.5 + torch.randn(12, generator=g, dtype=torch.float64)
    r = stats.pearsonr(pred.numpy(), mos.numpy())[0]
    expected = ((1 - r) / 2 + (1 - r**2) / 4) / 2
    assert plcc_loss(pred, mos).item() == pytest.approx(expected, abs=1e-7)
    assert plcc_loss(mos, mos).item() == pytest.approx(0.0, abs=1e-7)
    assert plcc_loss(-mos, mos).item() == pytest.approx(0.5, abs=1e-6)


def test_equal_to_fastvqa_source_formulation() -> None:
    g = torch.Generator().manual_seed(2)
    pred, mos = torch.randn(12, generator=g), torch.rand(12, generator=g) * 4 + 1
    assert torch.equal(rank_loss(pred, mos), _fastvqa_rank_loss(pred[:, None], mos[:, None]))
    assert torch.allclose(plcc_loss(pred, mos), _fastvqa_plcc_loss(pred[:, None], mos[:, None]), atol=1e-7)


def test_combined_weights_and_gradient() -> None:
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(12, generator=g, requires_grad=True)
    mos = torch.rand(12, generator=g)
    losses = PLCCRankLoss()(pred, mos)
    assert set(losses) == {"loss_plcc", "loss_rank"}
    assert losses["loss_plcc"].item() == pytest.approx(plcc_loss(pred, mos).item(), abs=1e-7)
    assert losses["loss_rank"].item() == pytest.approx(0.3 * rank_loss(pred, mos).item(), abs=1e-7)
    sum(losses.values()).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_single_video_batch_gives_zero_not_nan() -> None:
    pred = torch.tensor([0.7], requires_grad=True)
    losses = PLCCRankLoss()(pred, torch.tensor([3.0]))
    assert all(v.item() == 0.0 for v in losses.values())
    sum(losses.values()).backward()
    assert pred.grad is not None and pred.grad.item() == 0.0


def test_mismatched_sizes_are_named() -> None:
    with pytest.raises(ValueError, match="pred has 3 scores but mos has 2"):
        PLCCRankLoss()(torch.zeros(3), torch.zeros(2))
