"""Parameter report of a Q-CLIP model (total, trainable, per component) and a one-line description of
the model a configuration builds (what leaderboards name)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

__all__ = ["ParamReport", "describe_qclip", "parameter_report"]

_COMPONENTS = (
    ("E-SCMA", ("scma.layers.", "scma.ffn.", "scma.gates.")),
    ("P-SCMA", ("scma.proj.", "scma.proj_gates.")),
    ("prompts", ("prompts.",)),
    ("head", ("head.",)),
    ("backbone", ("backbone.",)),
)


@dataclass(frozen=True)
class ParamReport:
    """Counts of unique parameters (shared tensors counted once)."""

    total: int
    trainable: int
    components: dict[str, int]
    trainable_components: dict[str, int]

    def as_dict(self) -> dict:
        return dict(
            total=self.total,
            trainable=self.trainable,
            components=dict(self.components),
            trainable_components=dict(self.trainable_components),
        )

    def as_table(self) -> str:
        rows = [("component", "parameters", "trainable")]
        for name, count in self.components.items():
            rows.append((name, f"{count:,}", f"{self.trainable_components.get(name, 0):,}"))
        rows.append(("total", f"{self.total:,}", f"{self.trainable:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows
        )


def parameter_report(model: nn.Module) -> ParamReport:
    """Count ``model``'s parameters per component (E-SCMA with its shared FFN and encoder gates,
    P-SCMA with its gates, prompt context, level weights, frozen backbone)."""
    components = {name: 0 for name, _ in _COMPONENTS}
    trainable = {name: 0 for name, _ in _COMPONENTS}
    other = 0
    for name, param in model.named_parameters():  # unique Parameters only
        for component, prefixes in _COMPONENTS:
            if name.startswith(prefixes):
                components[component] += param.numel()
                if param.requires_grad:
                    trainable[component] += param.numel()
                break
        else:
            other += param.numel()
    if other:
        components["other"] = other
    total = sum(components.values())
    return ParamReport(
        total=total,
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        components=components,
        trainable_components=trainable,
    )


def describe_qclip(
    preset: str = "paper",
    pretrained: Any = ...,
    checkpoint: str | os.PathLike | None = None,
    *,
    ablation: str | None = None,
    **overrides: Any,
) -> str:
    """One line naming the model ``build_qclip`` builds from these arguments (a protocol's ``model.qclip``):
    the preset, the ablation, every field that differs from them (given as an override or recorded in the
    checkpoint) and the trainable parameters counted on the real model, e.g.
    ``"QCLIP tiny (bottleneck=32, layers=4) — 24,975 trainable parameters"``.

    The model is built with random backbone weights (nothing is downloaded): instant for ``tiny``,
    seconds and ~3 GB of memory for the PE-Core-L presets.
    """
    from qclip_plugin.models.qclip import build_qclip, resolve_config

    given = {} if pretrained is ... else {"pretrained": pretrained}
    config = asdict(resolve_config(preset, checkpoint=checkpoint, ablation=ablation, **given, **overrides))
    named = asdict(resolve_config(preset, ablation=ablation))
    changed = {key: value for key, value in config.items() if named[key] != value}
    structure = {key: value for key, value in changed.items() if key != "pretrained"}
    trainable = parameter_report(build_qclip(preset, pretrained=None, ablation=ablation, **structure)).trainable
    name = f"QCLIP {preset}" + (f", ablation {ablation}" if ablation else "")
    shown = ", ".join(f"{key}={_shown(value)}" for key, value in changed.items())
    return f"{name}{f' ({shown})' if shown else ''} — {trainable:,} trainable parameters"


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
