"""The command line fails fast and speaks CLI: mistyped keys and names stop before any work with a
did-you-mean (exit 2, one message, no traceback), messages name flags, one flag name per concept,
exit 1 when nothing succeeded, launchers through mmengine's init_dist."""

from __future__ import annotations

import time

import pytest

from qclip_plugin.cli.main import build_parser, in_cli_words, main


@pytest.fixture
def no_training(monkeypatch):
    """Any training or dataset building fails the test: the errors must come before them."""
    from qclip_plugin.benchmark import protocols

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(protocols, "train_and_test", forbidden)
    monkeypatch.setattr(protocols, "_build_dataset", forbidden)


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trian.max_epochs=1", "trian.max_epochs=: the config has no key 'trian'; did you mean train.max_epochs?"),
        ("train.max_epoch=1", "train.max_epoch=: train_cfg has no key 'max_epoch'; did you mean train.max_epochs?"),
        ("model.layrs=4", "did you mean model.layers?"),
        ("optim_wrapper.optimiser.lr=1e-3", "did you mean optim_wrapper.optimizer.lr?"),
        ("protocol.split.val_ration=0.1", "did you mean protocol.split.val_ratio?"),
        ("sampler=SegMSEMeen", "unknown frame sampler 'SegMSEMeen'; did you mean 'SegMSEMean'"),
        ("model.preset=tinyy", "unknown Q-CLIP preset 'tinyy'; did you mean 'tiny'?"),
        ("model.layers=5", "model.layers=5: the QCLIP-Tiny backbone has 4 blocks"),
    ],
)
def test_a_mistyped_override_stops_the_run_before_any_work(capsys, no_training, tmp_path, override, expected):
    start = time.perf_counter()
    code, err = _run(capsys, "run", "protocol=cross-dataset", "preset=demo", override, "--work-dir", str(tmp_path / "w"))
    assert code == 2 and expected in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "w").exists()
    assert time.perf_counter() - start < 30  # seconds, not a pre-flight and an evaluation


def test_protocol_and_preset_names_have_a_did_you_mean(capsys, no_training):
    code, err = _run(capsys, "run", "protocol=cross-datset", "preset=demo")
    assert code == 2 and "did you mean 'cross-dataset'?" in err
    code, err = _run(capsys, "run", "protocol=cross-dataset", "preset=demoo")
    assert code == 2 and "unknown preset 'demoo'; did you mean 'demo'?" in err and "model.preset=" in err
    code, err = _run(capsys, "list", "sampler")
    assert code == 2 and "unknown registry 'sampler'; did you mean 'samplers'?" in err


def test_overrides_still_accept_every_documented_form() -> None:
    from qclip_plugin.benchmark.protocols import load_protocol_config

    cfg = load_protocol_config("cross-dataset", "demo", [
        "train.max_epochs=1", "model.layers=2", "optim_wrapper.optimizer.betas=(0.9, 0.99)", "batch_size=4",
        "sampler=SegMSEMean", "num_frames=2", "seed=3", "load_from=none", "protocol.published_dir=none",
        "train_dataloader.sampler.round_up=False", "model.loss.rank_weight=0.5",
    ])  # fmt: skip
    assert cfg.train_cfg.max_epochs == 1 and cfg.model.qclip.layers == 2 and cfg.model.loss.rank_weight == 0.5
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.99) and cfg.train_dataloader.sampler.round_up is False


def test_run_flags_and_old_style_run_options(monkeypatch, capsys, tmp_path):
    from qclip_plugin.benchmark import protocols

    calls = []
    monkeypatch.setattr(protocols, "run_protocol", lambda name, overrides, **kw: calls.append((name, overrides, kw)))
    # flags anywhere among the key=value items
    assert main(["run", "protocol=finetune", "--output", "lb", "train.max_epochs=1", "--resume", "seed=2",
                 "--preflight", "deep", "--launcher", "slurm", "--datasets", "KoNViD-1k"]) == 0
    name, overrides, options = calls[-1]
    assert name == "finetune" and overrides == {"train.max_epochs": 1, "seed": 2}
    assert options["leaderboard_dir"] == "lb" and options["resume"] is True and options["preflight"] == "deep"
    assert options["launcher"] == "slurm" and options["datasets"] == "KoNViD-1k" and options["preset"] is None
    # the old key=value spelling of run options: still read, with a note naming the flag
    assert main(["run", "protocol=cross-dataset", "preset=demo", "resume=true", f"work_dir={tmp_path}"]) == 0
    name, overrides, options = calls[-1]
    assert overrides == {} and options["resume"] is True and options["work_dir"] == str(tmp_path)
    assert options["preset"] == "demo"
    assert "note: run options given as key=value (work_dir=, resume=) are flags now: --work-dir, --resume" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit) as stop:
        main(["run", "protocol=cross-dataset", "--bogus"])
    assert stop.value.code == 2


