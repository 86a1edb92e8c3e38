"""Q-CLIP models: backbone loading, SCMA (eqs. 2-7), prompts (8-10), regression (11-12), presets.

Public API::

    from qclip_plugin.models import build_qclip
    model = build_qclip("paper")                       # PE-Core-L-14-336, Meta weights
    model = build_qclip("tiny", backbone_weights=None)  # the small random test/demo model
    model = build_qclip("paper", ablation="escma_12_layers")  # a row of the paper's ablations
    scores = model(frames)                             # frames (B, T, 3, H, W) -> (B,)

Registered in ``qclip_plugin.registry.MODELS``: ``QCLIP`` (``dict(type='QCLIP', preset='tiny',
pretrained=None, ...)``) and one builder per preset (``QCLIP-paper``, ``QCLIP-release``,
``QCLIP-tiny``).
"""

from __future__ import annotations

# the registry's location is this package: importing it registers the training loss and the
# mmengine wrapper (QCLIPVQAModel) too
from qclip_plugin.models import losses, vqa_model  # noqa: F401
from qclip_plugin.models.backbone import (
    Backbone,
    WeightsUnavailableError,
    backbone_depth,
    convert_meta_pe_state_dict,
    load_backbone,
)
from qclip_plugin.models.checkpoint import (
    CheckpointMismatchError,
    load_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
)
from qclip_plugin.models.official import convert_official_checkpoint, convert_official_state_dict
from qclip_plugin.models.params import ParamReport, describe_qclip, parameter_report
from qclip_plugin.models.pe_rope import get_rope_layout, set_rope_layout
from qclip_plugin.models.presets import (
    ABLATIONS,
    MODEL_SPECS,
    PRESETS,
    ModelSpec,
    get_ablation,
    get_preset,
    list_ablations,
    list_presets,
)
from qclip_plugin.models.qclip import QCLIP, QCLIPConfig, build_qclip, resolve_config, resolve_preprocessing
from qclip_plugin.registry import MODELS
from qclip_plugin.sentinel import FROM_PRESET

__all__ = [
    "ABLATIONS",
    "MODEL_SPECS",
    "PRESETS",
    "QCLIP",
    "Backbone",
    "CheckpointMismatchError",
    "ModelSpec",
    "ParamReport",
    "QCLIPConfig",
    "WeightsUnavailableError",
    "backbone_depth",
    "build_qclip",
    "convert_meta_pe_state_dict",
    "convert_official_checkpoint",
    "convert_official_state_dict",
    "describe_qclip",
    "get_ablation",
    "get_preset",
    "get_rope_layout",
    "list_ablations",
    "list_presets",
    "load_backbone",
    "load_checkpoint",
    "parameter_report",
    "read_checkpoint_metadata",
    "resolve_config",
    "resolve_preprocessing",
    "save_checkpoint",
    "set_rope_layout",
]


def _register() -> None:
    if "QCLIP" not in MODELS.module_dict:
        MODELS.register_module(name="QCLIP", module=build_qclip)
    for name in PRESETS:
        key = f"QCLIP-{name}"
        if key in MODELS.module_dict:
            continue

        def builder(backbone_weights=FROM_PRESET, checkpoint=None, _preset=name, **overrides) -> QCLIP:
            return build_qclip(_preset, backbone_weights, checkpoint, **overrides)

        builder.__name__ = f"build_qclip_{name}"
        builder.__doc__ = f"build_qclip({name!r}, ...)"
        MODELS.register_module(name=key, module=builder)


_register()
