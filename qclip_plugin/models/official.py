"""Import of the official Q-CLIP release's checkpoints (the ``release`` preset).

The official training script saves ``torch.save({'state_dict': model.state_dict(),
'validation_results': {...}})``: the whole model, with the backbone in Meta's PE key names under
``clip_model.`` (DESIGN.md section 2). Its model also keeps two attribute aliases of backbone
modules (``self.vit = clip_model.visual``, ``self.text_encoder = clip_model.transformer``), so
``state_dict()`` lists every backbone tensor a second time, under ``vit.`` and ``text_encoder.``
(``../shared/data/official_release/checkpoint_keys.txt`` in the project's data: every key and
shape). Each alias is checked to equal its twin (the same storage in a file saved by
``torch.save``; otherwise compared value by value) and then dropped; a pair that differs is
refused with both names. A ``module.`` prefix (DataParallel) and any entries beside
``state_dict`` are accepted. Key mapping (official -> this project):

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
``vit.*``, ``text_encoder.*``               checked equal to ``clip_model.visual.*`` and
                                            ``clip_model.transformer.*``, dropped
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

from qclip_plugin.errors import UserError
from qclip_plugin.models.backbone import convert_meta_pe_state_dict
from qclip_plugin.models.presets import get_preset
from qclip_plugin.models.prompts import PROMPT_TEMPLATE

__all__ = [
    "ALIASES",
    "OFFICIAL_LEVELS",
    "OfficialCheckpointError",
    "convert_official_checkpoint",
    "convert_official_state_dict",
    "drop_alias_keys",
    "load_official_state_dict",
    "map_official_keys",
]

log = logging.getLogger(__name__)

_RELEASE = get_preset("release")
#: The release's prompt levels and order (the ``release`` preset's row).
OFFICIAL_LEVELS: tuple[str, ...] = tuple(_RELEASE["levels"])
_TEMPLATES: tuple[str, ...] = (PROMPT_TEMPLATE, PROMPT_TEMPLATE + ".")
_GATES = {
    "image_adapter_weight": "scma.gates.visual",
    "text_adapter_weight": "scma.gates.text",
    "image_proj_adapter_weight": "scma.proj_gates.visual",
    "text_proj_adapter_weight": "scma.proj_gates.text",
}
#: Attribute aliases of the release's model: alias prefix -> the prefix of the same tensors' own keys.
ALIASES: dict[str, str] = {"vit.": "clip_model.visual.", "text_encoder.": "clip_model.transformer."}
_LAYER_PARTS = {"down_proj": "down", "up_proj": "up", "ln": "norm"}
_PROJ_PARTS = {"0": "down", "1": "ffn", "3": "up"}


class OfficialCheckpointError(UserError, ValueError):
    """An official checkpoint this converter cannot take; the message names the file's keys."""


