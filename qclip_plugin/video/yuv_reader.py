"""Raw planar YUV 4:2:0 (``.yuv``, as LIVE-Qualcomm ships): no header, so the geometry is
given; the frame count follows from the file size.

Conversion to RGB and resizing use the same FFmpeg filter chain as the other backends
(BT.601 limited range, FFmpeg's default for untagged YUV).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from qclip_plugin.video.errors import VideoReadError
from qclip_plugin.video.ffmpeg import RGBConverter
from qclip_plugin.video.reader import DEFAULT_CHUNK, VideoReader

#: LIVE-Qualcomm: 1920x1080 at 30 fps.
DEFAULT_YUV_GEOMETRY = (1080, 1920)
DEFAULT_YUV_FPS = 30.0


class YUVReader(VideoReader):
    """Reader for headerless YUV420p files of a known ``geometry=(height, width)``."""

    backend = "yuv"

    def __init__(self, path: str | Path, size: tuple[int, int] | None = None, *,
                 geometry: tuple[int, int] = DEFAULT_YUV_GEOMETRY, fps: float = DEFAULT_YUV_FPS) -> None:
        path = Path(path)
        height, width = (int(v) for v in geometry)
        if height <= 0 or width <= 0 or height % 2 or width % 2:
            raise ValueError(f"yuv_geometry must be positive even (height, width), got {geometry}")
        self._frame_bytes = height * width * 3 // 2
        file_bytes = path.stat().st_size
        num_frames, rest = divmod(file_bytes, self._frame_bytes)
        if num_frames == 0 or rest:
            raise VideoReadError(
                path, f"{file_bytes} bytes is not a whole number of {width}x{height} YUV420p frames "
                f"({self._frame_bytes} bytes each)",
                hint="pass the right yuv_geometry=(height, width), or re-copy the file if it was truncated")
        super().__init__(path, num_frames, fps, (height, width), size)
        self._size = size

    def _frame(self, raw: np.ndarray, convert: RGBConverter) -> np.ndarray:
        frame = av.VideoFrame.from_ndarray(raw.reshape(self.source_height * 3 // 2, self.source_width),
                                           format="yuv420p")
        return convert(frame)

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        data = np.memmap(self.path, np.uint8, mode="r")
        convert = RGBConverter(self._size)
        out = np.empty((len(indices), self.height, self.width, 3), np.uint8)
        fb = self._frame_bytes
        for pos, i in enumerate(indices.tolist()):
            out[pos] = self._frame(np.asarray(data[i * fb:(i + 1) * fb]), convert)
        return out

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[np.ndarray]:
        for start in range(0, self.num_frames, chunk_size):
            yield self._read_sorted(np.arange(start, min(self.num_frames, start + chunk_size)))
