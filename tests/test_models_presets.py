"""The mmengine model configs (benchmark_configs/_base_/models) are valid build_qclip arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.config import Config

from qclip_plugin.models import ABLATIONS, QCLIPConfig, build_qclip, get_preset

MODELS_DIR = Path(__file__).resolve().parents[1] / "benchmark_configs" / "_base_" / "models"


def _qclip_args(name: str) -> dict:
    cfg = Config.fromfile(str(MODELS_DIR / name))
    assert cfg.model.type == "QCLIPVQAModel" and cfg.model.loss.rank_weight == 0.3
    return dict(cfg.model.qclip)


def test_preset_configs():
    assert _qclip_args("qclip_paper.py") == {"preset": "paper"}
    assert _qclip_args("qclip_release.py") == {"preset": "release"}
    assert _qclip_args("qclip_tiny.py") == {"preset": "tiny", "pretrained": None}


@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_every_ablation_has_a_config_that_builds(ablation):
    args = _qclip_args(f"qclip_paper_{ablation}.py")
    preset = args.pop("preset")
    assert preset == "paper" and args == ABLATIONS[ablation]
    QCLIPConfig.from_dict({**get_preset(preset), **args})  # valid options for the paper model
    if args.get("layers", 0) <= 4:  # fits the tiny backbone's four blocks: build it there
        model = build_qclip("tiny", pretrained=None, **args)
        assert model.scma.config.num_layers == args.get("layers", 2)
