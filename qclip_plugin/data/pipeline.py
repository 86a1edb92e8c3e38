"""Video file -> sampled, resized, normalised frames tensor: :func:`load_video` and its
mmengine pipeline step :class:`LoadVideoFrames`.

Frames are decoded directly at the target size (squash resize, bilinear, inside the
decoder), then converted once from ``uint8 (N, H, W, 3)`` to float32 ``(N, 3, H, W)`` with
``(x / 255 − mean) / std`` folded into one multiply and one subtract.

Data loaders with worker processes should move the frames as ``uint8`` (``normalize=False``)
and normalise where they are consumed (:func:`normalize_frames`: in the scoring loop, in
``QCLIPVQAModel`` on its device): a float32 frame is 4x the bytes to copy between processes,
and the result is bit-identical either way.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from qclip_plugin.normalization import affine, normalize_uint8
from qclip_plugin.registry import TRANSFORMS
from qclip_plugin.sampling import (
    DEFAULT_RETAIN_BYTES,
    PROFILE_SIZE,
    FrameSampler,
    build_sampler,
    cached_profile,
    frame_difference_profile,
    note_cache_hit,
    profile_single_pass,
    store_profile,
)
from qclip_plugin.video import as_size, open_video
from qclip_plugin.video.open import YUV_SUFFIXES

#: Perception Encoder (PE-Core) normalisation, the default backbone's (DESIGN.md §1).
PE_MEAN = (0.5, 0.5, 0.5)
PE_STD = (0.5, 0.5, 0.5)
DEFAULT_SIZE = (336, 336)


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


def normalize_frames(
    frames: torch.Tensor | Sequence[torch.Tensor],
    mean: Sequence[float] = PE_MEAN,
    std: Sequence[float] = PE_STD,
) -> torch.Tensor:
    """``uint8 (..., 3, H, W)`` frames -> normalised float32 ``(x / 255 − mean) / std``.

    ``frames`` is one tensor, or a list of same-shape tensors (e.g. the ``load_video(...,
    normalize=False)`` outputs of a batch), stacked into the result in the same pass. Bit-identical
    to :func:`frames_to_tensor` (so to ``load_video``): the same float32 scale and shift, one
    multiply then one subtract; any strides (the permuted views ``load_video`` returns) are read
    in place. CPU tensors are computed with numpy (see :func:`frames_to_tensor`), others with
    torch on their device. Float frames are taken as normalised already and returned unchanged.
    """
    items = [frames] if isinstance(frames, torch.Tensor) else list(frames)
    if not items:
        raise ValueError("no frames to normalise")
    if all(x.is_floating_point() for x in items):
        return frames if isinstance(frames, torch.Tensor) else torch.stack(items)
    shapes = {tuple(x.shape) for x in items}
    if any(x.dtype != torch.uint8 for x in items):
        raise TypeError(
            f"frames to normalise must be uint8 in [0, 255], got {sorted({str(x.dtype) for x in items})}"
        )
    if len(shapes) != 1:
        raise ValueError(f"frames to normalise together must have one shape, got {sorted(shapes)}")
    shape = shapes.pop()
    if len(shape) < 3 or shape[-3] != 3:
        raise ValueError(f"frames must be (..., 3, H, W), got shape {shape}")
    lead = () if isinstance(frames, torch.Tensor) else (len(items),)
    if items[0].device.type != "cpu":
        return normalize_uint8(items[0] if not lead else torch.stack(items), mean, std)
    scale, shift = affine(mean, std, 255.0)
    scale, shift = scale.reshape(3, 1, 1), shift.reshape(3, 1, 1)
    out = np.empty(lead + shape, np.float32)
    for i, x in enumerate(items):
        target = out if not lead else out[i]
        np.multiply(x.numpy(), scale, out=target, casting="unsafe")
        target -= shift
    return torch.from_numpy(out)


def frames_to_tensor(
    frames: np.ndarray | torch.Tensor,
    *,
    size: int | Sequence[int] | None = None,
    mean: Sequence[float] = PE_MEAN,
    std: Sequence[float] = PE_STD,
) -> torch.Tensor:
    """In-memory frames ``(T, H, W, 3)`` -> normalised float32 ``(T, 3, h, w)``.

    ``frames`` are ``uint8`` in [0, 255] or floating point in [0, 1], numpy or torch (CPU). With
    ``size`` they are squash-resized bilinearly (``torch`` with antialiasing; the file readers
    resize in FFmpeg instead, so the two differ by rounding, ~1 grey level).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {tuple(frames.shape)}")
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu()
        frames = frames.numpy() if frames.dtype != torch.bfloat16 else frames.float().numpy()
    if frames.dtype == np.uint8:
        value_range = 255.0
    elif np.issubdtype(frames.dtype, np.floating):
        value_range = 1.0
    else:
        raise TypeError(f"frames must be uint8 in [0, 255] or float in [0, 1], got {frames.dtype}")
    scale, shift = affine(mean, std, value_range)
    x = frames.transpose(0, 3, 1, 2)
    out_size = as_size(size)
    if out_size is not None and tuple(x.shape[-2:]) != out_size:
        resized = F.interpolate(
            torch.from_numpy(x.astype(np.float32)),
            size=out_size,
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        x = resized.numpy()
    # One pass converting and reordering (NHWC -> NCHW), one in place; numpy, not torch: torch's
    # intra-op threads made this 10x slower on a busy machine (benchmarks/bench_loading.py).
    out = np.empty(x.shape, np.float32)
    np.multiply(x, scale, out=out, casting="unsafe")
    out -= shift
    return torch.from_numpy(out)


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
    path = Path(path)
    cache_dir = None if cache_dir is True else cache_dir
    if not strategy.needs_profile:
        with open_video(path, size=size, **reader_options) as reader:
            indices = strategy(reader.num_frames, num_frames, rng=rng)
            return reader.get_batch(indices), indices, reader.num_frames

    profile_size = as_size(profile_size)
    single_pass_ok = (
        reader_options.get("backend", "auto") in ("auto", "pyav")
        and retain_bytes > 0
        and path.suffix.lower() not in YUV_SUFFIXES
    )
    cached = (
        None
        if cache_dir is False
        else cached_profile(path, profile_size, cache_dir=cache_dir, **reader_options)
    )
    if cached is not None:
        note_cache_hit()  # once profiles keep coming from the cache, the first-pass buffer goes
    elif single_pass_ok:
        # First pass: one PyAV decode gives the profile and keeps the frames, no decord at all.
        profile, kept = profile_single_pass(
            path, size=profile_size, keep_size=as_size(size), max_bytes=retain_bytes, cache_dir=cache_dir
        )
        indices = strategy(len(profile), num_frames, profile=profile, rng=rng)
        if kept is not None:
            return kept.get_batch(indices), indices, len(profile)
        cached = profile
    with open_video(path, size=size, **reader_options) as reader:
        if cached is None or len(cached) != reader.num_frames:
            # Not cached, or computed by a decoder that counted frames differently: this reader decides.
            source = reader if reader.size == profile_size else path
            cached = frame_difference_profile(source, size=profile_size, cache_dir=False, **reader_options)
            if cache_dir is not False:
                store_profile(path, profile_size, cached, cache_dir=cache_dir, **reader_options)
        indices = strategy(reader.num_frames, num_frames, profile=cached, rng=rng)
        return reader.get_batch(indices), indices, reader.num_frames


def load_video(
    path: str | os.PathLike,
    num_frames: int = 8,
    sampler: str | dict | FrameSampler = "UNISampl",
    size: int | Sequence[int] | None = DEFAULT_SIZE,
    mean: Sequence[float] = PE_MEAN,
    std: Sequence[float] = PE_STD,
    seed: int | np.random.Generator | None = None,
    *,
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
        size: ``(height, width)`` after the squash resize (bilinear, in the decoder); ``None``
            keeps the video's size.
        mean, std: per-channel normalisation of values in [0, 1] (default PE-Core's 0.5/0.5).
        seed: makes random strategies reproducible (an int or a ``numpy.random.Generator``).
        test_mode: evaluation behaviour of the sampler (``Mixed`` then uses its fixed
            ``test_strategy``); ``None`` keeps the sampler's own setting.
        profile_size: decoding size of the frame-difference profile (MSE strategies).
        cache_dir: profile cache directory; ``None`` = ``$QCLIP_CACHE_DIR/frame_difference``
            (or ``~/.cache/qclip_plugin/...``), ``False`` = no cache.
        retain_bytes: when a profile must be computed, decoded frames kept (up to this many
            bytes) so the sampled ones need no second decode; ``0`` decodes them again.
        normalize: ``False`` returns the frames as ``uint8 (num_frames, 3, H, W)`` (a view of the
            decoder's output, ``mean``/``std`` unused), for data-loader workers to send 4x fewer
            bytes; :func:`normalize_frames` then gives exactly the float32 frames of ``True``.
        reader_options: for :func:`qclip_plugin.video.open_video` (``yuv_geometry``,
            ``yuv_fps``, ``backend``, ``guard``, ``threads``; ``threads`` defaults to
            :func:`decoder_threads`: one per core in this process, fewer in DataLoader workers).

    Raises:
        VideoReadError: the file is missing, empty, truncated, corrupt or has no decodable frame.
    """
    frames, _, _ = sample_video(
        path,
        num_frames,
        sampler,
        size,
        seed=seed,
        test_mode=test_mode,
        profile_size=profile_size,
        cache_dir=cache_dir,
        retain_bytes=retain_bytes,
        **reader_options,
    )
    if not normalize:
        return torch.from_numpy(frames).permute(0, 3, 1, 2)
    return frames_to_tensor(frames, mean=mean, std=std)


def load_frames(
    path: str | os.PathLike,
    indices: Sequence[int] | np.ndarray,
    size: int | Sequence[int] | None = DEFAULT_SIZE,
    mean: Sequence[float] = PE_MEAN,
    std: Sequence[float] = PE_STD,
    **reader_options: Any,
) -> torch.Tensor:
    """The frames at already chosen ``indices`` as a normalised float32 ``(len(indices), 3, H, W)``."""
    with open_video(path, size=size, **reader_options) as reader:
        return frames_to_tensor(reader.get_batch(indices), mean=mean, std=std)


@TRANSFORMS.register_module()
class LoadVideoFrames:
    """mmengine data-pipeline step: ``results['filename']`` -> ``results['inputs']`` (``(N, 3, H, W)``).

    Config: ``dict(type='LoadVideoFrames', num_frames=8, sampler='UNISampl', size=(336, 336))``.
    Per sample it also reads the optional keys ``seed``, ``test_mode`` and ``yuv_geometry``, and
    writes ``frame_inds`` (int64), ``total_frames`` and ``img_shape`` (mmaction2's names).

    ``normalize=False`` leaves ``inputs`` as ``uint8 (N, 3, H, W)``: DataLoader workers then send
    a quarter of the bytes, and ``QCLIPVQAModel`` normalises them on its device with its
    backbone's mean/std (bit-identical to ``normalize=True`` with the same mean/std).
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
        **reader_options: Any,
    ) -> None:
        self.num_frames = int(num_frames)
        self.sampler = build_sampler(sampler, test_mode=test_mode)
        self.size = as_size(size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.seed = seed
        self.test_mode = bool(test_mode)
        self.profile_size = as_size(profile_size)
        self.cache_dir = cache_dir
        self.normalize = bool(normalize)
        self.reader_options = reader_options
        import_decoders()  # built in the main process: DataLoader workers inherit the imports

    def __call__(self, results: dict) -> dict:
        return self.transform(results)

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
            self.size,
            seed=results.get("seed", self.seed),
            test_mode=test_mode,
            profile_size=self.profile_size,
            cache_dir=self.cache_dir,
            **options,
        )
        if self.normalize:
            results["inputs"] = frames_to_tensor(frames, mean=self.mean, std=self.std)
        else:
            results["inputs"] = torch.from_numpy(frames).permute(0, 3, 1, 2)
        results["frame_inds"] = indices
        results["total_frames"] = total
        results["img_shape"] = tuple(frames.shape[1:3])
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_frames={self.num_frames}, sampler={self.sampler!r}, size={self.size}, "
            f"mean={self.mean}, std={self.std}, seed={self.seed}, test_mode={self.test_mode}, "
            f"normalize={self.normalize})"
        )
