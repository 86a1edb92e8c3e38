"""One decode of a whole video for two uses: a reduced-size RGB stream (what the frame-difference
profile of :mod:`qclip_plugin.sampling.frame_difference` is computed from) and the decoded frames
themselves, kept so that the few a sampler then picks need no second decode.

:func:`decode_single_pass` decodes every frame once with PyAV on one decoder thread (deterministic,
damage reported, :mod:`qclip_plugin.video.damage`); the per-frame work (the reduced-size conversion,
the caller's consumer, keeping the frame) runs in a second thread, overlapping with the decoding.
Kept frames convert through the readers' FFmpeg chain (:class:`~qclip_plugin.video.ffmpeg.RGBConverter`),
so their pixels equal ``reader.get_batch``'s.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

from qclip_plugin.video.errors import VideoReadError
from qclip_plugin.video.ffmpeg import RGBConverter, display_rotation
from qclip_plugin.video.pyav_reader import PyAVReader
from qclip_plugin.video.reader import DEFAULT_CHUNK, as_size

__all__ = [
    "ARENA_IDLE_HITS",
    "DEFAULT_RETAIN_BYTES",
    "RetainedFrames",
    "SinglePass",
    "decode_single_pass",
    "free_frame_arena",
    "note_pass_skipped",
]

#: Decoded frames kept at most in one pass (native YUV); beyond it they are dropped
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


#: Videos in a row served without a pass (their profiles came from the cache) after which the
#: buffer is released (the first epoch is over); fewer would free and re-map it between every
#: uncached video of a partly cached dataset.
ARENA_IDLE_HITS = 32


def note_pass_skipped() -> None:
    """Count a video served without a pass; release the buffer after ``ARENA_IDLE_HITS`` in a row."""
    _ARENA.idle = getattr(_ARENA, "idle", 0) + 1
    if _ARENA.idle >= ARENA_IDLE_HITS:
        free_frame_arena()


class RetainedFrames:
    """Decoded frames kept during a pass; ``get_batch`` converts only the ones asked for,
    through the same FFmpeg chain as the readers (so the pixels equal ``reader.get_batch``'s).

    8-bit 4:2:0 frames are copied into a per-thread buffer, valid until the next pass
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
            raise RuntimeError("these kept frames were overwritten by a later single pass in this thread")
        offset, fmt, tags = item
        height, width = self._geometry
        raw = self._arena[offset:offset + self._frame_bytes].reshape(height * 3 // 2, width)
        frame = av.VideoFrame.from_ndarray(raw, format=fmt)
        for key in _COLOR_TAGS:
            setattr(frame, key, tags[key])
        return frame, tags["rotation"]

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.stack([self._convert(*self._frame(i)) for i in np.asarray(indices, np.int64).tolist()])


#: Decoded frames waiting for the converting thread at most; each holds a decoder buffer, so a
#: long queue only makes the decoder allocate more of them.
QUEUE_FRAMES = 8


class _Worker(threading.Thread):
    """The per-frame work of a pass, in its own thread: ``size`` RGB conversion, ``consume`` a chunk
    at a time, and keeping the decoded frame. FFmpeg's scaler and numpy release the GIL, so this
    overlaps with the decoding thread instead of waiting for it.
    """

    def __init__(self, size: tuple[int, int], consume: Callable[[np.ndarray], object],
                 kept: RetainedFrames | None) -> None:
        super().__init__(name="qclip-profile", daemon=True)
        self.queue: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.kept = kept
        self.count = 0
        self.error: BaseException | None = None
        self._ended = False  # the end marker was taken from the queue
        self._size = size
        self._consume = consume

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
        fill = 0
        while (frame := self.queue.get()) is not None:
            chunk[fill] = convert(frame)
            fill += 1
            self.count += 1
            if fill == DEFAULT_CHUNK:  # a chunk at a time: vectorised, bounded memory
                self._consume(chunk)
                fill = 0
            if self.kept is not None and not self.kept.add(frame):
                self.kept = None
        self._ended = True
        if fill:
            self._consume(chunk[:fill])


class SinglePass(NamedTuple):
    """What :func:`decode_single_pass` decoded."""

    #: frames decoded (the reduced-size stream held this many)
    num_frames: int
    #: whether that is the frame count the caller expected
    complete: bool
    #: the decoded frames, converting to ``keep_size`` on demand; ``None`` if they did not fit
    #: or the pass was not ``complete``
    kept: RetainedFrames | None


def decode_single_pass(
    path: str | os.PathLike,
    size: int | Sequence[int],
    consume: Callable[[np.ndarray], object],
    *,
    keep_size: int | Sequence[int] | None = None,
    max_bytes: int = DEFAULT_RETAIN_BYTES,
    expected_frames: int | None = None,
    threads: int | bool = 0,
) -> SinglePass:
    """Decode every frame of ``path`` once: ``consume`` gets the frames at ``size`` and the decoded
    frames are kept (up to ``max_bytes``) for :meth:`RetainedFrames.get_batch` at ``keep_size``.

    ``consume`` is called in a worker thread with consecutive ``uint8 (n, *size, 3)`` chunks, in
    order; a chunk is a view of a reused buffer, valid only during the call. Nothing is kept when
    ``expected_frames`` (default: the container's count) frames cannot fit in ``max_bytes``. A pass
    that decodes another number of frames than ``expected_frames`` is not ``complete`` and keeps no
    frames. Damage the decode reports (:mod:`qclip_plugin.video.damage`) raises
    :class:`~qclip_plugin.video.VideoReadError`; an error raised by ``consume`` is re-raised here.
    """
    out_size = as_size(size)
    reader = PyAVReader(Path(path), out_size, threads=threads or True)
    expected = expected_frames or reader.num_frames
    frame_size = (reader.source_height, reader.source_width)
    # Keep nothing when the frames cannot fit (8-bit 4:2:0 is the smallest they come): a 4K clip
    # would fill the budget for nothing, then drop it (peak RSS +300 MB for a 20 s 4K clip).
    fits = expected * (frame_size[0] * frame_size[1] * 3 // 2) <= max_bytes
    kept = RetainedFrames(as_size(keep_size), expected, frame_size, max_bytes) if fits else None
    worker = _Worker(out_size, consume, kept)
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
    complete = worker.count == expected
    return SinglePass(worker.count, complete, worker.kept if complete else None)
