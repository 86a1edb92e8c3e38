"""The FFmpeg pieces every PyAV-based decoder shares: opening a container, the decoder thread setting
that keeps damage reports reliable, and the RGB conversion chain decord uses.

:class:`~qclip_plugin.video.pyav_reader.PyAVReader`, the targeted read
(:mod:`qclip_plugin.video.targeted`), the raw-YUV reader and the single-pass decode
(:mod:`qclip_plugin.video.single_pass`) all build on this module, so none of them imports another
for these.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from qclip_plugin.video.errors import VideoReadError

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


def open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoReadError(path, f"FFmpeg cannot open it as a video container ({err})") from err
