"""The text tower of an open_clip model, run from token embeddings block by block.

Q-CLIP's learnable context (eq. 9) replaces token embeddings, so the tower cannot be
called with token ids; and E-SCMA (eqs. 3, 5, 7) acts between its blocks. This module
exposes the pieces of the two open_clip layouts under one interface:

- ``CustomTextCLIP`` (PE, SigLIP, ...): the tower is ``model.text``, a ``TextTransformer``;
- ``CLIP`` (ViT-B-32, ...): the same parts live at the model's top level
  (``model.token_embedding``, ``model.transformer``, ``model.ln_final``, ...).

Either way: token embeddings + positional embeddings, the causal mask, the residual
blocks, ``ln_final``, pooling at the EOT token (argmax of the ids) and the projection.
"""

from __future__ import annotations

import torch
from open_clip.transformer import text_global_pool
from torch import nn

__all__ = ["TextTower"]


class TextTower:
    """Block-level access to the text tower of ``model`` (not an ``nn.Module``: it owns nothing)."""

    def __init__(self, model: nn.Module):
        text = getattr(model, "text", None)
        if text is not None and not hasattr(text, "token_embedding"):
            raise TypeError(
                f"the text tower {type(text).__name__} is not open_clip's TextTransformer (Hugging Face text "
                "towers are not supported); Q-CLIP needs to run the tower from token embeddings"
            )
        src = text if text is not None else model
        if getattr(src, "cls_emb", None) is not None:
            raise TypeError("text towers with an appended class token (CoCa) are not supported")
        # tensors are read from `src` at each use: `.to(device)` replaces buffers with new objects
        self._src = src
        self.token_embedding: nn.Embedding = src.token_embedding
        self.transformer = src.transformer
        self.ln_final = src.ln_final
        self.pool_type = getattr(src, "pool_type", None) or getattr(src, "text_pool_type", "argmax")
        self.eos_id = getattr(src, "eos_id", None) if text is not None else getattr(src, "text_eos_id", None)
        self.layout = "text_transformer" if text is not None else "clip"
        self.blocks = list(self.transformer.resblocks)
        self.batch_first = getattr(self.transformer, "batch_first", True)
        self.width = int(self.token_embedding.weight.shape[1])
        self.context_length = int(self.positional_embedding.shape[0])

    @property
    def positional_embedding(self) -> torch.Tensor:
        return self._src.positional_embedding

    @property
    def attn_mask(self) -> torch.Tensor | None:
        return self._src.attn_mask

    @property
    def text_projection(self):
        return self._src.text_projection

    @property
    def depth(self) -> int:
        return len(self.blocks)

    @property
    def output_dim(self) -> int:
        proj = self.text_projection
        if proj is None:
            return self.width
        return int(proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1])

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``(K, L, width)`` of token ids ``(K, L)``."""
        return self.token_embedding(ids)

    def start(self, token_embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Token embeddings -> the first block's input and the attention mask."""
        length = token_embeds.shape[1]
        x = token_embeds + self.positional_embedding[:length].to(token_embeds.dtype)
        mask = self.attn_mask[:length, :length] if self.attn_mask is not None else None
        return x, mask

    def block(self, index: int, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        """Block ``index`` on batch-first tokens."""
        if self.batch_first:
            return self.blocks[index](x, attn_mask=attn_mask)
        return self.blocks[index](x.transpose(0, 1), attn_mask=attn_mask).transpose(0, 1)

    def pool(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Final LayerNorm and EOT pooling: the pre-projection text feature ``(K, width)``."""
        x = self.ln_final(x)
        return text_global_pool(x, ids, self.pool_type, eos_token_id=self.eos_id)

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        proj = self.text_projection
        if proj is None:
            return pooled
        return proj(pooled) if isinstance(proj, nn.Linear) else pooled @ proj
