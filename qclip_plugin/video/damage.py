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

Every PyAV decoder runs on one thread (:func:`~qclip_plugin.video.ffmpeg.use_one_decoder_thread`):
FFmpeg's slice threads switch H.264 error concealment, and so its reports, off, and its frame
threads can decode a damaged stream differently from run to run without marking anything. Where
FFmpeg reports nothing (a flipped bit that still parses), the decode is then deterministic: the
same frames in every run, however many keyframe groups are decoded in parallel. A frame that the
targeted read (:mod:`qclip_plugin.video.targeted`) finds corrupt is decided again by a decode of
every frame up to the wanted ones (the targeted read starts at keyframes and skips non-reference
frames that a damaged stream may still use). ``tests/test_video_damage.py`` checks all of this on
a generated corpus.

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


class ConcealedDamageError(VideoReadError):
    """A decoded frame the decoder marked corrupt (it concealed damage in it)."""


def check_frame(path: str | os.PathLike, frame: av.VideoFrame, number: int | None) -> None:
    """:class:`ConcealedDamageError` if the decoder marked ``frame`` corrupt (damage it concealed)."""
    if frame.is_corrupt:
        where = f"frame {number}" if number is not None else f"the frame at pts {frame.pts}"
        raise ConcealedDamageError(
            path,
            f"decoding errors in {where}: the decoder concealed damage "
            "(its pixels are guessed, differently from run to run)",
            hint=_HINT,
            kind="damaged",
        )


def decode_error(path: str | os.PathLike, error: av.error.FFmpegError, decoded: int) -> VideoReadError:
    """The error for a decoder that raised after ``decoded`` frames."""
    return VideoReadError(path, f"decoding error after {decoded} frames ({error})", hint=_HINT, kind="damaged")
