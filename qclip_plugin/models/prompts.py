"""Learnable quality-level prompts, eqs. 8-10 of the paper; the level words and the template live here.

``p = "a video of" + <level> + "quality"`` (8, :data:`PROMPT_TEMPLATE`) for the levels
excellent, good, fair, poor, bad (:data:`FIVE_LEVELS`), preceded by a learnable context
``Learnable("X X X")`` (9): three token embeddings, initialised from the embedding of "X" and
shared by all prompts (CoOp-style); the rest of each prompt stays frozen.
``P = {p_exc, ..., p_bad}`` (10).

Table 4's variants (:data:`PROMPT_MODES`): ``antonym`` (good / bad), ``antonym_learnable``,
``five_levels`` and ``five_levels_learnable`` (the paper's choice). The frozen variants have no
context tokens. Which levels a mode uses is decided by :func:`mode_levels` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = [
    "ANTONYM_LEVELS",
    "FIVE_LEVELS",
    "PROMPT_MODES",
    "PROMPT_TEMPLATE",
    "PromptLearner",
    "mode_levels",
    "prompt_mode_settings",
]

#: Eq. 8; ``{}`` stands for the level word.
PROMPT_TEMPLATE = "a video of {} quality"
#: Eq. 10's levels in the paper's order, best first.
FIVE_LEVELS: tuple[str, ...] = ("excellent", "good", "fair", "poor", "bad")
#: Table 4's antonym prompts (CLIP-IQA's pair).
ANTONYM_LEVELS: tuple[str, ...] = ("good", "bad")
PROMPT_MODES: tuple[str, ...] = ("antonym", "antonym_learnable", "five_levels", "five_levels_learnable")


def _check_mode(mode: str) -> None:
    if mode not in PROMPT_MODES:
        raise ValueError(f"prompt_mode must be one of {PROMPT_MODES}, got {mode!r}")


def mode_levels(mode: str) -> tuple[str, ...]:
    """The level words prompt mode ``mode`` uses, in the paper's order (the one place this is decided)."""
    _check_mode(mode)
    return ANTONYM_LEVELS if mode.startswith("antonym") else FIVE_LEVELS


def prompt_mode_settings(mode: str, n_ctx: int, levels: Sequence[str] | None = None) -> dict:
    """Table 4 variant -> ``levels`` (``levels`` if given, else the mode's), ``n_ctx``, ``learnable_context``."""
    learnable = mode.endswith("_learnable")
    return dict(
        levels=mode_levels(mode) if levels is None else tuple(levels),
        n_ctx=n_ctx if learnable else 0,
        learnable_context=learnable,
    )


class PromptLearner(nn.Module):
    """The K prompts as token embeddings, with the shared learnable context spliced in (eq. 9).

    ``forward(token_embedding)`` returns ``(embeds (K, L, D), ids (K, L))``; the frozen parts
    are looked up in the backbone's embedding table at every call, so they always match the
    loaded backbone weights. The ids keep the "X" tokens, so EOT pooling finds the same position.
    """

    def __init__(
        self,
        tokenizer: Callable,
        token_embedding: nn.Embedding,
        levels: Sequence[str] = FIVE_LEVELS,
        template: str = PROMPT_TEMPLATE,
        *,
        n_ctx: int,
        learnable_context: bool = True,
        context_word: str = "X",
        context_length: int | None = None,
        check_fit: bool = True,
    ):
        super().__init__()
        if "{}" not in template:
            raise ValueError(f"prompt template must contain '{{}}' for the level, got {template!r}")
        if learnable_context and n_ctx < 1:
            raise ValueError("learnable_context=True needs n_ctx >= 1")
        self.levels = tuple(levels)
        self.template = template
        self.n_ctx = int(n_ctx)
        prefix = " ".join([context_word] * self.n_ctx)
        self.texts = tuple(f"{prefix} {template.format(level)}".strip() for level in self.levels)
        ids = self._tokenize(tokenizer, self.texts, context_length)
        # a prompt filling the whole context may have been truncated: EOT pooling would read a cut prompt
        if check_fit and ((ids != 0).sum(dim=-1) >= ids.shape[1]).any():
            raise ValueError(f"a prompt does not fit the text tower's context ({ids.shape[1]} tokens): {self.texts}")
        self.register_buffer("token_ids", ids, persistent=False)
        # where the context tokens sit: 1 after CLIP's start token, 0 for tokenizers without one
        self.ctx_start = 0
        if self.n_ctx:
            bare = self._tokenize(tokenizer, [template.format(self.levels[0])], context_length)[0]
            first = ids[0]
            self.ctx_start = int((first[: bare.numel()] != bare).nonzero()[0, 0])
            if not torch.equal(first[self.ctx_start + self.n_ctx :][:8], bare[self.ctx_start :][:8]):
                raise ValueError(
                    f"the context word {context_word!r} is not a single token for this tokenizer; pick another"
                )
        if learnable_context:
            span = ids[0, self.ctx_start : self.ctx_start + self.n_ctx]
            with torch.no_grad():
                init = token_embedding(span).detach().clone().float()
            self.ctx = nn.Parameter(init)
        else:
            self.ctx = None

    @staticmethod
    def _tokenize(tokenizer: Callable, texts, context_length: int | None) -> torch.Tensor:
        ids = tokenizer(list(texts)) if context_length is None else tokenizer(list(texts), context_length)
        return torch.as_tensor(ids, dtype=torch.long)

    @property
    def num_prompts(self) -> int:
        return len(self.levels)

    def forward(self, token_embedding: nn.Embedding) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.token_ids
        embeds = token_embedding(ids)
        if self.ctx is None:
            return embeds, ids
        ctx = self.ctx.to(embeds.dtype).unsqueeze(0).expand(ids.shape[0], -1, -1)
        start = self.ctx_start
        embeds = torch.cat([embeds[:, :start], ctx, embeds[:, start + self.n_ctx :]], dim=1)
        return embeds, ids