def load_official_state_dict(path: str | os.PathLike, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Read an official ``.pth`` (``{'state_dict': ..., <other entries>}``, or a bare state dict), tensors only.

    Entries beside ``state_dict`` (``validation_results``, ``epoch``, ...) are ignored, a ``module.``
    prefix is removed. The file is read with ``weights_only=True``; ``trust_pickle=True`` unpickles
    arbitrary objects (e.g. an argparse namespace saved beside the weights): only for files from a
    source you trust.
    """
    from qclip_plugin.torch_files import load_torch_file

    path = Path(path)
    # tensors only unless trusted: UntrustedPickleError names the file and --trust-pickle
    obj = load_torch_file(path, trust_pickle=trust_pickle, what="official Q-CLIP checkpoint")
    state_dict = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if isinstance(state_dict, dict):
        state_dict = {str(k).removeprefix("module."): v for k, v in state_dict.items()}
    if not isinstance(state_dict, dict) or not any(k.startswith("clip_model.") for k in state_dict):
        raise OfficialCheckpointError(
            f"{path} is not an official Q-CLIP checkpoint: no 'clip_model.' keys in its state_dict"
        )
    return {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shape, dtype and values; tensors that are views of the same memory (as ``torch.save``
    stores an alias) are equal without reading them (meta tensors too)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a is b:
        return True
    if a.device.type != "meta" and b.device.type != "meta":
        same_view = (
            a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
            and a.storage_offset() == b.storage_offset()
            and a.stride() == b.stride()
        )
        return same_view or torch.equal(a, b)
    return False


def drop_alias_keys(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict without the release's alias keys (:data:`ALIASES`), and the dropped keys.

    Each alias must have its twin (``vit.X`` -> ``clip_model.visual.X``, ``text_encoder.X`` ->
    ``clip_model.transformer.X``) with the same shape and values, else
    :class:`OfficialCheckpointError` names both keys.
    """
    kept: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    for key, value in state_dict.items():
        alias = next((a for a in ALIASES if key.startswith(a)), None)
        if alias is None:
            kept[key] = value
            continue
        twin = ALIASES[alias] + key[len(alias) :]
        if twin not in state_dict:
            raise OfficialCheckpointError(
                f"official checkpoint: {key!r} is an alias of the backbone (the release keeps "
                f"self.{alias[:-1]} = clip_model.{ALIASES[alias][len('clip_model.') : -1]}), but its twin {twin!r} "
                "is missing; the file is incomplete"
            )
        other = state_dict[twin]
        if not _same_tensor(value, other):
            detail = (
                f"shapes {tuple(value.shape)} vs {tuple(other.shape)}"
                if value.shape != other.shape
                else f"dtypes {value.dtype} vs {other.dtype}"
                if value.dtype != other.dtype
                else "values differ"
            )
            raise OfficialCheckpointError(
                f"official checkpoint: {key!r} and {twin!r} should be the same tensor (the release saves the "
                f"backbone under both names) but differ ({detail}); the file was edited or is corrupt"
            )
        dropped.append(key)
    return kept, dropped


def _detect_template(state_dict: dict, tokenizer, n_ctx: int) -> str:
    """The template whose frozen embeddings equal the checkpoint's ``prompt_prefix``/``prompt_suffix``."""
    weight = state_dict["clip_model.token_embedding.weight"]
    prefix, suffix = state_dict.get("prompt_prefix"), state_dict.get("prompt_suffix")
    if prefix is None or suffix is None:
        raise OfficialCheckpointError("official checkpoint lacks prompt_prefix/prompt_suffix; cannot check its prompts")
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
    raise OfficialCheckpointError(
        "the official checkpoint's frozen prompt embeddings match none of the known prompts "
        f"(levels {OFFICIAL_LEVELS}; {'; '.join(tried)}); it was trained with other prompts"
    )


def map_official_keys(
    state_dict: dict[str, torch.Tensor],
    *,
    layers: int | Sequence[int] | None = None,
) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """Keys and shapes only: official state dict (without aliases) -> (this project's tensors incl.
    ``backbone.*``, config overrides, report). Reads no tensor values, so it runs on meta tensors;
    :func:`convert_official_state_dict` adds the alias and prompt checks.

    ``layers``: the encoder layers the official model uses (default: the ``release`` preset's,
    the last six, i.e. 18-23 of 24); the other allocated adapters are dropped and listed in the report.
    """
    from qclip_plugin.models.scma import resolve_layer_indices

    layers = _RELEASE["layers"] if layers is None else layers
    remaining = dict(state_dict)
    out: dict[str, torch.Tensor] = {}

    clip = {k[len("clip_model.") :]: remaining.pop(k) for k in list(remaining) if k.startswith("clip_model.")}
    for key, value in convert_meta_pe_state_dict(clip, None).items():
        out[f"backbone.{key}"] = value

    allocated = sorted({int(k.split(".")[1]) for k in remaining if k.startswith("encoder_adapters.")})
    depth = sum(1 for k in clip if k.startswith("visual.transformer.resblocks.") and k.endswith(".ln_1.weight"))
    used = resolve_layer_indices(layers, depth)
    missing_layers = [i for i in used if i not in allocated]
    if missing_layers:
        raise OfficialCheckpointError(f"official checkpoint has no encoder adapters for the used layers {missing_layers}")
    dropped = []
    for key in [k for k in remaining if k.startswith("encoder_adapters.")]:
        _, index, part, leaf = key.split(".", 3)
        value = remaining.pop(key)
        if int(index) in used:
            out[f"scma.layers.shared.{used.index(int(index))}.{_LAYER_PARTS[part]}.{leaf}"] = value
        else:
            dropped.append(key)
    for key in [k for k in remaining if k.startswith("shared_core.")]:
        out[f"scma.ffn.shared.0.{key[len('shared_core.') :]}"] = remaining.pop(key)
    for key in [k for k in remaining if k.startswith("proj_adapter.")]:
        _, index, leaf = key.split(".", 2)
        if index not in _PROJ_PARTS:
            raise OfficialCheckpointError(f"unexpected official key {key}: proj_adapter has linears at 0, 1 and 3")
        out[f"scma.proj.shared.{_PROJ_PARTS[index]}.{leaf}"] = remaining.pop(key)
    absent = [k for k in (*_GATES, "context_tokens", "score_proj", "prompt_prefix", "prompt_suffix") if k not in remaining]
    if absent:
        raise OfficialCheckpointError(f"official checkpoint lacks {absent}; is it a Q-CLIP checkpoint?")
    for official, ours in _GATES.items():
        value = remaining.pop(official)
        out[ours] = value.reshape(1) if ours.startswith("scma.gates.") else value.reshape(())
    context = remaining.pop("context_tokens")
    n_ctx = int(context.shape[-2])
    out["prompts.ctx"] = context.reshape(n_ctx, -1)
    out["head.weight"] = remaining.pop("score_proj").reshape(-1)
    remaining.pop("prompt_prefix")
    remaining.pop("prompt_suffix")
    if remaining:
        raise OfficialCheckpointError(f"official checkpoint has keys this converter does not know: {sorted(remaining)[:20]}")

    bottleneck = int(out["scma.ffn.shared.0.0.weight"].shape[0])
    overrides = dict(
        bottleneck=bottleneck,
        layers=list(layers) if not isinstance(layers, int) else layers,
        n_ctx=n_ctx,
        levels=list(OFFICIAL_LEVELS),
    )
    report = dict(dropped_keys=dropped, used_layers=used, allocated_layers=allocated)
    return out, overrides, report


def convert_official_state_dict(
    state_dict: dict[str, torch.Tensor],
    *,
    layers: int | Sequence[int] | None = None,
    tokenizer=None,
) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """Official state dict -> (this project's tensors incl. ``backbone.*``, config overrides, report).

    Drops and checks the alias keys (:func:`drop_alias_keys`), maps the keys
    (:func:`map_official_keys`) and checks the frozen prompt embeddings (the report's
    ``prompt_template``; ``alias_keys``: how many alias keys were dropped).
    """
    import open_clip

    state_dict, aliases = drop_alias_keys(state_dict)
    out, overrides, report = map_official_keys(state_dict, layers=layers)
    n_ctx = int(overrides["n_ctx"])
    template = _detect_template(state_dict, tokenizer or open_clip.tokenizer.tokenize, n_ctx)
    overrides["prompt_template"] = template
    report.update(prompt_template=template, alias_keys=len(aliases))
    return out, overrides, report


def convert_official_checkpoint(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    backbone: str | None = None,
    layers: int | Sequence[int] | None = None,
    include_backbone: bool = True,
    rope_layout: str | None = None,
    trust_pickle: bool = False,
) -> dict:
    """Convert the official checkpoint ``src`` to this project's ``dst`` (safetensors).

    The converted tensors are loaded into ``build_qclip('release', backbone=..., pretrained=None)``
    with no missing or unexpected key (so ``dst`` loads completely), then saved with the
    backbone (``include_backbone=True``, the default: the official file is the whole model) or
    adapters only (then pass the backbone's weights as ``pretrained=`` when loading).
    Returns the report (dropped unused adapters, the number of alias keys dropped, used layers,
    detected prompt template, ``dst``).
    """
    from qclip_plugin.models.qclip import build_qclip

    state_dict = load_official_state_dict(src, trust_pickle=trust_pickle)
    tensors, overrides, report = convert_official_state_dict(state_dict, layers=layers)
    given = {k: v for k, v in (("backbone", backbone), ("rope_layout", rope_layout)) if v is not None}
    model = build_qclip("release", pretrained=None, **given, **overrides)
    backbone = model.backbone_name
    backbone_sd = {k[len("backbone."):]: v for k, v in tensors.items() if k.startswith("backbone.")}
    try:
        result = model.backbone.load_state_dict(backbone_sd, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise OfficialCheckpointError(
            f"{src}: the backbone's tensors do not fit {backbone!r} ({str(exc)[:400]}); pass the right backbone name"
        ) from exc
    if result.missing_keys or result.unexpected_keys:
        raise OfficialCheckpointError(
            f"{src}: the backbone does not fit {backbone!r} (missing {result.missing_keys[:8]}, unexpected "
            f"{result.unexpected_keys[:8]}); pass the right backbone name"
        )
    own = dict(model.named_parameters())
    adapters = {k: v for k, v in tensors.items() if not k.startswith("backbone.")}
    expected = {k for k in own if not k.startswith("backbone.")}
    if set(adapters) != expected:
        raise OfficialCheckpointError(
            f"{src}: converted adapters do not match the release structure (missing {sorted(expected - set(adapters))}, "
            f"unexpected {sorted(set(adapters) - expected)})"
        )
    with torch.no_grad():
        for key, value in adapters.items():
            if own[key].shape != value.shape:
                raise OfficialCheckpointError(f"{src}: {key} has shape {tuple(value.shape)}, the model expects {tuple(own[key].shape)}")
            own[key].copy_(value)
    model.save_checkpoint(dst, include_backbone=include_backbone, metadata={"converted_from": str(src)})
    report["dst"] = str(dst)
    if report["dropped_keys"]:
        log.info("dropped %d unused official adapter tensors", len(report["dropped_keys"]))
    return report
