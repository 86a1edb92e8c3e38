"""Video readers: decord/PyAV agreement on the shared clips, bad files, raw YUV, the guards."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from qclip_plugin import VideoReadError
from qclip_plugin.video import (
    DecordReader,
    PyAVReader,
    YUVReader,
    check_header,
    check_in_subprocess,
    guard,
    open_video,
    video_info,
)

CLIPS = {  # name: (frames, (height, width), fps)
    "lsvq_1724.mp4": (243, (720, 406), 30000 / 1001),
    "bigbuckbunny.mp4": (132, (720, 1280), 25.0),
    "carphone_pristine.mp4": (120, (144, 176), 30000 / 1001),
    "carphone_distorted.mp4": (120, (144, 176), 30000 / 1001),
}


def write_mp4(path: Path, frames: np.ndarray, fps: int = 25, faststart: bool = False, rotation: int = 0) -> Path:
    """H.264 (lossless, qp 0) mp4 of ``uint8 (T, H, W, 3)`` frames, with an optional display rotation."""
    container = av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {})
    stream = container.add_stream("libx264", rate=fps)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "yuv420p"
    stream.options = {"qp": "0", "preset": "ultrafast"}
    if rotation:
        stream.set_display_rotation(rotation)
    for frame in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


def textured_frames(num: int, height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.stack([np.roll(base, 2 * t, axis=1) for t in range(num)])


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_shared_clip_metadata(videos_dir, name):
    frames, shape, fps = CLIPS[name]
    with open_video(videos_dir / name) as reader:
        assert reader.backend == "pyav"  # the default: it reports damage, decord conceals it
        assert (reader.num_frames, (reader.source_height, reader.source_width)) == (frames, shape)
        assert reader.size == shape
        assert reader.fps == pytest.approx(fps, rel=1e-4)
    info = video_info(videos_dir / name, size=(112, 112))
    assert (info["num_frames"], info["height"], info["width"]) == (frames, *shape)


@pytest.mark.parametrize("name", ["lsvq_1724.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"])
@pytest.mark.parametrize("size", [None, (336, 336), (112, 112)])
def test_decord_and_pyav_are_bit_exact(videos_dir, name, size):
    # Same FFmpeg chain in both (scale=W:H:flags=bilinear, then rgb24): identical pixels,
    # natively and resized, although decord bundles FFmpeg 4.1 and PyAV FFmpeg 8.
    path = videos_dir / name
    total = CLIPS[name][0]
    idx = np.array([0, 1, total // 3, total // 2 + 1, total - 1])
    with open_video(path, size=size, backend="decord") as dec, open_video(path, size=size, backend="pyav") as pav:
        assert isinstance(dec, DecordReader) and isinstance(pav, PyAVReader)
        assert pav.num_frames == dec.num_frames == total
        a, b = dec.get_batch(idx), pav.get_batch(idx)
    expected = (len(idx), *(size or CLIPS[name][1]), 3)
    assert a.shape == b.shape == expected and a.dtype == b.dtype == np.uint8
    assert np.array_equal(a, b)


@pytest.mark.parametrize("rotation,corner", [(90, "bottom-left"), (180, "bottom-right"), (270, "top-right")])
def test_display_rotation_is_applied_like_decord(tmp_path, rotation, corner):
    # Phone videos carry a display rotation; decord turns frames upright, so the PyAV fallback and
    # the first-pass frames must too (same transposes before the scale).
    frames = np.zeros((3, 32, 64, 3), np.uint8)
    frames[:, :8, :16] = 255  # marker in the coded frame's top-left corner
    path = write_mp4(tmp_path / f"rot{rotation}.mp4", frames, rotation=rotation)
    for size in (None, (20, 30)):
        with open_video(path, size=size, backend="decord") as dec, open_video(path, size=size, backend="pyav") as pav:
            upright = (64, 32) if rotation in (90, 270) else (32, 64)
            assert dec.size == pav.size == (size or upright)
            a, b = dec.get_batch([0, 2]), pav.get_batch([0, 2])
        assert np.array_equal(a, b)
    with open_video(path) as reader:
        img = reader.get_batch([0])[0, ..., 0] > 128
    h, w = img.shape
    ys, xs = np.nonzero(img)
    where = ("top" if ys.mean() < h / 2 else "bottom") + "-" + ("left" if xs.mean() < w / 2 else "right")
    assert where == corner


def test_iter_chunks_equals_get_batch_across_backends(videos_dir):
    path = videos_dir / "carphone_distorted.mp4"
    with open_video(path, size=(48, 64)) as dec, open_video(path, size=(48, 64), backend="pyav") as pav:
        chunks = list(dec.iter_chunks(chunk_size=50))
        assert [len(c) for c in chunks] == [50, 50, 20]
        whole = np.concatenate(chunks)
        assert np.array_equal(whole, np.concatenate(list(pav.iter_chunks(chunk_size=33))))
        assert np.array_equal(whole, dec.get_batch(np.arange(120)))


@pytest.mark.parametrize("size", [None, (112, 112)])
def test_decord_reader_under_the_torch_bridge_equals_native(videos_dir, monkeypatch, size):
    # FAST-VQA and DOVER switch decord's bridge to torch when imported: the reader must still read
    # with decord (no silent PyAV fallback), give the native bridge's frames, and leave the bridge be.
    import decord
    import torch

    from qclip_plugin.video import decord_reader

    path = videos_dir / "carphone_pristine.mp4"  # small frames: decord's own get_batch, not the targeted read
    idx = np.array([0, 7, 60, 119])

    def read() -> tuple[np.ndarray, np.ndarray]:
        with open_video(path, size=size, backend="decord") as reader:
            return reader.get_batch(idx), np.concatenate(list(reader.iter_chunks(chunk_size=50)))

    native_batch, native_all = read()
    monkeypatch.setattr(decord_reader.DecordReader, "_pyav",
                        lambda self, err: pytest.fail(f"fell back to PyAV under the torch bridge: {err}"))
    decord.bridge.set_bridge("torch")
    try:
        batch, every = read()
        assert isinstance(decord.VideoReader(str(path))[0], torch.Tensor)  # the caller's bridge is still set
    finally:
        decord.bridge.set_bridge("native")
    assert batch.dtype == every.dtype == np.uint8 and every.shape == (120, *(size or (144, 176)), 3)
    assert np.array_equal(batch, native_batch) and np.array_equal(every, native_all)
    assert np.array_equal(batch, every[idx])


def test_get_batch_keeps_order_and_repeats(tmp_path):
    frames = textured_frames(12)
    path = write_mp4(tmp_path / "t.mp4", frames)
    for backend in ("decord", "pyav"):
        with open_video(path, backend=backend) as reader:
            single = np.stack([reader.get_batch([i])[0] for i in (7, 2, 7, 0)])
            assert np.array_equal(reader.get_batch([7, 2, 7, 0]), single)
            assert reader.get_batch([]).shape == (0, 64, 96, 3)
            with pytest.raises(IndexError, match=r"\[0, 12\)"):
                reader.get_batch([3, 12])


def test_lossless_video_reads_back_its_pixels(tmp_path):
    # Flat grey frames survive yuv420p exactly (up to the BT.601 round trip), so reading is checked
    # against the written values, not only backend against backend.
    levels = np.array([16, 60, 128, 200, 235], np.uint8)
    frames = np.broadcast_to(levels[:, None, None, None], (5, 32, 48, 3)).copy()
    path = write_mp4(tmp_path / "grey.mp4", frames)
    with open_video(path) as reader:
        out = reader.get_batch(np.arange(5)).astype(int)
    assert np.abs(out - frames).max() <= 1


def _assert_names_file(err: VideoReadError, path: Path) -> None:
    assert err.path == os.fspath(path)
    assert os.fspath(path) in str(err) and err.reason in str(err)


def test_empty_file_raises(videos_dir):
    path = videos_dir / "empty.mp4"
    for backend in ("auto", "decord", "pyav"):
        with pytest.raises(VideoReadError, match="empty") as info:
            open_video(path, backend=backend)
        _assert_names_file(info.value, path)


def test_missing_path_and_directory_raise(tmp_path):
    with pytest.raises(VideoReadError, match="no such file") as info:
        open_video(tmp_path / "nope.mp4")
    _assert_names_file(info.value, tmp_path / "nope.mp4")
    with pytest.raises(VideoReadError, match="a directory, not a video file"):
        open_video(tmp_path)


def test_garbage_and_header_truncated_files_raise(tmp_path, videos_dir):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.mp4"  # lsvq_1724 keeps its index (moov) at the end: cut it off
    truncated.write_bytes((videos_dir / "lsvq_1724.mp4").read_bytes()[:1_000_000])
    for path in (garbage, truncated):
        for backend in ("auto", "decord", "pyav"):
            with pytest.raises(VideoReadError) as info:
                open_video(path, backend=backend)
            _assert_names_file(info.value, path)


def test_truncated_data_raises(tmp_path):
    # Index at the front (faststart) but half the frame data missing: the packets present are
    # fewer than the index lists. Reading any frame says so, whichever frames are asked for.
    full = write_mp4(tmp_path / "full.mp4", textured_frames(60), faststart=True)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    for backend in ("auto", "pyav", "decord"):
        with pytest.raises(VideoReadError, match="truncated: its index lists 60 frames") as info:
            with open_video(cut, backend=backend) as reader:
                reader.get_batch([0])
        _assert_names_file(info.value, cut)
    with open_video(cut) as reader:
        assert reader.num_frames == 60
        # decoding every frame meets the cut packet first
        with pytest.raises(VideoReadError, match="packet 12 .* marked corrupt .*cut") as info:
            for _ in reader.iter_chunks():
                pass
        _assert_names_file(info.value, cut)


def test_corrupt_stream_raises(tmp_path, videos_dir):
    data = bytearray((videos_dir / "lsvq_1724.mp4").read_bytes())
    rng = np.random.default_rng(0)
    pos = rng.integers(5000, len(data) - 100_000, 2000)  # scribble over the frame data
    data[pos[0]:pos[0] + 200_000] = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data[: len(data)]))
    with pytest.raises(VideoReadError) as info:
        with open_video(path, size=(64, 64)) as reader:
            for _ in reader.iter_chunks():
                pass
    _assert_names_file(info.value, path)


def test_header_guard_reports_the_stream(videos_dir):
    header = check_header(videos_dir / "bigbuckbunny.mp4")
    assert (header.height, header.width, header.num_frames, header.codec) == (720, 1280, 132, "h264")
    assert "mp4" in header.container


def test_subprocess_guard_maps_crash_and_hang(videos_dir, tmp_path, monkeypatch):
    assert check_in_subprocess(videos_dir / "carphone_distorted.mp4", timeout=60) == 120
    garbage = tmp_path / "g.mp4"
    garbage.write_bytes(b"\x00" * 4096)
    with pytest.raises(VideoReadError, match="decord cannot decode"):
        check_in_subprocess(garbage)
    # The child's failure modes, simulated: an abort() and a hang must not reach this process.
    monkeypatch.setattr(guard, "_CHILD", "import os; os.abort()")
    with pytest.raises(VideoReadError, match="SIGABRT"):
        check_in_subprocess(videos_dir / "carphone_distorted.mp4")
    monkeypatch.setattr(guard, "_CHILD", "import time; time.sleep(30)")
    with pytest.raises(VideoReadError, match="hang"):
        check_in_subprocess(videos_dir / "carphone_distorted.mp4", timeout=1)


def test_open_video_subprocess_guard_opens_good_files(videos_dir):
    with open_video(videos_dir / "carphone_distorted.mp4", guard="subprocess", size=(72, 88)) as reader:
        assert reader.get_batch([0, 119]).shape == (2, 72, 88, 3)


def test_video_read_error_pickles():
    err = pickle.loads(pickle.dumps(VideoReadError("/x/y.mp4", "no such file", "look again")))
    assert (err.path, err.reason, err.hint) == ("/x/y.mp4", "no such file", "look again")
    assert str(err) == "cannot read video '/x/y.mp4': no such file; look again"


def bt601_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Reference limited-range BT.601 YUV -> RGB (what FFmpeg assumes for untagged YUV)."""
    y = 1.164383 * (y.astype(float) - 16)
    u, v = u.astype(float) - 128, v.astype(float) - 128
    u = u.repeat(2, 0).repeat(2, 1)
    v = v.repeat(2, 0).repeat(2, 1)
    rgb = np.stack([y + 1.596027 * v, y - 0.391762 * u - 0.812968 * v, y + 2.017232 * u], -1)
    return np.clip(np.round(rgb), 0, 255)