def test_library_messages_are_translated_into_flags() -> None:
    from qclip_plugin.cli.commands import run, score, visualize

    assert in_cli_words("pass init_checkpoint=PATH, or resume=True", run.FLAGS) == "pass --init-checkpoint PATH, or --resume"
    assert in_cli_words("protocol.init_checkpoint=x", run.FLAGS) == "protocol.init_checkpoint=x"  # a config key
    assert in_cli_words("(tests, ablations) pass pretrained=False.", score.FLAGS) == "(tests, ablations) pass --untrained."
    assert in_cli_words("pass ann_file= (a list)", visualize.FLAGS) == "pass --ann-file (a list)"


def test_the_finetune_needs_its_start_in_flags(capsys, no_training, tmp_path):
    code, err = _run(capsys, "run", "protocol=finetune", "--work-dir", str(tmp_path / "w"))
    assert code == 2 and "pass --init-checkpoint PATH" in err
    # the demo fine-tune starts from the demo cross-dataset run: never runs it itself
    code, err = _run(capsys, "run", "protocol=finetune", "preset=demo", "--work-dir", str(tmp_path / "ft"),
                     "--preflight", "off")
    assert code == 2 and "run `qclip-bench run protocol=cross-dataset preset=demo` first" in err, err


def _flags(parser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def test_one_name_per_concept_in_every_command() -> None:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    outputs = {"run", "score", "bench", "make-demo", "evaluate"}
    for name in outputs:
        assert "--output" in _flags(subparsers[name]), name
    for figure in ("tsne", "efficiency", "ablation"):
        kinds = next(a for a in subparsers["visualize"]._actions if a.dest == "figure").choices
        assert "--output" in _flags(kinds[figure])
    for name in ("score", "bench", "params"):
        assert "--model" in _flags(subparsers[name]), name
    for name, parser in subparsers.items():  # the old spellings are hidden
        assert "--out " not in parser.format_help() and "--preset" not in parser.format_help(), name
    assert "--root" not in subparsers["make-demo"].format_help()


def test_old_flag_spellings_still_work(tmp_path):
    args = build_parser().parse_args(["make-demo", "--root", str(tmp_path)])
    assert args.output == str(tmp_path)
    args = build_parser().parse_args(["score", "x.mp4", "--preset", "tiny"])
    assert args.model == "tiny"
    args = build_parser().parse_args(["visualize", "efficiency", "--out", "o"])
    assert args.output == "o"


def test_score_names_are_checked_before_anything_is_built(capsys, tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not a video")
    code, err = _run(capsys, "score", str(video), "--metric", "qclipp", "--untrained", "--output", str(tmp_path / "s.csv"))
    assert code == 2 and "unknown metric 'qclipp'; did you mean 'qclip'?" in err
    code, err = _run(capsys, "score", str(video), "--model", "tinyy", "--untrained", "--output", str(tmp_path / "s.csv"))
    assert code == 2 and "unknown Q-CLIP preset 'tinyy'; did you mean 'tiny'?" in err
    code, err = _run(capsys, "score", str(video), "--sampler", "SegMSEMeen", "--untrained", "--output",
                     str(tmp_path / "s.csv"))
    assert code == 2 and "did you mean 'SegMSEMean'" in err
    assert not (tmp_path / "s.csv").exists()
    code, err = _run(capsys, "params", "--model", "tinyy")
    assert code == 2 and "did you mean 'tiny'?" in err


def test_score_exits_1_when_every_video_failed_and_0_when_some_succeeded(capsys, tmp_path, videos_dir):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    common = ["--model", "tiny", "--untrained", "--device", "cpu", "--quiet", "--frames", "2"]
    assert main(["score", str(broken), "--output", str(tmp_path / "a.csv"), *common]) == 1
    assert "failed 1" in capsys.readouterr().out
    good = videos_dir / "carphone_distorted.mp4"
    assert main(["score", str(broken), str(good), "--output", str(tmp_path / "b.csv"), *common]) == 0
    assert "scored 1, skipped 0, failed 1" in capsys.readouterr().out


@pytest.mark.parametrize("launcher", ["slurm", "mpi"])
def test_slurm_and_mpi_launch_through_mmengine_init_dist(monkeypatch, launcher):
    import mmengine.dist
    from mmengine.config import Config

    from qclip_plugin.engine import distributed

    calls = []
    monkeypatch.setattr(mmengine.dist, "init_dist", lambda name, backend: calls.append((name, backend)))
    for name in distributed.LAUNCHER_VARIABLES[launcher]:
        monkeypatch.setenv(name, "0" if name != "SLURM_NODELIST" and name != "MASTER_ADDR" else "node0")
    cfg = Config(dict(model=dict(type="QCLIPVQAModel", loss=dict(type="PLCCRankLoss")),
                      env_cfg=dict(dist_cfg=dict(backend="nccl"))))  # as default_runtime.py
    distributed.configure_launcher(cfg, launcher, backend="gloo")
    assert calls == [(launcher, "gloo")] and cfg.launcher == launcher
    assert cfg.env_cfg.dist_cfg.backend == "gloo" and cfg.model.loss.type == "GlobalBatchLoss"
    monkeypatch.delenv(distributed.LAUNCHER_VARIABLES[launcher][0])
    with pytest.raises(distributed.LauncherError, match=f"launcher={launcher} needs the variables"):
        distributed.configure_launcher(Config(dict()), launcher)
    with pytest.raises(ValueError, match="unknown launcher 'slurmm'; did you mean 'slurm'"):
        distributed.configure_launcher(Config(dict()), "slurmm")


def test_every_command_has_help(capsys) -> None:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name in subparsers:
        with pytest.raises(SystemExit) as stop:
            main([name, "--help"])
        assert stop.value.code == 0, name
        assert "usage: qclip-bench" in capsys.readouterr().out


def test_demo_dataset_finds_its_own_files(monkeypatch, tmp_path) -> None:
    """DemoDataset asks the generator (which reuses what it made) for its label list and root."""
    from qclip_plugin.data import datasets
    from qclip_plugin.data.synthetic import DemoBenchmark

    (tmp_path / "A").mkdir()
    (tmp_path / "labels_A.txt").write_text("A/a0.mp4, -1, -1, 3.5\nA/a1.mp4, -1, -1, 2.0\n")
    bench = DemoBenchmark(root=tmp_path, labels={"A": tmp_path / "labels_A.txt"}, metadata=tmp_path / "meta.csv",
                          manifest=tmp_path / "manifest.json", seed=3, param_hash="x")
    monkeypatch.setattr("qclip_plugin.data.synthetic.generate_demo_benchmark", lambda root, seed: bench)
    dataset = datasets.DemoDataset(part="A", seed=3)
    assert [dataset.get_data_info(i)["name"] for i in range(len(dataset))] == ["A/a0.mp4", "A/a1.mp4"]
    assert dataset.get_data_info(0)["filename"] == str(tmp_path / "A" / "a0.mp4")
    assert dataset.groups_file == tmp_path / "meta.csv" and dataset.demo_seed == 3
    with pytest.raises(ValueError, match="part must be one of A"):
        datasets.DemoDataset(part="C")


def test_run_protocol_takes_run_options_as_keywords_and_still_reads_the_old_overrides(monkeypatch):
    from qclip_plugin.benchmark import protocols

    seen = []
    monkeypatch.setattr(protocols, "_run", lambda name, overrides, options, log: seen.append((name, overrides, options)))
    lines: list[str] = []
    protocols.run_protocol("x", ["protocol=cross-dataset", "preset=demo", "resume=true", "seed=1"], workers=2,
                           log=lines.append)
    name, overrides, options = seen[-1]
    assert name == "cross-dataset" and overrides == {"seed": 1}
    assert options == protocols.RunOptions(preset="demo", resume=True, workers=2)
    assert lines == ["note: run options given as key=value (resume=): pass them as run_protocol's keyword "
                     "arguments (qclip-bench run: as flags, see --help)"]


def test_the_runner_keys_are_mmengines() -> None:
    import inspect

    from mmengine.runner import Runner

    from qclip_plugin.benchmark.overrides import RUNNER_KEYS

    assert list(RUNNER_KEYS) == [p for p in inspect.signature(Runner.__init__).parameters if p not in ("self", "cfg")]


def test_the_split_keys_overrides_accept_are_the_split_rules() -> None:
    # overrides.py lists them by hand so that a mistyped key stops before the data package (torch) is imported
    from dataclasses import fields

    from qclip_plugin.benchmark.overrides import _CLOSED
    from qclip_plugin.data.splits import SplitRule

    assert _CLOSED["protocol.split"] == tuple(f.name for f in fields(SplitRule))
