"""Chosen frames of a video with PyAV, decoding only what they depend on.

A sampler asks for a few frames (8 of a few hundred). Decoding every frame up to the last one,
as a sequential reader does, mostly decodes frames nobody asked for. Here:

* the packets are demuxed once and ranked by presentation time, which gives each packet its
  frame index (the order decord and :class:`PyAVReader` count frames in);
* the wanted frames are grouped by the keyframe they follow, as decord's ``get_batch`` does:
  a group starts decoding at its keyframe (earlier packets are not decoded at all) and stops
  at the last packet the group needs;
* inside a group, packets that are neither wanted nor referenced by other frames are not
  decoded (FFmpeg's ``skip_frame=NONREF``: B-frames that are not references) — they cannot
  change the pixels of any other frame;
* only the wanted frames go through the RGB conversion.

The frames are bit-identical to decord's ``get_batch`` and to a sequential PyAV decode (both
start at the same keyframes; tested on the shared clips and generated videos).

Damage (:mod:`qclip_plugin.video.damage`) is checked in every frame a group decodes from its
keyframe on: a corrupt packet or a frame the decoder marks corrupt raises
:class:`~qclip_plugin.video.errors.VideoReadError`. Frames shown before their group's keyframe
(the leading B-frames of an open GOP, whose references lie before it) are not checked: they
always miss a reference when decoding starts at the keyframe, and no later frame uses them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from qclip_plugin.video.damage import check_frame, check_packet
from qclip_plugin.video.errors import VideoReadError
from qclip_plugin.video.ffmpeg import RGBConverter, open_container, parallel_decoders, use_one_decoder_thread


@dataclass
class PacketIndex:
    """The video packets of a file in decoding order, with their frame (display) indices."""

    packets: list[av.Packet]
    display: np.ndarray  # frame index of each packet
    position: np.ndarray  # packet position of each frame index
    keyframes: np.ndarray  # frame indices of the keyframes, increasing
    frame_of_pts: dict[int, int]

    @property
    def num_frames(self) -> int:
        return len(self.packets)


def index_packets(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, declared: int | None = None
) -> PacketIndex | None:
    """Demux every packet of ``stream``; ``None`` when presentation times cannot order them.

    Fewer packets than ``declared`` in an MP4 (:func:`check_complete`), or a packet the demuxer
    marks corrupt, raise :class:`~qclip_plugin.video.errors.VideoReadError`.
    """
    packets = [p for p in container.demux(stream) if p.size]
    if declared is not None:
        check_complete(container.name, container, len(packets), declared)
    for number, packet in enumerate(packets):
        check_packet(container.name, packet, number)
    if not packets or any(p.pts is None for p in packets):
        return None  # no timestamps: only a sequential decode knows the order
    pts = np.array([p.pts for p in packets], np.int64)
    if np.unique(pts).size != pts.size:
        return None
    position = np.argsort(pts, kind="stable")
    display = np.empty_like(position)
    display[position] = np.arange(len(position))
    keyframes = np.sort(display[[i for i, p in enumerate(packets) if p.is_keyframe]])
    if keyframes.size == 0 or keyframes[0] != 0:
        return None  # the first frame is no keyframe: decode it sequentially
    return PacketIndex(
        packets, display, position, keyframes, dict(zip(pts.tolist(), display.tolist(), strict=True))
    )


def check_complete(path: str | Path, container: av.container.InputContainer, packets: int, declared: int) -> None:
    """:class:`~qclip_plugin.video.errors.VideoReadError` if an MP4/MOV file holds fewer video
    packets than its sample table lists (a cut file; other containers count frames loosely)."""
    if packets < declared and "mp4" in container.format.name:
        raise VideoReadError(path, f"truncated: its index lists {declared} frames but only {packets} are in the file",
                             hint="the file was cut short (an interrupted download or copy); fetch it again",
                             kind="truncated")


def plan_groups(index: PacketIndex, indices: np.ndarray) -> list[tuple[int, int, set[int]]]:
    """``(first packet, last packet, frame indices)`` per keyframe group of the sorted ``indices``.

    A group holds the wanted frames that follow the same keyframe; it is decoded from that
    keyframe's packet to the last packet one of its frames needs.
    """
    key_of = index.keyframes[np.searchsorted(index.keyframes, indices, side="right") - 1]
    groups = []
    for key, members in itertools.groupby(
        zip(key_of.tolist(), indices.tolist(), strict=True), key=lambda x: x[0]
    ):
        frames = [i for _, i in members]
        groups.append((int(index.position[key]), int(index.position[frames].max()), set(frames)))
    return groups


#: Packets a targeted read must decode before it runs keyframe groups in parallel decoders:
#: each extra decoder opens the file again (a few ms), which only pays off on real work.
PARALLEL_MIN_PACKETS = 24


def read_frames(
    path: str | Path,
    indices: np.ndarray,
    size: tuple[int, int] | None,
    *,
    expected_frames: int | None = None,
    threads: int | bool = 0,
) -> np.ndarray | None:
    """Frames at strictly increasing ``indices`` as ``uint8 (N, H, W, 3)``, or ``None``.

    ``None`` means this way of reading does not apply (no usable timestamps, another frame count
    than ``expected_frames``, a decoding error or a wanted frame the decoder did not return); the
    caller then reads sequentially, which also produces the right error for damaged files.
    Damage the decoder reports in a decoded frame raises
    :class:`~qclip_plugin.video.damage.ConcealedDamageError` (see the module docstring).

    Every decoder runs on one thread (:func:`~qclip_plugin.video.ffmpeg.use_one_decoder_thread`);
    keyframe groups are independent, so up to ``threads`` of them (as in
    :func:`~qclip_plugin.video.ffmpeg.parallel_decoders`) are decoded at once, each by its own
    decoder: the frames do not depend on how many.
    """
    try:
        container = open_container(Path(path))
    except Exception:  # the sequential reader reports it properly
        return None
    try:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        index = index_packets(container, stream, expected_frames)
        if index is None or (expected_frames is not None and index.num_frames != expected_frames):
            return None
        if indices.size == 0 or indices[0] < 0 or indices[-1] >= index.num_frames:
            return None
        groups = plan_groups(index, indices)
        work = sum(last - first + 1 for first, last, _ in groups)
        workers = min(parallel_decoders(threads), len(groups)) if work >= PARALLEL_MIN_PACKETS else 1
        if workers == 1:
            found = _decode_groups(path, container, index, groups, size)
        else:
            found = _decode_in_parallel(path, index, groups, size, workers)
        if found is None or len(found) < len(set(indices.tolist())):
            return None
        return np.stack([found[i] for i in indices.tolist()])
    except av.error.FFmpegError:
        return None
    finally:
        container.close()


def _decode_groups(path: str | Path, container: av.container.InputContainer, index: PacketIndex,
                   groups: list[tuple[int, int, set[int]]], size: tuple[int, int] | None) -> dict[int, np.ndarray]:
    """The wanted frames of ``groups``, decoded one group after the other by ``container``'s decoder."""
    stream = container.streams.video[0]
    use_one_decoder_thread(stream)
    codec = stream.codec_context
    convert = RGBConverter(size)
    found: dict[int, np.ndarray] = {}
    for first, last, wanted in groups:
        key = int(index.display[first])
        for pos in range(first, last + 2):
            if pos <= last:
                packet = index.packets[pos]
                # Frames no other frame refers to are only decoded when wanted.
                codec.skip_frame = "DEFAULT" if int(index.display[pos]) in wanted else "NONREF"
            else:
                packet = None  # drain: the group's last frames are still in the reorder queue
            for frame in codec.decode(packet):
                i = index.frame_of_pts.get(frame.pts)
                if i is None or i >= key:  # a leading frame of an open GOP is left unchecked
                    check_frame(path, frame, i)
                if i in wanted:
                    found[i] = convert(frame)
        codec.flush_buffers()
        codec.skip_frame = "DEFAULT"
    return found


def _decode_in_parallel(path: str | Path, index: PacketIndex, groups: list[tuple[int, int, set[int]]],
                        size: tuple[int, int] | None, workers: int) -> dict[int, np.ndarray] | None:
    """:func:`_decode_groups` over ``workers`` decoders at once (each its own container: PyAV and
    FFmpeg release the GIL while decoding), groups shared out by their packet counts."""
    from concurrent.futures import ThreadPoolExecutor

    shares: list[list[tuple[int, int, set[int]]]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for group in sorted(groups, key=lambda g: g[0] - g[1]):  # largest first, to the least loaded
        k = loads.index(min(loads))
        shares[k].append(group)
        loads[k] += group[1] - group[0] + 1

    def run(share: list[tuple[int, int, set[int]]]) -> dict[int, np.ndarray]:
        with av.open(str(path), metadata_errors="ignore") as container:
            return _decode_groups(path, container, index, sorted(share), size)

    found: dict[int, np.ndarray] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qclip-decode") as pool:
        for part in pool.map(run, shares):
            found.update(part)
    return found
