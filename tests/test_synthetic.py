"""The synthetic demo benchmark: content, distortions, pseudo-MOS, determinism, parts, cache, CLI."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from qclip_plugin.data.synthetic import (
    CONTENT_KINDS,
    DISTORTIONS,
    DemoConfig,
    DemoPart,
    apply_distortion,
    frame_ssim,
    generate_demo_benchmark,
    plan_clips,
    render_content,
    ssim_to_mos,
)
from qclip_plugin.data.synthetic import generate as generate_module
from qclip_plugin.data.synthetic.codec import read_rgb, write_h264
from qclip_plugin.data.synthetic.config import DEFAULT_CONTENT_KINDS, SHARED_DISTORTIONS
from qclip_plugin.data.synthetic.pseudo_mos import ssim_db

# A reduced set for the determinism/cache tests: 20 + 12 clips of 8 frames at 64x64.
SMALL = DemoConfig(
    parts=(
        DemoPart("A", tuple((kind, 1) for kind in SHARED_DISTORTIONS)),
        DemoPart("B", (("blur", 1), ("noise", 1), ("posterize", 1))),
    ),
    num_frames=8,
    size=(64, 64),
)


def _labels(path: Path) -> list[tuple[str, float, float, float]]:
    rows = []
    for line in path.read_text().splitlines():
        fields = [f.strip() for f in line.split(",")]
        assert len(fields) == 4, line
        rows.append((fields[0], float(fields[1]), float(fields[2]), float(fields[3])))
    return rows


@pytest.fixture(scope="module")
def default_bench(tmp_path_factory):
    """The full default set (160 + 84 clips), generated once for this module."""
    root = tmp_path_factory.mktemp("demo") / "default"
    start = time.perf_counter()
    bench = generate_demo_benchmark(root, seed=0)
    return bench, time.perf_counter() - start


@pytest.fixture(scope="module")
def small_bench(tmp_path_factory):
    return generate_demo_benchmark(tmp_path_factory.mktemp("small") / "s0", seed=0, config=SMALL, workers=1)


# --- pseudo-MOS -----------------------------------------------------------------------------------


def test_float32_ssim_equals_pyiqa_ssim_metric():
    import pyiqa

    reference = render_content("pan", 3, 4, (112, 112))
    distorted, _ = apply_distortion(reference, "noise", 2, np.random.default_rng(0))
    metric = pyiqa.create_metric("ssim", device="cpu", as_loss=False)
    # float32 in [0, 1], as pyiqa's own image loader gives (the wrapper then computes in float64)
    to_tensor = lambda f: torch.from_numpy(f).permute(0, 3, 1, 2).float() / 255.0  # noqa: E731
    expected = metric(to_tensor(distorted), to_tensor(reference)).double().numpy()
    ours = frame_ssim(distorted, reference)
    assert ours.shape == (4,)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    assert 0.3 < ours.mean() < 0.99  # a real distortion, not a trivial pair
    np.testing.assert_allclose(frame_ssim(reference, reference), 1.0, atol=1e-6)


def test_ssim_to_mos_mapping():
    cfg = DemoConfig()
    # SSIM in dB equal to q_mid maps to the middle of the scale
    at_mid = 1 - 10 ** (-cfg.q_mid / 10)
    np.testing.assert_allclose(ssim_to_mos(at_mid, cfg.q_mid, cfg.q_scale), 3.0, atol=1e-12)
    np.testing.assert_allclose(ssim_db([0.9, 0.99, 1.0]), [10.0, 20.0, 40.0], atol=1e-9)
    s = np.linspace(-0.2, 1.0, 200)
    mos = ssim_to_mos(s, cfg.q_mid, cfg.q_scale)
    assert np.all(np.diff(mos) >= 0) and mos.min() > 1.0 and mos.max() < 5.0
    np.testing.assert_allclose(mos[-1], 1 + 4 / (1 + np.exp(-(40 - cfg.q_mid) / cfg.q_scale)))


# --- content, distortions, codec ------------------------------------------------------------------


@pytest.mark.parametrize("kind", DEFAULT_CONTENT_KINDS)
def test_content_is_deterministic_moving_and_seeded(kind):
    a = render_content(kind, 7, 6, (48, 64))
    assert a.shape == (6, 48, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, render_content(kind, 7, 6, (48, 64)))
    assert not np.array_equal(a, render_content(kind, 8, 6, (48, 64)))
    motion = np.abs(np.diff(a.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    assert motion.min() > 0.2  # every frame differs from the previous: the frame-difference profile matters
    assert a.std() > 8  # not a flat image


def test_content_and_distortion_names_are_checked():
    with pytest.raises(KeyError, match="texture"):
        render_content("nope", 0, 4, (32, 32))
    with pytest.raises(KeyError, match="blur"):
        apply_distortion(np.zeros((2, 32, 32, 3), np.uint8), "nope", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="level"):
        apply_distortion(np.zeros((2, 32, 32, 3), np.uint8), "blur", 5, np.random.default_rng(0))
    assert len(CONTENT_KINDS) >= 6 and len(DISTORTIONS) >= 6
    assert all(d.num_levels >= 4 for d in DISTORTIONS.values())


def test_distortions_values():
    frames = render_content("shapes", 1, 16, (64, 64))

    def run(kind, level, seed=0):
        return apply_distortion(frames, kind, level, np.random.default_rng(seed))

    for kind in DISTORTIONS:
        out, crf = run(kind, 2)
        assert out.shape == frames.shape and out.dtype == np.uint8
        assert (crf is not None) == (kind == "h264")
    out, crf = run("h264", 3)
    assert crf == DISTORTIONS["h264"].param(3) == 36.0
    np.testing.assert_array_equal(out, frames)  # H.264 changes pixels only when written
    # frame drops: round(fraction * T) frames repeat their predecessor; levels nest with one seed
    held = []
    for level in range(1, 5):
        out, _ = run("frame_drop", level)
        same = {t for t in range(1, 16) if np.array_equal(out[t], out[t - 1])}
        assert len(same) >= round(DISTORTIONS["frame_drop"].param(level) * 16)
        np.testing.assert_array_equal(out[0], frames[0])
        held.append(same)
    assert held[0] <= held[1] <= held[2] <= held[3]
    # posterize: at most 2**bits values per channel
    out, _ = run("posterize", 4)
    assert max(len(np.unique(out[..., c])) for c in range(3)) <= 2 ** int(DISTORTIONS["posterize"].param(4))
    # noise: the same field scaled; the measured std follows the parameter (away from clipping)
    grey = np.full((4, 64, 64, 3), 128, np.uint8)
    for level in (1, 4):
        out, _ = apply_distortion(grey, "noise", level, np.random.default_rng(0))
        assert abs(out.astype(np.float64).std() - DISTORTIONS["noise"].param(level)) < 0.05 * DISTORTIONS[
            "noise"
        ].param(level) + 0.3
    # blur and scaling remove high frequencies: less energy in the Laplacian
    lap = lambda f: np.abs(np.diff(f.astype(np.float64), 2, axis=2)).mean()  # noqa: E731
    assert lap(run("blur", 4)[0]) < 0.5 * lap(frames) and lap(run("scaling", 4)[0]) < 0.7 * lap(frames)
    # exposure: gain or 1/gain, with the same direction for every level of one seed
    means = [run("exposure", level, seed=3)[0].mean() for level in range(1, 5)]
    assert np.all(np.diff(means) > 0) or np.all(np.diff(means) < 0)


def test_codec_lossless_and_crf(tmp_path):
    frames = render_content("texture", 2, 8, (64, 64))
    write_h264(tmp_path / "l.mp4", frames, fps=8.0, crf=0)
    write_h264(tmp_path / "c.mp4", frames, fps=8.0, crf=51)
    lossless, lossy = read_rgb(tmp_path / "l.mp4"), read_rgb(tmp_path / "c.mp4")
    assert lossless.shape == lossy.shape == frames.shape
    # CRF 0 is lossless up to the 4:2:0 round trip, which the luma SSIM hardly sees (a little
    # where saturated colours clip in RGB, as in this 64 px texture)
    assert frame_ssim(lossless, frames).min() > 0.97
    assert frame_ssim(lossy, frames).mean() < 0.9
    assert (tmp_path / "c.mp4").stat().st_size < (tmp_path / "l.mp4").stat().st_size
    with pytest.raises(ValueError, match="even"):
        write_h264(tmp_path / "odd.mp4", frames[:, :63], fps=8.0)
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(OSError, match="bad.mp4"):
        read_rgb(tmp_path / "bad.mp4")


# --- the plan ---------------------------------------------------------------------------------------


def test_default_plan_counts_and_disjoint_parts():
    clips = plan_clips(DemoConfig(), seed=0)
    by_part = Counter(c.part for c in clips)
    assert by_part == {"A": 160, "B": 84}
    a = [c for c in clips if c.part == "A"]
    b = [c for c in clips if c.part == "B"]
    assert Counter((c.distortion, c.level) for c in a) == {(k, lv): 8 for k in SHARED_DISTORTIONS for lv in range(1, 5)}
    expected_b = {(k, lv): 3 for k in (*SHARED_DISTORTIONS, "frame_drop", "posterize") for lv in range(1, 5)}
    assert Counter((c.distortion, c.level) for c in b) == expected_b
    # 40 sources rotate over six kinds: 7 or 6 sources (28 or 24 clips) each
    assert sorted(Counter(c.content_kind for c in a).values()) == [24, 24, 28, 28, 28, 28]
    assert set(c.content_kind for c in b) == set(DEFAULT_CONTENT_KINDS)
    # every source is distorted at all four levels of one kind, with one content seed
    for part in (a, b):
        sources = {}
        for c in part:
            sources.setdefault(c.source, []).append(c)
        for group in sources.values():
            assert sorted(c.level for c in group) == [1, 2, 3, 4]
            assert len({(c.content_seed, c.content_kind, c.distortion) for c in group}) == 1
    assert {c.content_seed for c in a}.isdisjoint({c.content_seed for c in b})
    assert len({c.path for c in clips}) == len(clips)
    # the shared distortion types: all of A's, plus one B-only kind
    assert {c.distortion for c in a} < {c.distortion for c in b}
    # pixels too: no B source renders like an A source of the same kind
    first_a = {c.content_seed: render_content(c.content_kind, c.content_seed, 2, (32, 32)) for c in a if c.level == 1}
    for c in (c for c in b if c.level == 1):
        frame = render_content(c.content_kind, c.content_seed, 2, (32, 32))
        assert not any(np.array_equal(frame, f) for f in first_a.values())
    assert plan_clips(DemoConfig(), seed=1)[0].content_seed != clips[0].content_seed


# --- generated sets ---------------------------------------------------------------------------------


def test_default_set(default_bench):
    bench, seconds = default_bench
    meta = bench.read_metadata()
    assert Counter(meta["part"]) == {"A": 160, "B": 84}
    assert set(bench.labels) == {"A", "B"}
    for part, path in bench.labels.items():
        rows = _labels(path)
        assert len(rows) == (meta["part"] == part).sum()
        for rel, duration, fps, mos in rows:
            assert (bench.root / rel).is_file() and rel.startswith(f"{part}/")
            assert (duration, fps) == (2.0, 8.0)
            assert 1.0 < mos < 5.0
        np.testing.assert_allclose([r[3] for r in rows], meta.loc[meta["part"] == part, "mos"], atol=1e-6)
    # monotone: within every source the SSIM falls with the level, and so does mean MOS per kind
    for _, group in meta.groupby(["part", "source"]):
        assert np.all(np.diff(group.sort_values("level")["ssim"].to_numpy()) < 0)
    means = meta.groupby(["part", "distortion", "level"])["mos"].mean()
    for (part, kind), per_level in means.groupby(level=[0, 1]):
        values = per_level.to_numpy()
        assert values[0] > values[-1] + 0.2, (part, kind, values)
        if part == "A":
            assert np.all(np.diff(values) < 0), (kind, values)
    # the MOS spreads over the scale in both parts
    for _, mos in meta.groupby("part")["mos"]:
        assert mos.min() < 2.0 and mos.max() > 4.5 and 0.8 < mos.std() < 1.6
    # the community list parser of the project reads the labels as written
    from qclip_plugin.data.labels import read_community_list

    parsed = read_community_list(bench.labels["A"])
    assert len(parsed) == 160
    np.testing.assert_allclose(parsed["mos"].to_numpy(), meta.loc[meta["part"] == "A", "mos"], atol=1e-6)
    manifest = json.loads(bench.manifest.read_text())
    assert manifest["counts"] == {"A": 160, "B": 84} and manifest["param_hash"] == bench.param_hash
    print(f"default demo set generated in {seconds:.1f} s")


def test_project_reader_decodes_clips(default_bench):
    video = pytest.importorskip("qclip_plugin.video")
    bench, _ = default_bench
    meta = bench.read_metadata()
    for rel in meta.loc[meta["crf"] == 0, "path"].iloc[:1].tolist() + meta.loc[meta["crf"] > 0, "path"].iloc[:1].tolist():
        with video.open_video(bench.root / rel) as reader:
            frames = reader.get_batch(list(range(16)))
        np.testing.assert_array_equal(np.asarray(frames), read_rgb(bench.root / rel))


def test_cache_reuse_does_not_regenerate(default_bench):
    bench, _ = default_bench
    files = sorted(bench.root.rglob("*.mp4"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    start = time.perf_counter()
    again = generate_demo_benchmark(bench.root, seed=0)
    assert time.perf_counter() - start < 3.0
    assert again.reused and not bench.reused and again.labels == bench.labels
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    assert bench.manifest.stat().st_mtime_ns == again.manifest.stat().st_mtime_ns


def test_cli_make_demo_reuses(default_bench, capsys):
    from qclip_plugin.cli.main import main

    bench, _ = default_bench
    assert main(["make-demo", "--root", str(bench.root), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(bench.root)
    assert main(["make-demo", "--root", str(bench.root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reused") and "part A: 160 clips" in out and "part B: 84 clips" in out


def test_same_seed_same_set_other_seed_differs(small_bench, tmp_path):
    again = generate_demo_benchmark(tmp_path / "s0", seed=0, config=SMALL, workers=2)  # other worker count
    other = generate_demo_benchmark(tmp_path / "s1", seed=1, config=SMALL, workers=1)
    for part in ("A", "B"):
        assert small_bench.labels[part].read_text() == again.labels[part].read_text()
        assert small_bench.labels[part].read_text() != other.labels[part].read_text()
    assert small_bench.metadata.read_text() == again.metadata.read_text()
    rel = _labels(small_bench.labels["A"])[0][0]
    pixels = read_rgb(small_bench.root / rel)
    assert pixels.shape == (8, 64, 64, 3)
    np.testing.assert_array_equal(pixels, read_rgb(again.root / rel))
    other_rel = _labels(other.labels["A"])[0][0]
    assert not np.array_equal(pixels, read_rgb(other.root / other_rel))


def test_small_set_counts(small_bench):
    meta = small_bench.read_metadata()
    assert Counter(meta["part"]) == {"A": 20, "B": 12}
    counts = Counter(zip(meta["part"], meta["distortion"], meta["level"], strict=True))
    assert counts == {
        **{("A", k, lv): 1 for k in SHARED_DISTORTIONS for lv in range(1, 5)},
        **{("B", k, lv): 1 for k in ("blur", "noise", "posterize") for lv in range(1, 5)},
    }
    # content kinds rotate over sources: A's five sources are the first five kinds, B's three the first three
    assert sorted(meta.loc[meta["part"] == "A", "content_kind"].unique()) == sorted(DEFAULT_CONTENT_KINDS[:5])
    assert list(meta.loc[(meta["part"] == "B") & (meta["level"] == 1), "content_kind"]) == list(
        DEFAULT_CONTENT_KINDS[:3]
    )
    assert ((meta["crf"] == 0) == (meta["distortion"] != "h264")).all()
    assert meta["mos"].between(1, 5).all()


def test_interrupted_generation_resumes(small_bench, tmp_path, monkeypatch):
    real = generate_module.make_clip
    calls = {"n": 0}

    def flaky(clip, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 10:
            raise KeyboardInterrupt("simulated interruption")
        return real(clip, *args, **kwargs)

    monkeypatch.setattr(generate_module, "make_clip", flaky)
    root = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        generate_demo_benchmark(root, seed=0, config=SMALL, workers=1)
    assert not root.exists()  # nothing half-written at the destination
    partials = list(tmp_path.glob(".resumed.partial-*"))
    assert len(partials) == 1
    monkeypatch.setattr(generate_module, "make_clip", real)
    bench = generate_demo_benchmark(root, seed=0, config=SMALL, workers=1)
    manifest = json.loads(bench.manifest.read_text())
    assert manifest["resumed_clips"] >= 8  # whole sources done before the interruption were kept
    assert not partials[0].exists()
    assert bench.metadata.read_text() == small_bench.metadata.read_text()
    for part in ("A", "B"):
        assert bench.labels[part].read_text() == small_bench.labels[part].read_text()


def test_root_handling(small_bench, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="manifest"):
        generate_demo_benchmark(foreign, seed=0, config=SMALL)
    assert (foreign / "thesis.tex").read_text() == "precious"
    # a demo set made with other parameters is replaced; a missing clip triggers regeneration
    root = tmp_path / "demo"
    first = generate_demo_benchmark(root, seed=1, config=SMALL, workers=1)
    second = generate_demo_benchmark(root, seed=0, config=SMALL, workers=1)
    assert not second.reused and first.param_hash != second.param_hash
    assert second.labels["A"].read_text() == small_bench.labels["A"].read_text()
    os.remove(root / _labels(second.labels["B"])[0][0])
    third = generate_demo_benchmark(root, seed=0, config=SMALL, workers=1)
    assert not third.reused and third.labels["B"].read_text() == small_bench.labels["B"].read_text()


def test_default_root_in_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path))
    assert generate_module.default_root(0) == tmp_path / "demo" / "v4-seed0"
    assert generate_module.default_root(3, DemoConfig()) == tmp_path / "demo" / "v4-seed3"
    custom = generate_module.default_root(0, SMALL)
    assert custom.parent == tmp_path / "demo" and custom.name.startswith("v4-seed0-")


def test_config_validation():
    with pytest.raises(ValueError, match="distinct"):
        DemoConfig(parts=(DemoPart("A", (("blur", 1),)), DemoPart("A", (("blur", 1),))))
    with pytest.raises(ValueError, match="unknown distortion"):
        DemoConfig(parts=(DemoPart("A", (("smear", 1),)),))
    with pytest.raises(ValueError, match="unknown content"):
        DemoConfig(parts=(DemoPart("A", (("blur", 1),), content_kinds=("plasma",)),))
    with pytest.raises(ValueError, match="even"):
        DemoConfig(size=(63, 64))
    assert DemoConfig().param_hash(0) != DemoConfig().param_hash(1) != SMALL.param_hash(0)


def test_project_dataset_reads_both_parts(default_bench):
    datasets = pytest.importorskip("qclip_plugin.data.datasets")
    bench, _ = default_bench
    for part, count in (("A", 160), ("B", 84)):
        ds = datasets.VQADataset(ann_file=str(bench.labels[part]), data_root=str(bench.root), pipeline=[])
        assert len(ds) == count
        item = ds[0]
        assert Path(item["filename"]).is_file() and item["name"].startswith(f"{part}/")
        assert 1.0 < item["mos"] < 5.0
