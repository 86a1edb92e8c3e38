"""The small open_clip configurations this project registers (``model_configs/*.json``).

- ``QCLIP-Tiny``: the ``tiny`` preset's backbone. A PE-style tower pair (timm ``Eva``
  with 2-D RoPE and a pre-norm, open_clip ``TextTransformer``), width 64 and four blocks
  per tower, 112 px frames in 16 px patches (7 x 7 grid), embed dim 64. Its image
  features mean-pool the patch tokens (``timm_pool: avg``): with random weights the
  class token carries too little of the image for a few minutes of adapter training
  (DESIGN.md section 8).
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

import open_clip
from timm.layers import LayerNorm
from timm.models import register_model
from timm.models.eva import Eva, _create_eva

__all__ = [
    "MODEL_CONFIG_DIR",
    "PROJECT_MODELS",
    "TINY_PREPROCESS",
    "register_project_configs",
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
default_cfgs = {
    "vit_pe_qclip_tiny_patch16_112": dict(
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


_registered = False


def register_project_configs() -> None:
    """Add the JSON configs to open_clip once (the timm trunk registers on import)."""
    global _registered
    if _registered:
        return
    if "QCLIP-Tiny" not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIG_DIR)
    _registered = True
