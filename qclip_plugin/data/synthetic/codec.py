"""Writing and reading the demo clips: H.264 in MP4 through PyAV.

Clips are 8-bit 4:2:0 (what every reader and player handles), BT.601 limited
range, tagged as such so decoders convert back with the same matrix. CRF 0 is
x264's lossless mode (of the 4:2:0 planes): the clips whose distortion is not
compression are written that way, so the pixels a model decodes carry the applied
distortion and nothing else (beyond 4:2:0 chroma subsampling, which every clip
shares and which the luma-only SSIM of ``pseudo_mos.py`` does not see). x264 runs
single-threaded and without macroblock-tree rate control, which makes its output a
deterministic function of the frames.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

LOSSLESS_CRF = 0
# x264's macroblock-tree rate control gave different bitstreams for the same frames from
# run to run here (tiny frames, few frames; seen with presets medium and veryfast, not
# with mbtree off), so it is off: the clips must be a function of the seed.
X264_PARAMS = "mbtree=0"


def write_h264(
    path: str | os.PathLike, frames: np.ndarray, fps: float, crf: float = LOSSLESS_CRF, preset: str = "medium"
) -> None:
    """Encode ``uint8`` RGB frames ``(T, H, W, 3)`` (even H and W) to an H.264 MP4 at ``crf``."""
    frames = np.ascontiguousarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"write_h264 needs uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"4:2:0 H.264 needs an even frame size, got {height}x{width}")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(
            "libx264", rate=_rate(fps), options={"crf": f"{crf:g}", "preset": preset, "x264-params": X264_PARAMS}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        ctx = stream.codec_context
        ctx.thread_count = 1  # x264's output depends on its thread count
        ctx.colorspace, ctx.color_range = av.video.reformatter.Colorspace.ITU601, av.video.reformatter.ColorRange.MPEG
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(rgb), format="yuv420p")
            frame.pts, frame.time_base = index, 1 / _rate(fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range 8-bit 4:2:0 planes of one ``uint8`` RGB frame, as PyAV's ``(1.5 H, W)`` layout.

    Done here rather than by swscale, whose SIMD and C paths (chosen by buffer
    alignment) round differently, so identical frames could be written differently.
    Chroma is the mean of each 2x2 block.
    """
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    h, w = y.shape

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, half(cb), half(cr))]
    return np.concatenate([planes[0].ravel(), planes[1].ravel(), planes[2].ravel()]).reshape(h * 3 // 2, w)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode every frame of a clip to ``uint8`` RGB ``(T, H, W, 3)``."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.FFmpegError, OSError) as err:
        raise OSError(f"cannot decode demo clip {path}: {err}; delete the demo directory to regenerate it") from err
    if not frames:
        raise OSError(f"demo clip {path} has no frames; delete the demo directory to regenerate it")
    return np.stack(frames)


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)
