"""RoPE layout of the PE vision tower: ``meta`` (Meta's reference code) or ``timm``.

Meta's Perception Encoder code builds the 2-D RoPE table over the patch grid with
positions counted from 1 and, for the class token, appends a zero-frequency row at the
*end* of the table, while the class token sits at the *front* of the sequence. Token
``i`` is therefore rotated with row ``i``: the class token with the first patch's
frequencies, each patch with its successor's, the last patch not at all. timm's ``Eva``
port (used by open_clip) rotates every patch with its own frequencies and leaves the
class token alone. With the same weights the two differ (~3e-3 in the final embedding of
PE-Core-L); the official Q-CLIP release runs Meta's code, so ``meta`` is the default
(DESIGN.md section 2).

:func:`set_rope_layout` switches a timm ``Eva`` trunk between the two without touching
timm: for ``meta`` the trunk's ``rope`` module is wrapped so that the table it returns
has one more row, an identity rotation (sin 0, cos 1) at the end, and the blocks'
attention rotates every token (their ``num_prefix_tokens`` set to 0; the trunk's own
stays 1 for pooling). The ``meta`` table is built from raw grid positions, as Meta's
code does at every input size (timm rescales them to the pretraining grid).
"""

from __future__ import annotations

from typing import Literal

import torch
from timm.layers.pos_embed_sincos import RotaryEmbeddingCat, build_rotary_pos_embed
from torch import nn

__all__ = ["ROPE_LAYOUTS", "MetaRopeTable", "RopeLayout", "get_rope_layout", "set_rope_layout"]

RopeLayout = Literal["meta", "timm"]
ROPE_LAYOUTS: tuple[str, ...] = ("meta", "timm")


class MetaRopeTable(nn.Module):
    """Wraps a timm ``RotaryEmbeddingCat`` to return Meta's token-aligned table.

    ``get_embed()`` returns ``(N + 1, 2 * head_dim)``: the patch rows of the raw grid
    (positions from ``grid_offset``, no rescaling) followed by one identity row.
    """

    def __init__(self, rope: RotaryEmbeddingCat):
        super().__init__()
        if not isinstance(rope, RotaryEmbeddingCat):
            raise TypeError(
                f"rope_layout='meta' needs timm's RotaryEmbeddingCat (PE towers); got {type(rope).__name__}"
            )
        self.inner = rope
        self.feat_shape = rope.feat_shape
        self._tables: dict[tuple, torch.Tensor] = {}  # (shape, device) -> table; rebuilt after a resize

    def _patch_rows(self, shape) -> torch.Tensor:
        rope = self.inner
        sin, cos = build_rotary_pos_embed(
            list(shape),
            bands=rope.bands,
            in_pixels=rope.in_pixels,
            ref_feat_shape=None,  # Meta: raw positions at every size
            grid_offset=rope.grid_offset,
            grid_indexing=rope.grid_indexing,
            rotate_half=rope.rotate_half,
            dtype=torch.float32,
            grid_type=rope.grid_type,
        )
        return torch.cat([sin, cos], -1)

    def get_embed(self, shape=None, dtype: torch.dtype | None = None) -> torch.Tensor:
        shape = tuple(shape if shape is not None else self.feat_shape)
        key = (shape, self.inner.bands.device)
        table = self._tables.get(key)
        if table is None:
            rows = self._patch_rows(shape)
            half = rows.shape[-1] // 2
            identity = torch.cat([rows.new_zeros(1, half), rows.new_ones(1, half)], -1)
            table = self._tables[key] = torch.cat([rows, identity], 0)
        return table.to(dtype) if dtype is not None else table

    def update_feat_shape(self, feat_shape) -> None:
        self.inner.update_feat_shape(feat_shape)
        self.feat_shape = self.inner.feat_shape
        self._tables.clear()


def _eva_trunk(trunk: nn.Module) -> nn.Module:
    rope = getattr(trunk, "rope", None)
    if rope is None or not hasattr(trunk, "blocks"):
        raise TypeError(
            f"rope_layout applies to PE vision towers (timm Eva with RoPE); {type(trunk).__name__} has no RoPE"
        )
    if getattr(trunk, "rope_mixed", False):
        raise TypeError("rope_layout='meta' is defined for PE's axial RoPE, not timm's mixed RoPE")
    if trunk.num_prefix_tokens != 1:
        raise TypeError(
            f"rope_layout='meta' expects exactly one class token (PE); the trunk has {trunk.num_prefix_tokens}"
        )
    return trunk


def get_rope_layout(trunk: nn.Module) -> str:
    """``'meta'`` or ``'timm'`` for a timm ``Eva`` trunk with RoPE."""
    return "meta" if isinstance(getattr(trunk, "rope", None), MetaRopeTable) else "timm"


def set_rope_layout(trunk: nn.Module, layout: RopeLayout) -> nn.Module:
    """Switch ``trunk`` (a timm ``Eva`` with RoPE, e.g. ``model.visual.trunk`` of PE) to ``layout`` in place."""
    if layout not in ROPE_LAYOUTS:
        raise ValueError(f"rope_layout must be one of {ROPE_LAYOUTS}, got {layout!r}")
    trunk = _eva_trunk(trunk)
    current = get_rope_layout(trunk)
    if layout == current:
        return trunk
    if layout == "meta":
        trunk.rope = MetaRopeTable(trunk.rope)
        rotated_prefix = 0
    else:
        trunk.rope = trunk.rope.inner
        rotated_prefix = trunk.num_prefix_tokens
    for block in trunk.blocks:
        block.attn.num_prefix_tokens = rotated_prefix
    return trunk
