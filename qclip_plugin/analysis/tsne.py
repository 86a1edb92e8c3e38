"""Figure 6 of the paper: t-SNE of video and prompt features, frozen backbone vs adapted Q-CLIP.

:func:`run_tsne` embeds a video set with both models (:mod:`.features`), runs scikit-learn's
``TSNE`` once per feature space on the videos and prompts together (L2-normalised features:
eq. 11 compares them by cosine), and writes three files:

- ``tsne.npz``: features, MOS, names, prompt levels and texts, the 2-D coordinates: all a
  redraw (:func:`plot_tsne`) or the summary (:func:`summarize_tsne`) needs;
- ``tsne_summary.json``: the quantitative companion, computed from the ``.npz`` alone;
- ``tsne.png``: (a) frozen and (b) adapted, videos and the prompts by level together;
  (c) frozen and (d) adapted, videos coloured by MOS (prompts marked).

The summary, per space (``frozen``, ``adapted``):

- ``modality_gap``: distance between the centroids of the normalised video and prompt
  features (the "modality gap" of Liang et al., 2022); ``tsne_modality_gap``: the same in the
  2-D map, divided by the map's RMS radius (t-SNE's scale is arbitrary);
- ``modality_silhouette``: silhouette (cosine) of the two groups videos / prompts;
- ``prompt_min_distance`` / ``prompt_mean_distance``: cosine distances between prompt
  features (small minimum: two levels overlap);
- ``mos_level_silhouette`` (cosine, features) and ``tsne_mos_level_silhouette`` (2-D map):
  silhouette of the *videos* grouped into quality levels by MOS quantile. Five prompts give one
  point per level, and a silhouette needs clusters of several points, so the level structure
  is measured on the videos: quantile groups of MOS named like the prompt levels (``bad`` =
  lowest fifth). ``min(5, videos // 2)`` groups, so each has at least two videos;
- ``tsne_axis1_srocc`` / ``tsne_axis2_srocc``: SROCC of the videos' t-SNE coordinates with MOS
  (the sign of a t-SNE axis is arbitrary; the magnitude says how well a map axis orders quality);
- ``quality_axis_srocc``: SROCC with MOS of each video's projection on the direction from the
  worst to the best prompt level (how well the prompts order the videos, without the learnt
  level weights of eq. 12); null when the levels have no known order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qclip_plugin.analysis.features import FeatureSet
from qclip_plugin.analysis.plotting import level_colours, level_ranks, new_figure, save_png
from qclip_plugin.atomic_files import atomic_write, atomic_write_text
from qclip_plugin.sentinel import FROM_PRESET

__all__ = [
    "SPACES",
    "TSNEFiles",
    "embed_tsne",
    "fit_perplexity",
    "format_summary",
    "load_tsne_data",
    "mos_levels",
    "plot_tsne",
    "run_tsne",
    "save_tsne_data",
    "summarize_tsne",
    "tsne_figure",
    "visualize_tsne",
]

SPACES = ("frozen", "adapted")


@dataclass
class TSNEFiles:
    """What :func:`run_tsne` wrote, and the summary it printed."""

    png: Path
    npz: Path
    json: Path
    summary: dict[str, Any] = field(default_factory=dict)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def fit_perplexity(n_points: int, perplexity: float) -> float:
    """``perplexity`` lowered for small sets: scikit-learn needs it below the number of points,
    and ~n/3 keeps every point's neighbourhood informative."""
    if n_points < 4:
        raise ValueError(f"t-SNE needs at least 4 points (videos + prompts), got {n_points}")
    return float(min(perplexity, max(1.0, (n_points - 1) / 3)))


#: Below this many points t-SNE uses exact gradients: faster there than Barnes-Hut's tree, and exact.
EXACT_TSNE_BELOW = 500


