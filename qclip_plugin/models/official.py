"""Import of the official Q-CLIP release's checkpoints (the ``release`` preset).

The official code saves ``torch.save({'state_dict': model.state_dict(), ...})``: the whole
model, with the backbone in Meta's PE key names under ``clip_model.`` (DESIGN.md section 2).
Key mapping (official -> this project):

==========================================  ==================================================
``clip_model.visual.*`` (Meta PE vision)    ``backbone.visual.trunk.*`` via timm's ``_convert_pe``
``clip_model.{token_embedding, positional_  ``backbone.text.*`` (open_clip ``TextTransformer``)
embedding, transformer.*, ln_final,
text_projection}``
``clip_model.logit_scale``                  ``backbone.logit_scale``
``encoder_adapters.{i}.down_proj.*``        ``scma.layers.shared.{k}.down.*``  (i = k-th used layer)
``encoder_adapters.{i}.up_proj.*``          ``scma.layers.shared.{k}.up.*``
``encoder_adapters.{i}.ln.*``               ``scma.layers.shared.{k}.norm.*``
``encoder_adapters.{j}.*``, j not used      dropped (the release allocates all 24 layers), reported
``shared_core.{0,2}.*``                     ``scma.ffn.shared.0.{0,2}.*``
``proj_adapter.{0,1,3}.*``                  ``scma.proj.shared.{down,ffn,up}.*``
``image_adapter_weight``                    ``scma.gates.visual``       (shape (1,))
``text_adapter_weight``                     ``scma.gates.text``
``image_proj_adapter_weight``               ``scma.proj_gates.visual``  (scalar)
``text_proj_adapter_weight``                ``scma.proj_gates.text``
``context_tokens``                          ``prompts.ctx``             (n_ctx, width)
``score_proj`` (K, 1)                       ``head.weight`` (K,)
``prompt_prefix``, ``prompt_suffix``        checked against the tokenised prompts, not stored
==========================================  ==================================================

The frozen prompt parts (``prompt_prefix``: SOT, ``prompt_suffix``: the prompt after the
context, EOT, padding) are not copied: this project looks them up in the token embedding
at every forward. The converter checks that they equal the embeddings of the prompts it
will build (template ``"X X X a video of {level} quality"``, with or without a final period,
levels bad -> excellent), so a checkpoint made with other prompts fails loudly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from qclip_plugin.models.backbone import convert_meta_pe_state_dict

__all__ = ["OFFICIAL_LEVELS", "convert_official_checkpoint", "convert_official_state_dict", "load_official_state_dict"]

log = logging.getLogger(__name__)

OFFICIAL_LEVELS: tuple[str, ...] = ("bad", "poor", "fair", "good", "excellent")
_TEMPLATES: tuple[str, ...] = ("a video of {} quality", "a video of {} quality.")
_GATES = {
    "image_adapter_weight": "scma.gates.visual",
    "text_adapter_weight": "scma.gates.text",
    "image_proj_adapter_weight": "scma.proj_gates.visual",
    "text_proj_adapter_weight": "scma.proj_gates.text",
}
_LAYER_PARTS = {"down_proj": "down", "up_proj": "up", "ln": "norm"}
_PROJ_PARTS = {"0": "down", "1": "ffn", "3": "up"}


def load_official_state_dict(path: str | os.PathLike, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Read an official ``.pth`` (``{'state_dict': ...}``, or a bare state dict), tensors only.

    ``trust_pickle=True`` unpickles arbitrary objects (numpy scalars and the like that training
    scripts store beside the weights); only for files from a source you trust.
    """
    from qclip_plugin.torch_files import load_torch_file

    path = Path(path)
    # tensors only unless trusted (UntrustedPickleError names the file and --trust-pickle)
    obj = load_torch_file(path, trust_pickle=trust_pickle, what="official Q-CLIP checkpoint")
    state_dict = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state_dict, dict) or not any(k.startswith("clip_model.") for k in state_dict):
        raise ValueError(f"{path} is not an official Q-CLIP checkpoint: no 'clip_model.' keys in its state_dict")
    return {k.removeprefix("module."): v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}


def _detect_template(state_dict: dict, tokenizer, n_ctx: int) -> str:
    """The template whose frozen embeddings equal the checkpoint's ``prompt_prefix``/``prompt_suffix``."""
    weight = state_dict["clip_model.token_embedding.weight"]
    prefix, suffix = state_dict.get("prompt_prefix"), state_dict.get("prompt_suffix")
    if prefix is None or suffix is None:
        raise ValueError("official checkpoint lacks prompt_prefix/prompt_suffix; cannot check its prompts")
    length = int(state_dict["clip_model.positional_embedding"].shape[0])
    tried = []
    for template in _TEMPLATES:
        texts = [" ".join(["X"] * n_ctx + [template.format(level)]) for level in OFFICIAL_LEVELS]
        emb = weight[tokenizer(texts, length)]
        ours_prefix, ours_suffix = emb[:, :1], emb[:, 1 + n_ctx :]
        if ours_prefix.shape == prefix.shape and ours_suffix.shape == suffix.shape:
            diff = max((ours_prefix - prefix).abs().max().item(), (ours_suffix - suffix).abs().max().item())
            if diff <= 1e-6:
                return template
            tried.append(f"{template!r}: max difference {diff:.3g}")
        else:
            tried.append(f"{template!r}: shapes {tuple(ours_suffix.shape)} vs {tuple(suffix.shape)}")
    raise ValueError(
        "the official checkpoint's frozen prompt embeddings match none of the known prompts "
        f"(levels {OFFICIAL_LEVELS}; {'; '.join(tried)}); it was trained with other prompts"
    )


