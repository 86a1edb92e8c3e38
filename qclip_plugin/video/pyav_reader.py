"""PyAV (FFmpeg) backend: the fallback for files decord cannot open, and the converter
the raw-YUV reader shares.

Frames go through the same FFmpeg filter chain decord uses (``scale=W:H:flags=bilinear``,
then ``format=rgb24``), so a PyAV frame equals decord's bit for bit at native size and at
a resized size alike (checked in ``tests/test_video.py`` on the shared clips).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from qclip_plugin.video.damage import (
    REORDER_MARGIN,
    ConcealedDamageError,
    check_frame,
    check_frame_size,
    check_packet,
    decode_error,
)
from qclip_plugin.video.errors import VideoReadError
from qclip_plugin.video.reader import DEFAULT_CHUNK, VideoReader

#: Display rotation (counter-clockwise degrees, as ``VideoFrame.rotation``) -> the transposes
#: decord 0.6 inserts before scaling for the same file (from its "rotate" tag).
_ROTATION_FILTERS = {90: ("2",), 180: ("1", "1"), 270: ("1",)}


def display_rotation(frame: av.VideoFrame) -> int:
    """The frame's display rotation in counter-clockwise degrees, in ``{0, 90, 180, 270}``."""
    return int(round(frame.rotation or 0)) % 360


class RGBConverter:
    """Decoded frame (any pixel format) -> ``uint8 (H, W, 3)`` RGB, upright, squash-resized bilinearly.

    The filter chain is decord's: the display rotation (phone videos) as transposes, then
    ``scale=W:H:flags=bilinear``, then ``rgb24``. Built lazily from the first frame, rebuilt if
    the frame geometry changes mid-stream.
    """

    def __init__(self, size: tuple[int, int] | None) -> None:
        self.size = size
        self._graph: av.filter.Graph | None = None
        self._key: tuple | None = None

    def _build(self, frame: av.VideoFrame, rotation: int) -> None:
        graph = av.filter.Graph()
        last = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                                time_base=frame.time_base or Fraction(1, 1000))
        steps = [("transpose", d) for d in _ROTATION_FILTERS.get(rotation, ())]
        if self.size is not None:
            # decord 0.6 asks FFmpeg for "scale=W:H"; FFmpeg 4.1's default flags there are bilinear.
            steps.append(("scale", f"{self.size[1]}:{self.size[0]}:flags=bilinear"))
        steps += [("format", "rgb24"), ("buffersink", None)]
        for name, args in steps:
            node = graph.add(name, args) if args is not None else graph.add(name)
            last.link_to(node)
            last = node
        graph.configure()
        self._graph = graph
        self._key = (frame.width, frame.height, frame.format.name, rotation)

    def __call__(self, frame: av.VideoFrame, rotation: int | None = None) -> np.ndarray:
        """``rotation`` overrides the frame's own (for frames rebuilt without their side data)."""
        rotation = display_rotation(frame) if rotation is None else rotation
        if self._key != (frame.width, frame.height, frame.format.name, rotation):
            self._build(frame, rotation)
        self._graph.push(frame)
        return self._graph.pull().to_ndarray()


def use_one_decoder_thread(stream: av.video.stream.VideoStream) -> None:
    """Decode ``stream`` on one thread, with FFmpeg's error concealment (and its reports) on.

    Both of FFmpeg's threaded modes break damage detection (:mod:`qclip_plugin.video.damage`):
    slice threads switch H.264 error concealment off (damaged blocks keep stale pixels, unreported),
    and frame threads can decode a damaged stream differently from run to run, sometimes without
    marking anything (seen on a corpus clip with one flipped byte). PyAV's default is slice threads.
    Parallelism comes from decoding independent keyframe groups at once instead
    (:func:`qclip_plugin.video.targeted.read_frames`).
    """
    stream.codec_context.thread_count = 1


def parallel_decoders(threads: int | bool) -> int:
    """How many decoders may run at once for ``threads``: ``0`` or ``True`` one per available core,
    ``1`` or ``False`` one, ``n`` at most ``n``."""
    if threads is True or (threads is not False and int(threads) == 0):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    return 1 if threads is False else max(1, int(threads))


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoReadError(path, f"FFmpeg cannot open it as a video container ({err})") from err


