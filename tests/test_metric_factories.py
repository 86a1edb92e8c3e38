"""The metric factories as table rows (``METRIC_CONFIGS``): defaults from the row, options over them,
Q-CLIP's weights keywords (``pretrained`` is pyiqa's bool, ``backbone_weights`` the backbone's tag) and
``trust_pickle`` reaching the backbone's weights file."""

from __future__ import annotations

import argparse
import pickle

import pytest
import torch

from qclip_plugin.metrics import METRIC_CONFIGS, create_metric
from qclip_plugin.torch_files import UntrustedPickleError

pytestmark = pytest.mark.usefixtures("single_thread")
TINY = dict(preset="tiny", pretrained=False, device="cpu", num_frames=2)


def test_rows_are_read_only_defaults_that_options_override():
    row = METRIC_CONFIGS["clip-five-level"]
    assert row.options["values"] == (5.0, 4.0, 3.0, 2.0, 1.0) and row.options["num_frames"] == 8
    assert row.merged({"num_frames": 2})["num_frames"] == 2 and row.options["num_frames"] == 8
    with pytest.raises(TypeError):
        row.options["num_frames"] = 2  # type: ignore[index]


def test_zero_shot_metrics_come_from_their_rows():
    antonym = create_metric("clip-antonym", backbone="QCLIP-Tiny", backbone_weights=None, device="cpu", num_frames=2)
    five = create_metric("clip-five-level", backbone="QCLIP-Tiny", backbone_weights=None, device="cpu")
    assert antonym.net.levels == ("good", "bad") and antonym.net.values.tolist() == [1.0, 0.0]
    assert five.net.levels == ("excellent", "good", "fair", "poor", "bad") and five.num_frames == 8
    assert (antonym.score_range, five.score_range) == ("0, 1", "1, 5")
    assert antonym.net.prompts == ("a video of good quality", "a video of bad quality")


def test_qclip_row_defaults_and_options():
    metric = create_metric("qclip", **TINY)
    assert (metric.num_frames, metric.sampler, metric.seed) == (2, "UNISampl", 0)
    assert metric.net.preset == "tiny" and metric.weights == "untrained (init_seed=0)"
    assert create_metric("qclip", init_seed=1, **TINY).weights == "untrained (init_seed=1)"


def test_qclip_takes_trust_pickle_and_scores_the_same(videos_dir):
    # the CLI's --trust-pickle with --metric qclip: the factory lacked the keyword before
    video = videos_dir / "carphone_distorted.mp4"
    plain, trusting = create_metric("qclip", **TINY), create_metric("qclip", trust_pickle=True, **TINY)
    assert torch.equal(plain(video), trusting(video))


def test_backbone_weights_file_is_unpickled_only_when_trusted(tmp_path, videos_dir):
    from qclip_plugin.models import load_backbone

    state = load_backbone("QCLIP-Tiny", None, seed=3).model.state_dict()
    path = tmp_path / "tiny-backbone.pt"
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=0.1)}, path)  # a training script's file
    with pytest.raises(UntrustedPickleError, match=r"tiny-backbone\.pt: refusing to unpickle .*--trust-pickle"):
        create_metric("qclip", backbone_weights=path, **TINY)
    trusted = create_metric("qclip", backbone_weights=path, trust_pickle=True, **TINY)
    loaded = trusted.net.backbone.state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], v) for k, v in state.items())
    assert trusted.net.pretrained == str(path)


def test_build_qclip_backbone_weights_and_its_config_key_are_one_thing():
    from qclip_plugin.models import resolve_config

    assert resolve_config("tiny", backbone_weights="x.pt").pretrained == "x.pt"
    assert resolve_config("tiny", pretrained="x.pt") == resolve_config("tiny", backbone_weights="x.pt")
    with pytest.raises(TypeError, match="once"):
        resolve_config("tiny", backbone_weights="a.pt", pretrained="b.pt")


def test_the_sentinel_is_one_object_that_survives_pickling():
    from qclip_plugin.sentinel import FROM_PRESET

    assert pickle.loads(pickle.dumps(FROM_PRESET)) is FROM_PRESET and repr(FROM_PRESET) == "FROM_PRESET"


def test_score_command_passes_trust_pickle_to_qclip(videos_dir, tmp_path):
    from qclip_plugin.benchmark.scoring import read_scores
    from qclip_plugin.cli.main import main

    common = [str(videos_dir / "carphone_distorted.mp4"), "--preset", "tiny", "--untrained", "--device", "cpu",
              "--frames", "2", "--quiet"]  # fmt: skip
    assert main(["score", *common, "--trust-pickle", "--output", str(tmp_path / "t.csv")]) == 0
    assert main(["score", *common, "--output", str(tmp_path / "p.csv")]) == 0
    assert read_scores(tmp_path / "t.csv") == read_scores(tmp_path / "p.csv")
