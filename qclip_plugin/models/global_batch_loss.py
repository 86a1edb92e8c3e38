"""``GlobalBatchLoss``: a batch loss computed on the batch of all processes of a data-parallel run.

The PLCC and rank losses (:mod:`qclip_plugin.models.losses`) are statistics of the whole batch:
the mean of two PLCC losses over half-batches is not the PLCC loss of the batch. Each process
therefore gathers every process's scores (with gradients, ``torch.distributed.nn.all_gather``)
and MOS, and computes the inner loss on the global batch. Every process then holds the same loss
``L``; the gather's backward sums the ``N`` identical contributions to ``dL/ds_r`` on the process
that owns ``s_r``, and DDP divides the summed gradients by ``N`` again, so the update equals a
one-process step on the global batch (up to float summation order). Without a process group (or
with one process) it is the inner loss itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from qclip_plugin.registry import MODELS

__all__ = ["GlobalBatchLoss", "gather_batch"]


def gather_batch(pred: torch.Tensor, mos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (differentiably) and MOS of every process, concatenated in rank order.

    Ranks may hold different numbers of videos (a short last batch): they are padded to the
    largest for the collective, then cut back.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return pred, mos
    from torch.distributed.nn.functional import all_gather

    pred, mos = pred.reshape(-1), mos.reshape(-1).to(pred.dtype)
    sizes = [torch.zeros(1, dtype=torch.long, device=pred.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([pred.numel()], dtype=torch.long, device=pred.device))
    counts = [int(s.item()) for s in sizes]
    largest = max(counts)
    pad = largest - pred.numel()
    padded_pred = torch.cat([pred, pred.new_zeros(pad)]) if pad else pred
    padded_mos = torch.cat([mos, mos.new_zeros(pad)]) if pad else mos
    with warnings.catch_warnings():  # its suggested successor is private (_functional_collectives)
        warnings.simplefilter("ignore", FutureWarning)
        preds = all_gather(padded_pred.contiguous())
    moses = [torch.empty_like(padded_mos) for _ in counts]
    dist.all_gather(moses, padded_mos.contiguous())
    return (
        torch.cat([p[:n] for p, n in zip(preds, counts, strict=True)]),
        torch.cat([m[:n] for m, n in zip(moses, counts, strict=True)]),
    )


@MODELS.register_module()
class GlobalBatchLoss(nn.Module):
    """Apply ``loss`` (a config or module mapping ``(pred, mos)`` to a dict of losses) to the global batch.

    Config: ``loss=dict(type='GlobalBatchLoss', loss=dict(type='PLCCRankLoss'))``;
    :func:`qclip_plugin.engine.distributed.configure_launcher` wraps a config's loss this way.
    """

    def __init__(self, loss: Mapping[str, Any] | nn.Module | None = None) -> None:
        super().__init__()
        if loss is None:
            from qclip_plugin.models.losses import PLCCRankLoss

            loss = PLCCRankLoss()
        self.loss = loss if isinstance(loss, nn.Module) else MODELS.build(dict(loss))

    def forward(self, pred: torch.Tensor, mos: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.loss(*gather_batch(pred, mos))
