"""Frame-difference profile (paper eq. 13), computed at reduced resolution and cached.

``m_t = ½ (MSE(v_t, v_{t+1}) + MSE(v_t, v_{t-1}))`` with
``MSE(a, b) = 1/(H·W·3) Σ_p (a_p − b_p)²`` over RGB values in [0, 255]; the first and
last frames have one neighbour, so their ``m_t`` is the MSE to it (the printed eq. 13
misplaces its parenthesis; the text and DESIGN.md §3 give the mean of the two terms).

Computing the profile decodes every frame, so it runs at a reduced size (default
112×112, decoded at that size by decord) and is cached on disk per video. The cache key
is the absolute path, the file's size and mtime, the profile size and the reader options;
editing or replacing a video therefore invalidates its entry. Entries are written to a
temporary file and renamed, so concurrent DataLoader workers never read a partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import av
import numpy as np

from qclip_plugin.atomic_files import atomic_write
from qclip_plugin.cache import cache_dir as user_cache_dir
from qclip_plugin.video import VideoReader, VideoReadError, open_video
from qclip_plugin.video.guard import check_file
from qclip_plugin.video.pyav_reader import PyAVReader, RGBConverter, display_rotation
from qclip_plugin.video.reader import DEFAULT_CHUNK, as_size

#: Decoding size for the profile: motion shows at 112 px and the decode stays cheap.
PROFILE_SIZE = (112, 112)
#: Bumped whenever the computation changes, so old cache entries are ignored.
PROFILE_VERSION = 1
CACHE_SUBDIR = "frame_difference"


def consecutive_mse(frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """``MSE(v_t, v_{t+1})`` for consecutive ``uint8 (n, H, W, 3)`` frames (exact integer sums).

    With ``previous`` (the frame before ``frames[0]``), the first value compares it with ``frames[0]``.
    """
    if previous is not None:
        frames = np.concatenate([previous[None], frames])
    if len(frames) < 2:
        return np.empty(0, np.float64)
    flat = frames.reshape(len(frames), -1)
    # One pass to int16 differences; squares summed in int64 (255² · H·W·3 overflows int32).
    diff = np.subtract(flat[1:], flat[:-1], dtype=np.int16)
    sse = np.einsum("ij,ij->i", diff, diff, dtype=np.int64)
    return sse / diff.shape[1]


def profile_from_differences(d: np.ndarray) -> np.ndarray:
    """Eq. 13 from the ``T−1`` consecutive MSEs ``d_t = MSE(v_t, v_{t+1})``: ``T`` values ``m_t``."""
    d = np.asarray(d, np.float64)
    if d.size == 0:
        return np.zeros(1, np.float64)
    m = np.empty(d.size + 1, np.float64)
    m[0], m[-1] = d[0], d[-1]
    m[1:-1] = 0.5 * (d[:-1] + d[1:])
    return m


def compute_profile(reader: VideoReader) -> np.ndarray:
    """Eq. 13 over every frame ``reader`` yields (at the reader's size), uncached."""
    return _profile(reader)


def _profile(reader: VideoReader) -> np.ndarray:
    diffs: list[np.ndarray] = []
    last = None
    count = 0
    for chunk in reader.iter_chunks():
        diffs.append(consecutive_mse(chunk, last))
        last = chunk[-1]
        count += len(chunk)
    d = np.concatenate(diffs) if diffs else np.empty(0)
    m = profile_from_differences(d)
    assert m.size == max(count, 1)
    return m


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


def _load(entry: Path) -> np.ndarray | None:
    try:
        m = np.load(entry, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None  # absent, or damaged by something outside us: recompute
    return m if m.ndim == 1 and m.dtype == np.float64 and m.size else None


def _store(entry: Path, m: np.ndarray) -> None:
    atomic_write(entry, lambda handle: np.save(handle, m), mode="wb")


def _cache_entry(path: Path, size: tuple[int, int], cache_dir, options: dict) -> Path | None:
    if cache_dir is False:
        return None
    check_file(path)  # a missing file is a VideoReadError, not a cache miss
    return cache_path(path, size, cache_dir or None, options)


def cached_profile(path: str | os.PathLike, size: int | Sequence[int] = PROFILE_SIZE, *,
                   cache_dir: str | os.PathLike | None = None, **reader_options) -> np.ndarray | None:
    """The cached profile of ``path`` at ``size``, or ``None`` (nothing decoded)."""
    entry = _cache_entry(Path(path), as_size(size), cache_dir, _key_options(reader_options))
    return _load(entry)


def store_profile(path: str | os.PathLike, size: int | Sequence[int], profile: np.ndarray, *,
                  cache_dir: str | os.PathLike | None = None, **reader_options) -> Path:
    """Write ``profile`` as the cached profile of ``path`` at ``size`` (atomically); return the entry."""
    entry = _cache_entry(Path(path), as_size(size), cache_dir, _key_options(reader_options))
    _store(entry, np.asarray(profile, np.float64))
    return entry


def _key_options(reader_options: dict) -> dict:
    # Only options that change the decoded pixels belong in the key.
    return {k: v for k, v in reader_options.items() if k in ("yuv_geometry", "yuv_fps")}


def frame_difference_profile(
    video: str | os.PathLike | VideoReader,
    *,
    size: int | Sequence[int] = PROFILE_SIZE,
    cache_dir: str | os.PathLike | None | Literal[False] = None,
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
    entry = _cache_entry(path, out_size, cache_dir, _key_options(reader_options))
    if entry is not None and (cached := _load(entry)) is not None:
        return cached
    if reader is None:
        with open_video(path, size=out_size, **reader_options) as opened:
            m = compute_profile(opened)
    else:
        m = compute_profile(reader)
    if entry is not None:
        _store(entry, m)
    return m


#: Decoded frames kept at most in one profile pass (native YUV); beyond it they are dropped
#: and the sampled frames are decoded again instead.
DEFAULT_RETAIN_BYTES = 512 * 2**20

# One reusable buffer per thread for kept frames: writing into memory already mapped costs a
# copy, where keeping FFmpeg's frames would cost fresh pages for every frame of every video.
_ARENA = threading.local()
_PACKED_FORMATS = ("yuv420p", "yuvj420p")
_COLOR_TAGS = ("colorspace", "color_range", "color_primaries", "color_trc")


def _arena(nbytes: int) -> tuple[np.ndarray, int]:
    _ARENA.idle = 0
    buf = getattr(_ARENA, "buf", None)
    if buf is None or buf.size < nbytes:
        buf = _ARENA.buf = np.empty(nbytes, np.uint8)
    _ARENA.generation = getattr(_ARENA, "generation", 0) + 1
    return buf, _ARENA.generation


def free_frame_arena() -> None:
    """Release this thread's buffer of kept frames (it is otherwise reused by the next video)."""
    _ARENA.buf = None
    _ARENA.idle = 0


#: Cache hits in a row after which ``load_video`` releases the buffer (the first epoch is over);
#: fewer would free and re-map it between every uncached video of a partly cached dataset.
ARENA_IDLE_HITS = 32


def note_cache_hit() -> None:
    """Count a profile served from the cache; release the buffer after ``ARENA_IDLE_HITS`` in a row."""
    _ARENA.idle = getattr(_ARENA, "idle", 0) + 1
    if _ARENA.idle >= ARENA_IDLE_HITS:
        free_frame_arena()


class RetainedFrames:
    """Decoded frames kept during a profile pass; ``get_batch`` converts only the ones asked for,
    through the same FFmpeg chain as the readers (so the pixels equal ``reader.get_batch``'s).

    8-bit 4:2:0 frames are copied into a per-thread buffer, valid until the next profile pass
    in the same thread; other pixel formats are kept as decoded frames.
    """

    def __init__(self, size: tuple[int, int] | None, num_frames: int, frame_size: tuple[int, int],
                 max_bytes: int) -> None:
        self._convert = RGBConverter(size)
        self._items: list = []
        self._max_bytes = max_bytes
        self._bytes = 0
        height, width = frame_size
        self._frame_bytes = height * width * 3 // 2
        self._geometry = (height, width)
        packed = height % 2 == 0 and width % 2 == 0 and num_frames * self._frame_bytes <= max_bytes
        self._arena, self._generation = _arena(num_frames * self._frame_bytes) if packed else (None, 0)
        self._capacity = num_frames if packed else 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, frame: av.VideoFrame) -> bool:
        """Keep ``frame``; ``False`` (and nothing kept) once the byte budget is exceeded."""
        height, width = self._geometry
        i = len(self._items)
        if (self._arena is not None and i < self._capacity and frame.format.name in _PACKED_FORMATS
                and (frame.height, frame.width) == (height, width)):
            base = i * self._frame_bytes
            for plane, (h, w) in zip(frame.planes, ((height, width), (height // 2, width // 2),
                                                    (height // 2, width // 2)), strict=True):
                src = np.frombuffer(plane, np.uint8).reshape(h, plane.line_size)[:, :w]
                self._arena[base:base + h * w].reshape(h, w)[:] = src
                base += h * w
            tags = {k: getattr(frame, k) for k in _COLOR_TAGS}
            tags["rotation"] = display_rotation(frame)  # side data does not survive the copy
            self._items.append((i * self._frame_bytes, frame.format.name, tags))
            return True
        self._bytes += sum(plane.buffer_size for plane in frame.planes)
        if self._bytes > self._max_bytes:
            self._items.clear()
            return False
        self._items.append(frame)
        return True

    def _frame(self, i: int) -> tuple[av.VideoFrame, int | None]:
        item = self._items[i]
        if isinstance(item, av.VideoFrame):
            return item, None
        if getattr(_ARENA, "generation", 0) != self._generation:
            raise RuntimeError("these kept frames were overwritten by a later profile pass in this thread")
        offset, fmt, tags = item
        height, width = self._geometry
        raw = self._arena[offset:offset + self._frame_bytes].reshape(height * 3 // 2, width)
        frame = av.VideoFrame.from_ndarray(raw, format=fmt)
        for key in _COLOR_TAGS:
            setattr(frame, key, tags[key])
        return frame, tags["rotation"]

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.stack([self._convert(*self._frame(i)) for i in np.asarray(indices, np.int64).tolist()])


#: Decoded frames waiting for the converting thread in :func:`profile_single_pass` at most; each
#: holds a decoder buffer, so a long queue only makes the decoder allocate more of them.
QUEUE_FRAMES = 8


class _ProfileWorker(threading.Thread):
    """The per-frame work of a profile pass, in its own thread: ``size`` RGB conversion, eq. 13
    a chunk at a time, and keeping the decoded frame. FFmpeg's scaler and numpy release the GIL,
    so this overlaps with the decoding thread instead of waiting for it.
    """

    def __init__(self, size: tuple[int, int], kept: RetainedFrames | None) -> None:
        super().__init__(name="qclip-profile", daemon=True)
        self.queue: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.kept = kept
        self.count = 0
        self.error: BaseException | None = None
        self._ended = False  # the end marker was taken from the queue
        self._size = size
        self._diffs: list[np.ndarray] = []

    def run(self) -> None:
        try:
            self._work()
        except BaseException as err:  # re-raised in the caller's thread
            self.error = err
            while not self._ended and self.queue.get() is not None:
                pass  # drain, so the decoding thread never blocks on a full queue

    def _work(self) -> None:
        convert = RGBConverter(self._size)
        chunk = np.empty((DEFAULT_CHUNK, *self._size, 3), np.uint8)
        last = None
        fill = 0
        while (frame := self.queue.get()) is not None:
            chunk[fill] = convert(frame)
            fill += 1
            self.count += 1
            if fill == DEFAULT_CHUNK:  # eq. 13 a chunk at a time: vectorised, bounded memory
                self._diffs.append(consecutive_mse(chunk, last))
                last, fill = chunk[-1].copy(), 0
            if self.kept is not None and not self.kept.add(frame):
                self.kept = None
        self._ended = True
        if fill:
            self._diffs.append(consecutive_mse(chunk[:fill], last))

    def differences(self) -> np.ndarray:
        return np.concatenate(self._diffs) if self._diffs else np.empty(0)


def profile_single_pass(
    path: str | os.PathLike,
    *,
    size: int | Sequence[int] = PROFILE_SIZE,
    keep_size: int | Sequence[int] | None = None,
    max_bytes: int = DEFAULT_RETAIN_BYTES,
    cache_dir: str | os.PathLike | None | Literal[False] = None,
    expected_frames: int | None = None,
    threads: int | bool = 0,
) -> tuple[np.ndarray, RetainedFrames | None]:
    """Compute (and cache) the profile while keeping the decoded frames, so the frames a
    strategy then picks need no second decode.

    Every frame is decoded once (PyAV); its ``size`` RGB version feeds eq. 13 and the decoded
    frame itself is kept while the total stays under ``max_bytes`` (nothing is kept when the
    video's frames cannot fit in it). Returns the profile and
    the kept frames (``None`` if they did not fit), which convert to ``keep_size`` on demand.
    The profile is identical to :func:`frame_difference_profile`'s (same FFmpeg chain).
    Decoding runs in the calling thread, on one decoder thread (deterministic, damage reported), the
    per-frame work in a second one.

    If PyAV decodes another number of frames than ``expected_frames`` (the count of the reader
    the caller samples with; default the container's), the profile is computed the usual
    way instead and no frames are kept. Damage the decode reports (:mod:`qclip_plugin.video.damage`)
    raises :class:`~qclip_plugin.video.VideoReadError`.
    """
    path, out_size = Path(path), as_size(size)
    entry = _cache_entry(path, out_size, cache_dir, {})
    reader = PyAVReader(path, out_size, threads=threads or True)
    expected = expected_frames or reader.num_frames
    frame_size = (reader.source_height, reader.source_width)
    # Keep nothing when the frames cannot fit (8-bit 4:2:0 is the smallest they come): a 4K clip
    # would fill the budget for nothing, then drop it (peak RSS +300 MB for a 20 s 4K clip).
    fits = expected * (frame_size[0] * frame_size[1] * 3 // 2) <= max_bytes
    kept = RetainedFrames(as_size(keep_size), expected, frame_size, max_bytes) if fits else None
    worker = _ProfileWorker(out_size, kept)
    worker.start()
    frames = reader.decode_raw()
    damage = None
    try:
        for frame in frames:
            if worker.error is not None:
                break
            worker.queue.put(frame)
    except VideoReadError as err:
        damage = err
    finally:
        frames.close()
        worker.queue.put(None)
        worker.join()
        reader.close()
    if worker.error is not None:
        raise worker.error
    if damage is not None:
        raise damage
    if worker.count != expected:
        return frame_difference_profile(path, size=out_size, cache_dir=cache_dir, threads=threads), None
    m = profile_from_differences(worker.differences())
    if entry is not None:
        _store(entry, m)
    return m, worker.kept
