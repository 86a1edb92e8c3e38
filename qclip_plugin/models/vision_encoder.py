"""The vision tower of an open_clip model, run block by block (E-SCMA acts between blocks).

Three layouts, one interface (``start`` -> ``block`` x depth -> ``pool`` -> ``project``):

- timm ``Eva`` trunks (PE-Core-*: ``model.visual.trunk.blocks``, called ``blk(x, rope=...)``,
  attention-pool head); the RoPE table comes from the trunk, so the layout chosen with
  :func:`~qclip_plugin.models.pe_rope.set_rope_layout` applies;
- timm ``VisionTransformer`` trunks (SigLIP, SigLIP2 and other timm towers);
- open_clip's own ``VisionTransformer`` (ViT-B-32 and the classic CLIP models:
  ``model.visual.transformer.resblocks``).

``pool`` returns the pooled, pre-projection feature (P-SCMA's input); ``project`` maps it to
the joint embedding space. Running the parts in order equals ``model.encode_image``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VisionTower"]


class VisionTower:
    """Block-level access to the vision tower of ``model`` (not an ``nn.Module``: it owns nothing)."""

    def __init__(self, model: nn.Module):
        visual = model.visual
        self.visual = visual
        trunk = getattr(visual, "trunk", None)
        if trunk is not None:
            names = {name for name, _ in visual.head.named_children()}
            if "pool" in names:
                raise TypeError("open_clip timm towers with 'abs_attn'/'rot_attn' pooling are not supported")
            if not hasattr(trunk, "blocks") or not hasattr(trunk, "_pos_embed"):
                raise TypeError(f"the timm trunk {type(trunk).__name__} is not a ViT-style model with blocks")
            self.layout = "eva" if hasattr(trunk, "rope") else "timm_vit"
            self.trunk = trunk
            self.blocks = list(trunk.blocks)
            self.width = int(trunk.embed_dim)
        elif hasattr(visual, "transformer") and hasattr(visual, "_embeds"):
            if getattr(visual, "attn_pool", None) is not None:
                raise TypeError("open_clip VisionTransformer with an attentional pooler (CoCa) is not supported")
            self.layout = "open_clip_vit"
            self.trunk = None
            self.blocks = list(visual.transformer.resblocks)
            self.batch_first = getattr(visual.transformer, "batch_first", True)
            self.width = int(visual.conv1.out_channels)
        else:
            raise TypeError(
                f"vision tower {type(visual).__name__} is not supported: Q-CLIP needs a transformer "
                "(timm Eva/VisionTransformer or open_clip VisionTransformer)"
            )

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def start(self, images: torch.Tensor):
        """Images ``(N, 3, H, W)`` -> the first block's input and the per-block context (RoPE)."""
        if self.layout == "open_clip_vit":
            return self.visual._embeds(images), None
        trunk = self.trunk
        x = trunk.patch_embed(images)
        if self.layout == "eva":
            x, rope = trunk._pos_embed(x)
        else:
            x, rope = trunk._pos_embed(x), None
            x = trunk.patch_drop(x)
        return trunk.norm_pre(x), rope

    def block(self, index: int, x: torch.Tensor, context) -> torch.Tensor:
        if self.layout == "eva":
            rope = context
            if rope is not None and getattr(self.trunk, "rope_mixed", False):
                rope = rope[index]
            return self.blocks[index](x, rope=rope)
        if self.layout == "timm_vit":
            return self.blocks[index](x)
        if self.batch_first:
            return self.blocks[index](x)
        return self.blocks[index](x.transpose(0, 1)).transpose(0, 1)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Final norm and pooling: the pre-projection image feature ``(N, width)``."""
        if self.layout == "open_clip_vit":
            pooled, _ = self.visual._pool(x)
            return pooled
        return self.trunk.forward_head(self.trunk.norm(x), pre_logits=True)

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.layout == "open_clip_vit":
            proj = self.visual.proj
            return pooled @ proj if proj is not None else pooled
        return self.visual.head(self.trunk.head(pooled))

    @property
    def output_dim(self) -> int:
        with torch.no_grad():
            return int(self.project(torch.zeros(1, self.width, dtype=self._dtype())).shape[-1])

    def _dtype(self) -> torch.dtype:
        return next(self.visual.parameters()).dtype
