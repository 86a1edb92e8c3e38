"""The profile cache and its policy: when a video's frame-difference profile (eq. 13,
:mod:`qclip_plugin.sampling.frame_difference`) is read from disk, computed, and written.

The policy, all of it here:

* ``cache_dir=False`` reads and writes nothing; ``None`` is ``$QCLIP_CACHE_DIR/frame_difference``.
* An entry is looked up before anything is decoded. A missing video is a
  :class:`~qclip_plugin.video.VideoReadError`, not a miss; an unreadable entry is a miss.
* A profile computed on a miss is written at once, atomically (temporary file + rename), so
  concurrent DataLoader workers never read a partial file.
* When a sampler needs a profile and there is no entry, one PyAV pass computes it and keeps the
  decoded frames (:func:`qclip_plugin.video.single_pass.decode_single_pass`), so the sampled
  frames need no second decode; when the reader that samples counts another number of frames
  than the profile holds, that reader's decode replaces the entry.

An entry is named by the video's absolute path, file size and mtime, the profile size and the
reader options that change the decoded pixels; editing or replacing a video therefore invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from qclip_plugin.atomic_files import atomic_write
from qclip_plugin.cache import cache_dir as user_cache_dir
from qclip_plugin.sampling.frame_difference import PROFILE_SIZE, ProfileAccumulator, compute_profile
from qclip_plugin.video import VideoReader, as_size, open_video
from qclip_plugin.video.guard import check_file
from qclip_plugin.video.single_pass import (
    DEFAULT_RETAIN_BYTES,
    RetainedFrames,
    decode_single_pass,
    note_pass_skipped,
)

#: Bumped whenever the computation changes, so old cache entries are ignored.
PROFILE_VERSION = 1
CACHE_SUBDIR = "frame_difference"

CacheDir = str | os.PathLike | None | Literal[False]


def cache_key(path: str | os.PathLike, size: tuple[int, int], options: dict | None = None) -> str:
    """Hex digest naming a video's profile: absolute path, file size, mtime, size, options."""
    path = Path(path).resolve()
    stat = path.stat()
    fields = {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "size": list(size),
              "options": options or {}, "version": PROFILE_VERSION}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cache_path(path: str | os.PathLike, size: tuple[int, int], cache_dir: str | os.PathLike | None = None,
               options: dict | None = None) -> Path:
    """Where the profile of ``path`` at ``size`` is (or would be) cached."""
    root = Path(cache_dir) if cache_dir is not None else user_cache_dir(CACHE_SUBDIR)
    return root / f"{Path(path).stem[:48]}-{cache_key(path, size, options)}.npy"


def _key_options(reader_options: dict) -> dict:
    # Only options that change the decoded pixels belong in the key.
    return {k: v for k, v in reader_options.items() if k in ("yuv_geometry", "yuv_fps")}


class _Cache:
    """The entries of one profile size and set of reader options under ``cache_dir`` (``False``: none)."""

    def __init__(self, cache_dir: CacheDir, size: tuple[int, int], reader_options: dict) -> None:
        self.cache_dir = None if cache_dir is True else cache_dir
        self.size = size
        self.options = _key_options(reader_options)

    def entry(self, path: Path) -> Path | None:
        """Where the entry of ``path`` is (``None``: caching is off)."""
        if self.cache_dir is False:
            return None
        check_file(path)  # a missing file is a VideoReadError, not a cache miss
        return cache_path(path, self.size, self.cache_dir or None, self.options)

    def load(self, path: Path, entry: Path | None = None) -> np.ndarray | None:
        """The entry of ``path`` (``entry`` if already known), or ``None``."""
        entry = entry or self.entry(path)
        if entry is None:
            return None
        try:
            m = np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # absent, or damaged by something outside us: recompute
        return m if m.ndim == 1 and m.dtype == np.float64 and m.size else None

    def store(self, path: Path, m: np.ndarray, entry: Path | None = None) -> Path | None:
        """Write ``m`` as the entry of ``path`` (``entry`` if already known); nothing when disabled."""
        entry = entry or self.entry(path)
        if entry is not None:
            atomic_write(entry, lambda handle: np.save(handle, np.asarray(m, np.float64)), mode="wb")
        return entry


def cached_profile(path: str | os.PathLike, size: int | Sequence[int] = PROFILE_SIZE, *,
                   cache_dir: str | os.PathLike | None = None, **reader_options) -> np.ndarray | None:
    """The cached profile of ``path`` at ``size``, or ``None`` (nothing decoded)."""
    return _Cache(cache_dir, as_size(size), reader_options).load(Path(path))


def store_profile(path: str | os.PathLike, size: int | Sequence[int], profile: np.ndarray, *,
                  cache_dir: str | os.PathLike | None = None, **reader_options) -> Path:
    """Write ``profile`` as the cached profile of ``path`` at ``size`` (atomically); return the entry."""
    return _Cache(cache_dir, as_size(size), reader_options).store(Path(path), profile)


