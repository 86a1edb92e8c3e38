"""Zero-shot prompt baselines on any open_clip backbone (no training, no Q-CLIP adapters).

Both compare the video feature V (the mean of the frames' image features, as in eq. 11) with frozen
text prompts ``"a video of {level} quality"`` (eq. 8 without the learnable context of eq. 9), turn the
cosine similarities into probabilities with the backbone's own temperature, and read a score off them:

- ``antonym`` (CLIP-IQA, Wang, Chan and Loy 2023, adapted to video): prompts "good" / "bad"; the score
  is the softmax probability of "good", in [0, 1]. Table 4's "Antonym" row, without training.
- ``five-level``: prompts excellent, good, fair, poor, bad; the score is the expected level
  ``sum_k p_k * v_k`` with ``v = (5, 4, 3, 2, 1)``, in [1, 5] (the level-to-score rule of
  Q-Align-style LLM raters, Wu et al. 2024). Table 4's "Five levels" row, without training.

They are the "what does the backbone know before any adaptation" reference for the leaderboards:
``create_metric("clip-antonym", backbone="PE-Core-L-14-336", pretrained="meta")``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from qclip_plugin.api import VideoQualityMetric
from qclip_plugin.models.prompts import ANTONYM_LEVELS, FIVE_LEVELS, PROMPT_TEMPLATE

__all__ = [
    "ANTONYM_LEVELS",
    "FIVE_LEVELS",
    "FIVE_LEVEL_VALUES",
    "ZeroShotPromptScorer",
    "create_antonym_metric",
    "create_five_level_metric",
]

FIVE_LEVEL_VALUES: tuple[float, ...] = (5.0, 4.0, 3.0, 2.0, 1.0)


class ZeroShotPromptScorer(nn.Module):
    """Frames ``(B, T, 3, H, W)`` -> ``sum_k softmax(s * cos(V, t_k))_k * values_k``, shape ``(B,)``.

    Args:
        clip_model: an open_clip model (``encode_image``, ``encode_text``, ``logit_scale``); frozen.
        tokenizer: its tokenizer (``open_clip.get_tokenizer(name)``).
        levels: the words put in ``template``, one prompt each.
        values: the score of each level; the antonym baseline uses (1, 0), i.e. p("good").
        template: the prompt, ``{}`` standing for the level.
        logit_scale: the softmax temperature ``s``; default the model's learned ``logit_scale.exp()``
            (100 for OpenAI CLIP, as CLIP-IQA uses).
    """

    def __init__(
        self,
        clip_model: nn.Module,
        tokenizer: Callable,
        levels: Sequence[str],
        values: Sequence[float],
        template: str = PROMPT_TEMPLATE,
        logit_scale: float | None = None,
    ) -> None:
        super().__init__()
        if len(levels) != len(values) or len(levels) < 2:
            raise ValueError(f"need one value per level and at least two levels, got {levels} and {values}")
        self.clip_model = clip_model.eval().requires_grad_(False)
        self.levels = tuple(levels)
        self.prompts = tuple(template.format(level) for level in levels)
        self.register_buffer("token_ids", torch.as_tensor(tokenizer(list(self.prompts))), persistent=False)
        self.register_buffer("values", torch.tensor(values, dtype=torch.float32), persistent=False)
        if logit_scale is None:
            logit_scale = float(clip_model.logit_scale.detach().exp()) if hasattr(clip_model, "logit_scale") else 100.0
        self.logit_scale = float(logit_scale)
        self._text_features: torch.Tensor | None = None

    def text_features(self) -> torch.Tensor:
        """Normalised prompt features ``(K, D)``, computed once (the prompts are frozen)."""
        device = self.token_ids.device
        if self._text_features is None or self._text_features.device != device:
            with torch.no_grad():
                self._text_features = F.normalize(self.clip_model.encode_text(self.token_ids).float(), dim=-1)
        return self._text_features

    def video_features(self, frames: torch.Tensor) -> torch.Tensor:
        """V: the mean of the per-frame image features ``(B, D)``, normalised."""
        b, t = frames.shape[:2]
        features = self.clip_model.encode_image(frames.flatten(0, 1)).float()
        return F.normalize(features.view(b, t, -1).mean(dim=1), dim=-1)

    def probabilities(self, frames: torch.Tensor) -> torch.Tensor:
        """``softmax(s * cos(V, t_k))`` over the levels, ``(B, K)``."""
        return (self.logit_scale * self.video_features(frames) @ self.text_features().t()).softmax(dim=-1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.probabilities(frames) @ self.values


def _create(
    kind: str,
    levels: Sequence[str],
    values: Sequence[float],
    score_range: str,
    device: str | torch.device | None,
    as_loss: bool,
    backbone: str,
    pretrained: str | os.PathLike | None,
    template: str,
    logit_scale: float | None,
    num_frames: int,
    sampler: str,
    seed: int | None,
    metric_options: dict[str, Any],
) -> VideoQualityMetric:
    from qclip_plugin.models.backbone import load_backbone

    loaded = load_backbone(backbone, pretrained)  # random weights (pretrained=None) are drawn from seed 0
    net = ZeroShotPromptScorer(loaded.model, loaded.tokenizer, levels, values, template, logit_scale)
    weights = f"{backbone} ({pretrained or 'random, seed 0'}), logit scale {net.logit_scale:g}, {net.prompts}"
    return VideoQualityMetric(
        net, loaded.preprocess, name=kind, score_range=score_range, device=device, as_loss=as_loss,
        weights=weights, num_frames=num_frames, sampler=sampler, seed=seed, **metric_options,
    )


def create_antonym_metric(
    device: str | torch.device | None = None,
    as_loss: bool = False,
    *,
    backbone: str = "PE-Core-L-14-336",
    pretrained: str | os.PathLike | None = "meta",
    template: str = PROMPT_TEMPLATE,
    logit_scale: float | None = None,
    num_frames: int = 8,
    sampler: str = "UNISampl",
    seed: int | None = 0,
    **metric_options: Any,
) -> VideoQualityMetric:
    """The ``"clip-antonym"`` metric: p("good") of the prompts "good" / "bad" (CLIP-IQA style), in [0, 1].

    ``backbone`` / ``pretrained``: any open_clip model and weights tag or file (``pretrained=None``:
    random weights, for tests). Other keywords as for :class:`~qclip_plugin.api.VideoQualityMetric`.
    """
    return _create(
        "clip-antonym", ANTONYM_LEVELS, (1.0, 0.0), "0, 1", device, as_loss, backbone, pretrained,
        template, logit_scale, num_frames, sampler, seed, metric_options,
    )


def create_five_level_metric(
    device: str | torch.device | None = None,
    as_loss: bool = False,
    *,
    backbone: str = "PE-Core-L-14-336",
    pretrained: str | os.PathLike | None = "meta",
    template: str = PROMPT_TEMPLATE,
    logit_scale: float | None = None,
    num_frames: int = 8,
    sampler: str = "UNISampl",
    seed: int | None = 0,
    **metric_options: Any,
) -> VideoQualityMetric:
    """The ``"clip-five-level"`` metric: the expected level of the five frozen prompts, in [1, 5]."""
    return _create(
        "clip-five-level", FIVE_LEVELS, FIVE_LEVEL_VALUES, "1, 5", device, as_loss, backbone, pretrained,
        template, logit_scale, num_frames, sampler, seed, metric_options,
    )
