"""Shared Cross-Modal Adapter (SCMA), eqs. 2-7 of the paper, and its P-SCMA variant.

E-SCMA, in K encoder layers of both towers (eqs. 2-7)::

    dX_k  = Up_k(FFN(Down_k(X_k)))          (2), (3)
    dX'_k = LayerNorm_k(dX_k)               (4), (5)
    X_k+1 = E_k(X_k) + g_k * dX'_k          (6), (7)   g = alpha (visual), beta (text)

``Down_k``/``Up_k``/``LayerNorm_k`` are per layer and shared by the two towers; the FFN
(Linear -> GELU -> Linear in the bottleneck) is shared across layers too. ``placement``
says what the delta is computed from: ``parallel`` (the paper: the layer's input X_k) or
``serial`` (the official release: the layer's output E_k(X_k)).

P-SCMA sits at the projection: ``f = Proj(p) + g * PSCMA(p)`` with ``p`` the pooled,
pre-projection feature, ``PSCMA = [LayerNorm] . Up . [GELU] . Linear . Down`` -- "the
same pattern with a single linear layer as its FFN", shared by the towers.

The switches of table 3 of the paper: which towers get adapters (``branches``), whether
the towers share them (``share_branches``) and whether the layers share one FFN
(``share_layers``). Gates are per layer and per tower (the paper) or one per tower
(``gate_per_layer=False``, the release).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BRANCHES", "ESCMALayer", "PSCMA", "SCMAConfig", "SharedCrossModalAdapter", "resolve_layer_indices"]

BRANCHES: tuple[str, str] = ("visual", "text")


@dataclass(frozen=True)
class SCMAConfig:
    """Structure of the adapters (see the module docstring)."""

    bottleneck: int = 8
    num_layers: int = 6
    placement: str = "parallel"
    gate_init: float = 0.1
    gate_per_layer: bool = True
    branches: tuple[str, ...] = BRANCHES
    share_branches: bool = True
    share_layers: bool = True
    encoder: bool = True
    projection: bool = True
    proj_norm: bool = True
    proj_act: bool = True

    def __post_init__(self):
        if self.placement not in ("parallel", "serial"):
            raise ValueError(f"placement must be 'parallel' or 'serial', got {self.placement!r}")
        unknown = set(self.branches) - set(BRANCHES)
        if unknown or not self.branches:
            raise ValueError(f"branches must be a non-empty subset of {BRANCHES}, got {self.branches!r}")
        if self.bottleneck < 1:
            raise ValueError(f"bottleneck must be >= 1, got {self.bottleneck}")


def _ffn(bottleneck: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(bottleneck, bottleneck), nn.GELU(), nn.Linear(bottleneck, bottleneck))


class ESCMALayer(nn.Module):
    """``Down_k``, ``Up_k`` and ``LayerNorm_k`` of one encoder layer (eqs. 2-5); the FFN is passed in."""

    def __init__(self, width: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, ffn: nn.Module, gate: torch.Tensor | None = None) -> torch.Tensor:
        """``LayerNorm_k(Up_k(FFN(Down_k(x))))``, times ``gate`` if given.

        The gate is folded into the LayerNorm's affine parameters (``g * (n * w + b) = n * (g w) + g b``):
        one pass over the tokens less, which matters at small widths.
        """
        h = self.up(ffn(self.down(x)))
        norm = self.norm
        if gate is None:
            return norm(h)
        return F.layer_norm(h, norm.normalized_shape, norm.weight * gate, norm.bias * gate, norm.eps)


class PSCMA(nn.Module):
    """P-SCMA: pooled feature (width) -> delta of the projected feature (embed_dim)."""

    def __init__(self, width: int, embed_dim: int, bottleneck: int, norm: bool = True, act: bool = True):
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.ffn = nn.Linear(bottleneck, bottleneck)
        self.act = nn.GELU() if act else nn.Identity()
        self.up = nn.Linear(bottleneck, embed_dim)
        self.norm = nn.LayerNorm(embed_dim) if norm else nn.Identity()

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.norm(self.up(self.act(self.ffn(self.down(pooled)))))


class SharedCrossModalAdapter(nn.Module):
    """All E-SCMA and P-SCMA parameters of a Q-CLIP model.

    ``layers[key][k]`` is layer k's ``ESCMALayer``, ``ffn[key][j]`` the FFN (one if
    ``share_layers``), ``proj[key]`` the P-SCMA, where ``key`` is ``'shared'`` when the towers
    share, else the tower's name. ``gates[tower]`` has one entry per layer (or one), and
    ``proj_gates[tower]`` is a scalar. Shared means the same ``Parameter`` objects serve both towers.
    """

    def __init__(self, config: SCMAConfig, width: int | dict[str, int], embed_dim: int, pooled_width=None):
        super().__init__()
        self.config = config
        widths = width if isinstance(width, dict) else {b: width for b in BRANCHES}
        pooled = pooled_width if isinstance(pooled_width, dict) else {b: pooled_width or widths[b] for b in BRANCHES}
        branches = tuple(b for b in BRANCHES if b in config.branches)
        if config.share_branches and len(branches) == 2 and widths["visual"] != widths["text"]:
            raise ValueError(
                f"SCMA shares its adapters between the towers, but the backbone's towers differ in width "
                f"(visual {widths['visual']}, text {widths['text']}); use a backbone whose towers have the same "
                f"width (e.g. PE-Core-*) or share_branches=False"
            )
        if config.share_branches and len(branches) == 2 and pooled["visual"] != pooled["text"]:
            raise ValueError(
                f"P-SCMA is shared between the towers, but their pooled features differ in width "
                f"(visual {pooled['visual']}, text {pooled['text']}); use share_branches=False or projection=False"
            )
        self.branches = branches
        keys = ["shared"] if config.share_branches else list(branches)
        self._key = {b: ("shared" if config.share_branches else b) for b in branches}
        k, b = config.num_layers, config.bottleneck
        width_of = {key: widths[branches[0] if key == "shared" else key] for key in keys}
        pooled_of = {key: pooled[branches[0] if key == "shared" else key] for key in keys}

        self.layers = nn.ModuleDict()
        self.ffn = nn.ModuleDict()
        self.gates = nn.ParameterDict()
        if config.encoder and k > 0:
            for key in keys:
                self.layers[key] = nn.ModuleList([ESCMALayer(width_of[key], b) for _ in range(k)])
                self.ffn[key] = nn.ModuleList([_ffn(b) for _ in range(1 if config.share_layers else k)])
            for branch in branches:
                self.gates[branch] = nn.Parameter(torch.full((k if config.gate_per_layer else 1,), config.gate_init))
        self.proj = nn.ModuleDict()
        self.proj_gates = nn.ParameterDict()
        if config.projection:
            for key in keys:
                self.proj[key] = PSCMA(pooled_of[key], embed_dim, b, norm=config.proj_norm, act=config.proj_act)
            for branch in branches:
                self.proj_gates[branch] = nn.Parameter(torch.tensor(float(config.gate_init)))

    def has_encoder(self, branch: str) -> bool:
        return branch in self.gates

    def has_projection(self, branch: str) -> bool:
        return branch in self.proj_gates

    def encoder_delta(self, branch: str, k: int, x: torch.Tensor) -> torch.Tensor:
        """``g_k * LayerNorm_k(Up_k(FFN(Down_k(x))))`` of tower ``branch`` at adapter layer ``k`` (eqs. 2-7)."""
        key = self._key[branch]
        ffns = self.ffn[key]
        ffn = ffns[0] if len(ffns) == 1 else ffns[k]
        gates = self.gates[branch]
        gate = gates[0] if gates.numel() == 1 else gates[k]
        return self.layers[key][k](x, ffn, gate)

    def projection_delta(self, branch: str, pooled: torch.Tensor) -> torch.Tensor:
        """``g * PSCMA(pooled)``, added to the projected feature."""
        return self.proj_gates[branch] * self.proj[self._key[branch]](pooled)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters that serve both towers (empty unless ``share_branches``)."""
        out: list[nn.Parameter] = []
        for module_dict in (self.layers, self.ffn, self.proj):
            if "shared" in module_dict:
                out.extend(module_dict["shared"].parameters())
        return out


def resolve_layer_indices(layers: int | Sequence[int], depth: int) -> list[int]:
    """``layers`` (an int N: the last N blocks; or block indices, negative from the end) -> sorted indices."""
    if isinstance(layers, int):
        if not 0 <= layers <= depth:
            raise ValueError(f"layers={layers}: the tower has {depth} blocks")
        return list(range(depth - layers, depth))
    out = []
    for index in layers:
        resolved = index + depth if index < 0 else index
        if not 0 <= resolved < depth:
            raise ValueError(f"adapter layer {index} is outside the tower's {depth} blocks")
        out.append(resolved)
    if len(set(out)) != len(out):
        raise ValueError(f"adapter layers repeat: {list(layers)}")
    return sorted(out)
