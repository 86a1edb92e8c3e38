"""The small open_clip configurations this project registers (``model_configs/*.json``).

- ``QCLIP-Tiny``: the ``tiny`` preset's backbone. A PE-style tower pair (timm ``Eva``
  with 2-D RoPE and a pre-norm, open_clip ``TextTransformer``), width 64 and four blocks
  per tower, 112 px frames in 16 px patches (7 x 7 grid), embed dim 64. Its image
  features mean-pool the patch tokens (``timm_pool: avg``): with random weights the
  class token carries too little of the image for a few minutes of adapter training
  (DESIGN.md section 8). Its patch embedding is not random but fixed: the log-magnitudes
  ``log(1 + |c|)`` of 64 of each 16 x 16 luma patch's 2-D DCT coefficients
  (:class:`LogMagnitudeDCT`, JPEG's basis, from DC to the finest frequency). Everything
  after it is random. Why: quality shows in how much energy a patch has at each frequency
  (blur and down-scaling remove the fine ones, noise adds them), a second-order statistic
  that a random linear patch embedding followed by mean pooling averages away (signed
  coefficients cancel over patches). Measured on the demo set (source-grouped splits):
  a linear probe on the pooled features of the fully random tower predicts held-out MOS at
  SROCC ~0 and its adapters only memorise the training sources; with this stem the probe
  reaches ~0.6 and 8 epochs of adapter training ~0.55 on held-out sources.
- ``QCLIP-Tiny-PE``: the same towers with PE's attention-pooling head (``map``), i.e. the
  exact structure of ``PE-Core-*`` at toy size; the RoPE-layout and official-checkpoint
  tests use it.
- ``QCLIP-Tiny-CLIP``: the classic CLIP layout (open_clip ``VisionTransformer``, text
  tower at the model's top level), for the code paths of ViT-B-32-style backbones.

All are random-initialised: no weights exist for them. Importing this module registers
the timm trunk ``vit_pe_qclip_tiny_patch16_112`` and adds the JSON folder to open_clip.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import open_clip
import torch
from timm.layers import LayerNorm
from timm.models import register_model
from timm.models.eva import Eva, _create_eva

__all__ = [
    "MODEL_CONFIG_DIR",
    "PROJECT_MODELS",
    "TINY_PREPROCESS",
    "LogMagnitudeDCT",
    "dct_patch_filters",
    "register_project_configs",
    "vit_pe_qclip_tiny_dct_patch16_112",
    "vit_pe_qclip_tiny_patch16_112",
]

MODEL_CONFIG_DIR = Path(__file__).with_name("model_configs")

#: Project backbones -> their preprocessing (no pretrained tag carries it for them).
TINY_PREPROCESS = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bilinear", resize_mode="squash")
PROJECT_MODELS: dict[str, dict] = {
    "QCLIP-Tiny": TINY_PREPROCESS,
    "QCLIP-Tiny-PE": TINY_PREPROCESS,
    "QCLIP-Tiny-CLIP": TINY_PREPROCESS,
}


# timm looks the pretrained cfg up in the defining module's ``default_cfgs``
_TINY_CFG = dict(
    url="",
    num_classes=0,
    input_size=(3, 112, 112),
    pool_size=None,
    crop_pct=1.0,
    interpolation="bilinear",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    first_conv="patch_embed.proj",
    classifier="head",
)
default_cfgs = {
    "vit_pe_qclip_tiny_patch16_112": dict(_TINY_CFG),
    "vit_pe_qclip_tiny_dct_patch16_112": dict(_TINY_CFG),
}


@register_model
def vit_pe_qclip_tiny_patch16_112(pretrained: bool = False, **kwargs) -> Eva:
    """PE-Core's vision trunk (``vit_pe_core_*``) at width 64, depth 4, 112 px."""
    if pretrained:
        raise ValueError("vit_pe_qclip_tiny_patch16_112 is a random-initialised test model; it has no weights")
    model_args = dict(
        img_size=112,
        patch_size=16,
        embed_dim=64,
        depth=4,
        num_heads=4,
        mlp_ratio=4.0,
        global_pool="map",
        attn_type="rope",
        use_pre_transformer_norm=True,
        use_rot_pos_emb=True,
        ref_feat_shape=(7, 7),
        rope_grid_offset=1.0,
        rope_grid_indexing="xy",
        attn_pool_num_heads=4,
        attn_pool_mlp_ratio=4.0,
        norm_layer=partial(LayerNorm, eps=1e-5),
    )
    return _create_eva("vit_pe_qclip_tiny_patch16_112", pretrained=False, **dict(model_args, **kwargs))


# ITU-R BT.601 luma weights: the filters see brightness, which carries the demo's distortions
_LUMA = (0.299, 0.587, 0.114)


def dct_patch_filters(num_filters: int, patch_size: int) -> torch.Tensor:
    """``num_filters`` orthonormal 2-D DCT-II basis images on luma, ``(num_filters, 3, p, p)``.

    Frequencies ``(u, v)`` are ordered by ``u + v`` (JPEG's zig-zag diagonals, then by ``u``)
    and taken at an even stride over all ``p * p`` of them, so the bank spans the whole
    spectrum from DC to the finest detail rather than only its low end.
    """
    n = patch_size
    if not 1 <= num_filters <= n * n:
        raise ValueError(f"a {n}x{n} patch has {n * n} DCT frequencies, asked for {num_filters}")
    k = np.arange(n)
    basis = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    order = sorted(((u, v) for u in range(n) for v in range(n)), key=lambda uv: (uv[0] + uv[1], uv[0]))
    chosen = [order[(i * n * n) // num_filters] for i in range(num_filters)]
    filters = np.stack([np.outer(basis[u], basis[v]) for u, v in chosen])
    weights = filters[:, None] * np.asarray(_LUMA)[None, :, None, None]
    return torch.from_numpy(weights).float()


class LogMagnitudeDCT(torch.nn.Conv2d):
    """A fixed patch embedding: ``log(1 + |DCT coefficient|)`` of :func:`dct_patch_filters` per patch.

    A ``Conv2d`` (stride = kernel = patch size, no bias) so that it replaces timm's
    ``patch_embed.proj`` in place and keeps its state-dict key; its weight is the DCT bank.
    """

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int) -> None:
        super().__init__(in_chans, embed_dim, patch_size, stride=patch_size, bias=False)
        with torch.no_grad():
            self.weight.copy_(dct_patch_filters(embed_dim, patch_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log1p(super().forward(x).abs())


@register_model
def vit_pe_qclip_tiny_dct_patch16_112(pretrained: bool = False, **kwargs) -> Eva:
    """:func:`vit_pe_qclip_tiny_patch16_112` with :class:`LogMagnitudeDCT` as its patch embedding."""
    if pretrained:
        raise ValueError("vit_pe_qclip_tiny_dct_patch16_112 is a test model; it has no weights")
    model = vit_pe_qclip_tiny_patch16_112(**kwargs)
    proj = model.patch_embed.proj
    stem = LogMagnitudeDCT(proj.in_channels, proj.out_channels, proj.kernel_size[0])
    model.patch_embed.proj = stem.to(proj.weight.dtype)
    model.pretrained_cfg = dict(model.pretrained_cfg, architecture="vit_pe_qclip_tiny_dct_patch16_112")
    return model


_registered = False


def register_project_configs() -> None:
    """Add the JSON configs to open_clip once (the timm trunk registers on import)."""
    global _registered
    if _registered:
        return
    if "QCLIP-Tiny" not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIG_DIR)
    _registered = True
