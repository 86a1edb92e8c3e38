"""decord backend: the fast path. Resizing happens inside decord's FFmpeg filter graph.

decord raises ``DECORDError``/``RuntimeError`` on most damaged files; whatever it raises
after opening (e.g. on a truncated file whose index promises more frames than it holds)
is retried once with PyAV, whose verdict becomes the :class:`VideoReadError`.

decord hands out frames through its per-thread "bridge": ``decord.bridge.set_bridge("torch")``
(which the FAST-VQA and DOVER packages call when imported) makes ``get_batch`` return torch tensors
without ``.asnumpy()``. :func:`decord_to_numpy` reads a frame batch under any bridge without
switching it, so this reader's frames (and the process's bridge) do not depend on who set it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from qclip_plugin.video.errors import VideoReadError
from qclip_plugin.video.pyav_reader import PyAVReader
from qclip_plugin.video.reader import DEFAULT_CHUNK, VideoReader
from qclip_plugin.video.targeted import read_frames

#: Pixels of the unwanted frames decord would decode below which it reads the frames itself
#: (see ``DecordReader._prefer_targeted``): about 16 frames of 720x360, a few ms of decoding.
TARGETED_MIN_PIXELS = 4_000_000


class DecordOpenError(Exception):
    """decord could not open a file (the caller falls back to PyAV)."""


def _decord():
    import decord

    return decord


def decord_to_numpy(batch: Any) -> np.ndarray:
    """A frame or batch decord returned, as a numpy array, under any bridge: the native and the
    MXNet/TVM arrays have ``asnumpy()``, torch and TensorFlow tensors ``numpy()`` (both without a
    copy where they can; the values are decord's in every case)."""
    if hasattr(batch, "asnumpy"):
        return batch.asnumpy()
    return np.asarray(batch.numpy() if hasattr(batch, "numpy") else batch)


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
                shape = decord_to_numpy(self._vr[0]).shape
                self._vr.seek(0)
            except Exception as err:
                raise DecordOpenError(str(err).splitlines()[0] if str(err) else type(err).__name__) from err
            source_size = source_size or (shape[0], shape[1])
        super().__init__(path, num_frames, fps, source_size, size)
        if size is None:
            self.height, self.width = shape[0], shape[1]
        self._size = size
        self._fallback: PyAVReader | None = None
        self._keys: np.ndarray | None = None
        self._threads = num_threads

    def _pyav(self, err: Exception) -> PyAVReader:
        if self._fallback is None:
            try:
                self._fallback = PyAVReader(self.path, self._size, threads=self._threads or True)
            except VideoReadError as pyav_err:
                raise VideoReadError(self.path, f"{pyav_err.reason} (decord: {err})") from err
        return self._fallback

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        try:
            if self._prefer_targeted(indices):
                frames = read_frames(self.path, indices, self._size, expected_frames=self.num_frames,
                                     threads=self._threads)
                if frames is not None:
                    return frames
            return decord_to_numpy(self._vr.get_batch(indices))
        except Exception as err:
            return self._pyav(err)._read_sorted(indices)

    def _prefer_targeted(self, indices: np.ndarray) -> bool:
        """Whether :func:`read_frames` should fetch ``indices`` instead of decord.

        decord decodes every frame from the keyframe before a wanted frame up to it (and on to
        the next wanted frame after the same keyframe); the targeted read decodes only the
        reference frames among them, converts only the wanted ones, and costs a second open and
        a demux of the file (a few ms). It never decodes more frames than decord, and pays off
        when decord would decode at least as many unwanted frames as wanted ones and those hold
        ``TARGETED_MIN_PIXELS`` (decoding time grows with the pixels; on small videos, e.g.
        176x144, the fixed cost of the second open outweighs what is skipped).
        """
        keys = self._key_indices()
        if keys is None:
            return False
        key_of = keys[np.searchsorted(keys, indices, side="right") - 1]
        decoded = 0
        for key in np.unique(key_of):
            decoded += int(indices[key_of == key].max() - key + 1)
        unwanted = decoded - indices.size
        pixels = unwanted * self.source_height * self.source_width
        return unwanted >= indices.size and pixels >= TARGETED_MIN_PIXELS

    def _key_indices(self) -> np.ndarray | None:
        if self._keys is None:
            keys = np.asarray(self._vr.get_key_indices(), np.int64)
            self._keys = keys if keys.size and keys[0] == 0 else np.empty(0, np.int64)
        return self._keys if self._keys.size else None

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        start = 0
        try:
            self._vr.seek(0)
            while start < self.num_frames:
                stop = min(self.num_frames, start + chunk_size)
                # Consecutive indices: decord decodes forward without seeking.
                chunk = decord_to_numpy(self._vr.get_batch(range(start, stop)))
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
