"""Q-CLIP checkpoints of this project: adapter-only ``safetensors`` files.

A checkpoint holds the tensors Q-CLIP trains (SCMA, gates, prompt context, level
weights) under their module names (``scma.layers.shared.0.down.weight``, ``prompts.ctx``,
``head.weight``, ...); the frozen backbone is not re-saved (it comes from ``pretrained``),
so the ``paper`` model's file is ~560 KB. Converted official checkpoints may also carry the
backbone (``backbone.*``, ``includes_backbone``), because the official file is the whole model.

The safetensors metadata records ``format`` (``qclip_plugin.adapters``), ``format_version``,
``preset``, ``backbone``, ``pretrained``, ``rope_layout``, ``includes_backbone``, and the JSON
``config`` and ``preprocess``, so a checkpoint says what it fits; loading it into a model of a
different preset or backbone fails with a message naming both.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from qclip_plugin.errors import UserError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "CheckpointMismatchError",
    "load_checkpoint",
    "read_checkpoint_metadata",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "qclip_plugin.adapters"
FORMAT_VERSION = "1"
_JSON_FIELDS = ("config", "preprocess")

log = logging.getLogger(__name__)


class CheckpointError(UserError, ValueError):
    """A file that is not a usable Q-CLIP checkpoint (not safetensors, bad metadata, NaN weights)."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint made for another preset, backbone or structure."""


class MissingCheckpointError(UserError, FileNotFoundError):
    """No checkpoint at the given path."""


def save_checkpoint(model, path: str | os.PathLike, include_backbone: bool = False, metadata: dict | None = None) -> Path:
    """Write ``model``'s trainable tensors (and, if asked, its backbone) to ``path`` (``.safetensors``)."""
    from qclip_plugin import __version__

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.adapter_state_dict().items()}
    if include_backbone:
        for key, value in model.backbone.state_dict().items():
            tensors[f"backbone.{key}"] = value.detach().cpu().contiguous().clone()
    described = model.describe()
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "qclip_plugin_version": __version__,
        "preset": str(described["preset"]),
        "backbone": str(described["backbone"]),
        "pretrained": "" if described["pretrained"] is None else str(described["pretrained"]),
        "rope_layout": "" if described["rope_layout"] is None else str(described["rope_layout"]),
        "includes_backbone": "true" if include_backbone else "false",
        "config": json.dumps(described["config"], sort_keys=True),
        "preprocess": json.dumps(described["preprocess"], sort_keys=True),
    }
    for key, value in (metadata or {}).items():
        meta[str(key)] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return path


def read_checkpoint_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a Q-CLIP checkpoint (JSON fields decoded, ``includes_backbone`` a bool).

    Raises:
        MissingCheckpointError: no such file.
        CheckpointError: not a safetensors file, not a Q-CLIP checkpoint, or metadata that does not
            parse (the file and the field are named).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingCheckpointError(f"Q-CLIP checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = dict(handle.metadata() or {})
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a safetensors file ({exc}); official Q-CLIP .pth checkpoints must first be converted "
            "with `qclip-bench convert-official SRC DST`"
        ) from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a Q-CLIP checkpoint (metadata format={meta.get('format')!r}, "
            f"expected {CHECKPOINT_FORMAT!r}); for backbone weights pass it as pretrained=..."
        )
    for key in _JSON_FIELDS:
        if key in meta:
            try:
                meta[key] = json.loads(meta[key])
            except ValueError as exc:
                raise CheckpointError(
                    f"{path}: its metadata field {key!r} is not valid JSON ({exc}: {meta[key][:80]!r}); the file "
                    "was edited or damaged: export the checkpoint again"
                ) from None
    meta["includes_backbone"] = meta.get("includes_backbone") == "true"
    meta["pretrained"] = meta.get("pretrained") or None
    return meta


def check_finite(path: str | os.PathLike, tensors: dict[str, torch.Tensor]) -> None:
    """:class:`CheckpointError` naming the tensors that hold NaN or infinity (a diverged run)."""
    bad = sorted(k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} {'tensor holds' if len(bad) == 1 else 'tensors hold'} NaN or infinite values "
            f"({', '.join(bad[:8])}"
            f"{', ...' if len(bad) > 8 else ''}); the training that wrote it diverged: use an earlier "
            "checkpoint or train again with a lower learning rate"
        )


def load_checkpoint(model, path: str | os.PathLike) -> dict:
    """Load ``path`` into ``model`` (a :class:`~qclip_plugin.models.qclip.QCLIP`); return a short report."""
    path = Path(path)
    meta = read_checkpoint_metadata(path)
    if meta.get("preset") != str(model.preset):
        raise CheckpointMismatchError(
            f"{path} is a checkpoint of the Q-CLIP preset {meta.get('preset')!r}, the model is preset "
            f"{model.preset!r}; build the model with build_qclip({meta.get('preset')!r}, checkpoint=...)"
        )
    if meta.get("backbone") != model.backbone_name:
        raise CheckpointMismatchError(
            f"{path} is a checkpoint for the backbone {meta.get('backbone')!r}, the model's backbone is "
            f"{model.backbone_name!r}"
        )
    if (meta.get("rope_layout") or None) != model.rope_layout:
        log.warning(
            "%s was trained with rope_layout=%r, the model uses %r: scores will differ slightly",
            path, meta.get("rope_layout"), model.rope_layout,
        )
    tensors = load_file(str(path))
    check_finite(path, tensors)
    backbone_part = {k[len("backbone."):]: v for k, v in tensors.items() if k.startswith("backbone.")}
    adapters = {k: v for k, v in tensors.items() if not k.startswith("backbone.")}

    own = dict(model.named_parameters())
    expected = {k for k in own if not k.startswith("backbone.")}
    missing = sorted(expected - set(adapters))
    unexpected = sorted(set(adapters) - expected)
    shapes = sorted(
        f"{k}: file {tuple(adapters[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(adapters) & expected
        if adapters[k].shape != own[k].shape
    )
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(
            f"{path} does not fit the model's structure (preset {model.preset!r}, backbone {model.backbone_name!r}): "
            f"missing {missing[:10]}, unexpected {unexpected[:10]}, shape mismatches {shapes[:10]}; build the model "
            "with the options the checkpoint was trained with (see its metadata 'config')"
        )
    with torch.no_grad():
        for key, value in adapters.items():
            own[key].copy_(value.to(own[key].dtype))
        if backbone_part:
            model.backbone.load_state_dict(backbone_part, strict=True)
    return dict(path=str(path), adapters=len(adapters), backbone=bool(backbone_part), metadata=meta)
