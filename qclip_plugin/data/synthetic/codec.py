"""Writing and reading the demo clips: H.264 in MP4 through PyAV.

Clips are 8-bit 4:2:0 (what every reader and player handles), BT.601 limited
range, tagged as such so decoders convert back with the same matrix. CRF 0 is
x264's lossless mode (of the 4:2:0 planes): the clips whose distortion is not
compression are written that way, so the pixels a model decodes carry the applied
distortion and nothing else (beyond 4:2:0 chroma subsampling, which every clip
shares and which the luma-only SSIM of ``pseudo_mos.py`` does not see). x264 runs
single-threaded, which makes its output a deterministic function of the frames.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

LOSSLESS_CRF = 0
# swscale picks SIMD or C paths by buffer alignment, and they round differently: the same
# frames then encode differently from run to run. Bit-exact, accurately rounded conversion:
_SWS_FLAGS = int(
    av.video.reformatter.Interpolation.BILINEAR
    | av.video.reformatter.Interpolation.ACCURATE_RND
    | av.video.reformatter.Interpolation.BITEXACT
)


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
            "libx264", rate=_rate(fps), options={"crf": f"{crf:g}", "preset": preset}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        ctx = stream.codec_context
        ctx.thread_count = 1  # x264's output depends on its thread count
        ctx.colorspace, ctx.color_range = av.video.reformatter.Colorspace.ITU601, av.video.reformatter.ColorRange.MPEG
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU601", dst_color_range="MPEG", interpolation=_SWS_FLAGS
            )
            frame.pts, frame.time_base = index, 1 / _rate(fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


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
