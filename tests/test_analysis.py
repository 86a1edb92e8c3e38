"""The paper's analysis figures (qclip_plugin.analysis, `qclip-bench visualize`) on the tiny model and a
reduced synthetic demo set: files written, summary numbers recomputed independently from the saved data,
points plotted = videos + prompts, efficiency rows derived from the paper's ratios, ablation runs found."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import silhouette_score

from qclip_plugin.analysis import (
    PAPER_RATIOS,
    extract_features,
    find_runs,
    load_tsne_data,
    resolve_videos,
    summarize_tsne,
)
from qclip_plugin.analysis.ablation import layer_ablation_figure, layer_ablation_table
from qclip_plugin.analysis.efficiency import EfficiencyPoint, efficiency_figure, published_efficiency_points
from qclip_plugin.analysis.features import select_by_mos
from qclip_plugin.analysis.runs import checkpoint_trainable_parameters, layers_from_name
from qclip_plugin.analysis.tsne import mos_levels, tsne_figure
from qclip_plugin.benchmark.leaderboard import PUBLISHED_DIR, write_leaderboard
from qclip_plugin.cli.main import main
from qclip_plugin.data.synthetic import DemoConfig, DemoPart, generate_demo_benchmark
from qclip_plugin.models import build_qclip, parameter_report

# 8 + 4 clips of 8 frames at 64x64: enough points for t-SNE, silhouettes and SROCC, fast to generate
SMALL = DemoConfig(
    parts=(DemoPart("A", (("blur", 1), ("noise", 1))), DemoPart("B", (("exposure", 1),))),
    num_frames=8,
    size=(64, 64),
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    return generate_demo_benchmark(tmp_path_factory.mktemp("demo") / "small", seed=0, config=SMALL, workers=1)


def _trained_like(model, seed: int = 0):
    """Move the adapters, context and head away from their initialisation (as training would)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.add_(torch.randn(param.shape, generator=gen) * (0.5 if "gate" in name else 0.05))
    return model


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    model = _trained_like(build_qclip("tiny", pretrained=None))
    return model.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"), model


# --- videos --------------------------------------------------------------------------------------


def test_demo_dataset_names_resolve_to_the_parts(small_demo):
    both = resolve_videos("demo", demo_config=SMALL)
    part_b = resolve_videos("demo-B", demo_config=SMALL)
    assert len(both) == 12 and len(part_b) == 4
    assert all(v.name.startswith("B/") for v in part_b)
    labels = [line.split(",") for line in small_demo.labels_a.read_text().splitlines()]
    assert {v.name for v in both if v.name.startswith("A/")} == {row[0].strip() for row in labels}
    from_file = resolve_videos(str(small_demo.labels_a), data_root=small_demo.root)
    assert [v.mos for v in from_file] == pytest.approx([float(row[3]) for row in labels])


def test_max_videos_spans_the_mos_range(small_demo):
    items = resolve_videos("demo", demo_config=SMALL)
    picked = select_by_mos(items, 4)
    mos = sorted(v.mos for v in items)
    assert len(picked) == 4
    assert min(v.mos for v in picked) == mos[0] and max(v.mos for v in picked) == mos[-1]
    assert select_by_mos(items, None) == items
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        resolve_videos("nope")


def test_frozen_features_equal_the_model_with_zero_gates(small_demo, tiny_checkpoint):
    """open_clip's own forward (the frozen view) == Q-CLIP's towers with every SCMA gate at 0 and
    the context at its initialisation, bit for bit."""
    _, trained = tiny_checkpoint
    videos = resolve_videos("demo-B", demo_config=SMALL)[:3]
    features = extract_features(trained, videos, frozen_prompts="initial", batch_size=2)
    plain = build_qclip("tiny", pretrained=None)
    plain.backbone.load_state_dict(trained.backbone.state_dict())
    with torch.no_grad():
        for gates in (plain.scma.gates, plain.scma.proj_gates):
            for gate in gates.values():
                gate.zero_()
        # the context as initialised from the (now loaded) token embeddings of "X X X"
        plain.prompts.ctx.copy_(plain.backbone.text.token_embedding(plain.prompts.token_ids[0, 1:4]))
    zero = extract_features(plain, videos, frozen_prompts="initial", batch_size=3)
    np.testing.assert_array_equal(zero.adapted_video, features.frozen_video)
    np.testing.assert_array_equal(zero.adapted_prompts, features.frozen_prompts)
    assert features.frozen_prompt_texts[0] == "X X X a video of excellent quality"
    # the trained adapters do change the features
    assert np.abs(features.adapted_video - features.frozen_video).max() > 1e-3 * np.abs(features.frozen_video).max()
    template = extract_features(trained, videos[:1], frozen_prompts="template")
    assert template.frozen_prompt_texts == [f"a video of {lvl} quality" for lvl in trained.prompts.levels]


