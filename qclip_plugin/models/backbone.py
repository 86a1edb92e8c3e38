"""The frozen open_clip backbone: building it, finding its weights, its preprocessing.

:func:`load_backbone` builds any open_clip model by name with weights from

- an open_clip pretrained tag (``'meta'`` for ``PE-Core-*``), looked up in the local
  Hugging Face cache first and downloaded only when the hub is reachable;
- a local open_clip checkpoint (``.safetensors``, ``.bin``, ``.pt``);
- Meta's original ``PE-Core-*.pt`` (Meta key names), converted on load: timm's PE
  conversion for the vision tower, the text keys moved under open_clip's ``text.``;
- ``None``: random initialisation (tests, the ``tiny`` preset).

Weights that cannot be had (offline, missing file) raise :class:`WeightsUnavailableError`
within seconds, saying how to provide them. The preprocessing constants come from the
pretrained tag even when ``pretrained=None`` (open_clip then falls back to OpenAI's
mean/std, which is wrong for PE). For PE towers the RoPE layout is set here
(:mod:`qclip_plugin.models.pe_rope`, default ``meta``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from qclip_plugin.errors import UserError
from qclip_plugin.models.open_clip_configs import PROJECT_MODELS, register_project_configs
from qclip_plugin.models.pe_rope import set_rope_layout
from qclip_plugin.preprocessing import Preprocessing

__all__ = [
    "Backbone",
    "WeightsUnavailableError",
    "convert_meta_pe_state_dict",
    "is_meta_pe_state_dict",
    "load_backbone",
    "backbone_image_size",
    "resolve_preprocess",
]

log = logging.getLogger(__name__)

_OFFLINE_HINT = (
    "Provide the weights in one of these ways: (1) pass pretrained=<path> to a local open_clip checkpoint "
    "or Meta's original PE-Core-*.pt; (2) put the files in the Hugging Face cache ({cache}) on a machine "
    "with internet (e.g. `huggingface-cli download {repo}`) and copy the cache over, or set HF_HOME to "
    "where it is; (3) set HF_HUB_OFFLINE=1 to make every lookup local and fast; (4) pass pretrained=None "
    "for random weights (tests only)."
)


class WeightsUnavailableError(UserError, RuntimeError):
    """The backbone's weights could not be found locally nor downloaded."""


@dataclass
class Backbone:
    """A built open_clip model with what Q-CLIP needs to know about it."""

    model: nn.Module
    name: str
    pretrained: str | None
    preprocess: Preprocessing
    tokenizer: Callable
    rope_layout: str | None


def _tag_cfg(name: str, tag: str | None) -> dict | None:
    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model

    if tag:
        cfg = get_pretrained_cfg(name, tag)
        if cfg:
            return cfg
    tags = list_pretrained_tags_by_model(name)
    return get_pretrained_cfg(name, tags[0]) if tags else None


