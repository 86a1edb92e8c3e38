"""``QCLIPVQAModel``: Q-CLIP as an mmengine ``BaseModel``, so mmengine's ``Runner`` trains and tests it.

The Runner owns the loop (optimizer, schedules, checkpoints, logging); this wrapper only maps
its three modes onto the Q-CLIP module (eqs. 1-12) and the training loss:

- ``mode='loss'``: scores of the batch -> ``{"loss_plcc", "loss_rank"}`` (PLCC + 0.3 x rank,
  :mod:`qclip_plugin.models.losses`);
- ``mode='predict'``: one ``{"name", "mos", "pred_score"}`` dict per clip, what
  ``VQAMetric.process`` takes;
- ``mode='tensor'``: the raw scores ``(B,)``.

Inputs come as a stacked ``(B, T, 3, H, W)`` tensor (``default_collate``) or as a list of
``(T, 3, H, W)`` tensors (mmengine's default ``pseudo_collate``); data samples as a list of
``dict(name=..., mos=...)`` or as a collated ``dict(name=[...], mos=Tensor(B))``. Frames are
float32 already normalised, or ``uint8`` (``LoadVideoFrames(normalize=False)``, a quarter of the
bytes between DataLoader workers and to the device), normalised here on the model's device with
its preprocessing record (``qclip.preprocess``), bit-identical to the pipeline's own normalisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from mmengine.model import BaseModel
from torch import nn

from qclip_plugin.models.losses import PLCCRankLoss
from qclip_plugin.preprocessing import Preprocessing
from qclip_plugin.registry import MODELS

__all__ = ["QCLIPVQAModel"]


def _stack_frames(inputs: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    if isinstance(inputs, torch.Tensor):
        frames = inputs
    else:
        shapes = {tuple(x.shape) for x in inputs}
        if len(shapes) != 1:
            raise ValueError(
                f"the videos of a batch have different frame shapes {sorted(shapes)}; give every "
                "LoadVideoFrames step the same num_frames and size"
            )
        frames = torch.stack(list(inputs))
    if frames.ndim != 5:
        raise ValueError(f"expected frames (B, T, 3, H, W), got shape {tuple(frames.shape)}")
    return frames


def _normalize(frames: torch.Tensor, qclip: nn.Module) -> torch.Tensor:
    if frames.dtype != torch.uint8:
        return frames  # float frames come normalised by the pipeline
    # wrapped modules without a record get the default one (PE's 0.5/0.5, decoder arithmetic)
    return (getattr(qclip, "preprocess", None) or Preprocessing()).normalize(frames)


def _samples_as_list(data_samples: Any, batch_size: int) -> list[dict]:
    """Per-clip dicts from either a list of samples or a collated dict of lists/tensors."""
    if data_samples is None:
        return [{} for _ in range(batch_size)]
    if isinstance(data_samples, Mapping):
        out: list[dict] = [{} for _ in range(batch_size)]
        for key, values in data_samples.items():
            for i in range(batch_size):
                out[i][key] = values[i]
        return out
    # data elements (attribute access) work too, as VQAMetric accepts them
    samples = [
        dict(s) if isinstance(s, Mapping) else {k: getattr(s, k) for k in ("name", "mos") if hasattr(s, k)}
        for s in data_samples
    ]
    if len(samples) != batch_size:
        raise ValueError(f"{len(samples)} data samples for {batch_size} videos")
    return samples


def _scalar(value: Any) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)


@MODELS.register_module()
class QCLIPVQAModel(BaseModel):
    """Q-CLIP for mmengine: ``forward(inputs, data_samples, mode)``.

    Args:
        qclip: arguments of :func:`qclip_plugin.models.build_qclip` (``preset``, ``ablation``, ``pretrained``,
            ``checkpoint`` and preset overrides such as ``layers`` or ``prompt_mode``), or a
            built Q-CLIP module (any ``nn.Module`` mapping frames ``(B, T, 3, H, W)`` to ``(B,)``).
        loss: config of the loss module (default ``PLCCRankLoss``, PLCC + 0.3 x rank).
        data_preprocessor: mmengine data preprocessor config (default: move to device only;
            float frames come normalised by the pipeline, uint8 frames are normalised in
            ``forward`` with the ``qclip.preprocess`` record).
        init_cfg: unused; the weights come from ``build_qclip`` (see :meth:`init_weights`).
    """

    def __init__(
        self,
        qclip: Mapping[str, Any] | nn.Module,
        loss: Mapping[str, Any] | None = None,
        data_preprocessor: Mapping[str, Any] | None = None,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if isinstance(qclip, nn.Module):
            self.qclip = qclip
        else:
            from qclip_plugin.models.qclip import build_qclip

            self.qclip = build_qclip(**dict(qclip))
        self.loss_module = MODELS.build(dict(loss)) if loss is not None else PLCCRankLoss()

    def init_weights(self) -> None:
        """Nothing to do: ``build_qclip`` loaded the backbone and initialised the adapters, and
        mmengine's generic initialisation must not overwrite them."""

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors training changes (``requires_grad``), under their ``state_dict`` keys."""
        return {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}

    def forward(
        self,
        inputs: torch.Tensor | Sequence[torch.Tensor],
        data_samples: Any = None,
        mode: str = "tensor",
    ) -> torch.Tensor | dict[str, torch.Tensor] | list[dict]:
        frames = _normalize(_stack_frames(inputs), self.qclip)
        scores = self.qclip(frames).reshape(-1)
        if mode == "tensor":
            return scores
        samples = _samples_as_list(data_samples, frames.shape[0])
        if mode == "loss":
            if any("mos" not in s for s in samples):
                raise KeyError("mode='loss' needs a 'mos' in every data sample (PackVQAInputs puts it there)")
            mos = torch.tensor([_scalar(s["mos"]) for s in samples], dtype=scores.dtype, device=scores.device)
            return self.loss_module(scores, mos)
        if mode == "predict":
            return [
                {
                    "name": str(s.get("name", i)),
                    "mos": _scalar(s["mos"]) if "mos" in s else float("nan"),
                    "pred_score": float(score),
                }
                for i, (s, score) in enumerate(zip(samples, scores.detach().cpu().tolist(), strict=True))
            ]
        raise ValueError(f"unknown mode {mode!r}; QCLIPVQAModel supports 'loss', 'predict' and 'tensor'")
