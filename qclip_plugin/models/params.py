"""Parameter report of a Q-CLIP model: total, trainable, and per component."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

__all__ = ["ParamReport", "parameter_report"]

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
