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
``create_metric("clip-antonym", backbone="PE-Core-L-14-336", backbone_weights="meta")``. Each is a row
of :data:`~qclip_plugin.metrics.configs.METRIC_CONFIGS` built by :func:`build_zero_shot`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from qclip_plugin.metrics.configs import FIVE_LEVEL_VALUES, metric_config, wrap_net
from qclip_plugin.models.prompts import ANTONYM_LEVELS, FIVE_LEVELS, PROMPT_TEMPLATE

__all__ = [
    "ANTONYM_LEVELS",
    "FIVE_LEVELS",
    "FIVE_LEVEL_VALUES",
    "ZeroShotPromptScorer",
    "build_zero_shot",
    "create_antonym_metric",
    "create_five_level_metric",
]

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


def build_zero_shot(name: str, device: str | torch.device | None = None, as_loss: bool = False, **options: Any):
    """The zero-shot metric ``name`` (a row of :data:`~qclip_plugin.metrics.configs.METRIC_CONFIGS`),
    with ``options`` over the row's: ``backbone`` / ``backbone_weights`` (any open_clip model and
    weights tag or file; ``None``: random weights, drawn from seed 0, for tests), ``prompt_mode``
    (the levels, :func:`~qclip_plugin.models.prompts.mode_levels`), ``values``, ``template``
    (default the paper's), ``logit_scale``; the rest as for
    :class:`~qclip_plugin.metrics.wrapper.VideoQualityMetric` (``num_frames``, ``sampler``, ``seed``, ...).
    """
    from qclip_plugin.models.backbone import load_backbone
    from qclip_plugin.models.prompts import mode_levels

    opts = metric_config(name).merged(options)
    backbone, tag = opts.pop("backbone"), opts.pop("backbone_weights")
    loaded = load_backbone(backbone, tag)
    net = ZeroShotPromptScorer(
        loaded.model, loaded.tokenizer, mode_levels(opts.pop("prompt_mode")), opts.pop("values"),
        opts.pop("template") or PROMPT_TEMPLATE, opts.pop("logit_scale"),
    )  # fmt: skip
    weights = f"{backbone} ({tag or 'random, seed 0'}), logit scale {net.logit_scale:g}, {net.prompts}"
    return wrap_net(name, net, loaded.preprocess, weights=weights, device=device, as_loss=as_loss, options=opts)


def create_antonym_metric(device: str | torch.device | None = None, as_loss: bool = False, **options: Any):
    """The ``"clip-antonym"`` metric: p("good") of the prompts "good" / "bad" (CLIP-IQA style), in [0, 1];
    options: see :func:`build_zero_shot`."""
    return build_zero_shot("clip-antonym", device, as_loss, **options)


def create_five_level_metric(device: str | torch.device | None = None, as_loss: bool = False, **options: Any):
    """The ``"clip-five-level"`` metric: the expected level of the five frozen prompts, in [1, 5];
    options: see :func:`build_zero_shot`."""
    return build_zero_shot("clip-five-level", device, as_loss, **options)
