"""The reader interface every backend implements.

A reader decodes frames of one video to ``uint8`` RGB arrays ``(N, H, W, 3)``, resized
(squash, bilinear) to ``size`` when one was given, so callers never resize again.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

#: Frames per chunk when iterating a whole video (bounds memory: 64 frames at 112x112 are 2.4 MB).
DEFAULT_CHUNK = 64


def as_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """Normalise a ``(height, width)`` size (an int means a square)."""
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size must be positive (height, width), got {tuple(size)}")
    return height, width


class VideoReader(abc.ABC):
    """Random and sequential access to the RGB frames of one video.

    Attributes:
        path: the video file.
        backend: ``"decord"``, ``"pyav"`` or ``"yuv"``.
        num_frames: frames in the video (from the container's index; a truncated file may
            hold fewer decodable ones, which ``get_batch`` reports as :class:`VideoReadError`).
        fps: frames per second (``0.0`` when the container does not say).
        height, width: size of the returned frames (after resizing).
        source_height, source_width: coded size of the video.
    """

    backend: str = ""

    def __init__(self, path: str | Path, num_frames: int, fps: float, source_size: tuple[int, int],
                 size: tuple[int, int] | None) -> None:
        self.path = Path(path)
        self.num_frames = int(num_frames)
        self.fps = float(fps)
        self.source_height, self.source_width = source_size
        self.height, self.width = size if size is not None else source_size

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the returned frames."""
        return self.height, self.width

    def __len__(self) -> int:
        return self.num_frames

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as ``uint8 (N, H, W, 3)``."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return np.empty((0, self.height, self.width, 3), np.uint8)
        if idx.min() < 0 or idx.max() >= self.num_frames:
            raise IndexError(f"frame indices must lie in [0, {self.num_frames}) for {self.path}, "
                             f"got min {idx.min()} max {idx.max()}")
        uniq, inverse = np.unique(idx, return_inverse=True)
        frames = self._read_sorted(uniq)
        if uniq.size == idx.size and np.array_equal(uniq, idx):
            return frames
        return frames[inverse]

    @abc.abstractmethod
    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        """Frames at strictly increasing, in-range ``indices``."""

    @abc.abstractmethod
    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        """Every frame in order, as consecutive ``uint8 (n, H, W, 3)`` chunks."""

    def close(self) -> None:
        """Release the decoder (readers also close when garbage-collected)."""
        return None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.path)!r}, frames={self.num_frames}, fps={self.fps:.3f}, "
                f"size={self.size}, source=({self.source_height}, {self.source_width}))")