def resolve_preprocess(name: str, pretrained: str | None, image_size=None, resize: str = "decoder") -> Preprocessing:
    """The :class:`~qclip_plugin.preprocessing.Preprocessing` record of backbone ``name``: mean/std
    from the project's own table, else the pretrained tag's (or the model's first tag when
    ``pretrained`` is a path or None), else open_clip's defaults; ``image_size`` from the model
    config when not given (nothing is built)."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    if name in PROJECT_MODELS:
        cfg = PROJECT_MODELS[name]
    else:
        cfg = _tag_cfg(name, pretrained) or dict(
            mean=OPENAI_DATASET_MEAN, std=OPENAI_DATASET_STD, interpolation="bicubic", resize_mode="shortest"
        )
    return Preprocessing(
        image_size=backbone_image_size(name) if image_size is None else image_size,
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        resize=resize,
        interpolation=str(cfg.get("interpolation", "bicubic")),
        resize_mode=str(cfg.get("resize_mode", "shortest")),
    )


def _check_name(name: str) -> None:
    import open_clip

    register_project_configs()
    if name not in open_clip.list_models():
        raise ValueError(
            f"unknown open_clip model {name!r}; choose one of open_clip.list_models() "
            f"(e.g. PE-Core-L-14-336, PE-Core-T-16-384, ViT-B-32, QCLIP-Tiny)"
        )


def backbone_image_size(name: str) -> tuple[int, int]:
    """The input size ``(height, width)`` of open_clip model ``name``, from its config (nothing is built)."""
    import open_clip

    _check_name(name)
    cfg = open_clip.get_model_config(name)
    size = cfg.get("vision_cfg", {}).get("image_size")
    if size is None:
        raise ValueError(f"open_clip's config of {name!r} gives no vision image_size")
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


def backbone_depth(name: str) -> int | None:
    """The blocks an adapter layer index can address in open_clip model ``name``: the smaller tower's
    depth its config states (a timm vision tower states none: the text tower's), or None."""
    import open_clip

    _check_name(name)
    cfg = open_clip.get_model_config(name)
    depths = [int(c["layers"]) for c in (cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})) if "layers" in c]
    return min(depths) if depths else None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _hf_cache_dir(cache_dir: str | None) -> str:
    from huggingface_hub import constants

    return cache_dir or constants.HF_HUB_CACHE


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub (or the HTTPS proxy in front of it) cannot be reached, or None if it can.

    huggingface_hub retries unreachable hosts with back-off for about a minute per file; one
    TCP connect with a short timeout tells the same in seconds.
    """
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlparse(proxy if proxy else endpoint)
    host = target.hostname or ""
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{'proxy' if proxy else 'hub'} {host}:{port} unreachable ({exc})"


def _download_tag(name: str, tag: str, cfg: dict, cache_dir: str | None) -> str:
    """Path of the weights file of an open_clip tag: cache first, then the hub (short timeouts)."""
    from huggingface_hub import hf_hub_download
    from open_clip.pretrained import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    hub = cfg.get("hf_hub", "")
    if not hub:
        url = cfg.get("url", "")
        cached = Path(cache_dir or Path.home() / ".cache" / "clip") / os.path.basename(url)
        if cached.is_file():
            return str(cached)
        if _offline():
            raise WeightsUnavailableError(
                f"weights of {name!r} (pretrained={tag!r}) are not in the cache ({cached}) and HF_HUB_OFFLINE is "
                f"set. " + _OFFLINE_HINT.format(cache=cached.parent, repo=url)
            )
        from open_clip.pretrained import download_pretrained_from_url

        try:
            return download_pretrained_from_url(url, cache_dir=cache_dir)
        except Exception as exc:  # network errors come in many types
            raise WeightsUnavailableError(
                f"could not download {url} for {name!r}: {exc}. " + _OFFLINE_HINT.format(cache=cached.parent, repo=url)
            ) from exc

    repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
    candidates = [filename] if filename else [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
    for candidate in candidates:  # the cache needs no network
        try:
            return hf_hub_download(repo, candidate, cache_dir=cache_dir, local_files_only=True)
        except Exception:
            continue
    hint = _OFFLINE_HINT.format(cache=_hf_cache_dir(cache_dir), repo=repo)
    if _offline():
        raise WeightsUnavailableError(
            f"weights of {name!r} (pretrained={tag!r}, hub repo {repo!r}) are not in the Hugging Face cache and "
            f"HF_HUB_OFFLINE is set. " + hint
        )
    unreachable = _hub_unreachable()
    if unreachable:
        raise WeightsUnavailableError(
            f"weights of {name!r} (pretrained={tag!r}, hub repo {repo!r}) are not in the Hugging Face cache "
            f"and the {unreachable}. " + hint
        )
    errors = []
    for candidate in candidates:
        try:
            return hf_hub_download(repo, candidate, cache_dir=cache_dir, etag_timeout=5)
        except Exception as exc:
            errors.append(f"{candidate}: {type(exc).__name__}: {exc}")
    raise WeightsUnavailableError(
        f"could not download the weights of {name!r} (pretrained={tag!r}) from the hub repo {repo!r} "
        f"({'; '.join(errors)[:500]}). " + hint
    )


def is_meta_pe_state_dict(state_dict: dict) -> bool:
    """True for Meta's original PE checkpoints (visual ``conv1`` and text keys at the top level)."""
    return "visual.conv1.weight" in state_dict and "token_embedding.weight" in state_dict


