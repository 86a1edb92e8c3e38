"""pyiqa-style metric API: ``create_metric`` / ``list_metrics``, discovered through entry points.

A metric is a callable ``torch.nn.Module`` that takes videos or images in any of the forms below and
returns one score per video or image, shape ``(B,)``; it carries pyiqa's attributes (``lower_better``, ``score_range``,
``metric_mode == "NR"``, ``device``, ``as_loss``)::

    import qclip_plugin
    metric = qclip_plugin.create_metric("qclip", checkpoint="qclip-paper.safetensors")
    metric("video.mp4")                      # tensor([0.73])
    metric(["a.mp4", "b.mp4"])               # tensor([0.73, 0.41])

Metrics are found through the entry-point group ``qclip_plugin.metrics``. Each entry point names a
factory ``factory(device=None, as_loss=False, **options) -> VideoQualityMetric``; Q-CLIP and the
zero-shot baselines are declared there by this package's ``pyproject.toml``, and a third-party package
adds a metric by declaring its own::

    [project.entry-points."qclip_plugin.metrics"]
    my-vqa = "my_package.metric:create_my_vqa"

Input forms, one convention (pyiqa's for images; ``pyiqa.create_metric("qclip")`` reads them the same):

- a path (``str`` / ``os.PathLike``): a video, decoded and sampled with the metric's ``sampler``
  and ``num_frames`` (short videos repeat frames); an image when its extension is one of
  :data:`IMAGE_EXTENSIONS` (a one-frame video). A list of paths is a batch (images and videos are
  not mixed in one list: they have different frame counts);
- a 4-D tensor or array is N images, N scores: float ``(N, 3, H, W)`` in ``[0, 1]`` (gray
  ``(N, 1, H, W)`` too), or ``uint8`` ``(N, H, W, 3)``. Each image is a one-frame video; a 3-D
  tensor is one image;
- a 5-D tensor or array is B videos: float ``(B, T, 3, H, W)`` in ``[0, 1]`` (frames already
  chosen: resized and normalised, not sampled again), or decoded ``uint8`` ``(B, T, H, W, 3)``,
  sampled like the files they come from (``metric(decoded[None])`` for one).

Float inputs are the differentiable path (``as_loss=True``). The metric scores on its ``device``,
which follows ``.to(device)`` / ``.cuda()``.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from qclip_plugin.errors import UserError
from qclip_plugin.preprocessing import Preprocessing

__all__ = [
    "CHECKPOINT_NAME",
    "DeviceModule",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "METRICS_GROUP",
    "MetricSource",
    "MissingWeightsError",
    "Preprocessing",
    "VideoInput",
    "VideoQualityMetric",
    "create_metric",
    "create_qclip_metric",
    "default_checkpoint",
    "default_device",
    "list_metrics",
    "metric_sources",
    "read_image",
    "register_metric",
    "resolve_checkpoint",
]

METRICS_GROUP = "qclip_plugin.metrics"

#: File extensions read as images (lower case); every other path is a video.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

#: What a metric accepts (see the module docstring).
VideoInput = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], np.ndarray, torch.Tensor]  # noqa: UP007


# --------------------------------------------------------------------------------------------------
# discovery


@dataclass(frozen=True)
class MetricSource:
    """Where a metric comes from: its entry point and the distribution that declares it."""

    name: str
    value: str  # "module:factory"
    package: str  # "qclip-plugin 0.1.0", or "(registered at runtime)"

    def load(self) -> Callable[..., Any]:
        module_name, _, attr = self.value.partition(":")
        module = __import__(module_name, fromlist=["_"])
        factory: Any = module
        for part in attr.split(".") if attr else []:
            factory = getattr(factory, part)
        return factory


_RUNTIME: dict[str, tuple[MetricSource, Callable[..., Any]]] = {}


def register_metric(name: str, factory: Callable[..., Any], *, override: bool = False) -> None:
    """Add a metric for this process only (notebooks, tests); packages declare entry points instead."""
    if not override and name in metric_sources():
        raise ValueError(f"metric {name!r} already exists; pass override=True to replace it")
    value = f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}"
    _RUNTIME[name] = (MetricSource(name, value, "(registered at runtime)"), factory)


def metric_sources() -> dict[str, MetricSource]:
    """Every discoverable metric, by name, with the package declaring it (sorted by name).

    When two distributions declare the same name the first found wins and a warning names both.
    """
    found: dict[str, MetricSource] = {}
    # entry_points() keeps one copy of each distribution (the first on sys.path), as importing would
    for ep in metadata.entry_points(group=METRICS_GROUP):
        dist = getattr(ep, "dist", None)
        package = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "(unknown package)"
        if ep.name in found and found[ep.name].package != package:
            warnings.warn(
                f"metric {ep.name!r} is declared by both {found[ep.name].package} and {package}; "
                f"using {found[ep.name].package}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        found.setdefault(ep.name, MetricSource(ep.name, ep.value, package))
    for name, (source, _) in _RUNTIME.items():
        found[name] = source
    return dict(sorted(found.items()))


def list_metrics(filter: str | Sequence[str] = "", exclude_filters: str | Sequence[str] = "") -> list[str]:
    """Names of the available metrics, sorted; ``fnmatch`` filters as in ``pyiqa.list_models``."""
    names = list(metric_sources())
    if filter:
        patterns = [filter] if isinstance(filter, str) else list(filter)
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    if exclude_filters:
        patterns = [exclude_filters] if isinstance(exclude_filters, str) else list(exclude_filters)
        names = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in patterns)]
    return names


def create_metric(name: str, device: str | torch.device | None = None, as_loss: bool = False, **kwargs: Any):
    """Create the metric ``name`` (see :func:`list_metrics`), as ``pyiqa.create_metric`` does.

    ``device`` defaults to CUDA when available, else CPU. ``as_loss=True`` keeps gradients and returns
    the reduced score (``loss_weight``, ``loss_reduction`` as in pyiqa). Other keywords go to the
    metric's factory; for ``"qclip"`` see :func:`create_qclip_metric`.
    """
    sources = metric_sources()
    if name not in sources:
        close = difflib.get_close_matches(name, list(sources), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(
            f"no metric named {name!r}.{hint} Available: {', '.join(sources) or '(none)'}. Metrics come "
            f"from the entry-point group {METRICS_GROUP!r}; if you just installed a package that declares "
            "one, reinstall it (pip install -e .) so its entry points are registered."
        )
    if name in _RUNTIME:
        factory = _RUNTIME[name][1]
    else:
        try:
            factory = sources[name].load()
        except Exception as error:
            raise RuntimeError(
                f"metric {name!r} is declared by {sources[name].package} as {sources[name].value!r}, "
                f"but loading it failed: {error}. Reinstall or upgrade that package."
            ) from error
    return factory(device=device, as_loss=as_loss, **kwargs)


# --------------------------------------------------------------------------------------------------
# the metric object


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file as float ``(1, 3, H, W)`` in [0, 1], RGB (as pyiqa's ``imread2tensor`` reads it)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except OSError as error:  # missing, unreadable or not an image
        raise ImageReadError(f"cannot read image {path}: {error}") from error
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0


class ImageReadError(UserError, OSError):
    """An image file that cannot be read (missing, unreadable, not an image)."""


class DeviceModule(torch.nn.Module):
    """A module whose ``device`` is where its tensors are: an empty buffer travels with
    ``.to(device)`` / ``.cuda()``, so a metric scores where it was last moved, not where it was made."""

    def __init__(self, device: str | torch.device | None = None) -> None:
        super().__init__()
        where = torch.device(device) if device is not None else default_device()
        self.register_buffer("_device_anchor", torch.empty(0, device=where), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._device_anchor.device


class VideoQualityMetric(DeviceModule):
    """A no-reference video quality metric with pyiqa's interface (see the module docstring).

    ``net`` maps normalised frames ``(B, T, 3, H, W)`` to scores ``(B,)``; this class turns every
    input form into those frames with ``preprocessing`` (the backbone's
    :class:`~qclip_plugin.preprocessing.Preprocessing` record: size, mean/std, resize mode) after
    choosing ``num_frames`` frames with ``sampler`` (random strategies drawn from ``seed``), and
    carries pyiqa's attributes.
    """

    metric_mode = "NR"

    def __init__(
        self,
        net: torch.nn.Module,
        preprocessing: Preprocessing,
        *,
        name: str,
        score_range: str,
        lower_better: bool = False,
        device: str | torch.device | None = None,
        as_loss: bool = False,
        loss_weight: float | None = None,
        loss_reduction: str = "mean",
        check_input_range: bool = True,
        weights: str = "",
        num_frames: int = 8,
        sampler: str = "UNISampl",
        seed: int | None = 0,
    ) -> None:
        super().__init__(device)
        self.metric_name = name
        self.weights = weights
        self.preprocessing = preprocessing
        self.num_frames, self.sampler, self.seed = int(num_frames), sampler, seed
        self.score_range = score_range
        self.lower_better = lower_better
        self.as_loss = as_loss
        self.loss_weight = loss_weight
        self.loss_reduction = loss_reduction
        self.check_input_range = check_input_range and not as_loss
        self.net = net.to(self.device).eval()

    # inputs -> normalised frames --------------------------------------------------------------
    def load(self, path: str | os.PathLike, *, normalize: bool = True) -> torch.Tensor:
        """Decode and sample one video file: normalised ``(T, 3, H, W)`` float32 on the CPU
        (``normalize=False``: ``uint8``, which ``metric.preprocessing.normalize(x)`` turns into
        exactly the same float32 frames; what DataLoader workers should send)."""
        from qclip_plugin.data.pipeline import load_video

        return load_video(
            Path(path), num_frames=self.num_frames, sampler=self.sampler, preprocessing=self.preprocessing,
            seed=self.seed, test_mode=True, normalize=normalize,
        )

    def from_array(self, video: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Sample and normalise one decoded uint8 video ``(T, H, W, 3)`` as :meth:`load` samples a file.

        Decoded at the model's input size (``open_video(path, size=metric.preprocessing.image_size)``)
        the frames, and so the score, equal the file's in the ``decoder`` resize mode; at another
        size they are resized here (``decoder`` mode: torch, about one grey level from the decoder's
        resize; ``pil`` mode: PIL, as for files). Frame-difference samplers compute their profile
        (eq. 13) from the array as given.
        """
        from qclip_plugin.sampling import build_sampler, consecutive_mse, profile_from_differences

        frames = video.numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"a decoded video is uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
        strategy = build_sampler(self.sampler, test_mode=True)
        profile = (lambda: profile_from_differences(consecutive_mse(frames))) if strategy.needs_profile else None
        indices = strategy(len(frames), self.num_frames, profile=profile, rng=self.seed)
        return self.preprocessing.to_tensor(frames[indices])

    def from_unit_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Resize (squash, bilinear) and normalise float frames ``(..., 3, H, W)`` in [0, 1]; differentiable."""
        if self.check_input_range:
            lo, hi = float(frames.min()), float(frames.max())
            if lo < -1e-6 or hi > 1 + 1e-6:
                raise ValueError(
                    f"float frames must be in [0, 1] (got min={lo:.4f}, max={hi:.4f}); pass uint8 images "
                    "(N, H, W, 3) or decoded videos (B, T, H, W, 3) as they are, or divide by 255"
                )
        return self.preprocessing.normalize_unit(frames)

    def frames(self, x: VideoInput) -> torch.Tensor:
        """Any accepted input as normalised ``(B, T, 3, H, W)`` frames (see the module docstring)."""
        if isinstance(x, (str, os.PathLike)):
            return self._from_path(x).unsqueeze(0)
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        if isinstance(x, torch.Tensor):
            return self._from_tensor(x)
        if isinstance(x, Sequence) and x and all(isinstance(v, (str, os.PathLike)) for v in x):
            items = [self._from_path(v) for v in x]
            if len({item.shape for item in items}) > 1:
                raise ValueError("a list of paths mixes images and videos; score them in separate calls")
            return torch.stack(items)
        raise TypeError(
            f"cannot score {type(x).__name__}: pass a path, a list of paths, images (N, 3, H, W) / "
            "uint8 (N, H, W, 3), or videos (B, T, 3, H, W) / uint8 (B, T, H, W, 3)"
        )

    def _from_path(self, path: str | os.PathLike) -> torch.Tensor:
        if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
            return self.from_unit_frames(read_image(path))  # a one-frame video
        return self.load(path)

    def _from_tensor(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8 and x.shape[-1:] == (3,):  # decoded pixels, channels last
            if x.dim() in (3, 4):  # images
                return self.from_unit_frames(x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2) / 255.0).unsqueeze(1)
            if x.dim() == 5:  # decoded videos, sampled as their files would be
                return torch.stack([self.from_array(video) for video in x])
        elif x.is_floating_point() and x.dim() in (3, 4, 5) and x.shape[-3] in (1, 3):  # channels first
            if x.shape[-3] == 1:  # gray, as pyiqa accepts
                x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])
            frames = self.from_unit_frames(x)
            return frames if x.dim() == 5 else frames.reshape(-1, 1, *frames.shape[-3:])
        raise ValueError(
            f"cannot score a {x.dtype} tensor of shape {tuple(x.shape)}: pass images float (N, 3, H, W) in "
            "[0, 1] or uint8 (N, H, W, 3), or videos float (B, T, 3, H, W) or uint8 (B, T, H, W, 3)"
        )

    # scoring ----------------------------------------------------------------------------------
    def score_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Scores ``(B,)`` of normalised frames ``(B, T, 3, H, W)``."""
        return self.net(frames.to(self.device)).reshape(-1)

    def forward(self, x: VideoInput) -> torch.Tensor:
        with torch.set_grad_enabled(self.as_loss):
            scores = self.score_frames(self.frames(x))
        if not self.as_loss:
            return scores
        weighted = scores * self.loss_weight if self.loss_weight is not None else scores
        if self.loss_reduction == "none":
            return weighted
        if self.loss_reduction == "sum":
            return weighted.sum()
        return weighted.mean()

    def describe(self) -> dict[str, Any]:
        """What determines this metric's scores (name, weights, preprocessing, the net's own
        ``describe()`` if it has one), JSON-able; ``score_videos`` refuses to resume across a change."""
        net_describe = getattr(self.net, "describe", None)
        return {
            "name": self.metric_name,
            "weights": self.weights,
            "preprocessing": self.preprocessing.as_dict(),
            "frames": {"num_frames": self.num_frames, "sampler": self.sampler, "seed": self.seed},
            "net": net_describe() if callable(net_describe) else type(self.net).__name__,
        }

    def extra_repr(self) -> str:
        p = self.preprocessing
        return (
            f"name={self.metric_name!r}, metric_mode='NR', score_range={self.score_range!r}, "
            f"lower_better={self.lower_better}, frames={self.num_frames} ({self.sampler}), size={p.image_size}, "
            f"resize={p.resize!r}"
        )



