"""``open_video``: pick the backend for a file (PyAV by default, decord on request) and guard decord.

PyAV is the default reader of container files because FFmpeg tells it about damage (corrupt
packets and frames, decoding errors; :mod:`qclip_plugin.video.damage`) that decord conceals
without a word, handing out frames that differ from run to run. It is as fast as decord on
sampled frames (its targeted read decodes only what the frames depend on, see
:mod:`qclip_plugin.video.targeted`) and bit-identical to it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from qclip_plugin.video.decord_reader import DecordOpenError, DecordReader
from qclip_plugin.video.errors import VideoReadError
from qclip_plugin.video.guard import check_file, check_header, check_in_subprocess
from qclip_plugin.video.pyav_reader import PyAVReader
from qclip_plugin.video.reader import VideoReader, as_size
from qclip_plugin.video.yuv_reader import DEFAULT_YUV_FPS, DEFAULT_YUV_GEOMETRY, YUVReader

BACKENDS = ("auto", "decord", "pyav", "yuv")
GUARDS = ("header", "subprocess", "none")
YUV_SUFFIXES = (".yuv",)


def open_video(
    path: str | os.PathLike,
    *,
    size: int | Sequence[int] | None = None,
    yuv_geometry: Sequence[int] | None = None,
    yuv_fps: float = DEFAULT_YUV_FPS,
    backend: str = "auto",
    guard: str = "header",
    threads: int = 0,
) -> VideoReader:
    """Open a video for frame access.

    Args:
        path: a container file (mp4, avi, mkv, ...) or a raw ``.yuv`` file.
        size: ``(height, width)`` of the returned frames (squash resize, bilinear, done by the
            decoder); ``None`` keeps the coded size.
        yuv_geometry: ``(height, width)`` of a raw YUV420p file (default 1080x1920, LIVE-Qualcomm).
        yuv_fps: frame rate to report for raw YUV files.
        backend: ``"auto"`` (``.yuv`` -> raw reader; else PyAV, which reports damage), or force
            ``"pyav"``, ``"yuv"``, or ``"decord"`` (conceals damaged frames; see the module docstring).
        guard: ``"subprocess"`` first decodes the file with decord in a child process (no abort or
            hang can reach this one; ~0.3 s), for screening files of unknown origin; with
            ``backend="decord"``, ``"header"`` (default) parses the header with PyAV before decord
            sees the file and ``"none"`` skips that. See :mod:`qclip_plugin.video.guard`.
        threads: decoding threads of decord and PyAV (``0``: FFmpeg's choice, one per core); DataLoader
            workers use fewer, see :func:`qclip_plugin.data.pipeline.decoder_threads`.

    Raises:
        VideoReadError: missing, empty, truncated, corrupt, or nothing decodable; later, from
            ``get_batch``/``iter_chunks``, damage found while decoding.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if guard not in GUARDS:
        raise ValueError(f"guard must be one of {GUARDS}, got {guard!r}")
    out_size = as_size(size)
    path = check_file(path)
    if backend == "yuv" or (backend == "auto" and path.suffix.lower() in YUV_SUFFIXES):
        geometry = tuple(yuv_geometry) if yuv_geometry is not None else DEFAULT_YUV_GEOMETRY
        return YUVReader(path, out_size, geometry=geometry, fps=yuv_fps)
    if guard == "subprocess":
        check_in_subprocess(path)
    if backend != "decord":  # PyAV checks the header itself, as check_header does
        return PyAVReader(path, out_size, threads=threads or True)
    return _open_decord(path, out_size, guard, threads)


def _open_decord(path: Path, out_size: tuple[int, int] | None, guard: str, threads: int) -> DecordReader:
    header = check_header(path) if guard != "none" else None
    try:
        source = (header.height, header.width) if header else None
        reader = DecordReader(path, out_size, source_size=source, num_threads=threads)
    except DecordOpenError as err:
        raise VideoReadError(path, f"decord cannot open it ({err})",
                             hint="try backend='pyav', or check the file with ffprobe") from err
    if header is not None and "mp4" in header.container and reader.num_frames < header.num_frames:
        # decord indexes only the packets present, so a cut file would pass as a shorter video.
        # (MP4's frame count is its sample table, exact; AVI and others count differently.)
        reader.close()
        raise VideoReadError(path, f"truncated: its index lists {header.num_frames} frames but only "
                             f"{reader.num_frames} are in the file")
    return reader


def video_info(path: str | os.PathLike, **options) -> dict:
    """Frame count, fps and sizes of a video, as a plain dict (opens the file once)."""
    with open_video(path, **options) as reader:
        return {"path": str(Path(path)), "backend": reader.backend, "num_frames": reader.num_frames,
                "fps": reader.fps, "height": reader.source_height, "width": reader.source_width}
