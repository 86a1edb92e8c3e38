"""The ``"qclip"`` metric: a trained Q-CLIP model (eqs. 1-12) behind
:class:`~qclip_plugin.metrics.wrapper.VideoQualityMetric`, and where its trained weights are found.

Its row is ``METRIC_CONFIGS["qclip"]`` (:mod:`qclip_plugin.metrics.configs`); the entry point
``qclip = "qclip_plugin.metrics.qclip:create_qclip_metric"`` declares it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from qclip_plugin.errors import UserError
from qclip_plugin.metrics.configs import metric_config, wrap_net
from qclip_plugin.sentinel import FROM_PRESET

__all__ = ["CHECKPOINT_NAME", "MissingWeightsError", "create_qclip_metric", "default_checkpoint", "resolve_checkpoint"]

#: The checkpoint file ``create_metric("qclip", preset=P)`` looks for in the user cache directory.
CHECKPOINT_NAME = "qclip-{preset}.safetensors"


def default_checkpoint(preset: str) -> Path:
    """Where trained weights for ``preset`` are looked for when no ``checkpoint=`` is given."""
    from qclip_plugin.cache import cache_dir

    return cache_dir("checkpoints") / CHECKPOINT_NAME.format(preset=preset)


class MissingWeightsError(UserError, FileNotFoundError):
    """No trained Q-CLIP weights were given or found; the message says how to get them."""


def resolve_checkpoint(preset: str, checkpoint: str | os.PathLike | None) -> Path:
    """The trained-weights file to load: ``checkpoint`` if given, else the cache directory's."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"Q-CLIP checkpoint {path} does not exist (checkpoint= argument)")
        return path
    path = default_checkpoint(preset)
    if path.is_file():
        return path
    raise MissingWeightsError(
        f"no trained Q-CLIP weights for preset {preset!r}: no checkpoint= was given and {path} does not "
        "exist. Get them by either\n"
        "  - training: qclip-bench run protocol=intra-dataset ... (it exports the selected model as "
        f"<work_dir>/selected.safetensors; pass that as checkpoint=, or copy it to {path}), or\n"
        "  - converting the authors' official checkpoint (the 'release' preset): qclip-bench convert-official "
        f"<official.pth> {default_checkpoint('release')}, then create_metric('qclip', preset='release').\n"
        "Set $QCLIP_CACHE_DIR to use another cache directory. For an untrained model on purpose "
        "(tests, ablations) pass pretrained=False."
    )


def create_qclip_metric(
    device: str | torch.device | None = None,
    as_loss: bool = False,
    *,
    checkpoint: str | os.PathLike | None = None,
    pretrained: bool = True,
    backbone_weights: Any = FROM_PRESET,
    trust_pickle: bool = False,
    **options: Any,
):
    """The ``"qclip"`` metric: a trained Q-CLIP model (eqs. 1-12) behind :class:`VideoQualityMetric`.

    ``pretrained`` (pyiqa's meaning): load trained weights, from ``checkpoint`` (an adapter-only
    safetensors file, or a converted official one) or else ``cache_dir("checkpoints")/qclip-<preset>.safetensors``;
    without either a :class:`MissingWeightsError` says how to get them. ``pretrained=False`` builds an
    untrained model on purpose (random adapters and level weights, drawn from ``init_seed`` so that
    every process builds the same model). ``backbone_weights`` overrides the preset's backbone weights
    (an open_clip tag, a file, or ``None``: random, as the ``tiny`` preset has). ``trust_pickle``:
    a backbone weights file that holds more than tensors is unpickled (trusted files only; Q-CLIP
    checkpoints are safetensors and never are).

    Options over the row ``METRIC_CONFIGS["qclip"]``: ``preset``, ``init_seed``, ``num_frames``,
    ``sampler``, ``seed`` (the frames of files and arrays), ``loss_weight``, ``loss_reduction``,
    ``check_input_range``; any other keyword is a preset override for ``build_qclip`` (e.g.
    ``prompt_mode="antonym"``; ``resize="decoder"|"pil"``: the ``release`` preset reads frames as
    the release, with PIL, the others resize in the decoder). The frames are prepared with the
    model's record, ``model.preprocess``.
    """
    opts = metric_config("qclip").merged(options)
    preset, init_seed = opts.pop("preset"), opts.pop("init_seed")
    metric_options = {k: opts.pop(k) for k in _METRIC_KEYWORDS if k in opts}
    build_kwargs: dict[str, Any] = dict(opts, trust_pickle=trust_pickle)
    if backbone_weights is not FROM_PRESET:
        build_kwargs["backbone_weights"] = backbone_weights
    if pretrained:
        build_kwargs["checkpoint"] = resolve_checkpoint(preset, checkpoint)
    elif checkpoint is not None:
        raise ValueError("pass either checkpoint= (trained weights) or pretrained=False (untrained), not both")
    model = _build(preset, init_seed, build_kwargs)
    weights = str(build_kwargs["checkpoint"]) if pretrained else f"untrained (init_seed={init_seed})"
    return wrap_net("qclip", model, model.preprocess, weights=weights, device=device, as_loss=as_loss,
                    options=metric_options)  # fmt: skip


# create_qclip_metric's keywords for the metric object; the others are build_qclip's
_METRIC_KEYWORDS = ("num_frames", "sampler", "seed", "loss_weight", "loss_reduction", "check_input_range")


def _build(preset: str, init_seed: int, build_kwargs: dict[str, Any]):
    from qclip_plugin.models.qclip import build_qclip

    # An untrained model's adapters are drawn from init_seed (random backbones from their recorded
    # backbone_seed), so every process builds the same model.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return build_qclip(preset, **build_kwargs)
