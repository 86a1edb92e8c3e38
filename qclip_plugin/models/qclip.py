"""The Q-CLIP model: frozen open_clip backbone + SCMA + learnable prompts + regression.

Forward pass for frames ``(B, T, 3, H, W)`` (normalised with ``model.preprocess``):

1. the K prompts (eqs. 8-10) run once through the text tower, with E-SCMA (eqs. 3, 5, 7)
   and P-SCMA, giving prompt features ``(K, D)``;
2. the B*T frames run through the vision tower with E-SCMA (eqs. 2, 4, 6) and P-SCMA;
   the video feature is the mean of its frames' features (eq. 11's V);
3. cosine similarities to the prompts (eq. 11) and their learned weighted sum (eq. 12).

Build it with :func:`build_qclip` (presets and ablations: the table in :mod:`qclip_plugin.models.presets`).
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from qclip_plugin.models.backbone import Backbone, load_backbone, resolve_preprocess
from qclip_plugin.models.presets import get_ablation, get_preset
from qclip_plugin.models.prompts import PROMPT_MODES, PromptLearner, mode_levels, prompt_mode_settings
from qclip_plugin.models.regression import QualityRegressor, level_similarities
from qclip_plugin.models.scma import SCMAConfig, SharedCrossModalAdapter, resolve_layer_indices
from qclip_plugin.models.text_encoder import TextTower
from qclip_plugin.models.vision_encoder import VisionTower
from qclip_plugin.preprocessing import RESIZE_MODES, Preprocessing
from qclip_plugin.sentinel import FROM_PRESET

__all__ = ["QCLIP", "QCLIPConfig", "SHARING_MODES", "build_qclip", "resolve_config", "resolve_preprocessing"]

#: The rows of the paper's table 3 (its check-mark columns: visual, text, sharing, layer sharing),
#: plus two variants the paper does not have (one tower, one FFN shared by its layers).
SHARING_MODES: dict[str, dict] = {
    "visual_only": dict(branches=("visual",), share_branches=False, share_layers=False),
    "text_only": dict(branches=("text",), share_branches=False, share_layers=False),
    "unshared": dict(branches=("visual", "text"), share_branches=False, share_layers=False),
    "shared": dict(branches=("visual", "text"), share_branches=True, share_layers=False),
    "shared_layers": dict(branches=("visual", "text"), share_branches=True, share_layers=True),
    # not in the paper
    "visual_only_shared_layers": dict(branches=("visual",), share_branches=False, share_layers=True),
    "text_only_shared_layers": dict(branches=("text",), share_branches=False, share_layers=True),
}

@dataclass(kw_only=True)
class QCLIPConfig:
    """Every knob of a Q-CLIP model. The model's own fields have no defaults: their values live in
    one place, the rows of :data:`qclip_plugin.models.presets.MODEL_SPECS` (build one with
    :func:`resolve_config` or ``QCLIPConfig.from_dict(get_preset(name))``); the defaults below are
    neutral ("derive it", "none").

    ``layers``: an int N (the last N blocks of each tower) or block indices (negative from
    the end). ``sharing``: one of ``SHARING_MODES`` (table 3); ``branches``, ``share_branches``
    and ``share_layers`` override its parts. ``prompt_mode``: one of ``PROMPT_MODES`` (table 4);
    ``levels`` (order matters for the checkpoint's weights) defaults to the mode's
    (:func:`~qclip_plugin.models.prompts.mode_levels`).
    """

    backbone: str
    pretrained: str | None
    rope_layout: str | None
    # how frames are resized for this model (qclip_plugin.preprocessing): "decoder" | "pil" (the release's)
    resize: str
    bottleneck: int
    layers: int | tuple[int, ...]
    placement: str
    gate_init: float
    gate_per_layer: bool
    sharing: str
    encoder_adapters: bool
    projection_adapter: bool
    proj_norm: bool
    proj_act: bool
    prompt_mode: str
    prompt_template: str
    n_ctx: int
    # neutral: None = from `sharing`, from `prompt_mode`, the regression head's own N(0, K^-1/2)
    branches: tuple[str, ...] | None = None
    share_branches: bool | None = None
    share_layers: bool | None = None
    levels: tuple[str, ...] | None = None
    head_init_std: float | None = None
    # a random backbone (pretrained=None) is drawn from this seed, so that it is the same in every
    # process and an adapter-only checkpoint, which does not store it, finds it again
    backbone_seed: int = 0

    def __post_init__(self):
        if self.sharing not in SHARING_MODES:
            raise ValueError(f"sharing must be one of {list(SHARING_MODES)}, got {self.sharing!r}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        if self.prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt_mode must be one of {PROMPT_MODES}, got {self.prompt_mode!r}")
        if isinstance(self.layers, (list, tuple)):
            self.layers = tuple(int(i) for i in self.layers)
        self.levels = tuple(mode_levels(self.prompt_mode) if self.levels is None else self.levels)
        if self.branches is not None:
            self.branches = tuple(self.branches)

    def scma_config(self, num_layers: int) -> SCMAConfig:
        sharing = dict(SHARING_MODES[self.sharing])
        for key in ("branches", "share_branches", "share_layers"):
            if getattr(self, key) is not None:
                sharing[key] = getattr(self, key)
        return SCMAConfig(
            bottleneck=self.bottleneck,
            num_layers=num_layers,
            placement=self.placement,
            gate_init=self.gate_init,
            gate_per_layer=self.gate_per_layer,
            encoder=self.encoder_adapters,
            projection=self.projection_adapter,
            proj_norm=self.proj_norm,
            proj_act=self.proj_act,
            **sharing,
        )

    def prompt_settings(self) -> dict:
        return prompt_mode_settings(self.prompt_mode, self.n_ctx, self.levels)

    def to_dict(self) -> dict:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> QCLIPConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Q-CLIP option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


class QCLIP(nn.Module):
    """Q-CLIP on a frozen open_clip backbone (see the module docstring).

    Attributes: ``preset``, ``ablation`` (the rows of the model table it was built from), ``backbone_name``, ``pretrained`` (tag or path or None),
    ``preprocess`` (:class:`~qclip_plugin.preprocessing.Preprocessing`: the backbone's, with the
    config's ``resize``), ``config`` (:class:`QCLIPConfig`), and the trainable
    parts ``scma``, ``prompts``, ``head``. The backbone lives at ``backbone``, frozen and always
    in eval mode; ``state_dict()`` leaves it out (it comes from ``pretrained``) unless
    ``include_backbone_in_state_dict`` is set.
    """

    def __init__(
        self, backbone: Backbone, config: QCLIPConfig, preset: str | None = None, ablation: str | None = None
    ):
        super().__init__()
        self.config = config
        self.preset = preset
        self.ablation = ablation
        self.backbone_name = backbone.name
        self.pretrained = backbone.pretrained
        self.preprocess: Preprocessing = backbone.preprocess.with_(resize=config.resize)
        self.rope_layout = backbone.rope_layout
        self.tokenizer = backbone.tokenizer
        self.include_backbone_in_state_dict = False

        self.backbone = backbone.model
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        self._vision = VisionTower(self.backbone)
        self._text = TextTower(self.backbone)

        layers = config.layers
        vis_idx = resolve_layer_indices(layers, self._vision.depth)
        txt_idx = resolve_layer_indices(layers, self._text.depth)
        if len(vis_idx) != len(txt_idx):
            raise ValueError(f"layers={layers!r} selects {len(vis_idx)} visual and {len(txt_idx)} text blocks")
        num_layers = len(vis_idx) if config.encoder_adapters else 0
        self.adapter_layers = {"visual": vis_idx, "text": txt_idx}
        self._adapter_at = {branch: {blk: k for k, blk in enumerate(idx)} for branch, idx in self.adapter_layers.items()}
        embed_dim = self._text.output_dim
        if self._vision.output_dim != embed_dim:
            raise ValueError(
                f"{backbone.name}: image and text embeddings differ in size ({self._vision.output_dim} vs {embed_dim})"
            )
        self.scma = SharedCrossModalAdapter(
            config.scma_config(num_layers),
            width={"visual": self._vision.width, "text": self._text.width},
            embed_dim=embed_dim,
        )
        settings = config.prompt_settings()
        self.prompts = PromptLearner(
            backbone.tokenizer,
            self._text.token_embedding,
            levels=settings["levels"],
            template=config.prompt_template,
            n_ctx=settings["n_ctx"],
            learnable_context=settings["learnable_context"],
            context_length=self._text.context_length,
            check_fit=self._text.pool_type == "argmax",  # CLIP BPE: pad id 0, EOT = argmax
        )
        self.head = QualityRegressor(len(settings["levels"]), init_std=config.head_init_std)
        self.embed_dim = embed_dim
        self.register_state_dict_post_hook(QCLIP._drop_backbone_keys)
        self.register_load_state_dict_post_hook(QCLIP._ignore_missing_backbone_keys)

    # --- frozen backbone bookkeeping -------------------------------------------------
    def train(self, mode: bool = True) -> QCLIP:
        super().train(mode)
        self.backbone.eval()  # frozen: dropout off, norms fixed
        return self

    @staticmethod
    def _drop_backbone_keys(module, state_dict, prefix, local_metadata):
        if not module.include_backbone_in_state_dict:
            for key in [k for k in state_dict if k.startswith(prefix + "backbone.")]:
                del state_dict[key]

    @staticmethod
    def _ignore_missing_backbone_keys(module, incompatible_keys):
        # the backbone comes from `pretrained`; a state dict without it is complete
        if not module.include_backbone_in_state_dict:
            missing = incompatible_keys.missing_keys
            missing[:] = [k for k in missing if not ("." + k).count(".backbone.")]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors Q-CLIP trains (adapters, gates, context, level weights), detached."""
        return {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}

    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        """Every parameter outside the backbone (the adapter-only checkpoint's content)."""
        return {n: p.detach() for n, p in self.named_parameters() if not n.startswith("backbone.")}

    # --- towers --------------------------------------------------------------------------
    def _run_blocks(self, tower, branch: str, x: torch.Tensor, context) -> torch.Tensor:
        adapter_at = self._adapter_at[branch] if self.scma.has_encoder(branch) else {}
        first = min(adapter_at) if adapter_at else tower.depth
        serial = self.scma.config.placement == "serial"
        for index in range(tower.depth):
            # blocks before the first adapter need no graph unless the input is learnable (prompt context)
            skip_graph = index < first and not x.requires_grad and torch.is_grad_enabled()
            grad_ctx = torch.no_grad() if skip_graph else nullcontext()
            with grad_ctx:
                y = tower.block(index, x, context)
            k = adapter_at.get(index)
            if k is not None:
                y = y + self.scma.encoder_delta(branch, k, y if serial else x)
            x = y
        return x

    def encode_frames(self, images: torch.Tensor) -> torch.Tensor:
        """Per-frame image features ``(N, D)`` of images ``(N, 3, H, W)``, before normalisation."""
        tower = self._vision
        x, context = tower.start(images)
        x = self._run_blocks(tower, "visual", x, context)
        pooled = tower.pool(x)
        features = tower.project(pooled)
        if self.scma.has_projection("visual"):
            features = features + self.scma.projection_delta("visual", pooled)
        return features

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """Video features ``(B, D)``: the mean of the per-frame features (eq. 11's V)."""
        frames = self._as_batch(frames)
        b, t = frames.shape[:2]
        features = self.encode_frames(frames.flatten(0, 1))
        return features.view(b, t, -1).mean(dim=1)

    def encode_prompts(self) -> torch.Tensor:
        """Prompt features ``(K, D)`` (eqs. 8-10 through the adapted text tower)."""
        tower = self._text
        embeds, ids = self.prompts(tower.token_embedding)
        x, mask = tower.start(embeds)
        x = self._run_blocks(tower, "text", x, mask)
        pooled = tower.pool(x, ids)
        features = tower.project(pooled)
        if self.scma.has_projection("text"):
            features = features + self.scma.projection_delta("text", pooled)
        return features

    def similarities(self, frames: torch.Tensor) -> torch.Tensor:
        """Eq. 11: ``(B, K)`` cosine similarities of each video to each prompt."""
        return level_similarities(self.encode_video(frames), self.encode_prompts())

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Scores ``(B,)`` of normalised frames ``(B, T, 3, H, W)`` (eq. 12)."""
        return self.head(self.similarities(frames))

    def _as_batch(self, frames) -> torch.Tensor:
        if isinstance(frames, (list, tuple)):
            frames = torch.stack(list(frames))
        if frames.ndim != 5 or frames.shape[2] != 3:
            raise ValueError(
                f"Q-CLIP expects normalised frames (B, T, 3, H, W), got shape {tuple(frames.shape)}; "
                "a single video (T, 3, H, W) needs frames.unsqueeze(0)"
            )
        expected = self.preprocess.image_size
        if tuple(frames.shape[-2:]) != tuple(expected):
            raise ValueError(
                f"frames are {tuple(frames.shape[-2:])} but {self.backbone_name} expects {tuple(expected)} (H, W); "
                "prepare them with model.preprocess (load_video(path, preprocessing=model.preprocess))"
            )
        dtype = next(self.backbone.parameters()).dtype
        return frames.to(dtype)

    # --- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike, include_backbone: bool = False, metadata=None) -> Path:
        """Write the adapter-only safetensors checkpoint (see :mod:`qclip_plugin.models.checkpoint`)."""
        from qclip_plugin.models.checkpoint import save_checkpoint

        return save_checkpoint(self, path, include_backbone=include_backbone, metadata=metadata)

    def load_checkpoint(self, path: str | os.PathLike) -> dict:
        """Load a checkpoint written by :meth:`save_checkpoint` (or the official converter)."""
        from qclip_plugin.models.checkpoint import load_checkpoint

        return load_checkpoint(self, path)

    def extra_repr(self) -> str:
        return (
            f"preset={self.preset!r}, ablation={self.ablation!r}, backbone={self.backbone_name!r}, pretrained={self.pretrained!r}, "
            f"rope_layout={self.rope_layout!r}, adapter_layers={self.adapter_layers['visual']}"
        )

    def describe(self) -> dict:
        """A JSON-able description (what checkpoints record)."""
        return dict(
            preset=self.preset,
            backbone=self.backbone_name,
            pretrained=self.pretrained,
            rope_layout=self.rope_layout,
            preprocess=self.preprocess.as_dict(),
            config=self.config.to_dict(),
        )


def _layered(layers: list[dict]) -> dict:
    """QCLIPConfig fields of ``layers`` applied in order. A layer that changes the prompt mode
    but not the levels keeps the levels below it only when they are the new mode's words (so the
    release's bad -> excellent order survives ``five_levels``, and ``antonym`` gets good / bad)."""
    data: dict = {}
    for layer in layers:
        if "prompt_mode" in layer and "levels" not in layer and data.get("levels") is not None:
            if sorted(data["levels"]) != sorted(mode_levels(layer["prompt_mode"])):
                data["levels"] = None
        data.update(layer)
    return data


def _checkpoint_layer(checkpoint: str | os.PathLike, preset: str, overrides: dict) -> tuple[dict, bool]:
    """The structure a checkpoint recorded, and whether it carries the backbone's weights."""
    from qclip_plugin.models.checkpoint import CheckpointMismatchError, read_checkpoint_metadata

    meta = read_checkpoint_metadata(checkpoint)
    if meta.get("preset") != preset:
        raise CheckpointMismatchError(
            f"checkpoint {checkpoint} was made for the Q-CLIP preset {meta.get('preset')!r}, "
            f"not {preset!r}; build it with build_qclip({meta.get('preset')!r}, checkpoint=...)"
        )
    if "backbone" in overrides and overrides["backbone"] != meta.get("backbone"):
        raise CheckpointMismatchError(
            f"checkpoint {checkpoint} was made for the backbone {meta.get('backbone')!r}, not "
            f"{overrides['backbone']!r}"
        )
    recorded = dict(meta.get("config", {}))
    recorded.pop("pretrained", None)
    return recorded, bool(meta.get("includes_backbone"))


def resolve_config(
    preset: str = "paper",
    backbone_weights: Any = FROM_PRESET,
    checkpoint: str | os.PathLike | None = None,
    *,
    ablation: str | None = None,
    **overrides,
) -> QCLIPConfig:
    """The :class:`QCLIPConfig` that :func:`build_qclip` would build with these arguments, without
    building anything: the preset's row, then the ablation's, then the checkpoint's recorded
    structure, then the overrides. ``pretrained=`` (the config key, ``QCLIPConfig.pretrained``)
    is ``backbone_weights`` under its config name."""
    if "pretrained" in overrides:
        if backbone_weights is not FROM_PRESET:
            raise TypeError("pass the backbone's weights once: backbone_weights= or its config key pretrained=")
        backbone_weights = overrides.pop("pretrained")
    layers = [get_preset(preset)]
    if ablation is not None:
        layers.append(get_ablation(ablation))
    if checkpoint is not None:
        recorded, includes_backbone = _checkpoint_layer(checkpoint, preset, overrides)
        layers.append(recorded)
        if includes_backbone and backbone_weights is FROM_PRESET:
            backbone_weights = None  # the checkpoint carries the backbone's weights
    data = _layered([*layers, overrides])
    if backbone_weights is not FROM_PRESET:
        data["pretrained"] = None if backbone_weights is None else str(backbone_weights)
    return QCLIPConfig.from_dict(data)


def resolve_preprocessing(
    preset: str = "paper",
    backbone_weights: Any = FROM_PRESET,
    checkpoint: str | os.PathLike | None = None,
    *,
    ablation: str | None = None,
    **overrides,
) -> Preprocessing:
    """The preprocessing record (``model.preprocess``) of the model :func:`build_qclip` would build
    with these arguments, from the backbone's configs alone (nothing is built or downloaded): what
    the data pipelines of a protocol read (size, mean/std, resize mode)."""
    config = resolve_config(preset, backbone_weights, checkpoint, ablation=ablation, **overrides)
    return resolve_preprocess(config.backbone, config.pretrained, resize=config.resize)


def build_qclip(
    preset: str = "paper",
    backbone_weights: Any = FROM_PRESET,
    checkpoint: str | os.PathLike | None = None,
    *,
    ablation: str | None = None,
    trust_pickle: bool = False,
    **overrides,
) -> QCLIP:
    """Build a Q-CLIP model from a preset (``paper`` | ``release`` | ``tiny``), optionally with one
    of the paper's ablations applied (``ablation='scma_unshared'``, ``'prompts_antonym'``,
    ``'escma_12_layers'``, ...): both are rows of :data:`qclip_plugin.models.presets.MODEL_SPECS`.

    ``backbone_weights``: the backbone's weights (an open_clip tag such as ``'meta'``, a local file,
    or None for random weights); default: the preset's. Configs name it by its config key,
    ``pretrained=`` (``QCLIPConfig.pretrained``), which is accepted here too. ``trust_pickle``: a
    local weights file that holds more than tensors is unpickled (trusted files only; see
    :mod:`qclip_plugin.torch_files`). ``checkpoint``: a Q-CLIP checkpoint
    (adapter-only safetensors, or a converted official one that also holds the backbone); its
    recorded structure fills in every option not given here, and it must have been made for
    the same preset and backbone. ``overrides``: any :class:`QCLIPConfig` field, e.g.
    ``bottleneck=16, layers=4, placement='serial', gate_init=0.0, sharing='unshared',
    prompt_mode='antonym', n_ctx=4, rope_layout='timm', backbone='PE-Core-T-16-384', resize='pil'``.
    """
    config = resolve_config(preset, backbone_weights, checkpoint, ablation=ablation, **overrides)
    backbone = load_backbone(
        config.backbone, config.pretrained, rope_layout=config.rope_layout, seed=config.backbone_seed,
        trust_pickle=trust_pickle,
    )
    model = QCLIP(backbone, config, preset=preset, ablation=ablation)
    if checkpoint is not None:
        model.load_checkpoint(checkpoint)
    return model
