"""Video and prompt features of the frozen backbone and of the adapted Q-CLIP model (figure 6's input).

Two feature spaces per video set:

- **frozen**: the backbone as open_clip ships it, ``model.backbone.encode_image`` /
  ``encode_text`` (the very same frozen weights, RoPE layout and preprocessing the adapted
  model wraps). This is "the original CLIP" of figure 6a/c. We call open_clip's own forward
  rather than Q-CLIP's towers with zeroed gates because it is the reference a reader can
  reproduce without this package; the two agree exactly (tested), since E-SCMA/P-SCMA add
  ``g · LN(...)`` with ``g = 0``.
- **adapted**: :meth:`QCLIP.encode_video` (eq. 11's V, mean of the per-frame features) and
  :meth:`QCLIP.encode_prompts` (eqs. 8-10 through the adapted text tower).

The frozen prompts are the template alone (``"a video of {level} quality"``: what a zero-shot
CLIP user writes) by default, or ``frozen_prompts="initial"``: the model's prompt texts with the
context words as initialised (``"X X X a video of ... quality"``, i.e. the adapted model's
prompts before training).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from qclip_plugin.sentinel import FROM_PRESET

if TYPE_CHECKING:
    from qclip_plugin.data.synthetic import DemoConfig

__all__ = [
    "FROZEN_PROMPT_MODES",
    "FeatureSet",
    "VideoItem",
    "extract_features",
    "load_model",
    "resolve_videos",
    "select_by_mos",
]

FROZEN_PROMPT_MODES = ("template", "initial")
#: ``--dataset`` names of the synthetic demo benchmark: both parts, or one.
DEMO_NAMES = ("demo", "demo-A", "demo-B")


@dataclass(frozen=True)
class VideoItem:
    """One video to embed: its file, display name and MOS."""

    path: str
    name: str
    mos: float


@dataclass
class FeatureSet:
    """Features of ``len(names)`` videos and ``len(levels)`` prompts in the frozen and adapted spaces.

    Arrays are float32 and not normalised: ``frozen_video``/``adapted_video`` ``(V, D)``,
    ``frozen_prompts``/``adapted_prompts`` ``(P, D)``. ``mos`` is ``(V,)`` float64.
    """

    names: list[str]
    mos: np.ndarray
    levels: list[str]
    frozen_video: np.ndarray
    frozen_prompts: np.ndarray
    adapted_video: np.ndarray
    adapted_prompts: np.ndarray
    frozen_prompt_texts: list[str]
    adapted_prompt_texts: list[str]

    @property
    def num_videos(self) -> int:
        return len(self.names)

    @property
    def num_prompts(self) -> int:
        return len(self.levels)


def _dataset_items(dataset: str, data_root: str | os.PathLike | None, ann_file: str | os.PathLike | None,
                   demo_seed: int, demo_config: DemoConfig | None) -> list[VideoItem]:
    import qclip_plugin.data.datasets as datasets

    if dataset in DEMO_NAMES:
        from qclip_plugin.data.synthetic import generate_demo_benchmark

        bench = generate_demo_benchmark(seed=demo_seed, config=demo_config)
        parts = sorted(bench.labels) if dataset == "demo" else [dataset.split("-", 1)[1]]
        built = [datasets.VQADataset(ann_file=str(bench.labels[p]), data_root=str(bench.root), pipeline=[])
                 for p in parts]
    elif Path(dataset).suffix.lower() in (".txt", ".csv", ".json", ".xlsx", ".mat") or Path(dataset).is_file():
        if not Path(dataset).is_file():
            raise FileNotFoundError(f"label file {dataset} does not exist")
        built = [datasets.VQADataset(ann_file=str(dataset), data_root=data_root, pipeline=[])]
    else:
        from qclip_plugin.data.dataset_specs import get_spec

        try:
            spec = get_spec(dataset)  # key, name, class or alias, any case
        except ValueError as error:
            raise ValueError(f"{error}; or {', '.join(DEMO_NAMES)}, or a label file (.txt/.csv)") from None
        cls = datasets.DATASET_CLASSES[spec.key]
        kwargs = {"data_root": data_root, "pipeline": []}
        if ann_file is not None:
            kwargs["ann_file"] = str(ann_file)
        built = [cls(**kwargs)]
    items = []
    for ds in built:
        for index in range(len(ds)):
            info = ds.get_data_info(index)
            items.append(VideoItem(str(info["filename"]), str(info["name"]), float(info["mos"])))
    return items


def select_by_mos(items: Sequence[VideoItem], max_videos: int | None) -> list[VideoItem]:
    """At most ``max_videos`` items, evenly spaced over the MOS ranking (so the colours span the range).

    Deterministic; keeps every item when ``max_videos`` is None or not smaller than the set.
    """
    items = list(items)
    if max_videos is None or max_videos >= len(items):
        return items
    if max_videos < 1:
        raise ValueError(f"max_videos must be at least 1, got {max_videos}")
    order = np.argsort([it.mos for it in items], kind="stable")
    picks = np.unique(np.round(np.linspace(0, len(items) - 1, max_videos)).astype(np.int64))
    chosen = sorted(int(order[p]) for p in picks)
    return [items[i] for i in chosen]


def resolve_videos(
    dataset: str,
    data_root: str | os.PathLike | None = None,
    ann_file: str | os.PathLike | None = None,
    max_videos: int | None = None,
    demo_seed: int = 0,
    demo_config: DemoConfig | None = None,
) -> list[VideoItem]:
    """The videos of ``dataset``: ``demo`` (both parts of the synthetic set, generated on first use),
    ``demo-A``/``demo-B``, a dataset key (``KoNViD``, ``LIVE_VQC``, ``LSVQ``, ...) or class name
    with ``data_root`` (or its ``QCLIP_DATA_*`` variable), or a label file path.

    ``max_videos`` keeps that many, evenly spaced over the MOS ranking (:func:`select_by_mos`).
    ``demo_seed``/``demo_config`` (a :class:`~qclip_plugin.data.synthetic.DemoConfig`, default the
    standard 160 + 84 clips) choose the synthetic set, cached in the user cache.
    """
    items = _dataset_items(dataset, data_root, ann_file, demo_seed, demo_config)
    if not items:
        raise ValueError(f"dataset {dataset!r} has no videos (check its label file)")
    return select_by_mos(items, max_videos)


def _frozen_prompt_texts(model, mode: str) -> list[str]:
    if mode == "initial":
        return list(model.prompts.texts)
    if mode == "template":
        return [model.config.prompt_template.format(level) for level in model.prompts.levels]
    raise ValueError(f"frozen_prompts must be one of {FROZEN_PROMPT_MODES}, got {mode!r}")


@torch.no_grad()
def extract_features(
    model,
    videos: Sequence[VideoItem],
    *,
    num_frames: int = 8,
    sampler: str = "UNISampl",
    batch_size: int = 4,
    device: str | torch.device | None = None,
    frozen_prompts: str = "template",
    progress: Callable[[int, int], None] | None = None,
) -> FeatureSet:
    """Embed ``videos`` and the prompts with the frozen backbone and with the adapted ``model``.

    Args:
        model: a :class:`~qclip_plugin.models.QCLIP` (its frozen backbone gives the frozen space).
        videos: from :func:`resolve_videos`.
        num_frames, sampler: frame sampling (test mode; the paper's 8 uniform frames by default).
        batch_size: videos per forward pass.
        device: ``cpu``, ``cuda``, ... (default: where the model is).
        frozen_prompts: ``template`` or ``initial`` (see the module docstring).
        progress: called with ``(done, total)`` after each batch.

    Raises:
        VideoReadError: a video cannot be read (the message names it).
    """
    from qclip_plugin.data import load_video

    if not videos:
        raise ValueError("no videos to embed")
    if device is not None:
        model = model.to(device)
    device = next(model.parameters()).device
    model.eval()
    prep = model.preprocess
    texts = _frozen_prompt_texts(model, frozen_prompts)
    context_length = getattr(model.backbone, "context_length", None)
    tokens = model.tokenizer(texts) if context_length is None else model.tokenizer(texts, context_length)
    frozen_prompt = model.backbone.encode_text(torch.as_tensor(tokens, device=device))
    adapted_prompt = model.encode_prompts()

    frozen, adapted = [], []
    for start in range(0, len(videos), batch_size):
        batch = videos[start:start + batch_size]
        frames = torch.stack([
            load_video(v.path, num_frames=num_frames, sampler=sampler, preprocessing=prep, seed=0, test_mode=True)
            for v in batch
        ]).to(device)
        b, t = frames.shape[:2]
        frozen.append(model.backbone.encode_image(frames.flatten(0, 1)).view(b, t, -1).mean(dim=1).float().cpu())
        adapted.append(model.encode_video(frames).float().cpu())
        if progress is not None:
            progress(min(start + batch_size, len(videos)), len(videos))
    return FeatureSet(
        names=[v.name for v in videos],
        mos=np.asarray([v.mos for v in videos], dtype=np.float64),
        levels=list(model.prompts.levels),
        frozen_video=torch.cat(frozen).numpy(),
        frozen_prompts=frozen_prompt.float().cpu().numpy(),
        adapted_video=torch.cat(adapted).numpy(),
        adapted_prompts=adapted_prompt.float().cpu().numpy(),
        frozen_prompt_texts=texts,
        adapted_prompt_texts=list(model.prompts.texts),
    )


def load_model(
    checkpoint: str | os.PathLike | None = None,
    preset: str | None = None,
    backbone_weights: object = FROM_PRESET,
    device: str | torch.device | None = None,
    init_seed: int | None = 0,
):
    """The Q-CLIP model to analyse: ``checkpoint``'s (its preset read from the file unless given), or
    ``preset`` as built (untrained adapters). ``backbone_weights``: the backbone weights (default: the
    preset's; the ``tiny`` preset has none).

    ``init_seed``: the model is built right after ``torch.manual_seed(init_seed)`` (the global RNG
    state is restored afterwards), which fixes an untrained model's random adapters. Random
    backbones (``backbone_weights=None``, the ``tiny`` preset) are drawn from the seed their checkpoint
    records, so a checkpoint re-creates the backbone its adapters were trained on.
    """
    from qclip_plugin.models import build_qclip, read_checkpoint_metadata

    if checkpoint is None and preset is None:
        raise ValueError("pass a Q-CLIP checkpoint (trained adapters) or a preset to analyse an untrained model")
    if checkpoint is not None and preset is None:
        preset = read_checkpoint_metadata(checkpoint).get("preset")
    with torch.random.fork_rng(devices=[]):
        if init_seed is not None:
            torch.manual_seed(init_seed)
        model = build_qclip(preset, backbone_weights, checkpoint).eval()
    return model.to(device) if device is not None else model