class PyAVReader(VideoReader):
    """Frame-accurate reader built on PyAV; frames are counted in decoding order."""

    backend = "pyav"

    def __init__(self, path: str | Path, size: tuple[int, int] | None = None, *,
                 threads: int | bool = True) -> None:
        path = Path(path)
        container = _open_container(path)
        # Kept open for the first decode when reading the header consumed nothing (saves a reopen).
        self._unused: av.container.InputContainer | None = None
        try:
            if not container.streams.video:
                raise VideoReadError(path, "the file holds no video stream", kind="no video stream")
            stream = container.streams.video[0]
            if stream.codec_context is None:
                raise VideoReadError(path, "the video stream has no decoder (unknown codec or damaged header)")
            height, width = stream.codec_context.height, stream.codec_context.width
            if not height or not width:
                raise VideoReadError(path, "the video stream has no frame size (damaged header)")
            check_frame_size(path, height, width)
            num_frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            rate = stream.average_rate or stream.guessed_rate
            if stream.frames:
                self._unused, container = container, None
        finally:
            if container is not None:
                container.close()
        if num_frames <= 0:
            self.close()
            raise VideoReadError(path, "the video stream holds no frames")
        super().__init__(path, num_frames, float(rate) if rate else 0.0, (height, width), size)
        self._size = size
        self._threads = threads
        if size is None:
            # Frames come out upright: a 90/270-degree display rotation swaps the native size.
            first = next(iter(self.decode_raw()), None)
            if first is None:
                raise self.fail(0)
            if display_rotation(first) in (90, 270):
                self.height, self.width = width, height

    def close(self) -> None:
        if self._unused is not None:
            self._unused.close()
            self._unused = None

    def decode_raw(self) -> Iterator[av.VideoFrame]:
        """Every decodable frame in order, as FFmpeg decoded it (no conversion).

        Damage the demuxer or decoder reports (a corrupt packet, a frame decoded with concealed
        errors) raises :class:`VideoReadError` (see :mod:`qclip_plugin.video.damage`). A decoder
        error stops the frames early; it is kept in ``self.decode_error`` for :meth:`fail`.
        Convert frames with ``RGBConverter(size)`` to get exactly what ``get_batch`` returns.
        """
        container, self._unused = self._unused or _open_container(self.path), None
        self.decode_error = None
        number = 0
        try:
            stream = container.streams.video[0]
            use_one_decoder_thread(stream)
            for packet_number, packet in enumerate(container.demux(stream)):
                check_packet(self.path, packet, packet_number)
                for frame in packet.decode():
                    check_frame(self.path, frame, number)
                    number += 1
                    yield frame
        except av.error.FFmpegError as err:
            self.decode_error = err
        finally:
            container.close()

    def _decode(self) -> Iterator[np.ndarray]:
        convert = RGBConverter(self._size)
        for frame in self.decode_raw():
            yield convert(frame)

    def fail(self, decoded: int) -> VideoReadError:
        """The error for a stream that stopped after ``decoded`` of ``num_frames`` frames."""
        err = getattr(self, "decode_error", None)
        if err is not None and decoded >= self.num_frames:
            return decode_error(self.path, err, decoded)
        if decoded == 0:
            reason = "no frame could be decoded" + (f" ({err})" if err else "")
        else:
            reason = (f"only {decoded} of the {self.num_frames} frames its index lists could be decoded "
                      f"(truncated or corrupt{': ' + str(err) if err else ''})")
        return VideoReadError(self.path, reason, kind="damaged")

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        """The targeted read; damage it reports is decided by a sequential decode.

        A frame the targeted read finds corrupt may be an artefact of reading that way (decoding
        starts at keyframes and skips the frames a damaged stream may still refer to): a decode of
        every frame up to the last wanted one gives the verdict.
        """
        # Imported here: the targeted reader builds on this module's converter.
        from qclip_plugin.video.targeted import read_frames

        try:
            frames = read_frames(self.path, indices, self._size, expected_frames=self.num_frames,
                                 threads=self._threads)
        except ConcealedDamageError:
            frames = None
        return frames if frames is not None else self._read_sequential(indices)

    def _read_sequential(self, indices: np.ndarray) -> np.ndarray:
        """Decode every frame up to the last wanted one (files without usable timestamps; damaged
        files), and :data:`~qclip_plugin.video.damage.REORDER_MARGIN` frames on: a reference frame
        shown after the last wanted one is output later, and its damage must be seen too."""
        convert = RGBConverter(self._size)
        out = np.empty((len(indices), self.height, self.width, 3), np.uint8)
        slot = {int(i): n for n, i in enumerate(indices.tolist())}
        stop = int(indices[-1]) + REORDER_MARGIN
        decoded = 0
        frames = self.decode_raw()
        try:
            for frame_index, frame in enumerate(frames):
                decoded = frame_index + 1
                if frame_index in slot:
                    out[slot[frame_index]] = convert(frame)
                if frame_index >= stop:
                    break
        finally:
            frames.close()
        if decoded <= indices[-1] or self.decode_error is not None:
            raise self.fail(decoded)
        return out

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        decoded = 0
        frames = itertools.islice(self._decode(), self.num_frames)
        for chunk in _chunked(frames, chunk_size, (self.height, self.width)):
            decoded += len(chunk)
            yield chunk
        if decoded < self.num_frames:
            raise self.fail(decoded)


def _chunked(frames: Iterable[np.ndarray], chunk_size: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    buf = np.empty((chunk_size, *size, 3), np.uint8)
    n = 0
    for rgb in frames:
        buf[n] = rgb
        n += 1
        if n == chunk_size:
            yield buf.copy()
            n = 0
    if n:
        yield buf[:n].copy()
