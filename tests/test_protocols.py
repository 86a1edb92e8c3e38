"""Protocol configs, overrides, splits and pre-flight errors of the benchmark runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.config import Config

from qclip_plugin.benchmark.overrides import OverrideError, apply_overrides, parse_overrides, parse_value
from qclip_plugin.benchmark.protocols import (
    CONFIG_ROOT,
    ProtocolError,
    load_protocol_config,
    name_dataset_sets,
    protocol_config_path,
    run_protocol,
)

ALL_CONFIGS = sorted(p for p in CONFIG_ROOT.rglob("*.py") if "_base_" not in p.parts)


def test_parse_values() -> None:
    assert parse_value("1") == 1 and parse_value("1e-3") == 1e-3 and parse_value("[2, 4]") == [2, 4]
    assert parse_value("(336, 336)") == (336, 336) and parse_value("none") is None and parse_value("True") is True
    assert parse_value("false") is False and parse_value("SegMSEMean") == "SegMSEMean"
    assert parse_value("/data/konvid") == "/data/konvid"
    assert parse_overrides(["a.b=1", "c = x", "d=a=b"]) == {"a.b": 1, "c": "x", "d": "a=b"}
    with pytest.raises(OverrideError, match="not key=value"):
        parse_overrides(["train.max_epochs"])


def test_overrides_map_onto_the_config() -> None:
    cfg = load_protocol_config("cross-dataset")
    apply_overrides(cfg, [
        "model.preset=release", "model.layers=12", "data_root.KoNViD=/data/konvid", "data_root.LIVE_VQC=/data/vqc",
        "train.max_epochs=1", "sampler=SegMSEMean", "work_dir=/tmp/w", "optim_wrapper.optimizer.lr=3e-3",
        "batch_size=6", "seed=7", "protocol=ignored", "preset=ignored",
    ])
    assert cfg.model.qclip == {"preset": "release", "layers": 12}
    assert cfg.model.type == "QCLIPVQAModel" and cfg.model.loss.rank_weight == 0.3
    assert cfg.protocol.test_sets["KoNViD-1k"].data_root == "/data/konvid"
    assert cfg.protocol.test_sets["LIVE-VQC"].data_root == "/data/vqc"
    assert cfg.protocol.train_sets["LSVQ_train"].data_root is None
    assert cfg.train_cfg.max_epochs == 1 and cfg.work_dir == "/tmp/w"
    assert cfg.optim_wrapper.optimizer.lr == 3e-3 and cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.train_dataloader.batch_size == 6 and cfg.randomness.seed == 7
    samplers = [s["sampler"] for s in cfg.train_pipeline + cfg.test_pipeline if s["type"] == "LoadVideoFrames"]
    assert samplers == ["SegMSEMean", "SegMSEMean"]
    apply_overrides(cfg, ["train_sampler=Mixed", "test_sampler=UNISampl", "num_frames=16"])
    assert cfg.train_pipeline[0]["sampler"] == "Mixed" and cfg.test_pipeline[0]["sampler"] == "UNISampl"
    assert cfg.train_pipeline[0]["num_frames"] == cfg.test_pipeline[0]["num_frames"] == 16
    with pytest.raises(OverrideError, match="no dataset named 'CVD2014'"):
        apply_overrides(cfg, ["data_root.CVD2014=/x"])


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: str(p.relative_to(CONFIG_ROOT)))
def test_every_config_loads(path: Path) -> None:
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == "qclip_plugin"
    assert cfg.model.type == "QCLIPVQAModel" and cfg.model.loss.type == "PLCCRankLoss"
    assert cfg.optim_wrapper.constructor == "TrainableOptimWrapperConstructor"
    assert cfg.optim_wrapper.optimizer.type == "AdamW"
    assert cfg.default_hooks.checkpoint.save_best == "vqa/SROCC"
    assert {"type": "TrainableCheckpointHook"} in cfg.custom_hooks
    assert cfg.test_evaluator.type == "VQAMetric" and cfg.test_evaluator.mapping == "linear"
    spec = cfg.protocol
    name_dataset_sets(spec, path)
    assert spec.name in ("intra-dataset", "cross-dataset", "finetune")
    assert spec.train_sets and all("type" in d for d in spec.train_sets.values())
    assert spec.split.seeds and (spec.split.ratio is None or 0 < spec.split.ratio < 1)
    assert spec.split.val_ratio > 0, "model selection needs a validation part"
    loaders = [s for s in cfg.train_pipeline + cfg.test_pipeline if s["type"] == "LoadVideoFrames"]
    assert len(loaders) == 2 and loaders[1]["test_mode"] is True
    # the paper's 8 frames; the CPU demo samples 4 of its 16-frame clips
    assert loaders[0]["num_frames"] == (4 if "demo" in path.parts else 8)


def test_protocol_configs_say_what_the_paper_says() -> None:
    cross = load_protocol_config("cross-dataset")
    assert list(cross.protocol.test_sets) == ["KoNViD-1k", "LIVE-VQC"]
    assert cross.protocol.train_sets["LSVQ_train"] == {"type": "LSVQDataset", "split": "train", "data_root": None}
    assert cross.model.qclip.preset == "paper" and cross.train_cfg.max_epochs == 8
    intra = load_protocol_config("intra-dataset")
    assert list(intra.protocol.test_sets) == ["LSVQ_test", "LSVQ_1080p"]
    assert [d.split for d in intra.protocol.test_sets.values()] == ["test", "1080p"]
    finetune = load_protocol_config("finetune")
    assert list(finetune.protocol.train_sets) == ["LIVE-VQC", "KoNViD-1k", "YouTube-UGC", "CVD2014", "LIVE-Qualcomm"]
    assert finetune.protocol.split.seeds == list(range(10)) and finetune.protocol.split.ratio == 0.8
    assert finetune.protocol.heldout_test is True
    demo = load_protocol_config("cross-dataset", preset="demo")
    assert demo.model.qclip == {"preset": "tiny", "layers": 4, "bottleneck": 32}
    assert list(demo.protocol.test_sets) == ["demo-B"] and demo.protocol.heldout_test is True
    demo_ft = load_protocol_config("finetune", preset="demo")
    assert demo_ft.protocol.init_from_protocol == "cross-dataset" and len(demo_ft.protocol.split.seeds) == 10
    assert list(demo_ft.protocol.train_sets) == ["demo-B"] and not demo_ft.protocol.test_sets


def test_config_lookup_errors_name_the_choices() -> None:
    assert protocol_config_path("finetune") == CONFIG_ROOT / "protocols" / "finetune.py"
    assert protocol_config_path("finetune", "demo") == CONFIG_ROOT / "protocols" / "demo" / "finetune.py"
    with pytest.raises(ProtocolError, match="protocols: intra-dataset, cross-dataset, finetune"):
        protocol_config_path("crossdataset")
    with pytest.raises(ProtocolError, match="unknown preset 'quick'"):
        protocol_config_path("finetune", "quick")


def test_missing_data_root_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("QCLIP_DATA_LSVQ", "QCLIP_DATA_KONVID", "QCLIP_DATA_LIVE_VQC"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ProtocolError) as error:
        run_protocol("cross-dataset", work_dir=tmp_path / "w", leaderboard_dir=tmp_path / "lb", log=lambda _: None)
    message = str(error.value)
    assert "LSVQ_train" in message and "data_root.LSVQ=" in message and "$QCLIP_DATA_LSVQ" in message
    assert not (tmp_path / "w").exists()


def test_preflight_stops_before_training(tmp_path: Path, shared_data: Path) -> None:
    # a real label list whose videos are not there: the pre-flight check lists them
    root = tmp_path / "konvid"
    root.mkdir()
    (root / "labels.txt").write_text((shared_data / "labels" / "KoNViD" / "labels.txt").read_text())
    start = tmp_path / "start.pth"  # the fine-tune's start is checked (for existence) before the data
    start.write_bytes(b"")
    with pytest.raises(ProtocolError) as error:
        run_protocol("finetune", [f"data_root.KoNViD={root}"], datasets="KoNViD-1k", init_checkpoint=start,
                     work_dir=tmp_path / "w", leaderboard_dir=tmp_path / "lb", log=lambda _: None)
    message = str(error.value)
    assert "pre-flight" in message and "1200 of 1200" in message and "missing" in message
    assert not (tmp_path / "w").exists()


def test_paper_experiments_override_the_model_helpers_names() -> None:
    from qclip_plugin.models import ABLATIONS

    paper = CONFIG_ROOT / "paper"
    table1 = {p.stem: load_protocol_config(str(p)) for p in sorted((paper / "table1_sampling").glob("*.py"))}
    names = ["RandSampl", "UNISampl", "UNIRandStart", "MSESortedUNI", "SegMSEMean", "SegMSEMedian", "Mixed"]
    assert sorted(table1) == sorted(n.lower() for n in names)
    for name in names:
        cfg = table1[name.lower()]
        assert cfg.train_pipeline[0]["sampler"] == cfg.test_pipeline[0]["sampler"] == name
        assert list(cfg.protocol.test_sets) == ["LSVQ_test", "LSVQ_1080p", "KoNViD-1k", "LIVE-VQC"]
        assert cfg.protocol.method == f"Q-CLIP ({name})"
    # tables 3, 4 and figure 5 name rows of the model table (tests/test_models_presets.py checks them)
    def rows(folder: str) -> set[str]:
        return {Config.fromfile(str(p)).model.qclip.ablation for p in (paper / folder).glob("*.py")}

    assert rows("table3_scma") == {k for k in ABLATIONS if k.startswith("scma_")}
    assert rows("table4_prompts") == {k for k in ABLATIONS if k.startswith("prompts_")}
    assert rows("figure5_escma_layers") == {f"escma_{n}_layers" for n in (2, 4, 6, 8, 12, 24)}


def test_run_command_only_parses(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch) -> None:
    from qclip_plugin.cli.main import main

    # user errors go to stderr, as every command's (they were printed to stdout here before)
    assert main(["run"]) == 2
    assert "protocol=cross-dataset preset=demo" in capsys.readouterr().err
    assert main(["run", "protocol=cross-dataset", "train.max_epochs"]) == 2
    assert "not key=value" in capsys.readouterr().err
    monkeypatch.delenv("QCLIP_DATA_LSVQ", raising=False)
    assert main(["run", "protocol=cross-dataset", "--work-dir", str(tmp_path / "w"), "--output", str(tmp_path / "lb")]) == 2
    assert "data_root.LSVQ=" in capsys.readouterr().err  # a UserError: cli.main prints it, exit 2


def test_preflight_before_training_uses_the_bad_list_of_prepare(tmp_path, monkeypatch, videos_dir):
    from qclip_plugin.benchmark.prepare import default_bad_list
    from qclip_plugin.benchmark.protocols import ProtocolError, _preflight
    from qclip_plugin.data.datasets import KoNViDDataset
    from qclip_plugin.data.preflight import file_stamp

    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "konvid"
    (root / "v").mkdir(parents=True)
    (root / "v" / "good.mp4").write_bytes((videos_dir / "carphone_distorted.mp4").read_bytes())
    (root / "v" / "bad.mp4").write_bytes((videos_dir / "carphone_pristine.mp4").read_bytes())
    (root / "labels.txt").write_text("v/good.mp4, -1, -1, 3.0\nv/bad.mp4, -1, -1, 2.0\n")
    dataset = KoNViDDataset(data_root=str(root))
    logged: list[str] = []
    _preflight({"KoNViD-1k": dataset}, deep=False, log=logged.append)  # no bad list yet: both fine
    assert "all 2 videos" in logged[-1]

    bad = root / "v" / "bad.mp4"
    size, mtime = file_stamp(bad)
    listed = default_bad_list("KoNViD")
    listed.parent.mkdir(parents=True)
    listed.write_text(f"path,reason,size,mtime_ns\n{bad},corrupt frame data at frame 17,{size},{mtime}\n")
    with pytest.raises(ProtocolError, match="corrupt frame data at frame 17"):
        _preflight({"KoNViD-1k": dataset}, deep=False, log=logged.append)


def _frames(cfg) -> list[tuple]:
    from qclip_plugin.benchmark.protocols import _frame_steps

    return [(tuple(s["size"]), s["resize"], tuple(s["mean"]), s.get("seed"), evaluates) for s, evaluates in _frame_steps(cfg)]


@pytest.mark.parametrize(
    ("overrides", "size", "resize", "mean"),
    [
        ([], (336, 336), "decoder", (0.5, 0.5, 0.5)),
        (["model.preset=tiny"], (112, 112), "decoder", (0.5, 0.5, 0.5)),
        (["model.backbone=ViT-B-32"], (224, 224), "decoder", (0.48145466, 0.4578275, 0.40821073)),
        (["resize=pil"], (336, 336), "pil", (0.5, 0.5, 0.5)),
        (["model.preset=release"], (336, 336), "pil", (0.5, 0.5, 0.5)),
        (["model.preset=tiny", "resize=pil"], (112, 112), "pil", (0.5, 0.5, 0.5)),
    ],
)
def test_pipelines_follow_the_models_preprocessing(overrides, size, resize, mean) -> None:
    """No config states the frame size: each protocol's pipelines take the model's record."""
    from qclip_plugin.models import resolve_preprocessing

    for name in ("cross-dataset", "intra-dataset", "finetune", "paper/table1_sampling/randsampl"):
        cfg = load_protocol_config(name, overrides=overrides)
        # training draws fresh frames; evaluation draws from per-video seeds of the run's seed (0)
        assert _frames(cfg) == [(size, resize, mean, None, False), (size, resize, mean, 0, True)], name
    assert resolve_preprocessing(**load_protocol_config("cross-dataset", overrides=overrides).model.qclip).resize == resize
    for path in ALL_CONFIGS:  # the configs themselves say nothing of the size
        assert "size=" not in path.read_text().replace("batch_size=", ""), path


def test_the_pipelines_follow_an_init_checkpoint_of_another_backbone(tmp_path) -> None:
    from qclip_plugin.benchmark.protocols import apply_model_preprocessing, model_preprocessing
    from qclip_plugin.models import build_qclip

    model = build_qclip("paper", pretrained=None, backbone="QCLIP-Tiny", layers=2)
    ckpt = model.save_checkpoint(tmp_path / "tiny.safetensors")
    cfg = load_protocol_config("finetune", overrides=["train.max_epochs=1"])
    before = model_preprocessing(cfg)
    cfg.model.qclip.checkpoint = str(ckpt)
    apply_model_preprocessing(cfg, previous=before)
    assert [f[0] for f in _frames(cfg)] == [(112, 112), (112, 112)]


def test_release_preset_fine_tunes_with_the_releases_settings() -> None:
    from qclip_plugin.benchmark.protocols import _run_config
    from qclip_plugin.engine.runner import fit_schedule

    cfg = load_protocol_config("finetune", overrides=["model.preset=release"])
    lines: list[str] = []
    settings = {}
    for name in cfg.protocol.train_sets:
        run_cfg, _ = _run_config(cfg, cfg.protocol, name, {}, lines.append)
        opt = run_cfg.optim_wrapper.optimizer
        settings[name] = (opt.lr, opt.weight_decay, run_cfg.train_cfg.max_epochs,
                          [(s.begin, s.end) for s in run_cfg.param_scheduler])
    assert settings == {  # the release's options/finetune/*.yml
        "LIVE-VQC": (1e-3, 5e-2, 8, [(0, 1), (1, 8)]),
        "KoNViD-1k": (1e-3, 5e-2, 8, [(0, 1), (1, 8)]),
        "YouTube-UGC": (1e-3, 1e-4, 8, [(0, 1), (1, 8)]),
        "CVD2014": (2e-3, 5e-2, 8, [(0, 1), (1, 8)]),
        "LIVE-Qualcomm": (1e-3, 5e-2, 10, [(0, 2), (2, 10)]),
    }
    assert len(lines) == 4 and cfg.optim_wrapper.optimizer.weight_decay == 1e-4  # the base config is untouched
    qualcomm, _ = _run_config(cfg, cfg.protocol, "LIVE-Qualcomm", {}, lines.append)
    assert qualcomm.param_scheduler[1].T_max == 8
    # the command line wins over the preset's settings; the schedule then fits the shorter run
    short, _ = _run_config(cfg, cfg.protocol, "LIVE-Qualcomm", {"train.max_epochs": 1}, lines.append)
    assert short.train_cfg.max_epochs == 1 and [s.end for s in fit_schedule(short).param_scheduler] == [1]
    # the paper preset keeps one schedule for all
    paper = load_protocol_config("finetune")
    assert _run_config(paper, paper.protocol, "CVD2014", {}, lines.append)[0] is paper


# --- published rows and the names of the test sets --------------------------------------------------


def _spec(**fields):
    from mmengine.config import ConfigDict

    return ConfigDict({"name": "cross-dataset", "method": "Q-CLIP", **fields})


def test_published_rows_unset_none_and_folders(tmp_path: Path) -> None:
    from qclip_plugin.benchmark.leaderboard import load_published
    from qclip_plugin.benchmark.protocols import _published

    cross = ["KoNViD-1k", "LIVE-VQC"]
    everything = load_published("cross-dataset", cross)
    assert len(everything) >= 44 and {"Q-CLIP (Mixed)", "FAST-VQA", "DOVER"} <= set(everything["method"])
    # unset (or None) reads leaderboard/published; only the string 'none' turns the rows off
    assert _published(_spec(), cross).equals(everything)
    assert _published(_spec(published_dir=None), cross).equals(everything)
    assert _published(_spec(published_dir="none"), cross).empty and _published(_spec(published_dir="None"), cross).empty
    # published_protocol None: any protocol, so table 2's fine-tune rows of KoNViD-1k come too
    anything = _published(_spec(published_protocol=None), cross)
    assert set(anything["protocol"]) == {"cross-dataset", "finetune"}
    both = _published(_spec(published_protocol=["intra-dataset", "cross-dataset"]), ["LSVQ_test", *cross])
    assert set(both["protocol"]) == {"intra-dataset", "cross-dataset"}
    # a paper experiment: only its own variant, from the ablation tables
    own = _published(_spec(method="Q-CLIP (prompts antonym)", published_dir="ablations",
                           published_protocol=["intra-dataset", "cross-dataset"], published_methods="own"),
                     ["LSVQ_test", *cross])
    assert [(r.test_set, r.SROCC, r.PLCC, r.table) for r in own.itertuples()] == [
        ("LSVQ_test", 0.883, 0.881, "Table 4"), ("KoNViD-1k", 0.866, 0.867, "Table 4"),
        ("LIVE-VQC", 0.791, 0.820, "Table 4")]  # the paper's table 4, first row
    assert set(_published(_spec(published_methods=["FAST-VQA"]), cross)["source"]) >= {"Q-CLIP paper"}
    with pytest.raises(ProtocolError, match="published_methods='mine'"):
        _published(_spec(published_methods="mine"), cross)
    with pytest.raises(ProtocolError, match="published_dir='missing'"):
        _published(_spec(published_dir="missing"), cross)
    with pytest.raises(ProtocolError, match="published_dir='missing'"):  # before any data is read or trained
        run_protocol("cross-dataset", ["protocol.published_dir=missing"], work_dir=tmp_path / "w",
                     leaderboard_dir=tmp_path / "lb", log=lambda _: None)
    assert not (tmp_path / "w").exists()
    # any folder of CSV files (absolute)
    (tmp_path / "mine.csv").write_text("method,protocol,test_set,SROCC,PLCC\nX,cross-dataset,LIVE-VQC,0.5,0.6\n")
    mine = _published(_spec(published_dir=str(tmp_path)), cross)
    assert mine[["method", "SROCC", "kind"]].values.tolist() == [["X", 0.5, "published"]]


def test_the_demo_has_no_published_rows() -> None:
    from qclip_plugin.benchmark.protocols import _published

    for name in ("cross-dataset", "finetune"):
        spec = load_protocol_config(name, preset="demo").protocol
        assert spec.published_dir == "none"
        assert _published(spec, ["demo-A (held-out)", "demo-B", "KoNViD-1k"]).empty


def test_test_set_names_come_from_the_dataset_specs() -> None:
    """Configs list datasets; their names (and the published rows') are the specs' set names."""
    import pandas as pd

    from qclip_plugin.benchmark.leaderboard import PUBLISHED_DIR
    from qclip_plugin.benchmark.protocols import dataset_set_name
    from qclip_plugin.data.dataset_specs import DATASET_SPECS

    names = {spec.set_name(split) for spec in DATASET_SPECS.values() for split in (spec.splits or [None])}
    assert {"LSVQ_train", "LSVQ_test", "LSVQ_1080p", "KoNViD-1k", "LIVE-VQC", "YouTube-UGC", "CVD2014",
            "LIVE-Qualcomm"} == names
    for path in ALL_CONFIGS:
        if "demo" in path.parts:
            continue
        spec = load_protocol_config(str(path)).protocol
        for name, dataset in [*spec.train_sets.items(), *spec.test_sets.items()]:
            assert name == dataset_set_name(dataset), path
    published = pd.concat([pd.read_csv(p) for p in sorted(PUBLISHED_DIR.rglob("*.csv"))])
    assert set(published["test_set"]) <= names and set(published["train_set"]) <= names


def test_listed_datasets_need_a_spec_and_a_split() -> None:
    from mmengine.config import ConfigDict

    spec = ConfigDict(test_sets=[dict(type="KoNViDDataset"), dict(type="LSVQDataset", split="1080p")])
    name_dataset_sets(spec)
    assert list(spec.test_sets) == ["KoNViD-1k", "LSVQ_1080p"]
    with pytest.raises(ProtocolError, match="no dataset spec to name it; give test_sets as a dict"):
        name_dataset_sets(ConfigDict(test_sets=[dict(type="VQADataset", ann_file="x.txt")]))
    with pytest.raises(ProtocolError, match="lists KoNViD-1k twice"):
        name_dataset_sets(ConfigDict(test_sets=[dict(type="KoNViDDataset"), dict(type="KoNViDDataset")]))
    with pytest.raises(ProtocolError, match="LSVQDataset needs split="):
        name_dataset_sets(ConfigDict(train_sets=[dict(type="LSVQDataset")]))
