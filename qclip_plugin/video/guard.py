"""Checks run before a file reaches decord.

decord is C++ on FFmpeg 4.1; on some damaged files it can abort the interpreter (an
uncaught C++ exception in its decoder thread) or spin. Two guards, cheapest first:

- :func:`check_header` (default, in-process, ~1 ms): the file exists, is not empty, and
  FFmpeg (through PyAV, which raises Python exceptions) parses its container header and
  finds a video stream with a frame size. Garbage, empty and header-less files (a
  truncated MP4 whose ``moov`` atom sits at the end) stop here.
- :func:`check_in_subprocess` (opt-in, ~0.3 s a file): decord opens and decodes the file
  in a child process with a timeout, so neither an abort nor a hang can reach the caller.
  Use it when screening a dataset of unknown provenance (``open_video(..., guard="subprocess")``).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import av

from qclip_plugin.video.errors import VideoReadError


@dataclass(frozen=True)
class HeaderInfo:
    """What the container header says about the first video stream."""

    num_frames: int  # 0 when the container does not store it
    fps: float
    height: int
    width: int
    codec: str
    container: str = ""  # FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"


def check_file(path: str | os.PathLike) -> Path:
    """The path is a regular file this user can read and is not empty; else :class:`VideoReadError`
    with the real reason (a dangling link, a directory, a permission) and its ``kind``."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise VideoReadError(path, f"a dangling symbolic link (its target {os.readlink(path)} does not exist)",
                                 hint="fix or remove the link", kind="dangling link") from None
        raise VideoReadError(path, "no such file", hint="check the path and the dataset root directory",
                             kind="missing") from None
    except PermissionError:
        raise VideoReadError(path, "permission denied: a folder on its path cannot be searched",
                             hint="check the folders' permissions (chmod +x)", kind="permission denied") from None
    if stat.S_ISDIR(info.st_mode):
        what = "a directory this user cannot list" if not os.access(path, os.R_OK | os.X_OK) else "a directory"
        raise VideoReadError(path, f"{what}, not a video file", hint="pass the path of a video file",
                             kind="directory")
    if not stat.S_ISREG(info.st_mode):
        raise VideoReadError(path, "not a regular file (a device, FIFO or socket)", hint="pass the path of a video file",
                             kind="not a regular file")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise VideoReadError(path, "permission denied: this user cannot read the file",
                             hint="check its permissions (chmod +r FILE)", kind="permission denied") from None
    if info.st_size == 0:
        raise VideoReadError(path, "the file is empty (0 bytes)", kind="empty")
    return path


def check_header(path: str | os.PathLike) -> HeaderInfo:
    """Parse the container header with FFmpeg (via PyAV); :class:`VideoReadError` if unusable."""
    path = check_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoReadError(path, f"not a readable video container ({err})") from err
    try:
        if not container.streams.video:
            raise VideoReadError(path, "the file holds no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx.codec is None or not ctx.height or not ctx.width:
            raise VideoReadError(path, "the video stream has no decoder or no frame size (damaged header)")
        rate = stream.average_rate or stream.guessed_rate
        return HeaderInfo(int(stream.frames or 0), float(rate) if rate else 0.0, ctx.height, ctx.width,
                          ctx.codec.name, container.format.name)
    finally:
        container.close()


_CHILD = """
import sys, decord
vr = decord.VideoReader(sys.argv[1], ctx=decord.cpu(0))
n = len(vr)
idx = list(range(n)) if sys.argv[2] == "all" else sorted({0, n // 2, n - 1})
vr.get_batch(idx).asnumpy()
print(n)
"""


def check_in_subprocess(path: str | os.PathLike, *, timeout: float = 60.0, decode: str = "ends") -> int:
    """Open and decode ``path`` with decord in a child process; return its frame count.

    ``decode="ends"`` decodes the first, middle and last frames; ``"all"`` every frame.
    Raises :class:`VideoReadError` if decord fails, crashes the child, or exceeds ``timeout`` s.
    """
    path = check_file(path)
    if decode not in ("ends", "all"):
        raise ValueError(f"decode must be 'ends' or 'all', got {decode!r}")
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), decode], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise VideoReadError(path, f"decord did not finish decoding within {timeout:g} s (hang)") from err
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise VideoReadError(path, f"decord crashed the process decoding it ({name})")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise VideoReadError(path, f"decord cannot decode it ({last[:300]})")
    return int(proc.stdout.split()[-1])
