"""decord backend: the fast path. Resizing happens inside decord's FFmpeg filter graph.

decord raises ``DECORDError``/``RuntimeError`` on most damaged files; whatever it raises
after opening (e.g. on a truncated file whose index promises more frames than it holds)
is retried once with PyAV, whose verdict becomes the :class:`VideoReadError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qclip_plugin.video.errors import VideoReadError
from qclip_plugin.video.pyav_reader import PyAVReader
from qclip_plugin.video.reader import DEFAULT_CHUNK, VideoReader


class DecordOpenError(Exception):
    """decord could not open a file (the caller falls back to PyAV)."""


def _decord():
    import decord

    return decord


class DecordReader(VideoReader):
    """Reader on ``decord.VideoReader``; ``num_threads=0`` lets decord pick."""

    backend = "decord"

    def __init__(self, path: str | Path, size: tuple[int, int] | None = None, *,
                 source_size: tuple[int, int] | None = None, num_threads: int = 0) -> None:
        decord = _decord()
        kwargs = {} if size is None else {"height": size[0], "width": size[1]}
        try:
            self._vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=num_threads, **kwargs)
            num_frames = len(self._vr)
            fps = self._vr.get_avg_fps()
        except Exception as err:  # decord raises DECORDError, RuntimeError or its own TVM errors
            raise DecordOpenError(str(err).splitlines()[0] if str(err) else type(err).__name__) from err
        if num_frames <= 0:
            raise DecordOpenError("decord found no frames")
        shape = None
        if source_size is None or size is None:
            # One decoded frame tells the output size: with size=None the coded size, turned
            # upright when the file carries a display rotation (decord applies it).
            try:
                shape = self._vr[0].shape
                self._vr.seek(0)
            except Exception as err:
                raise DecordOpenError(str(err).splitlines()[0] if str(err) else type(err).__name__) from err
            source_size = source_size or (shape[0], shape[1])
        super().__init__(path, num_frames, fps, source_size, size)
        if size is None:
            self.height, self.width = shape[0], shape[1]
        self._size = size
        self._fallback: PyAVReader | None = None

    def _pyav(self, err: Exception) -> PyAVReader:
        if self._fallback is None:
            try:
                self._fallback = PyAVReader(self.path, self._size)
            except VideoReadError as pyav_err:
                raise VideoReadError(self.path, f"{pyav_err.reason} (decord: {err})") from err
        return self._fallback

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        try:
            return self._vr.get_batch(indices).asnumpy()
        except Exception as err:
            return self._pyav(err)._read_sorted(indices)

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        start = 0
        try:
            self._vr.seek(0)
            while start < self.num_frames:
                stop = min(self.num_frames, start + chunk_size)
                # Consecutive indices: decord decodes forward without seeking.
                chunk = self._vr.get_batch(range(start, stop)).asnumpy()
                start = stop
                yield chunk
        except VideoReadError:
            raise
        except Exception as err:
            # Resume with PyAV where decord gave up (PyAV decodes from the start, skips what was yielded).
            skip = start
            for chunk in self._pyav(err).iter_chunks(chunk_size):
                if skip >= len(chunk):
                    skip -= len(chunk)
                    continue
                yield chunk[skip:]
                skip = 0

    def close(self) -> None:
        self._vr = None
        if self._fallback is not None:
            self._fallback.close()