# --- t-SNE (figure 6) ---------------------------------------------------------------------------


def test_mos_levels_are_equal_count_quantiles():
    mos = np.array([3.0, 1.0, 5.0, 2.0, 4.0, 0.5, 4.5, 2.5, 3.5, 1.5])
    levels = mos_levels(mos)
    assert np.bincount(levels).tolist() == [2, 2, 2, 2, 2]
    assert levels[np.argmin(mos)] == 0 and levels[np.argmax(mos)] == 4
    assert mos_levels(mos[:6]).max() == 2  # at most len // 2 levels: two videos each


def test_visualize_tsne_command(small_demo, tiny_checkpoint, tmp_path, capsys):
    checkpoint, _ = tiny_checkpoint
    out = tmp_path / "tsne"
    code = main(["visualize", "tsne", "--checkpoint", str(checkpoint), "--dataset", str(small_demo.labels_a),
                 "--data-root", str(small_demo.root), "--batch-size", "8", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    for name in ("tsne.png", "tsne.npz", "tsne_summary.json"):
        assert (out / name).is_file()
    assert (out / "tsne.png").read_bytes()[:8] == PNG_MAGIC

    data = load_tsne_data(out / "tsne.npz")
    n_videos, n_prompts = 8, 5
    assert data["frozen_xy"].shape == data["adapted_xy"].shape == (n_videos + n_prompts, 2)
    assert data["frozen_video"].shape == (n_videos, 64) and data["adapted_prompts"].shape == (n_prompts, 64)
    assert data["levels"].tolist() == ["excellent", "good", "fair", "poor", "bad"]
    assert data["description"]["checkpoint"] == str(checkpoint)

    saved = json.loads((out / "tsne_summary.json").read_text())
    recomputed = summarize_tsne(out / "tsne.npz")
    saved.pop("description")
    assert saved == json.loads(json.dumps(recomputed))

    # independent recomputation of the numbers from the arrays
    mos = data["mos"]
    labels = np.empty(len(mos), dtype=np.int64)
    labels[np.argsort(mos, kind="stable")] = np.arange(len(mos)) * 4 // len(mos)  # 8 videos: 4 levels
    for space in ("frozen", "adapted"):
        v = data[f"{space}_video"].astype(np.float64)
        p = data[f"{space}_prompts"].astype(np.float64)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        p /= np.linalg.norm(p, axis=1, keepdims=True)
        xy = data[f"{space}_xy"]
        s = saved[space]
        assert s["modality_gap"] == pytest.approx(np.linalg.norm(v.mean(0) - p.mean(0)), rel=1e-12)
        assert s["mos_level_silhouette"] == pytest.approx(silhouette_score(v, labels, metric="cosine"), rel=1e-9)
        assert s["tsne_axis1_srocc"] == pytest.approx(spearmanr(xy[:n_videos, 0], mos).statistic, rel=1e-9)
        assert s["tsne_axis2_srocc"] == pytest.approx(spearmanr(xy[:n_videos, 1], mos).statistic, rel=1e-9)
        assert s["modality_silhouette"] == pytest.approx(
            silhouette_score(np.r_[v, p], [0] * n_videos + [1] * n_prompts, metric="cosine"), rel=1e-9)
        distances = 1 - (p @ p.T)[np.triu_indices(n_prompts, 1)]
        assert s["prompt_min_distance"] == pytest.approx(distances.min(), rel=1e-9)
        direction = p[0] - p[4]  # excellent - bad
        assert s["quality_axis_srocc"] == pytest.approx(spearmanr(v @ direction, mos).statistic, rel=1e-9)
        # the printed table shows the same values
        assert re.search(rf"modality_gap\s+.*{s['modality_gap']:.4f}", printed)
    assert saved["n_videos"] == n_videos and sum(lv["videos"] for lv in saved["mos_levels"].values()) == n_videos

    fig = tsne_figure(data)
    for ax in fig.axes[:4]:
        plotted = sum(len(c.get_offsets()) for c in ax.collections)
        assert plotted == n_videos + n_prompts
        assert ax.get_xlabel() == "t-SNE 1" and ax.get_ylabel() == "t-SNE 2"
        assert ax.get_legend() is not None
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"videos ({n_videos})"] + [f"prompt: {lvl}" for lvl in data["levels"]]


# --- runs on disk --------------------------------------------------------------------------------


def _fake_run(root, name, layers, srocc, test_sets=("demo-A (held-out)", "demo-B"), with_result=True):
    """A protocol-run folder as run_protocol leaves it: checkpoint, leaderboard, result.json."""
    work, board = root / "work" / name, root / "leaderboard" / name
    rows = [{"method": "Q-CLIP (tiny)", "test_set": t, "n_videos": 20, "SROCC": srocc + 0.01 * i,
             "PLCC": srocc - 0.02, "KROCC": srocc - 0.2, "RMSE": 0.5, "mapping": "linear"} for i, t in enumerate(test_sets)]
    rows += [{**r, "method": "Q-CLIP (tiny), untrained", "SROCC": 0.01} for r in rows]
    files = write_leaderboard(board, "cross-dataset", rows, {"preset": "tiny"}, published=False)
    if with_result:
        ckpt = build_qclip("tiny", pretrained=None, layers=layers).save_checkpoint(work / "demo-A" / "seed0" / "selected.safetensors")
        (work / "result.json").write_text(json.dumps({"exported": [str(ckpt)], "leaderboard": str(files.markdown)}))
    return work, board


def test_checkpoint_counts_equal_the_parameter_report(tiny_checkpoint):
    checkpoint, model = tiny_checkpoint
    assert checkpoint_trainable_parameters(checkpoint) == parameter_report(model).trainable == 4091


def test_layer_counts_from_names():
    assert layers_from_name("ablations_escma_layers_escma_4_layers-demo") == 4
    assert layers_from_name("E-SCMA 12 layers") == 12
    assert layers_from_name("run layers=8") == 8
    assert layers_from_name("Q-CLIP (tiny)") is None


def test_visualize_efficiency_command(tmp_path, capsys):
    work, _ = _fake_run(tmp_path, "escma_2_layers", 2, 0.61)
    out = tmp_path / "eff"
    assert main(["visualize", "efficiency", str(work), "--out", str(out)]) == 0
    assert (out / "efficiency.png").read_bytes()[:8] == PNG_MAGIC
    table = pd.read_csv(out / "efficiency.csv")
    published = pd.read_csv(PUBLISHED_DIR / "qclip_paper_table1.csv")
    lsvq = published[published["test_set"] == "LSVQ_test"].set_index("method")
    for method, ratio in PAPER_RATIOS.items():
        row = table[table["method"] == method].iloc[0]
        assert row["trainable_params"] == pytest.approx(0.14e6 * ratio, rel=1e-12)
        assert row["SROCC"] == lsvq.loc[method, "SROCC"]
        assert row["params_source"].startswith(f"derived: 0.14 M × {ratio:,}")
    assert table.set_index("method").loc["FAST-VQA", "trainable_params"] == pytest.approx(27.58e6)
    qclip = table[(table["kind"] == "published") & table["method"].str.startswith("Q-CLIP")]
    assert len(qclip) == 1 and qclip["trainable_params"].iloc[0] == 0.14e6
    assert qclip["SROCC"].iloc[0] == lsvq.loc[lsvq.index.str.startswith("Q-CLIP"), "SROCC"].max()
    measured = table[table["kind"] == "measured"]
    assert sorted(measured["test_set"]) == ["demo-A (held-out)", "demo-B"]  # untrained rows left out
    assert (measured["trainable_params"] == 4091).all()
    assert measured["SROCC"].tolist() == pytest.approx([0.61, 0.62])
    # a leaderboard folder without its work dir: counted by building the row's preset
    _, board = _fake_run(tmp_path, "board_only", None, 0.4, test_sets=("demo-B",), with_result=False)
    assert main(["visualize", "efficiency", str(board), "--no-published", "--out", str(out / "b")]) == 0
    only = pd.read_csv(out / "b" / "efficiency.csv")
    assert only["kind"].tolist() == ["measured"] and only["trainable_params"].tolist() == [4091]
    assert only["params_source"].iloc[0].startswith("preset 'tiny' as built")
    note = json.loads((out / "efficiency.json").read_text())["note"]
    assert "197×, 666×, 3,964×, 58,556×" in note
    assert "Q-Align" in capsys.readouterr().out

    points = published_efficiency_points("LSVQ_test", qclip_method="Q-CLIP (UNISampl)")
    assert points[0].SROCC == lsvq.loc["Q-CLIP (UNISampl)", "SROCC"]
    ax = efficiency_figure(points).axes[0]
    assert ax.get_xscale() == "log" and ax.get_legend() is not None
    assert sum(len(c.get_offsets()) for c in ax.collections) == 5
    # an undefined measured SROCC (constant predictions) stays in the data, out of the chart
    undefined = EfficiencyPoint("Q-CLIP (tiny) [run]", "measured", "LSVQ_test", 4091, float("nan"), float("nan"),
                                "counted", "measured")
    fig = efficiency_figure([*points, undefined])
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 5
    assert "1 measured point(s) without a SROCC left out" in " ".join(t.get_text() for t in fig.texts)


def test_visualize_ablation_command(tmp_path, capsys):
    for layers, srocc in ((1, 0.5), (4, 0.7), (2, 0.6)):
        _fake_run(tmp_path, f"seed_run_{layers}", layers, srocc)  # count from the checkpoint, not the name
    _fake_run(tmp_path, "escma_6_layers", None, 0.8, with_result=False)  # leaderboard only: count from the name
    out = tmp_path / "abl"
    assert main(["visualize", "ablation", str(tmp_path), "--out", str(out)]) == 0
    assert (out / "ablation_layers.png").read_bytes()[:8] == PNG_MAGIC
    table = pd.read_csv(out / "ablation_layers.csv")
    held_out = table[table["test_set"] == "demo-B"].sort_values("layers")
    assert held_out["layers"].tolist() == [1, 2, 4, 6]
    assert held_out["SROCC"].tolist() == pytest.approx([0.51, 0.61, 0.71, 0.81])
    assert held_out["trainable_params"].iloc[:3].tolist() == [
        parameter_report(build_qclip("tiny", pretrained=None, layers=n)).trainable for n in (1, 2, 4)]
    assert "demo-B" in capsys.readouterr().out

    runs = find_runs([tmp_path])
    assert len(runs) == 4  # each leaderboard once, though result.json names three of them
    fig = layer_ablation_figure(layer_ablation_table(runs))
    ax = fig.axes[0]
    assert [line.get_xdata().tolist() for line in ax.lines] == [[1, 2, 4, 6], [1, 2, 4, 6]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["demo-A (held-out)", "demo-B"]
    assert ax.get_xlabel().startswith("number of E-SCMA layers") and ax.get_ylabel() == "SROCC"

    with pytest.raises(ValueError, match="no E-SCMA-layers runs found"):
        layer_ablation_table([r for r in runs if r.name == "nothing"])


def test_runs_recorded_with_relative_paths_are_found_from_elsewhere(tmp_path, monkeypatch):
    """run_protocol records work_dirs/... and leaderboard/... relative to where it ran."""
    root = tmp_path / "project"
    work, board = _fake_run(root, "escma_1_layers", 1, 0.5)
    record = json.loads((work / "result.json").read_text())
    record["exported"] = [str(Path(p).relative_to(root)) for p in record["exported"]]
    record["leaderboard"] = str(Path(record["leaderboard"]).relative_to(root))
    (work / "result.json").write_text(json.dumps(record))
    monkeypatch.chdir(tmp_path)
    (run,) = find_runs([root / "work"])
    assert run.source == board / "leaderboard.csv"
    assert run.encoder_layers == 1 and run.checkpoint is not None
    assert run.trainable_params == checkpoint_trainable_parameters(run.checkpoint)


def test_load_model_recreates_the_seeded_random_backbone(tmp_path):
    """Adapter-only checkpoints of the random `tiny` backbone record the backbone's seed, so loading
    one rebuilds the very backbone it was trained on, whatever the caller's RNG state or init_seed."""
    from mmengine.runner import set_random_seed

    from qclip_plugin.analysis import load_model

    set_random_seed(0)  # as mmengine's Runner does before building the model
    trained = _trained_like(build_qclip("tiny", pretrained=None).eval(), seed=3)
    checkpoint = trained.save_checkpoint(tmp_path / "selected.safetensors")
    frames = torch.randn(2, 4, 3, 112, 112, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = trained(frames)
        state = torch.random.get_rng_state()
        same = load_model(checkpoint)  # preset read from the file
        assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is left alone
        other = load_model(checkpoint, init_seed=1)
        assert torch.equal(same(frames), expected)
        assert torch.equal(other(frames), expected)
