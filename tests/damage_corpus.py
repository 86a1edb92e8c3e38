"""A corpus of damaged and unusual videos, and a runner that loads each with every sampler.

Used by ``tests/test_video_damage.py``. The runner is also this module's command line, so the
test can load the corpus in a child process with a time limit (a hang cannot stall the suite):

    python tests/damage_corpus.py CASES.json RESULTS.json

Each case is loaded with the seven samplers, with FFmpeg's decoder threads and with one, twice;
the result per (case, sampler) is the outcomes (a frame hash, or ``VideoReadError``, or another
exception) and the slowest load's seconds.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import time
from pathlib import Path

import av
import numpy as np

SAMPLERS = ("UNISampl", "RandSampl", "UNIRandStart", "MSESortedUNI", "SegMSEMean", "SegMSEMedian", "Mixed")
#: (threads) of the loads of one case and sampler: FFmpeg's choice, one thread, and again.
RUNS = (0, 1, 0, 1)


def moving_frames(num: int, height: int = 64, width: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    out = np.empty((num, height, width, 3), np.uint8)
    for t in range(num):
        out[t, ..., 0] = (xx * 3 + t * 5) % 256
        out[t, ..., 1] = (yy * 4 + t * 3) % 256
        out[t, ..., 2] = ((xx + yy) * 2 + t * 7) % 256
    return out


def write_h264(path: Path, frames: np.ndarray, *, faststart: bool = False, lossless: bool = False) -> Path:
    """H.264 MP4, B-frames and 12-frame GOPs (lossy), or lossless (qp 0) for exact pixels."""
    container = av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {})
    stream = container.add_stream("libx264", rate=25)
    stream.height, stream.width, stream.pix_fmt = *frames.shape[1:3], "yuv420p"
    if lossless:
        stream.options = {"qp": "0", "preset": "ultrafast"}
    else:
        stream.options = {"preset": "medium", "crf": "30", "bf": "2", "g": "12", "sc_threshold": "0"}
    for frame in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


def write_audio_only(path: Path) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=16000)
    samples = (np.sin(np.arange(16000) / 10.0) * 0.3).astype(np.float32)[None]
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate = 16000
    container.mux(stream.encode(frame))
    container.mux(stream.encode())
    container.close()
    return path


def write_mjpeg_avi(path: Path, frames: np.ndarray) -> Path:
    """Motion JPEG in AVI: frame sizes sit in plain fields (AVI header, each JPEG's SOF) to patch."""
    container = av.open(str(path), "w", format="avi")
    stream = container.add_stream("mjpeg", rate=25)
    stream.height, stream.width, stream.pix_fmt = *frames.shape[1:3], "yuvj420p"
    for frame in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


def boxes(data: bytes, start: int = 0, end: int | None = None):
    """``(type, offset, size)`` of the MP4 boxes in ``data[start:end]``, recursing into containers."""
    end = len(data) if end is None else end
    containers = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        if size < 8:
            return
        yield kind, pos, size
        if kind in containers:
            yield from boxes(data, pos + 8, pos + size)
        elif kind == b"stsd":  # version/flags, entry count, then the sample entries
            yield from boxes(data, pos + 16, pos + size)
        pos += size


def box(data: bytes, kind: bytes) -> tuple[int, int]:
    return next((offset, size) for k, offset, size in boxes(data) if k == kind)


def set_mp4_size(data: bytes, height: int, width: int) -> bytes:
    """Declare another frame size in the track header and the avc1 sample entry."""
    out = bytearray(data)
    offset, size = box(data, b"tkhd")
    out[offset + size - 8 : offset + size] = struct.pack(">II", width << 16, height << 16)
    offset, _ = box(data, b"avc1")
    out[offset + 32 : offset + 36] = struct.pack(">HH", width, height)
    return bytes(out)


def set_mjpeg_size(data: bytes, height: int, width: int) -> bytes:
    """Declare another frame size in the AVI headers and in every JPEG's SOF0 segment."""
    out = bytearray(data)
    strf = data.index(b"strf")  # BITMAPINFOHEADER: size, width, height
    out[strf + 12 : strf + 20] = struct.pack("<ii", width, height)
    avih = data.index(b"avih")  # MainAVIHeader: ... dwWidth, dwHeight at 32 and 36
    out[avih + 8 + 32 : avih + 8 + 40] = struct.pack("<II", width, height)
    pos = 0
    while (pos := data.find(b"\xff\xc0", pos + 1)) != -1:
        out[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
    return bytes(out)


def flip_bytes(data: bytes, count: int, seed: int, region: tuple[int, int]) -> bytes:
    """``count`` random bytes of ``region`` replaced by other random values."""
    rng = np.random.default_rng(seed)
    out = np.frombuffer(data, np.uint8).copy()
    positions = rng.choice(np.arange(*region), count, replace=False)
    out[positions] ^= rng.integers(1, 256, count, dtype=np.uint8)
    return out.tobytes()


def mdat_region(data: bytes) -> tuple[int, int]:
    offset, size = box(data, b"mdat")
    return offset + 16, offset + size


def build_corpus(folder: Path, real_clip: Path | None = None) -> dict[str, dict]:
    """Write the corpus into ``folder``; name -> ``{"path", "options", "intact"}``.

    ``intact`` cases must give the decoded frames; the others VideoReadError or frames that do
    not depend on the run or the thread count.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, dict] = {}

    def add(
        name: str, data: bytes | None = None, *, path: Path | None = None, intact: bool = False, **options
    ):
        if path is None:
            path = folder / name
            path.write_bytes(data)
        cases[name] = {"path": str(path), "options": options, "intact": intact}

    frames = moving_frames(48)
    clip = write_h264(folder / "clip.mp4", frames)
    add("clip.mp4", path=clip, intact=True)
    fast = write_h264(folder / "faststart.mp4", frames, faststart=True)
    data, fast_data = clip.read_bytes(), fast.read_bytes()
    for share in (0.1, 0.5, 0.9, 0.99):  # index at the end: cut off; at the front: frames missing
        add(f"cut_{int(share * 100)}.mp4", data[: int(len(data) * share)])
        add(f"cut_faststart_{int(share * 100)}.mp4", fast_data[: int(len(fast_data) * share)])
    region = mdat_region(data)
    for count, seed in ((1, 1), (1, 2), (1, 3), (5, 4), (40, 5), (400, 6)):
        add(f"flip_{count}_{seed}.mp4", flip_bytes(data, count, seed, region))
    offset, size = box(data, b"moov")
    add("flip_header.mp4", flip_bytes(data, 40, 7, (offset + 8, offset + size)))
    zeroed = bytearray(data)
    zeroed[:64] = bytes(64)
    add("zeroed_start.mp4", bytes(zeroed))
    zeroed = bytearray(data)
    zeroed[offset + 8 : offset + size] = bytes(size - 8)
    add("zeroed_moov.mp4", bytes(zeroed))
    add("random.mp4", np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    add("audio_only.mp4", path=write_audio_only(folder / "audio_only.mp4"))
    add("one_frame.mp4", path=write_h264(folder / "one_frame.mp4", frames[:1], lossless=True), intact=True)
    add("two_frames.mp4", path=write_h264(folder / "two_frames.mp4", frames[:2], lossless=True), intact=True)
    add("size_0x0.mp4", set_mp4_size(data, 0, 0))
    add("size_huge.mp4", set_mp4_size(data, 65535, 65535))
    mjpeg = write_mjpeg_avi(folder / "mjpeg.avi", frames[:12]).read_bytes()
    add("mjpeg_0x0.avi", set_mjpeg_size(mjpeg, 0, 0))
    add("mjpeg_huge.avi", set_mjpeg_size(mjpeg, 60000, 60000))
    add("mjpeg_large.avi", set_mjpeg_size(mjpeg, 9000, 9000))  # below FFmpeg's limit, above ours
    yuv = frames[:10, :, :, 0].repeat(1, axis=0)  # any bytes: 10 frames of 64x96 luma
    raw = np.concatenate([yuv.reshape(10, -1), np.full((10, 64 * 96 // 2), 128, np.uint8)], axis=1).tobytes()
    add("wrong_geometry.yuv", raw, yuv_geometry=(32, 48))  # a whole number of frames: garbage, deterministic
    add("wrong_geometry_rest.yuv", raw, yuv_geometry=(62, 96))
    if real_clip is not None:  # the case: 2,000 random bytes of a real 1.1 MB clip
        real = real_clip.read_bytes()
        add("real_flip_2000.mp4", flip_bytes(real, 2000, 0, mdat_region(real)))
    return cases


def load_all(case: dict, sampler: str, threads: int) -> str:
    from qclip_plugin.data.pipeline import sample_video

    frames, indices, total = sample_video(
        case["path"], 8, sampler, (32, 32), seed=3, cache_dir=False, threads=threads, **case["options"]
    )
    return f"{hashlib.sha1(frames.tobytes()).hexdigest()[:12]} {indices.tolist()} {total}"


def run(cases: dict[str, dict], out: Path) -> None:
    """Load every case with every sampler; results stream to ``out`` (JSON lines), so a hang shows where."""
    from qclip_plugin.data import pipeline  # noqa: F401  (imported before the clock starts)
    from qclip_plugin.video import VideoReadError

    with out.open("w") as handle:
        for name, case in cases.items():
            for sampler in SAMPLERS:
                outcomes, slowest = [], 0.0
                for threads in RUNS:
                    start = time.perf_counter()
                    try:
                        outcomes.append(load_all(case, sampler, threads))
                    except VideoReadError as error:
                        outcomes.append(f"VideoReadError: {error.reason}")
                    except Exception as error:  # noqa: BLE001 - anything else is what the test looks for
                        outcomes.append(f"{type(error).__name__}: {error}")
                    slowest = max(slowest, time.perf_counter() - start)
                handle.write(
                    json.dumps({"case": name, "sampler": sampler, "outcomes": outcomes, "seconds": slowest})
                    + "\n"
                )
                handle.flush()


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