# --------------------------------------------------------------------------------------------------
# Q-CLIP itself (declared as the "qclip" entry point)

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


_PRESET = object()  # "the preset's own value"


def create_qclip_metric(
    device: str | torch.device | None = None,
    as_loss: bool = False,
    *,
    preset: str = "paper",
    checkpoint: str | os.PathLike | None = None,
    pretrained: bool = True,
    backbone_pretrained: Any = _PRESET,
    num_frames: int = 8,
    sampler: str = "UNISampl",
    seed: int | None = 0,
    init_seed: int = 0,
    loss_weight: float | None = None,
    loss_reduction: str = "mean",
    check_input_range: bool = True,
    **overrides: Any,
):
    """The ``"qclip"`` metric: a trained Q-CLIP model (eqs. 1-12) behind :class:`VideoQualityMetric`.

    Weights come from ``checkpoint`` (an adapter-only safetensors file, or the official release's
    checkpoint), else from ``cache_dir("checkpoints")/qclip-<preset>.safetensors``; without either a
    :class:`MissingWeightsError` says how to get them. ``pretrained=False`` builds an untrained model on
    purpose (random adapters and level weights). Random parts are drawn with ``init_seed``, so every
    process builds the same model. ``backbone_pretrained`` overrides the preset's backbone weights (``None``: random, as
    the ``tiny`` preset has). ``num_frames``, ``sampler`` and ``seed`` choose the frames of files and
    arrays. Other keywords are preset overrides for ``build_qclip`` (e.g. ``prompt_mode="antonym"``;
    ``resize="decoder"|"pil"``: the ``release`` preset reads frames as the release, with PIL, the
    others resize in the decoder). The frames are prepared with the model's record, ``model.preprocess``.
    """
    from qclip_plugin.models.qclip import build_qclip

    build_kwargs: dict[str, Any] = dict(overrides)
    if backbone_pretrained is not _PRESET:
        build_kwargs["pretrained"] = backbone_pretrained
    if pretrained:
        build_kwargs["checkpoint"] = resolve_checkpoint(preset, checkpoint)
    elif checkpoint is not None:
        raise ValueError("pass either checkpoint= (trained weights) or pretrained=False (untrained), not both")
    # An untrained model's adapters are drawn from init_seed (random backbones from their recorded
    # backbone_seed), so every process builds the same model.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = build_qclip(preset, **build_kwargs)
    return VideoQualityMetric(
        model, model.preprocess, name="qclip", score_range="unbounded",
        device=device, as_loss=as_loss, loss_weight=loss_weight, loss_reduction=loss_reduction,
        check_input_range=check_input_range,
        weights=str(build_kwargs["checkpoint"]) if pretrained else f"untrained (init_seed={init_seed})",
        num_frames=num_frames, sampler=sampler, seed=seed,
    )
