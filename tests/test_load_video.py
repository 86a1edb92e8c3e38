"""load_video, load_frames, frames_to_tensor and the LoadVideoFrames pipeline step."""

from __future__ import annotations

from pathlib import Path

import av
import decord
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

import qclip_plugin
from qclip_plugin import VideoReadError, load_video
from qclip_plugin.data import LoadVideoFrames, frames_to_tensor, load_frames, sample_video
from qclip_plugin.registry import TRANSFORMS
from qclip_plugin.sampling import STRATEGIES, build_sampler, uniform_indices
from qclip_plugin.video import open_video, single_pass


@pytest.fixture(scope="module")
def lsvq(videos_dir) -> Path:
    return videos_dir / "lsvq_1724.mp4"


@pytest.fixture(scope="module")
def profile_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("profiles")


def expected_tensor(frames: np.ndarray, mean=(0.5,) * 3, std=(0.5,) * 3) -> torch.Tensor:
    x = torch.from_numpy(frames.astype(np.float64) / 255.0).permute(0, 3, 1, 2)
    x = (x - torch.tensor(mean, dtype=torch.float64)[:, None, None]) / torch.tensor(std, dtype=torch.float64)[
        :, None, None
    ]
    return x.float()


@pytest.mark.parametrize("sampler", STRATEGIES)
def test_each_sampler_gives_the_paper_input(lsvq, profile_cache, sampler):
    x = load_video(lsvq, sampler=sampler, seed=0, cache_dir=profile_cache)
    assert x.shape == (8, 3, 336, 336) and x.dtype == torch.float32 and x.is_contiguous()
    assert -1.0 <= float(x.min()) < float(x.max()) <= 1.0


def test_top_level_entry_point(lsvq):
    assert qclip_plugin.load_video is load_video
    assert qclip_plugin.VideoReadError is VideoReadError


def test_unisampl_equals_bare_decord_frames(lsvq):
    # The frames are decord's own (resized in its decoder), normalised (x / 255 - 0.5) / 0.5.
    vr = decord.VideoReader(str(lsvq), width=336, height=336)
    idx = uniform_indices(len(vr), 8)
    ref = vr.get_batch(idx).asnumpy()
    x = load_video(lsvq)
    assert torch.allclose(x, expected_tensor(ref), rtol=0, atol=1e-6)
    assert torch.equal(load_frames(lsvq, idx), x)


def test_custom_size_mean_std_and_native_size(videos_dir):
    path = videos_dir / "carphone_pristine.mp4"
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)  # OpenAI CLIP
    x = load_video(path, num_frames=4, size=(224, 160), mean=mean, std=std)
    with open_video(path, size=(224, 160)) as reader:
        ref = reader.get_batch(uniform_indices(120, 4))
    assert x.shape == (4, 3, 224, 160)
    assert torch.allclose(x, expected_tensor(ref, mean, std), rtol=0, atol=2e-6)
    native = load_video(path, num_frames=3, size=None)
    assert native.shape == (3, 3, 144, 176)


def test_seeded_random_sampling_is_reproducible(lsvq):
    a = sample_video(lsvq, 8, "RandSampl", (64, 64), seed=5)
    b = sample_video(lsvq, 8, "RandSampl", (64, 64), seed=5)
    c = sample_video(lsvq, 8, "RandSampl", (64, 64), seed=6)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0]) and not np.array_equal(a[1], c[1])
    assert a[2] == 243 and np.array_equal(a[1], build_sampler("RandSampl")(243, 8, rng=5))