def write_yuv(path: Path, height: int, width: int, num: int) -> list[tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(1)
    planes = []
    with open(path, "wb") as f:
        for _ in range(num):
            # Smooth chroma (constant over 2x2 blocks by construction) so upsampling is exact.
            y = rng.integers(16, 236, (height, width), dtype=np.uint8)
            u = rng.integers(100, 156, (height // 2, width // 2), dtype=np.uint8)
            v = rng.integers(100, 156, (height // 2, width // 2), dtype=np.uint8)
            f.write(y.tobytes() + u.tobytes() + v.tobytes())
            planes.append((y, u, v))
    return planes


def test_yuv_reader_matches_bt601_reference(tmp_path):
    path = tmp_path / "clip.yuv"
    planes = write_yuv(path, 36, 64, 5)
    with open_video(path, yuv_geometry=(36, 64)) as reader:
        assert isinstance(reader, YUVReader)
        assert (reader.num_frames, reader.size, reader.fps) == (5, (36, 64), 30.0)
        frames = reader.get_batch([4, 0, 2])
    for out, k in zip(frames, (4, 0, 2), strict=True):
        ref = bt601_rgb(*planes[k])
        # FFmpeg's fixed-point conversion and chroma siting differ from the float reference by a few levels.
        assert np.abs(out.astype(float) - ref).mean() < 1.5
        assert np.abs(out.astype(float) - ref).max() <= 40


def test_yuv_flat_frames_exact_and_resized(tmp_path):
    path = tmp_path / "flat.yuv"
    h, w = 8, 12
    with open(path, "wb") as f:
        for level in (16, 126, 235):
            f.write(bytes([level]) * (h * w) + bytes([128]) * (h * w // 2))
    with open_video(path, yuv_geometry=(h, w)) as reader:
        full = reader.get_batch([0, 1, 2])
    assert [int(v) for v in full[:, 0, 0, 0]] == [0, 128, 255]
    assert all(np.all(f == f[0, 0, 0]) for f in full)
    with open_video(path, yuv_geometry=(h, w), size=(4, 6)) as reader:
        small = reader.get_batch([1])
    # Still flat; swscale's fast (not accurate_rnd) combined scale+convert path, which decord uses
    # too, lands 2 levels low on mid grey.
    assert small.shape == (1, 4, 6, 3) and np.all(small == small.flat[0]) and abs(int(small.flat[0]) - 128) <= 2


def test_yuv_wrong_geometry_raises(tmp_path):
    path = tmp_path / "clip.yuv"
    write_yuv(path, 36, 64, 2)
    with pytest.raises(VideoReadError, match="yuv_geometry|YUV420p") as info:
        open_video(path)  # default 1080x1920 does not fit
    assert "1920x1080" in str(info.value)
    with pytest.raises(VideoReadError, match="whole number"):
        open_video(path, yuv_geometry=(36, 62))


def test_decord_only_on_request(tmp_path, monkeypatch, videos_dir):
    from qclip_plugin.video import decord_reader

    def refuse(*args, **kwargs):
        raise RuntimeError("simulated decord failure")

    monkeypatch.setattr(decord_reader, "_decord", lambda: type("D", (), {"VideoReader": refuse, "cpu": lambda i: i}))
    path = tmp_path / "copy.mp4"
    shutil.copy(videos_dir / "carphone_distorted.mp4", path)
    with open_video(path, size=(72, 88)) as reader:
        assert reader.backend == "pyav" and reader.num_frames == 120
    with pytest.raises(VideoReadError, match="decord cannot open"):
        open_video(path, backend="decord")