def convert_meta_pe_state_dict(
    state_dict: dict[str, torch.Tensor], model: nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """Meta PE key names -> open_clip ``CustomTextCLIP`` (timm ``Eva`` vision trunk).

    Mapping: ``visual.*`` -> ``visual.trunk.*`` through timm's ``_convert_pe`` (``conv1`` ->
    ``patch_embed.proj``, ``transformer.resblocks.N`` -> ``blocks.N``, ``attn.in_proj_*`` ->
    ``attn.qkv.*``, ``attn_pool.{probe,attn,layernorm}`` -> ``attn_pool.{latent,q/kv,norm}``,
    ``proj`` -> ``head.weight`` transposed with a zero bias, ...); the text keys at the top level
    (``token_embedding``, ``positional_embedding``, ``transformer.resblocks.N``, ``ln_final``,
    ``text_projection``) -> ``text.*`` unchanged otherwise; ``logit_scale`` (and ``logit_bias``) stay.
    """
    from timm.models.eva import _convert_pe

    state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    trunk = model.visual.trunk if model is not None else None  # _convert_pe does not use it
    out = {f"visual.trunk.{k}": v for k, v in _convert_pe(state_dict, trunk, prefix="visual.").items()}
    for key, value in state_dict.items():
        if key.startswith("visual."):
            continue
        if key in ("logit_scale", "logit_bias"):
            target = getattr(model, key, None) if model is not None else None
            out[key] = value.reshape(target.shape) if target is not None else value
        else:
            out[f"text.{key}"] = value
    return out


def _load_local(model: nn.Module, path: Path, trust_pickle: bool = False) -> None:
    import pickle

    from open_clip.factory import load_checkpoint, load_state_dict

    from qclip_plugin.torch_files import UntrustedPickleError

    try:
        state_dict = load_state_dict(str(path), weights_only=not trust_pickle)
    except pickle.UnpicklingError as error:  # torch's refusal, said as load_torch_file says it
        if trust_pickle:
            raise
        raise UntrustedPickleError(
            f"{path}: refusing to unpickle this backbone weights file: it holds Python objects besides tensors, "
            "and unpickling runs code the file names. If you trust its source, pass --trust-pickle "
            "(trust_pickle=True)"
        ) from error
    if is_meta_pe_state_dict(state_dict):
        if not hasattr(getattr(model, "visual", None), "trunk"):
            raise ValueError(f"{path} is a Meta PE checkpoint but the backbone is not a PE (timm Eva) model")
        converted = convert_meta_pe_state_dict(state_dict, model)
        result = model.load_state_dict(converted, strict=False)
        problems = [k for k in result.missing_keys] + [k for k in result.unexpected_keys]
        if problems:
            raise ValueError(
                f"{path}: Meta PE checkpoint does not fit the model (missing {result.missing_keys[:8]}, "
                f"unexpected {result.unexpected_keys[:8]}); check that the backbone name matches the file"
            )
        return
    load_checkpoint(model, str(path), strict=True, weights_only=not trust_pickle)


def load_backbone(
    name: str = "PE-Core-L-14-336",
    pretrained: str | os.PathLike | None = "meta",
    *,
    rope_layout: str | None = "meta",
    cache_dir: str | None = None,
    seed: int = 0,
    trust_pickle: bool = False,
) -> Backbone:
    """Build the open_clip model ``name`` with ``pretrained`` weights, frozen and in eval mode.

    ``pretrained`` is an open_clip tag, a local file (open_clip checkpoint or Meta's
    ``PE-Core-*.pt``) or None (random weights, drawn from ``seed`` so that they are the same in
    every process and an adapter-only checkpoint finds its backbone again; the caller's RNG state
    is left alone). ``rope_layout`` (``'meta'`` | ``'timm'``) applies to PE vision towers and is
    ignored (recorded as None) for others. ``trust_pickle``: a local weights file that holds more
    than tensors is unpickled (trusted files only); otherwise torch refuses it.
    """
    import open_clip

    _check_name(name)
    tag = None if pretrained is None else str(pretrained)
    weights_path: Path | None = None
    quick_gelu = False
    if tag is not None:
        from open_clip.pretrained import get_pretrained_cfg

        cfg = get_pretrained_cfg(name, tag)
        if cfg:
            weights_path = Path(_download_tag(name, tag, cfg, cache_dir))
            quick_gelu = bool(cfg.get("quick_gelu", False))
        else:
            weights_path = Path(tag).expanduser()
            if not weights_path.is_file():
                from open_clip.pretrained import list_pretrained_tags_by_model

                raise WeightsUnavailableError(
                    f"pretrained={tag!r} for {name!r} is neither an open_clip tag "
                    f"(known: {list_pretrained_tags_by_model(name) or 'none'}) nor an existing file. "
                    + _OFFLINE_HINT.format(cache=_hf_cache_dir(cache_dir), repo=f"<hub repo of {name}>")
                )

    with torch.random.fork_rng(devices=[]):
        if weights_path is None:
            torch.manual_seed(seed)
        model = open_clip.create_model(name, pretrained=None, force_quick_gelu=quick_gelu)
    if weights_path is not None:
        _load_local(model, weights_path, trust_pickle)

    rope = None
    trunk = getattr(getattr(model, "visual", None), "trunk", None)
    # the layout question is PE's alone (EVA-02 and other RoPE towers keep timm's own behaviour)
    architecture = str(getattr(trunk, "pretrained_cfg", {}).get("architecture", "")) if trunk is not None else ""
    if rope_layout is not None and architecture.startswith("vit_pe_") and getattr(trunk, "rope", None) is not None:
        set_rope_layout(trunk, rope_layout)
        rope = rope_layout

    model.requires_grad_(False)
    model.eval()
    image_size = getattr(model.visual, "image_size", None) or model.visual.trunk.patch_embed.img_size
    preprocess = resolve_preprocess(name, tag, image_size)
    return Backbone(
        model=model,
        name=name,
        pretrained=tag,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(name),
        rope_layout=rope,
    )
