"""Damage the decoder reports, turned into :class:`VideoReadError` instead of concealed frames.

FFmpeg conceals damage: a slice that fails to decode is filled in from its neighbours and the
frame is returned as if nothing happened, and with frame threads what it is filled in with
depends on thread timing (a bit-flipped clip gave four different frame hashes in four loads).
Scoring such frames would give an ``ok`` score that changes from run to run. The PyAV readers
therefore fail a video on any of these signals, in every frame they decode (not only the
frames asked for: a wanted frame depends on the reference frames decoded before it):

- the demuxer marks a packet corrupt (``AV_PKT_FLAG_CORRUPT``: a short read of a cut file);
- the decoder marks a frame corrupt (``AV_FRAME_FLAG_CORRUPT``: errors concealed, references
  missing);
- the decoder raises (``avcodec_send_packet`` errors) before the frames asked for came out;
- fewer frames decode than the container declares (checked by the readers' callers).

Where FFmpeg reports nothing (a flipped bit that still parses), the decode is deterministic:
the same frames with any number of decoder threads (FFmpeg's threading is bit-exact on streams
it decodes without error). ``tests/test_video_damage.py`` checks both on a generated corpus.

decord (``backend="decord"``) exposes none of these signals and conceals; it is not the default.
"""

from __future__ import annotations

import os

import av

from qclip_plugin.video.errors import VideoReadError

#: Frames larger than this are refused before decoding: 8192 x 8192, above every standard level
#: of H.264/HEVC (8192 x 4320). A header declaring more is damaged or hostile, and each frame
#: buffer of it (times the decoder threads) would be allocated before any error shows.
MAX_FRAME_PIXELS = 8192 * 8192

#: Frames decoded past the last wanted one before a sequential read stops: a reference frame
#: shown after a wanted B-frame is output (and its damage seen) up to this many frames later.
REORDER_MARGIN = 16

_HINT = "the file is damaged; re-download or re-encode it (e.g. `ffmpeg -i FILE -c:v libx264 fixed.mp4`), or drop it"


def check_frame_size(path: str | os.PathLike, height: int, width: int) -> None:
    """Refuse a declared frame size that no video has (see :data:`MAX_FRAME_PIXELS`)."""
    if height * width > MAX_FRAME_PIXELS:
        raise VideoReadError(
            path,
            f"its header declares {width}x{height} frames, more than the "
            f"{MAX_FRAME_PIXELS:,} pixels any video standard allows (damaged header)",
            hint=_HINT,
            kind="damaged",
        )


def check_packet(path: str | os.PathLike, packet: av.Packet, number: int) -> None:
    """:class:`VideoReadError` if the demuxer marked ``packet`` (the ``number``-th) corrupt."""
    if packet.is_corrupt:
        raise VideoReadError(
            path,
            f"packet {number} of the video stream is marked corrupt by the demuxer (cut or damaged data)",
            hint=_HINT,
            kind="damaged",
        )


def check_frame(path: str | os.PathLike, frame: av.VideoFrame, number: int | None) -> None:
    """:class:`VideoReadError` if the decoder marked ``frame`` corrupt (damage it concealed)."""
    if frame.is_corrupt:
        where = f"frame {number}" if number is not None else f"the frame at pts {frame.pts}"
        raise VideoReadError(
            path,
            f"decoding errors in {where}: the decoder concealed damage "
            "(its pixels are guessed, differently from run to run)",
            hint=_HINT,
            kind="damaged",
        )


def decode_error(path: str | os.PathLike, error: av.error.FFmpegError, decoded: int) -> VideoReadError:
    """The error for a decoder that raised after ``decoded`` frames."""
    return VideoReadError(path, f"decoding error after {decoded} frames ({error})", hint=_HINT, kind="damaged")
