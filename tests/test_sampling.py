"""Frame-difference profile (eq. 13), its cache, and the seven registered strategies."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from qclip_plugin.registry import SAMPLERS
from qclip_plugin.sampling import (
    STRATEGIES,
    FrameSampler,
    Mixed,
    build_sampler,
    cache_path,
    consecutive_mse,
    frame_difference,
    frame_difference_profile,
    profile_cache,
    profile_from_differences,
    profile_single_pass,
    repeat_indices,
    uniform_indices,
)
from qclip_plugin.video import VideoReadError, open_video, single_pass

STILL = 24  # frames 0..23 of the generated video are identical, 24..47 move


def write_mp4(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "yuv420p"
    stream.options = {"qp": "0", "preset": "ultrafast"}
    for frame in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


@pytest.fixture(scope="module")
def still_then_moving(tmp_path_factory) -> Path:
    """48 frames, 64x96: a still textured scene, then a bright square sliding 3 px a frame."""
    yy, xx = np.mgrid[:64, :96]
    frames = np.full((48, 64, 96, 3), 90, np.uint8)
    frames[..., 0] = (xx * 3 + yy * 2) % 256
    for t in range(STILL, 48):
        x0 = (t - STILL) * 3
        frames[t, 16:40, x0:x0 + 16] = 230
    return write_mp4(tmp_path_factory.mktemp("gen") / "still_then_moving.mp4", frames)


# ---------------------------------------------------------------- eq. 13


def reference_profile(frames: np.ndarray) -> np.ndarray:
    """Eq. 13 literally, in float64 loops."""
    f = frames.astype(np.float64)
    mse = [np.mean((f[t + 1] - f[t]) ** 2) for t in range(len(f) - 1)]
    m = []
    for t in range(len(f)):
        terms = ([mse[t - 1]] if t > 0 else []) + ([mse[t]] if t < len(f) - 1 else [])
        m.append(sum(terms) / len(terms))
    return np.array(m)


def test_profile_formula_against_reference():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (9, 5, 7, 3), dtype=np.uint8)
    d = consecutive_mse(frames)
    assert d.shape == (8,)
    assert np.allclose(profile_from_differences(d), reference_profile(frames), rtol=0, atol=1e-9)
    # Chunked computation (previous frame carried over) gives the same numbers.
    assert np.array_equal(np.concatenate([consecutive_mse(frames[:4]), consecutive_mse(frames[4:], frames[3])]), d)
    assert np.array_equal(profile_from_differences(np.array([7.0])), [7.0, 7.0])
    assert np.array_equal(profile_from_differences(np.empty(0)), [0.0])  # one-frame video


def test_profile_of_generated_video(still_then_moving):
    m = frame_difference_profile(still_then_moving, size=(32, 48), cache_dir=False)
    assert m.shape == (48,) and m.dtype == np.float64
    assert np.all(m[: STILL - 1] == 0)  # lossless still frames: exactly no motion
    assert np.all(m[STILL - 1:] > 50)
    with open_video(still_then_moving, size=(32, 48)) as reader:
        frames = reader.get_batch(np.arange(48))
    assert np.allclose(m, reference_profile(frames), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name,total", [("lsvq_1724.mp4", 243), ("bigbuckbunny.mp4", 132)])
def test_single_pass_profile_equals_decord_profile(videos_dir, tmp_path, name, total):
    path = videos_dir / name
    m_decord = frame_difference_profile(path, size=(56, 56), cache_dir=False)
    m_single, kept = profile_single_pass(path, size=(56, 56), keep_size=(40, 40), cache_dir=tmp_path)
    assert m_decord.shape == (total,) and np.array_equal(m_single, m_decord)
    idx = [0, 100, total - 1]
    with open_video(path, size=(40, 40)) as reader:
        assert np.array_equal(kept.get_batch(idx), reader.get_batch(idx))
    # It filled the cache, and a small budget keeps no frames but the same profile.
    assert np.array_equal(np.load(cache_path(path, (56, 56), tmp_path)), m_decord)
    m_small, none = profile_single_pass(path, size=(56, 56), max_bytes=1000, cache_dir=False)
    assert none is None and np.array_equal(m_small, m_decord)
    # Kept frames live in a per-thread buffer: a later pass invalidates them loudly.
    profile_single_pass(videos_dir / "carphone_distorted.mp4", size=(16, 16), cache_dir=False)
    with pytest.raises(RuntimeError, match="overwritten"):
        kept.get_batch([0])


@pytest.mark.parametrize("name", ["bikes.mp4", "carphone_distorted.mp4", "konvid_10053703034.mp4",
                                  "lsvq_17734.mp4"])
def test_single_pass_equals_the_decord_profile_on_every_real_clip(videos_dir, name):
    # The profile pass converts in a second thread; profile and kept frames stay decord's.
    path = videos_dir / name
    m_single, kept = profile_single_pass(path, keep_size=(336, 336), cache_dir=False)
    assert np.array_equal(m_single, frame_difference_profile(path, cache_dir=False))
    idx = build_sampler("SegMSEMean")(len(m_single), 8, profile=m_single)
    with open_video(path, size=(336, 336)) as reader:
        assert np.array_equal(kept.get_batch(idx), reader.get_batch(idx))


def test_single_pass_on_generated_video_with_b_frames(tmp_path):
    from test_video_targeted import write_bframes_mp4

    path = write_bframes_mp4(tmp_path / "bframes.mp4", num_frames=150)  # over two chunks of 64
    m_single, kept = profile_single_pass(path, size=(32, 48), keep_size=(20, 30), cache_dir=False)
    with open_video(path, size=(32, 48)) as reader:
        frames = reader.get_batch(np.arange(150))
    assert np.array_equal(m_single, frame_difference_profile(path, size=(32, 48), cache_dir=False))
    assert np.allclose(m_single, reference_profile(frames), rtol=0, atol=1e-9)
    with open_video(path, size=(20, 30)) as reader:
        assert np.array_equal(kept.get_batch([0, 63, 64, 149]), reader.get_batch([0, 63, 64, 149]))


def test_single_pass_reraises_errors_of_its_worker_thread(still_then_moving, monkeypatch):
    import threading

    def broken(*args, **kwargs):
        raise ZeroDivisionError("broken on purpose")

    threads = threading.active_count()
    monkeypatch.setattr(single_pass, "QUEUE_FRAMES", 1)  # the decoder would block on a dead consumer
    monkeypatch.setattr(frame_difference, "consecutive_mse", broken)
    with pytest.raises(ZeroDivisionError, match="on purpose"):
        profile_single_pass(still_then_moving, size=(16, 16), cache_dir=False)
    assert threading.active_count() == threads


# ---------------------------------------------------------------- cache


def test_cache_hit_skips_decoding(still_then_moving, tmp_path, monkeypatch):
    first = frame_difference_profile(still_then_moving, size=(32, 48), cache_dir=tmp_path)
    entries = list(tmp_path.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".npy" and entries[0].name.startswith("still_then_moving-")

    def no_decoding(*args, **kwargs):
        raise AssertionError("the decoder was called on a cache hit")

    monkeypatch.setattr(profile_cache, "open_video", no_decoding)
    assert np.array_equal(frame_difference_profile(still_then_moving, size=(32, 48), cache_dir=tmp_path), first)
    # Another size is another entry: it must decode.
    with pytest.raises(AssertionError, match="decoder was called"):
        frame_difference_profile(still_then_moving, size=(16, 24), cache_dir=tmp_path)


def test_cache_invalidated_by_mtime_and_damage(still_then_moving, tmp_path):
    frame_difference_profile(still_then_moving, size=(32, 48), cache_dir=tmp_path)
    old_entry = cache_path(still_then_moving, (32, 48), tmp_path)
    stat = still_then_moving.stat()
    os.utime(still_then_moving, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    new_entry = cache_path(still_then_moving, (32, 48), tmp_path)
    assert new_entry != old_entry and not new_entry.exists()
    m = frame_difference_profile(still_then_moving, size=(32, 48), cache_dir=tmp_path)
    assert new_entry.exists()
    new_entry.write_bytes(b"half a file")  # damaged entry: recomputed, not trusted
    assert np.array_equal(frame_difference_profile(still_then_moving, size=(32, 48), cache_dir=tmp_path), m)
    assert np.array_equal(np.load(new_entry), m)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic writes leave no temp file


def test_cache_dir_from_environment(still_then_moving, tmp_path, monkeypatch):
    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path / "env"))
    frame_difference_profile(still_then_moving, size=(16, 24))
    assert len(list((tmp_path / "env" / "frame_difference").glob("*.npy"))) == 1


def test_profile_of_missing_file_raises(tmp_path):
    with pytest.raises(VideoReadError, match="no such file"):
        frame_difference_profile(tmp_path / "gone.mp4", cache_dir=tmp_path)


# ---------------------------------------------------------------- strategies


def test_registry_holds_exactly_the_seven():
    assert set(STRATEGIES) <= set(SAMPLERS.module_dict)
    assert len(STRATEGIES) == 7
    for name in STRATEGIES:
        assert isinstance(build_sampler(name), FrameSampler)
        assert build_sampler(name).name == name
    # mmengine's own build path (configs) reaches the same classes
    built = SAMPLERS.build(dict(type="Mixed", test_mode=True))
    assert isinstance(built, Mixed) and built.test_mode


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("total,n", [(1, 1), (1, 8), (5, 8), (8, 8), (9, 8), (243, 8), (1000, 16), (30, 1)])
def test_invariants(name, total, n):
    sampler = build_sampler(name)
    profile = np.random.default_rng(total).random(total)
    for seed in range(3):
        idx = sampler(total, n, profile=profile, rng=seed)
        assert idx.dtype == np.int64 and idx.shape == (n,)
        assert idx.min() >= 0 and idx.max() < total
        assert np.all(np.diff(idx) >= 0)
        if total >= n:
            assert len(np.unique(idx)) == n  # distinct frames when there are enough
        else:
            counts = np.bincount(idx, minlength=total)
            assert counts.min() >= n // total and counts.max() <= -(-n // total)  # short videos repeat evenly


@pytest.mark.parametrize("name", STRATEGIES)
def test_deterministic_for_a_seed(name):
    sampler = build_sampler(name)
    profile = np.random.default_rng(0).random(500)
    runs = [sampler(500, 8, profile=profile, rng=123) for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs)
    gen_a, gen_b = np.random.default_rng(7), np.random.default_rng(7)
    assert np.array_equal(sampler(500, 8, profile=profile, rng=gen_a), sampler(500, 8, profile=profile, rng=gen_b))


def test_random_strategies_vary_with_the_seed():
    for name in ("RandSampl", "UNIRandStart", "Mixed"):
        sampler = build_sampler(name)
        profile = np.random.default_rng(0).random(500)
        draws = {tuple(sampler(500, 8, profile=profile, rng=s)) for s in range(20)}
        assert len(draws) > 5, name


def test_unisampl_matches_the_official_release():
    assert uniform_indices(243, 8).tolist() == [0, 35, 69, 104, 138, 173, 207, 242]
    for total in (1, 7, 8, 100, 243, 1001):
        expected = np.linspace(0, total - 1, 8).round().astype(np.int64)
        assert np.array_equal(build_sampler("UNISampl")(total, 8), expected)
    assert build_sampler("UNISampl")(3, 8).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]  # rounding repeats


def test_randsampl_is_uniform_over_frames():
    counts = np.zeros(40)
    sampler = build_sampler("RandSampl")
    rng = np.random.default_rng(0)
    for _ in range(4000):
        counts[sampler(40, 8, rng=rng)] += 1
    expected = 4000 * 8 / 40
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 72  # chi-square, 39 dof: p ~ 0.001


def test_unirandstart_keeps_the_stride():
    sampler = build_sampler("UNIRandStart")
    starts = set()
    for seed in range(400):
        idx = sampler(100, 8, rng=seed)
        assert set(np.diff(idx)) <= {12, 13}  # stride 100/8 = 12.5
        assert idx[0] < 13
        starts.add(int(idx[0]))
    assert len(starts) == 13  # every start offset in [0, 12.5) occurs


def test_msesorteduni_on_a_hand_profile():
    m = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 0.0, 8.0, 2.0, 6.0, 4.0])
    # ranks (ascending m) -> frames: 0:5 1:1 2:7 3:3 4:9 5:0 6:8 7:4 8:6 9:2; ranks round(linspace(0,9,4)) = 0,3,6,9
    assert build_sampler("MSESortedUNI")(10, 4, profile=m).tolist() == sorted([5, 3, 8, 2])
    # stable ties: equal m keep time order
    assert build_sampler("MSESortedUNI")(6, 2, profile=np.zeros(6)).tolist() == [0, 5]


def test_segment_strategies_on_a_hand_profile():
    # two segments of four: [1, 2, 3, 10] (mean 4 -> 3 at t=2; median 2.5 -> tie 2|3, earliest t=1)
    #                       [6, 0, 5, 5]  (mean 4 -> 5 at t=6; median 5 -> t=6)
    m = np.array([1.0, 2.0, 3.0, 10.0, 6.0, 0.0, 5.0, 5.0])
    assert build_sampler("SegMSEMean")(8, 2, profile=m).tolist() == [2, 6]
    assert build_sampler("SegMSEMedian")(8, 2, profile=m).tolist() == [1, 6]
    # uneven segments: T=10, N=3 -> edges 0, 3, 6, 10
    m = np.array([0.0, 9.0, 4.0, 1.0, 1.0, 7.0, 2.0, 2.0, 2.0, 10.0])
    assert build_sampler("SegMSEMean")(10, 3, profile=m).tolist() == [2, 3, 6]
    assert build_sampler("SegMSEMedian")(10, 3, profile=m).tolist() == [2, 3, 6]


def brute_force(name: str, m: np.ndarray, n: int) -> list[int]:
    """Independent statement of each MSE strategy (DESIGN.md §3), loops only."""
    total = len(m)
    if name == "MSESortedUNI":
        order = sorted(range(total), key=lambda t: (m[t], t))
        return sorted(order[round(k * (total - 1) / (n - 1))] if n > 1 else order[0] for k in range(n))
    picks = []
    for k in range(n):
        seg = list(range(k * total // n, (k + 1) * total // n))
        vals = [m[t] for t in seg]
        target = np.mean(vals) if name == "SegMSEMean" else np.median(vals)
        picks.append(min(seg, key=lambda t: (abs(m[t] - target), t)))
    return picks


@pytest.mark.parametrize("name", ["MSESortedUNI", "SegMSEMean", "SegMSEMedian"])
def test_mse_strategies_on_the_generated_video(still_then_moving, name):
    m = frame_difference_profile(still_then_moving, size=(32, 48), cache_dir=False)
    idx = build_sampler(name)(48, 8, profile=m).tolist()
    assert idx == brute_force(name, m, 8)
    if name == "MSESortedUNI":
        # ranks 0, 7, 13, 20 fall among the 23 motionless frames (time order), rank 47 is the peak
        assert idx[:4] == [0, 7, 13, 20] and int(np.argmax(m)) in idx and min(idx[4:]) >= STILL - 1
    else:
        # still segments (all m_t = 0) give their first frame; moving segments a frame inside them
        assert idx[:3] == [0, 6, 12]
        assert all(6 * k <= t < 6 * (k + 1) for k, t in enumerate(idx))


def test_mse_strategy_errors():
    sampler = build_sampler("SegMSEMean")
    with pytest.raises(ValueError, match="needs the frame-difference profile"):
        sampler(10, 4)
    with pytest.raises(ValueError, match="has shape \\(9,\\) but the video has 10 frames"):
        sampler(10, 4, profile=np.zeros(9))
    with pytest.raises(ValueError, match="no frames"):
        sampler(0, 4, profile=np.zeros(0))
    with pytest.raises(ValueError, match="num_frames must be positive"):
        build_sampler("UNISampl")(10, 0)


def test_profile_is_fetched_lazily():
    calls = []

    def profile():
        calls.append(1)
        return np.arange(20.0)

    build_sampler("UNISampl")(20, 4, profile=profile)
    assert calls == []
    build_sampler("MSESortedUNI")(20, 4, profile=profile)
    assert calls == [1]


def test_mixed_draws_strategies_and_is_fixed_in_test_mode():
    mixed = build_sampler("Mixed")
    m = np.random.default_rng(0).random(300)
    chosen = []
    for seed in range(60):
        idx = mixed(300, 8, profile=m, rng=seed)
        chosen.append(mixed.last_choice)
        # same result as the drawn strategy with the generator after the draw
        rng = np.random.default_rng(seed)
        rng.integers(6)
        assert np.array_equal(idx, build_sampler(mixed.last_choice)(300, 8, profile=m, rng=rng))
    assert set(chosen) == {"RandSampl", "UNISampl", "UNIRandStart", "MSESortedUNI", "SegMSEMean", "SegMSEMedian"}

    evaluation = build_sampler(dict(type="Mixed", test_mode=True))
    assert not evaluation.needs_profile and mixed.needs_profile
    for seed in range(5):
        assert np.array_equal(evaluation(300, 8, rng=seed), uniform_indices(300, 8))
    custom = build_sampler(dict(type="Mixed", strategies=["SegMSEMean"], test_strategy="SegMSEMedian", test_mode=True))
    assert np.array_equal(custom(300, 8, profile=m), build_sampler("SegMSEMedian")(300, 8, profile=m))
    with pytest.raises(ValueError, match="none of them may be Mixed"):
        Mixed(strategies=["Mixed"])


def test_build_sampler_forms():
    inst = build_sampler("Mixed", strategies=["UNISampl", "RandSampl"])
    assert [s.name for s in inst.strategies] == ["UNISampl", "RandSampl"]
    assert build_sampler(inst) is inst
    evaluated = build_sampler(inst, test_mode=True)
    assert evaluated is not inst and evaluated.test_mode and not inst.test_mode
    assert [s.name for s in evaluated.strategies] == ["UNISampl", "RandSampl"]  # configuration kept
    with pytest.raises(KeyError, match="unknown frame sampler 'Uniform'; registered: .*UNISampl"):
        build_sampler("Uniform")
    with pytest.raises(TypeError, match="no option 'stride'"):
        build_sampler(inst, stride=2)


def test_repeat_indices():
    assert repeat_indices(3, 8).tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert repeat_indices(1, 4).tolist() == [0, 0, 0, 0]


def test_frame_buffer_released_after_a_run_of_cache_hits(videos_dir):
    profile_single_pass(videos_dir / "carphone_distorted.mp4", size=(16, 16), cache_dir=False)
    assert single_pass._ARENA.buf is not None
    for _ in range(single_pass.ARENA_IDLE_HITS - 1):
        single_pass.note_pass_skipped()
    assert single_pass._ARENA.buf is not None  # a partly cached dataset does not thrash it
    single_pass.note_pass_skipped()
    assert single_pass._ARENA.buf is None