def convert_official_state_dict(
    state_dict: dict[str, torch.Tensor],
    *,
    layers: int | Sequence[int] = 6,
    tokenizer=None,
) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """Official state dict -> (this project's tensors incl. ``backbone.*``, config overrides, report).

    ``layers``: the encoder layers the official model uses (6 = the last six, i.e. 18-23 of
    24, as in the release); the other allocated adapters are dropped and listed in the report.
    """
    import open_clip

    from qclip_plugin.models.scma import resolve_layer_indices

    tokenizer = tokenizer or open_clip.tokenizer.tokenize
    remaining = dict(state_dict)
    out: dict[str, torch.Tensor] = {}

    clip = {k[len("clip_model."):]: remaining.pop(k) for k in list(remaining) if k.startswith("clip_model.")}
    for key, value in convert_meta_pe_state_dict(clip, None).items():
        out[f"backbone.{key}"] = value

    allocated = sorted({int(k.split(".")[1]) for k in remaining if k.startswith("encoder_adapters.")})
    depth = sum(1 for k in clip if k.startswith("visual.transformer.resblocks.") and k.endswith(".ln_1.weight"))
    used = resolve_layer_indices(layers, depth)
    missing_layers = [i for i in used if i not in allocated]
    if missing_layers:
        raise ValueError(f"official checkpoint has no encoder adapters for the used layers {missing_layers}")
    dropped = []
    for key in [k for k in remaining if k.startswith("encoder_adapters.")]:
        _, index, part, leaf = key.split(".", 3)
        value = remaining.pop(key)
        if int(index) in used:
            out[f"scma.layers.shared.{used.index(int(index))}.{_LAYER_PARTS[part]}.{leaf}"] = value
        else:
            dropped.append(key)
    for key in [k for k in remaining if k.startswith("shared_core.")]:
        out[f"scma.ffn.shared.0.{key[len('shared_core.'):]}"] = remaining.pop(key)
    for key in [k for k in remaining if k.startswith("proj_adapter.")]:
        _, index, leaf = key.split(".", 2)
        if index not in _PROJ_PARTS:
            raise ValueError(f"unexpected official key {key}: proj_adapter has linears at 0, 1 and 3")
        out[f"scma.proj.shared.{_PROJ_PARTS[index]}.{leaf}"] = remaining.pop(key)
    for official, ours in _GATES.items():
        value = remaining.pop(official)
        out[ours] = value.reshape(1) if ours.startswith("scma.gates.") else value.reshape(())
    context = remaining.pop("context_tokens")
    n_ctx = int(context.shape[-2])
    out["prompts.ctx"] = context.reshape(n_ctx, -1)
    out["head.weight"] = remaining.pop("score_proj").reshape(-1)
    template = _detect_template(state_dict, tokenizer, n_ctx)
    remaining.pop("prompt_prefix")
    remaining.pop("prompt_suffix")
    if remaining:
        raise ValueError(f"official checkpoint has keys this converter does not know: {sorted(remaining)[:20]}")

    bottleneck = int(out["scma.ffn.shared.0.0.weight"].shape[0])
    overrides = dict(
        bottleneck=bottleneck,
        layers=list(layers) if not isinstance(layers, int) else layers,
        n_ctx=n_ctx,
        levels=list(OFFICIAL_LEVELS),
        prompt_template=template,
    )
    report = dict(dropped_keys=dropped, used_layers=used, allocated_layers=allocated, prompt_template=template)
    return out, overrides, report


def convert_official_checkpoint(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    backbone: str = "PE-Core-L-14-336",
    layers: int | Sequence[int] = 6,
    include_backbone: bool = True,
    rope_layout: str = "meta",
    trust_pickle: bool = False,
) -> dict:
    """Convert the official checkpoint ``src`` to this project's ``dst`` (safetensors).

    The converted tensors are loaded into ``build_qclip('release', backbone=..., pretrained=None)``
    with no missing or unexpected key (so ``dst`` loads completely), then saved with the
    backbone (``include_backbone=True``, the default: the official file is the whole model) or
    adapters only (then pass the backbone's weights as ``pretrained=`` when loading).
    Returns the report (dropped keys, used layers, detected prompt template, ``dst``).
    """
    from qclip_plugin.models.qclip import build_qclip

    state_dict = load_official_state_dict(src, trust_pickle=trust_pickle)
    tensors, overrides, report = convert_official_state_dict(state_dict, layers=layers)
    model = build_qclip("release", pretrained=None, backbone=backbone, rope_layout=rope_layout, **overrides)
    backbone_sd = {k[len("backbone."):]: v for k, v in tensors.items() if k.startswith("backbone.")}
    result = model.backbone.load_state_dict(backbone_sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{src}: the backbone does not fit {backbone!r} (missing {result.missing_keys[:8]}, unexpected "
            f"{result.unexpected_keys[:8]}); pass the right backbone name"
        )
    own = dict(model.named_parameters())
    adapters = {k: v for k, v in tensors.items() if not k.startswith("backbone.")}
    expected = {k for k in own if not k.startswith("backbone.")}
    if set(adapters) != expected:
        raise ValueError(
            f"{src}: converted adapters do not match the release structure (missing {sorted(expected - set(adapters))}, "
            f"unexpected {sorted(set(adapters) - expected)})"
        )
    with torch.no_grad():
        for key, value in adapters.items():
            if own[key].shape != value.shape:
                raise ValueError(f"{src}: {key} has shape {tuple(value.shape)}, the model expects {tuple(own[key].shape)}")
            own[key].copy_(value)
    model.save_checkpoint(dst, include_backbone=include_backbone, metadata={"converted_from": str(src)})
    report["dst"] = str(dst)
    if report["dropped_keys"]:
        log.info("dropped %d unused official adapter tensors", len(report["dropped_keys"]))
    return report
