"""The one table of named Q-CLIP models: the presets and the paper's ablations, one row each.

Like timm's ``generate_default_cfgs`` tables and open_clip's JSON model configs, this is the only
place these values are written: :class:`~qclip_plugin.models.qclip.QCLIPConfig` has no defaults
for them, and the mmengine configs name a row (``qclip=dict(preset='paper', ablation='scma_shared')``)
instead of restating its fields. Two kinds of rows (:class:`ModelSpec`):

- a **preset** is a complete model: its fields, or a ``base`` preset plus the fields that differ;
- an **ablation** holds only the fields it changes and applies on top of any preset
  (``build_qclip('paper', ablation='escma_12_layers')``; ``build_qclip('release',
  ablation='escma_12_layers')`` is the release's layout in 12 layers).

The presets:

- ``paper``: the paper's model (DESIGN.md section 1): PE-Core-L-14-336, E-SCMA in the last
  six layers of both towers computed from each layer's input (parallel), gates per layer and
  tower, one FFN shared by the layers and the towers, P-SCMA with LayerNorm, five
  learnable-context prompts in the paper's order (excellent -> bad). **The paper gives no
  bottleneck width**; 8 is this project's choice, the width at which the structure has the
  paper's 0.14 M trainable parameters (139,555). Frames resized in the decoder.
- ``release``: the official code's layout (DESIGN.md section 2), **the model that produced
  the published numbers**: bottleneck 128, adapters after the block (serial) in the last six
  layers (18-23 of 24), one gate per tower and place (four, all 0.1), P-SCMA
  ``Linear -> Linear -> GELU -> Linear`` without LayerNorm, prompts ordered bad -> excellent,
  frames read as the release reads them (``resize="pil"``). Only the six used adapter layers
  are allocated: 1,907,977 trainable parameters (~1.9 M, not the paper's 0.14 M; the release
  allocates 24 layers, 6.7 M).
- ``tiny``: the project's random-initialised ``QCLIP-Tiny`` backbone (width 64, four blocks
  per tower, 112 px, mean-pooled image tokens) with the paper's structure in its last two
  layers: ~4 K trainable parameters, for tests and the synthetic demo.

Where the paper is silent the presets take the release's choice: gate init 0.1, a GELU in
P-SCMA's single-linear FFN, level weights ~ N(0, K^-1/2), context initialised from "X". The
level words and the prompt template are :mod:`qclip_plugin.models.prompts`' (eqs. 8-10).
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from qclip_plugin.errors import UserError, closest
from qclip_plugin.models.prompts import FIVE_LEVELS, PROMPT_TEMPLATE

__all__ = [
    "ABLATIONS",
    "MODEL_SPECS",
    "PRESETS",
    "ModelSpec",
    "UnknownModelSpecError",
    "get_ablation",
    "get_preset",
    "list_ablations",
    "list_presets",
]


@dataclass(frozen=True)
class ModelSpec:
    """One row of :data:`MODEL_SPECS`: ``fields`` of :class:`~qclip_plugin.models.qclip.QCLIPConfig`
    (a preset's own, on top of its ``base`` preset's; an ablation's changes), and where it comes from."""

    kind: str
    source: str
    fields: dict[str, Any] = field(default_factory=dict)
    base: str | None = None


def _preset(source: str, base: str | None = None, **fields: Any) -> ModelSpec:
    return ModelSpec("preset", source, fields, base)


def _ablation(source: str, **fields: Any) -> ModelSpec:
    return ModelSpec("ablation", source, fields)


MODEL_SPECS: dict[str, ModelSpec] = {
    # --- presets ----------------------------------------------------------------------------
    "paper": _preset(
        "the paper (DESIGN.md section 1)",
        backbone="PE-Core-L-14-336",
        pretrained="meta",
        rope_layout="meta",
        resize="decoder",
        bottleneck=8,  # not given by the paper: the width that yields its 0.14 M trainable parameters
        layers=6,
        placement="parallel",
        gate_init=0.1,
        gate_per_layer=True,
        sharing="shared_layers",
        encoder_adapters=True,
        projection_adapter=True,
        proj_norm=True,
        proj_act=True,
        prompt_mode="five_levels_learnable",
        prompt_template=PROMPT_TEMPLATE,
        n_ctx=3,
    ),
    "release": _preset(
        "the official release (DESIGN.md section 2)",
        base="paper",
        bottleneck=128,
        placement="serial",
        gate_per_layer=False,
        proj_norm=False,
        levels=FIVE_LEVELS[::-1],  # the release orders its prompts bad -> excellent
        resize="pil",
    ),
    "tiny": _preset("this project: tests and the synthetic demo", base="paper", backbone="QCLIP-Tiny", pretrained=None,
                    layers=2),
    # --- ablations (applied on top of a preset) ----------------------------------------------
    # table 3: structure of SCMA (qclip.SHARING_MODES; rows 1-2 leave layer sharing unchecked)
    "scma_visual_only": _ablation("paper table 3, row 1", sharing="visual_only"),
    "scma_text_only": _ablation("paper table 3, row 2", sharing="text_only"),
    "scma_unshared": _ablation("paper table 3, row 3", sharing="unshared"),
    "scma_shared": _ablation("paper table 3, row 4", sharing="shared"),
    "scma_shared_layers": _ablation("paper table 3, row 5", sharing="shared_layers"),
    # table 4: prompts (prompts.PROMPT_MODES)
    "prompts_antonym": _ablation("paper table 4, row 1", prompt_mode="antonym"),
    "prompts_antonym_learnable": _ablation("paper table 4, row 2", prompt_mode="antonym_learnable"),
    "prompts_five_levels": _ablation("paper table 4, row 3", prompt_mode="five_levels"),
    "prompts_five_levels_learnable": _ablation("paper table 4, row 4", prompt_mode="five_levels_learnable"),
    # figure 5: number of E-SCMA layers
    **{f"escma_{n}_layers": _ablation("paper figure 5", layers=n) for n in (1, 2, 4, 6, 8, 12, 24)},
}


class UnknownModelSpecError(UserError, ValueError):
    """A preset or ablation name that is not a row of :data:`MODEL_SPECS`."""


def _names(kind: str) -> list[str]:
    return sorted(name for name, spec in MODEL_SPECS.items() if spec.kind == kind)


def list_presets() -> list[str]:
    """The preset names (``paper``, ``release``, ``tiny``)."""
    return _names("preset")


def list_ablations() -> list[str]:
    """The ablation names (tables 3 and 4, figure 5 of the paper)."""
    return _names("ablation")


def _row(name: str, kind: str) -> ModelSpec:
    spec = MODEL_SPECS.get(name)
    if spec is None or spec.kind != kind:
        close = closest(name, _names(kind))
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownModelSpecError(f"unknown Q-CLIP {kind} {name!r}; {hint}choose one of {', '.join(_names(kind))}")
    return spec


def get_preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name``'s fields (its ``base`` preset's, updated with its own)."""
    spec = _row(name, "preset")
    fields = get_preset(spec.base) if spec.base else {}
    fields.update(deepcopy(spec.fields))
    return fields


def get_ablation(name: str) -> dict[str, Any]:
    """A copy of the fields ablation ``name`` changes."""
    return deepcopy(_row(name, "ablation").fields)


#: Read-only views of the table: preset -> its complete fields, ablation -> the fields it changes.
PRESETS = MappingProxyType({name: MappingProxyType(get_preset(name)) for name in list_presets()})
ABLATIONS = MappingProxyType({name: MappingProxyType(get_ablation(name)) for name in list_ablations()})