def frame_difference_profile(
    video: str | os.PathLike | VideoReader,
    *,
    size: int | Sequence[int] = PROFILE_SIZE,
    cache_dir: CacheDir = None,
    **reader_options,
) -> np.ndarray:
    """Per-frame motion ``m_t`` of eq. 13, ``float64 (T,)``, cached per video.

    Args:
        video: a path (opened at ``size`` with ``reader_options``) or an open reader (used at
            its own size).
        size: ``(height, width)`` the frames are decoded at for the profile.
        cache_dir: where profiles are cached; ``None`` is ``qclip_plugin.cache.cache_dir
            ("frame_difference")`` (``$QCLIP_CACHE_DIR/frame_difference``); ``False`` disables caching.
        reader_options: passed to :func:`qclip_plugin.video.open_video` (``yuv_geometry``, ``backend``, ...).

    Raises:
        VideoReadError: the video cannot be decoded completely.
    """
    if isinstance(video, VideoReader):
        path, out_size, reader = video.path, video.size, video
    else:
        path, out_size, reader = Path(video), as_size(size), None
    cache = _Cache(cache_dir, out_size, reader_options)
    entry = cache.entry(path)
    if entry is not None and (cached := cache.load(path, entry)) is not None:
        return cached
    return _compute(path, reader, cache, entry, reader_options)


def _compute(path: Path, reader: VideoReader | None, cache: _Cache, entry: Path | None,
             reader_options: dict) -> np.ndarray:
    """The profile decoded by ``reader`` (or a reader opened at the cache's size), written to ``entry``."""
    if reader is None:
        with open_video(path, size=cache.size, **reader_options) as opened:
            m = compute_profile(opened)
    else:
        m = compute_profile(reader)
    cache.store(path, m, entry)
    return m


def profile_single_pass(
    path: str | os.PathLike,
    *,
    size: int | Sequence[int] = PROFILE_SIZE,
    keep_size: int | Sequence[int] | None = None,
    max_bytes: int = DEFAULT_RETAIN_BYTES,
    cache_dir: CacheDir = None,
    expected_frames: int | None = None,
    threads: int | bool = 0,
) -> tuple[np.ndarray, RetainedFrames | None]:
    """Compute (and cache) the profile while keeping the decoded frames, so the frames a
    strategy then picks need no second decode (:func:`qclip_plugin.video.single_pass.decode_single_pass`).

    Returns the profile and the kept frames (``None`` if they did not fit in ``max_bytes``), which
    convert to ``keep_size`` on demand. The profile is identical to :func:`frame_difference_profile`'s
    (same FFmpeg chain). If PyAV decodes another number of frames than ``expected_frames`` (the count
    of the reader the caller samples with; default the container's), the profile is computed the
    usual way instead and no frames are kept.
    """
    return _single_pass(Path(path), _Cache(cache_dir, as_size(size), {}), keep_size, max_bytes,
                        expected_frames, threads)


def _single_pass(path: Path, cache: _Cache, keep_size, max_bytes: int, expected_frames: int | None,
                 threads: int | bool) -> tuple[np.ndarray, RetainedFrames | None]:
    entry = cache.entry(path)
    profile = ProfileAccumulator()
    decoded = decode_single_pass(path, cache.size, profile.add, keep_size=keep_size, max_bytes=max_bytes,
                                 expected_frames=expected_frames, threads=threads)
    if not decoded.complete:
        return frame_difference_profile(path, size=cache.size, cache_dir=cache.cache_dir, threads=threads), None
    m = profile.profile()
    cache.store(path, m, entry)
    return m, decoded.kept


def profile_before_sampling(
    path: str | os.PathLike,
    *,
    size: tuple[int, int],
    keep_size: tuple[int, int] | None,
    cache_dir: CacheDir,
    retain_bytes: int,
    single_pass: bool,
    **reader_options,
) -> tuple[np.ndarray | None, RetainedFrames | None]:
    """The profile a sampler needs, before any reader is opened: the cached one (nothing decoded);
    else, when ``single_pass``, one PyAV pass that computes and caches it and keeps the decoded
    frames (``None`` if they did not fit); else ``(None, None)``: :func:`profile_for_reader` decides."""
    path, cache = Path(path), _Cache(cache_dir, size, reader_options)
    cached = cache.load(path)
    if cached is not None:
        note_pass_skipped()  # once profiles keep coming from the cache, the pass's frame buffer goes
        return cached, None
    if not single_pass:
        return None, None
    # The pass reads container files only, whose pixels no reader option changes: keyed without them,
    # as profile_single_pass (a raw-YUV option given for such a file would miss this entry).
    return _single_pass(path, _Cache(cache_dir, size, {}), keep_size, retain_bytes, None, 0)


def profile_for_reader(reader: VideoReader, profile: np.ndarray | None, *, size: tuple[int, int],
                       cache_dir: CacheDir, **reader_options) -> np.ndarray:
    """``profile`` if it has one value per frame of ``reader`` (the reader that samples), else the
    profile decoded by that reader's backend (``reader`` itself when it decodes at ``size``), which
    replaces the cache entry."""
    if profile is not None and len(profile) == reader.num_frames:
        return profile
    # Not cached, or computed by a decoder that counted frames differently: this reader decides.
    cache = _Cache(cache_dir, size, reader_options)
    return _compute(reader.path, reader if reader.size == size else None, cache, cache.entry(reader.path),
                    reader_options)
