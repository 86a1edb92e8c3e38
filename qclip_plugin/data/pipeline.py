"""Video file -> sampled, resized, normalised frames tensor: :func:`load_video` and its
mmengine pipeline step :class:`LoadVideoFrames`.

Frames are decoded, sampled, then prepared as a :class:`~qclip_plugin.preprocessing.Preprocessing`
record says (:mod:`qclip_plugin.preprocessing` holds all of it): ``resize="decoder"`` (default)
decodes directly at the target size (squash, bilinear, inside the decoder) and converts once from
``uint8 (N, H, W, 3)`` to float32 ``(N, 3, H, W)``; ``resize="pil"`` decodes at the video's own
size and resizes with PIL, exactly as the official release.

Data loaders with worker processes should move the frames as ``uint8`` (``normalize=False``)
and normalise where they are consumed (``Preprocessing.normalize``: in the scoring loop, in
``QCLIPVQAModel`` on its device): a float32 frame is 4x the bytes to copy between processes,
and the result is bit-identical either way.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from qclip_plugin.preprocessing import (
    DEFAULT_SIZE,
    PE_MEAN,
    PE_STD,
    RESIZE_MODES,
    Preprocessing,
    frames_to_tensor,
    normalize_frames,
    pil_resize,
)
from qclip_plugin.registry import TRANSFORMS
from qclip_plugin.sampling import (
    DEFAULT_RETAIN_BYTES,
    PROFILE_SIZE,
    FrameSampler,
    build_sampler,
    sample_frames,
    video_seed,
)
from qclip_plugin.video import as_size, open_video

__all__ = [
    "DEFAULT_SIZE",
    "PE_MEAN",
    "PE_STD",
    "LoadVideoFrames",
    "decoder_threads",
    "frames_to_tensor",
    "import_decoders",
    "load_frames",
    "load_video",
    "normalize_frames",
    "sample_video",
]


def import_decoders() -> None:
    """Import the decoder libraries (decord, PyAV) now.

    Call it before starting DataLoader workers: forked workers then inherit them instead of each
    importing them again at its first video (with this module, ~0.5 s of CPU per worker, measured
    on 2 cores; ``score_videos`` and ``LoadVideoFrames`` do it).
    """
    for name in ("decord", "av"):
        try:
            importlib.import_module(name)
        except ImportError:  # an optional backend; open_video reports what is missing when used
            pass


def decoder_threads() -> int:
    """Decoding threads for this process: in a DataLoader worker ``max(1, cores // workers)``, so
    the workers together use the cores once; elsewhere ``0`` (FFmpeg's choice, one per core).

    Each worker otherwise runs one decoding thread per core: on 2 cores, 2 workers ran 4 threads
    and spent ~10-15% more CPU per video than with one each (measured, decord ``get_batch``).
    """
    info = torch.utils.data.get_worker_info()
    if info is None:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, info.num_workers))


def _finish(
    frames: np.ndarray,
    size: tuple[int, int] | None,
    mean: Sequence[float],
    std: Sequence[float],
    resize: str,
    normalize: bool,
) -> torch.Tensor:
    """Sampled ``uint8 (N, H, W, 3)`` frames -> the output of :func:`load_video`: resized with PIL in
    ``pil`` mode (the decoder already resized in ``decoder`` mode), then normalised in that mode's
    arithmetic, or ``uint8 (N, 3, H, W)`` when ``normalize`` is false."""
    if resize == "pil" and size is not None and tuple(frames.shape[1:3]) != size:
        frames = pil_resize(frames, size)
    if not normalize:
        return torch.from_numpy(frames).permute(0, 3, 1, 2)
    return frames_to_tensor(frames, mean=mean, std=std, resize=resize)


def _options(
    size: int | Sequence[int] | None,
    mean: Sequence[float],
    std: Sequence[float],
    resize: str,
    preprocessing: Preprocessing | None,
) -> tuple[tuple[int, int] | None, tuple, tuple, str]:
    """``(size, mean, std, resize)`` from a record when one is given, else from the arguments."""
    if preprocessing is not None:
        return preprocessing.image_size, preprocessing.mean, preprocessing.std, preprocessing.resize
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    return as_size(size), tuple(mean), tuple(std), resize


def sample_video(
    path: str | os.PathLike,
    num_frames: int = 8,
    sampler: str | dict | FrameSampler = "UNISampl",
    size: int | Sequence[int] | None = DEFAULT_SIZE,
    *,
    seed: int | np.random.Generator | None = None,
    test_mode: bool | None = None,
    profile_size: int | Sequence[int] = PROFILE_SIZE,
    cache_dir: str | os.PathLike | None | bool = None,
    retain_bytes: int = DEFAULT_RETAIN_BYTES,
    **reader_options: Any,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Sampled ``uint8 (N, H, W, 3)`` frames of a video, their indices and the video's frame count.

    Arguments as in :func:`load_video`.
    """
    if "threads" not in reader_options:
        reader_options["threads"] = decoder_threads()
    strategy = build_sampler(sampler) if test_mode is None else build_sampler(sampler, test_mode=test_mode)
    strategy, rng = strategy.resolve(seed)  # Mixed draws here, so we know whether a profile is needed
    return sample_frames(path, strategy, num_frames, rng=rng, size=size, profile_size=profile_size,
                         cache_dir=cache_dir, retain_bytes=retain_bytes, **reader_options)


def load_video(
    path: str | os.PathLike,
    num_frames: int = 8,
    sampler: str | dict | FrameSampler = "UNISampl",
    size: int | Sequence[int] | None = DEFAULT_SIZE,
    mean: Sequence[float] = PE_MEAN,
    std: Sequence[float] = PE_STD,
    seed: int | np.random.Generator | None = None,
    *,
    resize: str = "decoder",
    preprocessing: Preprocessing | None = None,
    test_mode: bool | None = None,
    profile_size: int | Sequence[int] = PROFILE_SIZE,
    cache_dir: str | os.PathLike | None | bool = None,
    retain_bytes: int = DEFAULT_RETAIN_BYTES,
    normalize: bool = True,
    **reader_options: Any,
) -> torch.Tensor:
    """Read a video as a normalised float32 frames tensor ``(num_frames, 3, H, W)``.

    Args:
        path: video file (mp4, avi, mkv, ... or raw ``.yuv``).
        num_frames: frames to sample (8 in the paper); short videos repeat frames.
        sampler: a strategy name (``RandSampl``, ``UNISampl``, ``UNIRandStart``,
            ``MSESortedUNI``, ``SegMSEMean``, ``SegMSEMedian``, ``Mixed``), a config dict or a
            :class:`~qclip_plugin.sampling.FrameSampler`.
        size: ``(height, width)`` after the squash resize (bilinear); ``None`` keeps the video's size.
        mean, std: per-channel normalisation of values in [0, 1] (default PE-Core's 0.5/0.5).
        seed: makes random strategies reproducible (an int or a ``numpy.random.Generator``).
        resize: ``"decoder"`` (resize inside the decoder, fast) or ``"pil"`` (decode at the video's
            size, resize with PIL and normalise as torchvision: the official release's tensors,
            bit for bit); see :mod:`qclip_plugin.preprocessing`.
        preprocessing: a :class:`~qclip_plugin.preprocessing.Preprocessing` record (a model's
            ``model.preprocess``, a metric's ``metric.preprocessing``); when given it supplies
            ``size``, ``mean``, ``std`` and ``resize``.
        test_mode: evaluation behaviour of the sampler (``Mixed`` then uses its fixed
            ``test_strategy``); ``None`` keeps the sampler's own setting.
        profile_size: decoding size of the frame-difference profile (MSE strategies).
        cache_dir: profile cache directory; ``None`` = ``$QCLIP_CACHE_DIR/frame_difference``
            (or ``~/.cache/qclip_plugin/...``), ``False`` = no cache.
        retain_bytes: when a profile must be computed, decoded frames kept (up to this many
            bytes) so the sampled ones need no second decode; ``0`` decodes them again.
        normalize: ``False`` returns the frames as ``uint8 (num_frames, 3, H, W)`` (resized,
            ``mean``/``std`` unused), for data-loader workers to send 4x fewer bytes;
            ``Preprocessing.normalize`` (or :func:`normalize_frames` with the mode's arithmetic)
            then gives exactly the float32 frames of ``True``.
        reader_options: for :func:`qclip_plugin.video.open_video` (``yuv_geometry``,
            ``yuv_fps``, ``backend``, ``guard``, ``threads``; ``threads`` defaults to
            :func:`decoder_threads`: one per core in this process, fewer in DataLoader workers).

    Raises:
        VideoReadError: the file is missing, empty, truncated, corrupt or has no decodable frame.
    """
    size, mean, std, resize = _options(size, mean, std, resize, preprocessing)
    frames, _, _ = sample_video(
        path,
        num_frames,
        sampler,
        size if resize == "decoder" else None,
        seed=seed,
        test_mode=test_mode,
        profile_size=profile_size,
        cache_dir=cache_dir,
        retain_bytes=retain_bytes,
        **reader_options,
    )
    return _finish(frames, size, mean, std, resize, normalize)


def load_frames(
    path: str | os.PathLike,
    indices: Sequence[int] | np.ndarray,
    size: int | Sequence[int] | None = DEFAULT_SIZE,
    mean: Sequence[float] = PE_MEAN,
    std: Sequence[float] = PE_STD,
    *,
    resize: str = "decoder",
    preprocessing: Preprocessing | None = None,
    **reader_options: Any,
) -> torch.Tensor:
    """The frames at already chosen ``indices`` as a normalised float32 ``(len(indices), 3, H, W)``
    (arguments as in :func:`load_video`)."""
    size, mean, std, resize = _options(size, mean, std, resize, preprocessing)
    with open_video(path, size=size if resize == "decoder" else None, **reader_options) as reader:
        return _finish(reader.get_batch(indices), size, mean, std, resize, True)


@TRANSFORMS.register_module()
class LoadVideoFrames:
    """mmengine data-pipeline step: ``results['filename']`` -> ``results['inputs']`` (``(N, 3, H, W)``).

    Config: ``dict(type='LoadVideoFrames', num_frames=8, sampler='UNISampl')``; ``size``, ``mean``,
    ``std`` and ``resize`` are those of :func:`load_video` (the benchmark protocols fill them in from
    the model's preprocessing record, so configs do not state them). Per sample it also reads the
    optional keys ``seed``, ``test_mode``, ``name`` and ``yuv_geometry``, and writes ``frame_inds``
    (int64), ``total_frames`` and ``img_shape`` (mmaction2's names).

    Outside training (``test_mode``) random strategies draw from a per-video seed,
    :func:`~qclip_plugin.sampling.video_seed` of ``seed`` (the run's seed; ``None`` counts as 0)
    and the video's ``name`` (its path if it has none), so validation and test scores do not
    change from run to run; a ``seed`` in the sample itself is used as is. In training, draws are
    fresh unless ``seed`` is given.

    ``normalize=False`` leaves ``inputs`` as ``uint8 (N, 3, H, W)``: DataLoader workers then send
    a quarter of the bytes, and ``QCLIPVQAModel`` normalises them on its device with its
    preprocessing record (bit-identical to ``normalize=True`` with the same record).
    """

    def __init__(
        self,
        num_frames: int = 8,
        sampler: str | dict | FrameSampler = "UNISampl",
        size: int | Sequence[int] | None = DEFAULT_SIZE,
        mean: Sequence[float] = PE_MEAN,
        std: Sequence[float] = PE_STD,
        seed: int | None = None,
        test_mode: bool = False,
        profile_size: int | Sequence[int] = PROFILE_SIZE,
        cache_dir: str | os.PathLike | None | bool = None,
        normalize: bool = True,
        resize: str = "decoder",
        **reader_options: Any,
    ) -> None:
        self.num_frames = int(num_frames)
        self.sampler = build_sampler(sampler, test_mode=test_mode)
        self.size, self.mean, self.std, self.resize = _options(size, mean, std, resize, None)
        self.seed = seed
        self.test_mode = bool(test_mode)
        self.profile_size = as_size(profile_size)
        self.cache_dir = cache_dir
        self.normalize = bool(normalize)
        self.reader_options = reader_options
        import_decoders()  # built in the main process: DataLoader workers inherit the imports

    def __call__(self, results: dict) -> dict:
        return self.transform(results)

    def _seed(self, results: dict, test_mode: bool) -> int | None:
        if results.get("seed") is not None:
            return results["seed"]
        if test_mode:
            return video_seed(self.seed, str(results.get("name") or results["filename"]))
        return self.seed

    def transform(self, results: dict) -> dict:
        if "filename" not in results:
            raise KeyError(
                f"LoadVideoFrames needs results['filename'] (the video path); got keys {sorted(results)}"
            )
        options = dict(self.reader_options)
        if results.get("yuv_geometry") is not None:
            options["yuv_geometry"] = results["yuv_geometry"]
        test_mode = bool(results.get("test_mode", self.test_mode))
        frames, indices, total = sample_video(
            results["filename"],
            self.num_frames,
            self.sampler,
            self.size if self.resize == "decoder" else None,
            seed=self._seed(results, test_mode),
            test_mode=test_mode,
            profile_size=self.profile_size,
            cache_dir=self.cache_dir,
            **options,
        )
        results["inputs"] = _finish(frames, self.size, self.mean, self.std, self.resize, self.normalize)
        results["frame_inds"] = indices
        results["total_frames"] = total
        results["img_shape"] = tuple(results["inputs"].shape[-2:])
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_frames={self.num_frames}, sampler={self.sampler!r}, size={self.size}, "
            f"resize={self.resize!r}, mean={self.mean}, std={self.std}, seed={self.seed}, "
            f"test_mode={self.test_mode}, normalize={self.normalize})"
        )
