"""PyAV (FFmpeg) backend: the default reader of container files (it reports damage).

Frames go through the same FFmpeg filter chain decord uses (``scale=W:H:flags=bilinear``,
then ``format=rgb24``; :class:`~qclip_plugin.video.ffmpeg.RGBConverter`), so a PyAV frame equals
decord's bit for bit at native size and at a resized size alike (checked in ``tests/test_video.py``
on the shared clips).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
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
from qclip_plugin.video.ffmpeg import RGBConverter, display_rotation, open_container, use_one_decoder_thread
from qclip_plugin.video.reader import DEFAULT_CHUNK, VideoReader
from qclip_plugin.video.targeted import read_frames


class PyAVReader(VideoReader):
    """Frame-accurate reader built on PyAV; frames are counted in decoding order."""

    backend = "pyav"

    def __init__(self, path: str | Path, size: tuple[int, int] | None = None, *,
                 threads: int | bool = True) -> None:
        path = Path(path)
        container = open_container(path)
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
        container, self._unused = self._unused or open_container(self.path), None
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