def embed_tsne(features: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE map ``(N, 2)`` of the L2-normalised ``features`` (scikit-learn, PCA init, seeded;
    exact gradients below :data:`EXACT_TSNE_BELOW` points, Barnes-Hut above)."""
    from sklearn.manifold import TSNE

    x = _normalise(features)
    tsne = TSNE(n_components=2, perplexity=fit_perplexity(len(x), perplexity), init="pca",
                random_state=seed, learning_rate="auto",
                method="exact" if len(x) < EXACT_TSNE_BELOW else "barnes_hut")
    return tsne.fit_transform(x).astype(np.float64)


def mos_levels(mos: np.ndarray, max_levels: int = 5) -> np.ndarray:
    """Quality level of each video, ``0`` (lowest MOS) to ``k - 1``: equal-count MOS quantile groups,
    ``k = min(max_levels, len(mos) // 2)`` (ties broken by order, so the counts stay equal)."""
    mos = np.asarray(mos, dtype=np.float64)
    k = min(max_levels, len(mos) // 2)
    if k < 1:
        return np.zeros(len(mos), dtype=np.int64)
    rank = np.empty(len(mos), dtype=np.int64)
    rank[np.argsort(mos, kind="stable")] = np.arange(len(mos))
    return (rank * k) // len(mos)


def _silhouette(x: np.ndarray, labels: np.ndarray, metric: str) -> float | None:
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels > len(x) - 1:
        return None
    return float(silhouette_score(x, labels, metric=metric))


def _srocc(a: np.ndarray, b: np.ndarray) -> float | None:
    from qclip_plugin.evaluation.correlation import srocc

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(srocc(a, b))


def _space_summary(video: np.ndarray, prompts: np.ndarray, xy: np.ndarray, mos: np.ndarray,
                   levels: list[str]) -> dict[str, Any]:
    v, p = _normalise(video), _normalise(prompts)
    nv = len(v)
    group = np.r_[np.zeros(nv, dtype=np.int64), np.ones(len(p), dtype=np.int64)]
    cos = p @ p.T
    pairs = 1.0 - cos[np.triu_indices(len(p), k=1)]
    quality = mos_levels(mos)

    centred = xy - xy.mean(axis=0)
    radius = float(np.sqrt((centred**2).sum(axis=1).mean()))
    video_xy, prompt_xy = xy[:nv], xy[nv:]

    quality_axis = None
    known = level_ranks()
    if len(levels) >= 2 and all(level in known for level in levels):
        ranks = [known[level] for level in levels]
        direction = p[int(np.argmax(ranks))] - p[int(np.argmin(ranks))]
        quality_axis = _srocc(v @ direction, mos)
    return {
        "modality_gap": float(np.linalg.norm(v.mean(axis=0) - p.mean(axis=0))),
        "modality_silhouette": _silhouette(np.r_[v, p], group, "cosine"),
        "prompt_min_distance": float(pairs.min()) if len(pairs) else None,
        "prompt_mean_distance": float(pairs.mean()) if len(pairs) else None,
        "mos_level_silhouette": _silhouette(v, quality, "cosine"),
        "quality_axis_srocc": quality_axis,
        "tsne_modality_gap": float(np.linalg.norm(video_xy.mean(axis=0) - prompt_xy.mean(axis=0)) / radius)
        if radius > 0 else None,
        "tsne_mos_level_silhouette": _silhouette(video_xy, quality, "euclidean"),
        "tsne_axis1_srocc": _srocc(video_xy[:, 0], mos),
        "tsne_axis2_srocc": _srocc(video_xy[:, 1], mos),
    }


def _mos_level_names(k: int) -> tuple[str, ...]:
    """Names of ``k`` MOS quantile groups, worst first: the five prompt levels for five groups."""
    from qclip_plugin.models.prompts import FIVE_LEVELS  # here: the models package loads torch and open_clip

    return FIVE_LEVELS[::-1] if k == len(FIVE_LEVELS) else tuple(f"level {i + 1}" for i in range(k))


def summarize_tsne(data: Mapping[str, Any] | str | os.PathLike) -> dict[str, Any]:
    """The quantitative summary (module docstring) from the saved data (a ``tsne.npz`` path or its arrays)."""
    if not isinstance(data, Mapping):
        data = load_tsne_data(data)
    mos = np.asarray(data["mos"], dtype=np.float64)
    levels = [str(level) for level in data["levels"]]
    quality = mos_levels(mos)
    k = int(quality.max()) + 1 if len(quality) else 0
    names = _mos_level_names(k)
    summary: dict[str, Any] = {
        "n_videos": int(len(mos)),
        "n_prompts": int(len(levels)),
        "prompt_levels": levels,
        "mos_levels": {names[i]: {"videos": int((quality == i).sum()),
                                  "mos_min": float(mos[quality == i].min()),
                                  "mos_max": float(mos[quality == i].max())} for i in range(k)},
        "perplexity": float(data["perplexity"]),
        "tsne_seed": int(data["seed"]),
    }
    for space in SPACES:
        summary[space] = _space_summary(data[f"{space}_video"], data[f"{space}_prompts"], data[f"{space}_xy"],
                                        mos, levels)
    return summary


def save_tsne_data(path: str | os.PathLike, features: FeatureSet, coords: Mapping[str, np.ndarray],
                   perplexity: float, seed: int, description: Mapping[str, Any] | None = None) -> Path:
    """Write the features and maps as ``.npz`` (no pickled objects: strings are unicode arrays)."""
    arrays = {
        "names": np.asarray(features.names, dtype=str),
        "mos": features.mos.astype(np.float64),
        "levels": np.asarray(features.levels, dtype=str),
        "frozen_prompt_texts": np.asarray(features.frozen_prompt_texts, dtype=str),
        "adapted_prompt_texts": np.asarray(features.adapted_prompt_texts, dtype=str),
        "perplexity": np.float64(perplexity),
        "seed": np.int64(seed),
        "description": np.asarray(json.dumps(dict(description or {}), sort_keys=True)),
    }
    for space in SPACES:
        arrays[f"{space}_video"] = getattr(features, f"{space}_video").astype(np.float32)
        arrays[f"{space}_prompts"] = getattr(features, f"{space}_prompts").astype(np.float32)
        arrays[f"{space}_xy"] = np.asarray(coords[space], dtype=np.float64)
    return atomic_write(path, lambda handle: np.savez(handle, **arrays), mode="wb")


def load_tsne_data(path: str | os.PathLike) -> dict[str, Any]:
    """The arrays of a ``tsne.npz`` as a dict (``description`` decoded from JSON)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"t-SNE data {path} does not exist; write it with `qclip-bench visualize tsne`")
    with np.load(path, allow_pickle=False) as handle:
        data = {key: handle[key] for key in handle.files}
    missing = [k for k in ("mos", "levels", "perplexity", "seed", *(f"{s}_{p}" for s in SPACES
                                                                        for p in ("video", "prompts", "xy")))
               if k not in data]
    if missing:
        raise ValueError(f"{path} is not a t-SNE data file of qclip_plugin (missing arrays {missing})")
    data["description"] = json.loads(str(data["description"])) if "description" in data else {}
    return data


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def plot_tsne(data: Mapping[str, Any] | str | os.PathLike, path: str | os.PathLike, title: str = "") -> Path:
    """Draw figure 6's four panels from saved data (a ``tsne.npz`` path or its arrays) to ``path``.

    (a)/(b): videos (one colour) and prompts (stars, one colour per level) of the frozen and
    adapted spaces; (c)/(d): the same maps with videos coloured by MOS.
    """
    return save_png(tsne_figure(data, title), path)


_CORNERS = {"lower left": (0.02, 0.02), "lower right": (0.62, 0.02), "upper left": (0.02, 0.64),
            "upper right": (0.62, 0.64)}
_INSET_SIZE = (0.36, 0.34)
#: Prompts closer together than this share of the map's extent get a zoomed inset.
_CROWDED = 0.05


def _corners_by_emptiness(ax, xy: np.ndarray, keep_visible: np.ndarray) -> list[str]:
    """Corners of ``ax`` ordered by how few points an inset there would cover; corners over any point
    of ``keep_visible`` (the zoomed prompts) come last."""
    ax.autoscale_view()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    fx, fy = (xy[:, 0] - x0) / (x1 - x0), (xy[:, 1] - y0) / (y1 - y0)
    w, h = _INSET_SIZE

    kx, ky = (keep_visible[:, 0] - x0) / (x1 - x0), (keep_visible[:, 1] - y0) / (y1 - y0)

    def covered(corner: str) -> int:
        cx, cy = _CORNERS[corner]
        hides = ((kx >= cx - 0.03) & (kx <= cx + w + 0.03) & (ky >= cy - 0.03) & (ky <= cy + h + 0.03)).any()
        return int(((fx >= cx) & (fx <= cx + w) & (fy >= cy) & (fy <= cy + h)).sum()) + len(fx) * int(hides)

    return sorted(_CORNERS, key=covered)


def _prompt_inset(ax, corner: str, video_xy: np.ndarray, prompt_xy: np.ndarray, levels: list[str],
                  colours: list | None) -> None:
    """A zoom on the prompts (with the videos that fall in the window), so crowded prompts stay visible."""
    centre = prompt_xy.mean(axis=0)
    extent = np.ptp(np.r_[video_xy, prompt_xy], axis=0).max()
    half = max(float(np.abs(prompt_xy - centre).max()) * 1.6, 1e-9 * extent)
    inset = ax.inset_axes([*_CORNERS[corner], *_INSET_SIZE])
    near = (np.abs(video_xy - centre) <= half).all(axis=1)
    inset.scatter(video_xy[near, 0], video_xy[near, 1], s=10, c="lightgray")
    for i, level in enumerate(levels):
        face = colours[i] if colours else "white"
        inset.scatter(prompt_xy[i, 0], prompt_xy[i, 1], s=150, marker="*", color=face, edgecolors="black",
                      linewidths=0.7, zorder=3)
        inset.annotate(level, prompt_xy[i], textcoords="offset points", xytext=(5, 4), fontsize=7)
    inset.set_xlim(centre[0] - half, centre[0] + half)
    inset.set_ylim(centre[1] - half, centre[1] + half)
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_title(f"prompts, zoomed ×{extent / (2 * half):.0f}", fontsize=7, pad=2)
    ax.indicate_inset_zoom(inset, edgecolor="gray")


def tsne_figure(data: Mapping[str, Any] | str | os.PathLike, title: str = ""):
    """The matplotlib ``Figure`` :func:`plot_tsne` saves (axes ``fig.axes[:4]``: panels a, b, c, d;
    crowded prompts get a zoomed inset, ``ax.child_axes``)."""
    if not isinstance(data, Mapping):
        data = load_tsne_data(data)
    summary = summarize_tsne(data)
    mos = np.asarray(data["mos"], dtype=np.float64)
    levels = [str(level) for level in data["levels"]]
    nv = len(mos)
    colours = level_colours(levels)
    fig, axes = new_figure(1400, 1100, rows=2, cols=2)
    names = {"frozen": "frozen backbone", "adapted": "Q-CLIP (adapted)"}
    for col, space in enumerate(SPACES):
        xy = np.asarray(data[f"{space}_xy"])
        video_xy, prompt_xy = xy[:nv], xy[nv:]
        crowded = np.ptp(prompt_xy, axis=0).max() < _CROWDED * np.ptp(xy, axis=0).max()
        stats = summary[space]
        ax = axes[0, col]
        ax.scatter(video_xy[:, 0], video_xy[:, 1], s=16, c="tab:blue", alpha=0.7, label=f"videos ({nv})")
        for i, level in enumerate(levels):
            ax.scatter(prompt_xy[i, 0], prompt_xy[i, 1], s=260, marker="*", color=colours[i],
                       edgecolors="black", linewidths=0.8, zorder=3, label=f"prompt: {level}")
        ax.set_title(f"({'ab'[col]}) {names[space]}: videos and prompts\n"
                     f"modality gap {_fmt(stats['modality_gap'])}, "
                     f"silhouette video/prompt {_fmt(stats['modality_silhouette'])}", fontsize=10)
        if crowded:
            _prompt_inset(ax, _corners_by_emptiness(ax, xy, prompt_xy)[0], video_xy, prompt_xy, levels, colours)
        # beside the panel, where (c)/(d) have their colour bars: the map stays uncovered
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)

        ax = axes[1, col]
        points = ax.scatter(video_xy[:, 0], video_xy[:, 1], s=18, c=mos, cmap="viridis", alpha=0.85,
                            label=f"videos ({nv}), colour: MOS")
        ax.scatter(prompt_xy[:, 0], prompt_xy[:, 1], s=200, marker="*", facecolors="white",
                   edgecolors="black", linewidths=0.8, zorder=3, label=f"prompts ({len(levels)})")
        fig.colorbar(points, ax=ax, label="MOS")
        ax.set_title(f"({'cd'[col]}) {names[space]}: videos by MOS\n"
                     f"MOS-level silhouette {_fmt(stats['tsne_mos_level_silhouette'])}, "
                     f"SROCC(t-SNE 1, MOS) {_fmt(stats['tsne_axis1_srocc'])}", fontsize=10)
        if crowded:
            _prompt_inset(ax, _corners_by_emptiness(ax, xy, prompt_xy)[0], video_xy, prompt_xy, levels, None)
        else:
            for i, level in enumerate(levels):
                ax.annotate(level, prompt_xy[i], textcoords="offset points", xytext=(6, 6), fontsize=8)
        # below the panel (its right side holds the colour bar): the map stays uncovered
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, borderaxespad=0)
    for ax in axes.flat:
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
    fig.suptitle(title or "t-SNE of video and prompt features", fontsize=12)
    fig.tight_layout()
    return fig


def run_tsne(
    model,
    videos,
    out_dir: str | os.PathLike,
    *,
    num_frames: int = 8,
    sampler: str = "UNISampl",
    batch_size: int = 4,
    device: str | None = None,
    frozen_prompts: str = "template",
    perplexity: float = 30.0,
    seed: int = 0,
    title: str = "",
    description: Mapping[str, Any] | None = None,
    progress=None,
) -> TSNEFiles:
    """Figure 6 for ``videos`` (:func:`~qclip_plugin.analysis.features.resolve_videos`) and ``model``.

    Extracts the features (:func:`~qclip_plugin.analysis.features.extract_features`), maps each
    space with :func:`embed_tsne`, writes ``tsne.npz``, then computes the summary *from that
    file* (:func:`summarize_tsne`), writes ``tsne_summary.json`` and draws ``tsne.png``.
    """
    from qclip_plugin.analysis.features import extract_features

    out = Path(out_dir)
    features = extract_features(model, videos, num_frames=num_frames, sampler=sampler, batch_size=batch_size,
                                device=device, frozen_prompts=frozen_prompts, progress=progress)
    n_points = features.num_videos + features.num_prompts
    used = fit_perplexity(n_points, perplexity)
    coords = {
        space: embed_tsne(np.r_[getattr(features, f"{space}_video"), getattr(features, f"{space}_prompts")],
                          perplexity=used, seed=seed)
        for space in SPACES
    }
    meta = dict(description or {}, num_frames=num_frames, sampler=sampler, frozen_prompts=frozen_prompts)
    npz = save_tsne_data(out / "tsne.npz", features, coords, used, seed, meta)
    data = load_tsne_data(npz)
    summary = summarize_tsne(data)
    summary["description"] = data["description"]
    json_path = atomic_write_text(out / "tsne_summary.json", json.dumps(summary, indent=1) + "\n")
    png = plot_tsne(data, out / "tsne.png", title=title)
    return TSNEFiles(png=png, npz=npz, json=json_path, summary=summary)


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as a small table for people (frozen vs adapted)."""
    rows = [k for k in summary["frozen"]]
    width = max(len(k) for k in rows)
    lines = [f"{summary['n_videos']} videos, {summary['n_prompts']} prompts, t-SNE perplexity "
             f"{summary['perplexity']:g}", f"{'':<{width}}  {'frozen':>8}  {'adapted':>8}"]
    for key in rows:
        a, b = summary["frozen"][key], summary["adapted"][key]
        lines.append(f"{key:<{width}}  {_fmt(a) if a is None else f'{a:8.4f}':>8}  "
                     f"{_fmt(b) if b is None else f'{b:8.4f}':>8}")
    return "\n".join(lines)


def visualize_tsne(
    dataset: str,
    out_dir: str | os.PathLike,
    *,
    checkpoint: str | os.PathLike | None = None,
    preset: str | None = None,
    backbone_weights: object = FROM_PRESET,
    data_root: str | os.PathLike | None = None,
    ann_file: str | os.PathLike | None = None,
    max_videos: int | None = None,
    demo_seed: int = 0,
    demo_config=None,
    init_seed: int | None = 0,
    **options: Any,
) -> TSNEFiles:
    """Figure 6 from names: the model of ``checkpoint`` (or ``preset`` untrained) on ``dataset``
    (:func:`~qclip_plugin.analysis.features.resolve_videos`); ``init_seed``: see
    :func:`~qclip_plugin.analysis.features.load_model`; ``options`` go to :func:`run_tsne`."""
    from qclip_plugin.analysis.features import load_model, resolve_videos

    videos = resolve_videos(dataset, data_root=data_root, ann_file=ann_file, max_videos=max_videos,
                            demo_seed=demo_seed, demo_config=demo_config)
    model = load_model(checkpoint, preset, backbone_weights, options.get("device"), init_seed=init_seed)
    weights = f"adapters {Path(checkpoint).name}" if checkpoint else "untrained adapters"
    description = {"dataset": dataset, "checkpoint": str(checkpoint) if checkpoint else None,
                   "preset": model.preset, "backbone": model.backbone_name, "pretrained": model.pretrained,
                   "init_seed": init_seed, "videos": len(videos)}
    options.setdefault("title", f"t-SNE on {dataset} ({len(videos)} videos): {model.backbone_name} frozen vs "
                                f"Q-CLIP {model.preset} ({weights})")
    return run_tsne(model, videos, out_dir, description=description, **options)
