"""The targeted PyAV read (keyframe groups, non-reference frames skipped) against decord's
``get_batch`` and a sequential PyAV decode, and the rule that picks it over decord."""

from __future__ import annotations

from pathlib import Path

import av
import decord
import numpy as np
import pytest
from av.video.frame import PictureType

from qclip_plugin.sampling import build_sampler, frame_difference_profile, uniform_indices
from qclip_plugin.video import DecordReader, PyAVReader, open_video
from qclip_plugin.video.targeted import index_packets, plan_groups, read_frames

REAL_CLIPS = [
    "bigbuckbunny.mp4",
    "bikes.mp4",
    "carphone_distorted.mp4",
    "carphone_pristine.mp4",
    "konvid_10053703034.mp4",
    "lsvq_1724.mp4",
    "lsvq_17734.mp4",
]


def patterns(total: int, profile: np.ndarray) -> dict[str, np.ndarray]:
    """The index sets a sampler asks for, plus the edge cases of the grouping."""
    rng = np.random.default_rng(7)
    return {
        "uniform": uniform_indices(total, 8),
        "SegMSEMean": build_sampler("SegMSEMean")(total, 8, profile=profile),
        "MSESortedUNI": build_sampler("MSESortedUNI")(total, 8, profile=profile),
        "random": rng.choice(total, 8, replace=False),
        "first": np.array([0]),
        "last": np.array([total - 1]),
        "dense": np.arange(total // 3, total // 3 + 5),
        "all": np.arange(total),
    }


def reference(path: Path, indices: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Bare decord ``get_batch`` and a sequential PyAV decode of the same frames."""
    kwargs = {} if size is None else {"height": size[0], "width": size[1]}
    bare = decord.VideoReader(str(path), **kwargs).get_batch(indices).asnumpy()
    reader = PyAVReader(path, size)
    try:
        sequential = reader._read_sequential(indices)
    finally:
        reader.close()
    return bare, sequential


def write_bframes_mp4(path: Path, num_frames: int = 60, gop: int = 12) -> Path:
    """Lossy H.264 with B-frames (some of them references), short GOPs and motion everywhere."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.height, stream.width, stream.pix_fmt = 64, 96, "yuv420p"
    stream.options = {
        "preset": "medium",
        "crf": "28",
        "bf": "3",
        "b-pyramid": "normal",
        "g": str(gop),
        "keyint_min": str(gop),
        "sc_threshold": "0",
    }
    yy, xx = np.mgrid[:64, :96]
    for t in range(num_frames):
        frame = np.empty((64, 96, 3), np.uint8)
        frame[..., 0] = (xx * 3 + t * 5) % 256
        frame[..., 1] = (yy * 4 + t * 3) % 256
        frame[..., 2] = ((xx + yy) * 2 + t * 7) % 256
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


@pytest.fixture(scope="module")
def bframes_mp4(tmp_path_factory) -> Path:
    return write_bframes_mp4(tmp_path_factory.mktemp("targeted") / "bframes.mp4")


@pytest.mark.parametrize("name", REAL_CLIPS)
def test_targeted_read_is_bit_exact_on_the_real_clips(videos_dir, name):
    path = videos_dir / name
    total = len(decord.VideoReader(str(path)))
    profile = frame_difference_profile(path, size=(16, 16), cache_dir=False)
    for label, idx in patterns(total, profile).items():
        idx = np.unique(idx)
        size = (336, 336) if label != "first" else None
        got = read_frames(path, idx, size, expected_frames=total)
        bare, sequential = reference(path, idx, size)
        assert got is not None, label
        assert got.shape == bare.shape == (idx.size, *(size or bare.shape[1:3]), 3)
        assert np.array_equal(got, bare), label
        assert np.array_equal(got, sequential), label


def test_targeted_read_on_a_stream_with_b_frames(bframes_mp4):
    container = av.open(str(bframes_mp4))
    index = index_packets(container, container.streams.video[0])
    container.close()
    with av.open(str(bframes_mp4)) as c:
        types = [PictureType(f.pict_type) for f in c.decode(video=0)]
    assert index is not None and index.num_frames == 60
    assert index.keyframes.tolist() == [0, 12, 24, 36, 48]
    assert types.count(PictureType.B) >= 20  # something for skip_frame=NONREF to skip
    # Packets come in decoding order: B-frames after the frame they are displayed before.
    assert not np.array_equal(index.display, np.arange(60))
    # Wanted frames are grouped by the keyframe before them; each group ends at the last
    # packet one of its frames needs.
    groups = plan_groups(index, np.array([3, 5, 13, 47, 48]))
    assert [(first, sorted(wanted)) for first, _, wanted in groups] == [
        (int(index.position[0]), [3, 5]),
        (int(index.position[12]), [13]),
        (int(index.position[36]), [47]),
        (int(index.position[48]), [48]),
    ]
    assert [last for _, last, _ in groups] == [
        int(index.position[[3, 5]].max()),
        int(index.position[13]),
        int(index.position[47]),
        int(index.position[48]),
    ]
    rng = np.random.default_rng(0)
    for idx in (
        [0],
        [59],
        [11, 12],
        [1, 2, 3, 25, 26, 58],
        np.sort(rng.choice(60, 9, replace=False)),
        np.arange(60),
    ):
        idx = np.asarray(idx)
        for size in (None, (40, 30)):
            got = read_frames(bframes_mp4, idx, size, expected_frames=60)
            bare, sequential = reference(bframes_mp4, idx, size)
            assert got is not None and np.array_equal(got, bare) and np.array_equal(got, sequential)
            for threads in (1, 2):  # single-threaded and a fixed thread count decode the same
                assert np.array_equal(read_frames(bframes_mp4, idx, size, threads=threads), got)


def test_targeted_read_declines_what_it_cannot_order(bframes_mp4, tmp_path):
    idx = np.array([1, 30])
    # Another frame count than the caller's reader: not this reader's business.
    assert read_frames(bframes_mp4, idx, None, expected_frames=59) is None
    assert read_frames(bframes_mp4, np.array([60]), None) is None
    assert read_frames(tmp_path / "missing.mp4", idx, None) is None
    # A raw H.264 stream has no timestamps: PyAVReader then decodes sequentially, same frames.
    raw = tmp_path / "bframes.h264"
    with av.open(str(bframes_mp4)) as src, av.open(str(raw), "w", format="h264") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.size:
                packet.stream = out
                dst.mux(packet)
    assert read_frames(raw, idx, None) is None
    with open_video(raw, backend="pyav") as reader:
        frames = reader.get_batch(idx)
    assert np.array_equal(frames, reference(bframes_mp4, idx, None)[0])


def test_decord_reader_prefers_the_targeted_read_only_where_it_saves_decoding(videos_dir, monkeypatch):
    # lsvq_1724: keyframes every 33 frames.
    calls = []
    import qclip_plugin.video.decord_reader as decord_reader

    def spy(*args, **kwargs):
        calls.append(args[1].tolist())
        return read_frames(*args, **kwargs)

    monkeypatch.setattr(decord_reader, "read_frames", spy)
    path = videos_dir / "lsvq_1724.mp4"
    with open_video(path, size=(64, 64), backend="decord") as reader:
        assert isinstance(reader, DecordReader)
        assert reader._key_indices().tolist() == [0, 33, 66, 99, 132, 165, 198, 231]
        # Keyframes and the frames right after them: decord decodes little it does not return.
        for idx in ([0], [0, 33, 66, 99], [231, 232, 233], np.arange(40, 50)):
            assert not reader._prefer_targeted(np.asarray(idx))
        # Uniform picks: decord would decode 52 frames for 8 (from each keyframe to the pick).
        uni = uniform_indices(243, 8)
        assert uni.tolist() == [0, 35, 69, 104, 138, 173, 207, 242]
        assert reader._prefer_targeted(uni)
        frames = reader.get_batch(uni)
        assert calls == [uni.tolist()]
        assert np.array_equal(
            frames, decord.VideoReader(str(path), height=64, width=64).get_batch(uni).asnumpy()
        )
        reader.get_batch([0, 1])
        assert len(calls) == 1  # decord's own read
    # 176x144: decoding the 112 unwanted frames costs less than opening the file a second time.
    with open_video(videos_dir / "carphone_distorted.mp4", size=(64, 64), backend="decord") as reader:
        assert reader._key_indices().tolist() == [0]
        assert not reader._prefer_targeted(uniform_indices(120, 8))