@pytest.mark.parametrize("sampler", ["MSESortedUNI", "SegMSEMean", "SegMSEMedian"])
def test_first_pass_cached_pass_and_two_pass_agree_bit_exactly(lsvq, tmp_path, sampler, monkeypatch):
    monkeypatch.setattr(single_pass, "ARENA_IDLE_HITS", 1)
    # First pass: one PyAV decode gives the profile and the frames. Cached pass: decord fetches
    # the frames. No retention: decoded twice. All three must give the same tensor.
    first = load_video(lsvq, sampler=sampler, size=(112, 112), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert single_pass._ARENA.buf.size >= 243 * 720 * 406 * 3 // 2  # the kept YUV frames
    cached = load_video(lsvq, sampler=sampler, size=(112, 112), cache_dir=tmp_path)
    assert single_pass._ARENA.buf is None  # released once profiles keep coming from the cache
    two_pass = load_video(lsvq, sampler=sampler, size=(112, 112), cache_dir=False, retain_bytes=0)
    assert torch.equal(first, cached) and torch.equal(first, two_pass)


def test_first_pass_of_a_rotated_video_matches_the_cached_pass(tmp_path):
    container = av.open(str(tmp_path / "portrait.mp4"), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.height, stream.width, stream.pix_fmt = 48, 80, "yuv420p"
    stream.set_display_rotation(90)
    rng = np.random.default_rng(0)
    for _ in range(20):
        frame = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    path = tmp_path / "portrait.mp4"
    first = load_video(path, num_frames=4, sampler="MSESortedUNI", size=None, cache_dir=tmp_path)
    cached = load_video(path, num_frames=4, sampler="MSESortedUNI", size=None, cache_dir=tmp_path)
    assert first.shape == (4, 3, 80, 48) and torch.equal(first, cached)


def test_short_video_repeats_frames(tmp_path):
    container = av.open(str(tmp_path / "short.mp4"), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.height, stream.width, stream.pix_fmt = 32, 32, "yuv420p"
    stream.options = {"qp": "0"}
    for level in (20, 80, 140):
        frame = np.full((32, 32, 3), level, np.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    for sampler in STRATEGIES:
        frames, idx, total = sample_video(
            tmp_path / "short.mp4", 8, sampler, (32, 32), seed=0, cache_dir=tmp_path
        )
        assert total == 3 and frames.shape == (8, 32, 32, 3)
        assert np.bincount(idx, minlength=3).tolist() in ([3, 3, 2], [2, 4, 2], [3, 2, 3], [2, 3, 3])
        means = frames.reshape(8, -1).mean(1)
        assert np.allclose(means, np.array([20, 80, 140])[idx], atol=2)


def test_unreadable_videos_raise(videos_dir, tmp_path):
    with pytest.raises(VideoReadError, match="empty") as info:
        load_video(videos_dir / "empty.mp4")
    assert "empty.mp4" in str(info.value)
    with pytest.raises(VideoReadError, match="no such file"):
        load_video(tmp_path / "missing.mp4", sampler="SegMSEMean", cache_dir=tmp_path)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 1000)
    with pytest.raises(VideoReadError, match="garbage.mp4"):
        load_video(garbage, sampler="MSESortedUNI", cache_dir=tmp_path)


def test_yuv_through_load_video(tmp_path):
    h, w = 16, 24
    path = tmp_path / "clip.yuv"
    with open(path, "wb") as f:
        for level in range(16, 236, 20):  # 11 flat frames, brightening
            f.write(bytes([level]) * (h * w) + bytes([128]) * (h * w // 2))
    x = load_video(path, num_frames=4, size=(8, 12), yuv_geometry=(h, w))
    assert x.shape == (4, 3, 8, 12)
    per_frame = x.mean(dim=(1, 2, 3))
    assert torch.all(per_frame[1:] > per_frame[:-1])  # uniform picks 0, 3, 7, 10: increasing brightness
    m = load_video(
        path, num_frames=4, sampler="SegMSEMean", size=(8, 12), yuv_geometry=(h, w), cache_dir=tmp_path
    )
    assert m.shape == (4, 3, 8, 12)


def test_frames_to_tensor_inputs():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    x = frames_to_tensor(frames)
    assert x.shape == (3, 3, 20, 30) and torch.allclose(x, expected_tensor(frames), atol=1e-6)
    assert torch.equal(frames_to_tensor(torch.from_numpy(frames)), x)
    as_float = frames_to_tensor(torch.from_numpy(frames).float() / 255)
    assert torch.allclose(as_float, x, atol=1e-6)
    resized = frames_to_tensor(frames, size=(10, 15))
    assert resized.shape == (3, 3, 10, 15)
    # a flat image stays flat through resizing
    flat = frames_to_tensor(np.full((1, 20, 30, 3), 51, np.uint8), size=(7, 9))
    assert torch.allclose(flat, torch.full_like(flat, 51 / 255 / 0.5 - 1), atol=1e-6)
    with pytest.raises(ValueError, match="\\(T, H, W, 3\\)"):
        frames_to_tensor(frames[..., 0])
    with pytest.raises(TypeError, match="uint8"):
        frames_to_tensor(frames.astype(np.int32))
    with pytest.raises(ValueError, match="std"):
        frames_to_tensor(frames, std=(0.5, 0.0, 0.5))


def test_transform_in_an_mmengine_pipeline(lsvq, profile_cache):
    with DefaultScope.overwrite_default_scope("qclip_plugin"):
        pipeline = Compose([dict(type="LoadVideoFrames", num_frames=8, sampler="UNISampl", size=(336, 336))])
    assert TRANSFORMS.get("LoadVideoFrames") is LoadVideoFrames
    results = pipeline({"filename": str(lsvq), "label": 3.2})
    assert results["inputs"].shape == (8, 3, 336, 336) and results["label"] == 3.2
    assert results["frame_inds"].tolist() == uniform_indices(243, 8).tolist()
    assert results["total_frames"] == 243 and results["img_shape"] == (336, 336)
    assert torch.equal(results["inputs"], load_video(lsvq))


def test_transform_seed_and_test_mode(lsvq, profile_cache):
    step = LoadVideoFrames(num_frames=4, sampler="Mixed", size=(32, 32), cache_dir=profile_cache)
    a = step({"filename": str(lsvq), "seed": 11})
    b = step({"filename": str(lsvq), "seed": 11})
    assert np.array_equal(a["frame_inds"], b["frame_inds"])
    evaluated = step({"filename": str(lsvq), "test_mode": True, "seed": 3})
    assert evaluated["frame_inds"].tolist() == uniform_indices(243, 4).tolist()
    assert "test_mode=True" in repr(LoadVideoFrames(sampler="Mixed", test_mode=True))
    with pytest.raises(KeyError, match="results\\['filename'\\]"):
        step({"path": str(lsvq)})


@pytest.mark.parametrize("sampler", ["RandSampl", "UNIRandStart", dict(type="Mixed", test_strategy="RandSampl")])
def test_random_strategies_are_deterministic_outside_training(lsvq, sampler):
    from qclip_plugin.sampling import video_seed

    # a per-video seed: a stable hash of the run's seed and the video's name (not Python's salted hash)
    assert video_seed(0, "yfcc-batch3/1724.mp4") == video_seed(None, "yfcc-batch3/1724.mp4") == 8213625792059405313
    step = LoadVideoFrames(num_frames=4, sampler=sampler, size=(16, 16), seed=7, test_mode=True)

    def indices(name, step=step):
        return step({"filename": str(lsvq), "name": name})["frame_inds"].tolist()

    assert indices("a.mp4") == indices("a.mp4")  # every run, every epoch
    assert len({tuple(indices(f"v{i}.mp4")) for i in range(6)}) > 1  # but not the same frames for every video
    other_run = LoadVideoFrames(num_frames=4, sampler=sampler, size=(16, 16), seed=8, test_mode=True)
    assert any(indices(f"v{i}.mp4") != indices(f"v{i}.mp4", other_run) for i in range(6))
    expected = build_sampler(sampler, test_mode=True)(243, 4, rng=video_seed(7, "a.mp4")).tolist()
    assert indices("a.mp4") == expected
    # training draws fresh frames each time (no seed given)
    train = LoadVideoFrames(num_frames=4, sampler=sampler, size=(16, 16))
    draws = {tuple(train({"filename": str(lsvq), "name": "a.mp4"})["frame_inds"].tolist()) for _ in range(6)}
    assert len(draws) > 1


def test_truncated_file_raises_with_mse_strategies(tmp_path):
    # Index at the front, half the frame data gone: the single PyAV pass sees too few frames,
    # falls back to the reader, which reports the truncation.
    container = av.open(str(tmp_path / "full.mp4"), "w", options={"movflags": "faststart"})
    stream = container.add_stream("libx264", rate=25)
    stream.height, stream.width, stream.pix_fmt = 64, 64, "yuv420p"
    rng = np.random.default_rng(0)
    for _ in range(40):
        frame = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    data = (tmp_path / "full.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    for sampler in ("SegMSEMean", "UNISampl"):
        with pytest.raises(VideoReadError, match="truncated") as info:
            load_video(cut, sampler=sampler, cache_dir=tmp_path)
        assert str(cut) in str(info.value)
    assert not list(tmp_path.glob("*.npy"))  # nothing cached for a broken file


def test_mixed_decodes_everything_only_when_it_draws_an_mse_strategy(lsvq, tmp_path):
    uniform_only = dict(type="Mixed", strategies=["UNISampl", "RandSampl"])
    for seed in range(4):
        load_video(lsvq, num_frames=4, sampler=uniform_only, size=(32, 32), seed=seed, cache_dir=tmp_path)
    assert not list(tmp_path.glob("*.npy"))
    load_video(
        lsvq,
        num_frames=4,
        sampler=dict(type="Mixed", strategies=["SegMSEMean"]),
        size=(32, 32),
        cache_dir=tmp_path,
    )
    assert len(list(tmp_path.glob("*.npy"))) == 1


# uint8 frames through DataLoader workers, normalised where they are consumed -----------------------

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


@pytest.mark.parametrize("mean, std", [((0.5,) * 3, (0.5,) * 3), (CLIP_MEAN, CLIP_STD)])
@pytest.mark.parametrize("name", ["lsvq_1724.mp4", "konvid_10053703034.mp4", "carphone_distorted.mp4"])
def test_uint8_frames_normalised_later_are_bit_identical(videos_dir, name, mean, std):
    from qclip_plugin.data.pipeline import normalize_frames
    from qclip_plugin.preprocessing import normalize_uint8

    path = videos_dir / name
    expected = load_video(path, size=(64, 80), mean=mean, std=std)
    raw = load_video(path, size=(64, 80), mean=mean, std=std, normalize=False)
    assert raw.dtype == torch.uint8 and raw.shape == (8, 3, 64, 80)
    frames, _, _ = sample_video(path, size=(64, 80))
    assert torch.equal(raw, torch.from_numpy(frames).permute(0, 3, 1, 2))  # the decoder's pixels, unchanged
    # numpy (CPU) path of the scoring loop, one tensor and a batch of them; torch path of the model
    assert torch.equal(normalize_frames(raw, mean, std), expected)
    assert torch.equal(
        normalize_frames([raw, raw.flip(0)], mean, std), torch.stack([expected, expected.flip(0)])
    )
    assert torch.equal(normalize_uint8(raw, mean, std), expected)
    assert torch.equal(normalize_uint8(raw.unsqueeze(0), mean, std)[0], expected)
    assert normalize_uint8(raw, mean, std).is_contiguous()


def test_normalize_frames_inputs():
    from qclip_plugin.data.pipeline import normalize_frames

    normalised = torch.randn(2, 3, 4, 5)
    assert normalize_frames(normalised) is normalised  # float frames are taken as normalised already
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).repeat(3, 1).reshape(3, 1, 3)
    assert normalize_frames(x).flatten().tolist() == pytest.approx([-1.0, -0.6, 1.0] * 3, abs=1e-7)
    with pytest.raises(TypeError, match="uint8"):
        normalize_frames(x.to(torch.int16))
    with pytest.raises(ValueError, match="one shape"):
        normalize_frames([x, x[:, :, :2]])
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, H, W\)"):
        normalize_frames(x[:2])


def test_transform_without_normalising_then_the_model_normalises(lsvq):
    from qclip_plugin.models.vqa_model import QCLIPVQAModel

    kwargs = dict(num_frames=4, sampler="UNISampl", size=(112, 112))
    floats = LoadVideoFrames(**kwargs)({"filename": str(lsvq)})["inputs"]
    step = LoadVideoFrames(**kwargs, normalize=False)
    raw = step({"filename": str(lsvq)})["inputs"]
    assert raw.dtype == torch.uint8 and raw.shape == floats.shape and "normalize=False" in repr(step)
    torch.manual_seed(0)
    model = QCLIPVQAModel(dict(preset="tiny", pretrained=None)).eval()
    with torch.no_grad():
        # default_collate stacks; pseudo_collate hands a list: both normalised exactly like the pipeline
        assert torch.equal(model(torch.stack([raw, raw])), model(torch.stack([floats, floats])))
        assert torch.equal(model([raw]), model([floats]))


def test_decoder_threads_share_the_cores_between_workers():
    import os

    from qclip_plugin.data.pipeline import decoder_threads

    class Threads(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return decoder_threads()

    assert decoder_threads() == 0  # this process: FFmpeg's own choice
    cores = len(os.sched_getaffinity(0))
    loader = torch.utils.data.DataLoader(Threads(), batch_size=None, num_workers=2)
    assert list(loader) == [max(1, cores // 2)] * 2
