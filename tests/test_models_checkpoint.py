"""Adapter-only checkpoints, state dicts without the backbone, registry builders, the params report."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from qclip_plugin.models import (
    QCLIP,
    CheckpointMismatchError,
    build_qclip,
    read_checkpoint_metadata,
)
from qclip_plugin.registry import MODELS


def _frames(seed=0):
    return torch.randn(2, 2, 3, 112, 112, generator=torch.Generator().manual_seed(seed))


def _trained_tiny(seed=0) -> QCLIP:
    torch.manual_seed(seed)
    model = build_qclip("tiny", pretrained=None)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return model


def test_checkpoint_round_trip_holds_only_adapters(tmp_path):
    model = _trained_tiny()
    path = model.save_checkpoint(tmp_path / "tiny.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        keys = set(handle.keys())
        meta = handle.metadata()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert keys == trainable and not any(k.startswith("backbone.") for k in keys)
    assert path.stat().st_size < 4091 * 4 + 8_000  # tensors + header, no backbone
    assert (meta["preset"], meta["backbone"], meta["pretrained"], meta["rope_layout"]) == ("tiny", "QCLIP-Tiny", "", "meta")
    assert json.loads(meta["config"])["bottleneck"] == 8
    assert read_checkpoint_metadata(path)["includes_backbone"] is False

    torch.manual_seed(123)  # a fresh model with other adapter values but the same random backbone
    fresh = build_qclip("tiny", pretrained=None)
    fresh.backbone.load_state_dict(model.backbone.state_dict())
    assert not torch.allclose(fresh(_frames()), model(_frames()))
    report = fresh.load_checkpoint(path)
    assert report["adapters"] == len(trainable) and report["backbone"] is False
    with torch.no_grad():
        torch.testing.assert_close(fresh(_frames()), model(_frames()), rtol=0, atol=0)


def test_random_backbone_is_the_same_in_every_process_so_checkpoints_find_it(tmp_path):
    model = _trained_tiny(seed=1)
    path = model.save_checkpoint(tmp_path / "tiny.safetensors")
    torch.manual_seed(999)  # another process: other global RNG state, no shared backbone
    loaded = build_qclip("tiny", checkpoint=path)
    for (name, a), (_, b) in zip(model.backbone.state_dict().items(), loaded.backbone.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    with torch.no_grad():
        torch.testing.assert_close(loaded(_frames()), model(_frames()), rtol=0, atol=0)
    other = build_qclip("tiny", pretrained=None, backbone_seed=1)
    key = "visual.trunk.blocks.0.attn.qkv.weight"  # the patch embedding is a fixed DCT bank, the blocks are random
    assert not torch.equal(other.backbone.state_dict()[key], model.backbone.state_dict()[key])


def test_checkpoint_refuses_other_preset_backbone_or_structure(tmp_path):
    path = _trained_tiny().save_checkpoint(tmp_path / "tiny.safetensors")
    other_preset = build_qclip("release", pretrained=None, backbone="QCLIP-Tiny", layers=2)
    with pytest.raises(CheckpointMismatchError, match="preset 'tiny', the model is preset 'release'"):
        other_preset.load_checkpoint(path)
    other_backbone = build_qclip("tiny", pretrained=None, backbone="QCLIP-Tiny-PE")
    with pytest.raises(CheckpointMismatchError, match="backbone 'QCLIP-Tiny', the model's backbone is 'QCLIP-Tiny-PE'"):
        other_backbone.load_checkpoint(path)
    other_structure = build_qclip("tiny", pretrained=None, bottleneck=4)
    with pytest.raises(CheckpointMismatchError, match="shape mismatches"):
        other_structure.load_checkpoint(path)
    with pytest.raises(ValueError, match="preset 'tiny', not 'paper'"):
        build_qclip("paper", checkpoint=path, pretrained=None)
    not_ours = tmp_path / "plain.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(not_ours))
    with pytest.raises(ValueError, match="not a Q-CLIP checkpoint"):
        read_checkpoint_metadata(not_ours)


def test_build_with_checkpoint_takes_its_structure(tmp_path):
    torch.manual_seed(3)
    model = build_qclip("tiny", pretrained=None, bottleneck=4, layers=3, placement="serial", prompt_mode="antonym")
    path = model.save_checkpoint(tmp_path / "variant.safetensors")
    torch.manual_seed(3)  # same random backbone
    loaded = build_qclip("tiny", pretrained=None, checkpoint=path)
    assert loaded.config.bottleneck == 4 and loaded.adapter_layers["visual"] == [1, 2, 3]
    assert loaded.prompts.levels == ("good", "bad") and loaded.scma.config.placement == "serial"
    with torch.no_grad():
        torch.testing.assert_close(loaded(_frames(1)), model(_frames(1)), rtol=0, atol=0)


def test_state_dict_leaves_the_backbone_out():
    model = _trained_tiny(1)
    state = model.state_dict()
    assert set(state) == {n for n, p in model.named_parameters() if p.requires_grad}
    fresh = build_qclip("tiny", pretrained=None)
    result = fresh.load_state_dict(state, strict=True)  # complete without backbone keys
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(fresh.prompts.ctx, model.prompts.ctx)
    assert model.trainable_state_dict().keys() == state.keys()
    model.include_backbone_in_state_dict = True
    assert any(k.startswith("backbone.") for k in model.state_dict())


def test_registry_builders():
    model = MODELS.build(dict(type="QCLIP", preset="tiny", pretrained=None, bottleneck=4))
    assert isinstance(model, QCLIP) and model.config.bottleneck == 4 and model.preset == "tiny"
    model = MODELS.build(dict(type="QCLIP-tiny", pretrained=None))
    assert model.preset == "tiny" and model.backbone_name == "QCLIP-Tiny"
    assert {"QCLIP", "QCLIP-paper", "QCLIP-release", "QCLIP-tiny"} <= set(MODELS.module_dict)


def test_params_cli_reports_components(capsys):
    from qclip_plugin.cli.main import main

    assert main(["params", "preset=tiny", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trainable"] == 4091 and data["trainable_components"]["E-SCMA"] == 2596
    assert data["trainable_components"]["P-SCMA"] == 1298 and data["components"]["backbone"] > 3_000_000
    assert main(["params", "preset=tiny", "sharing=unshared"]) == 0
    out = capsys.readouterr().out
    assert "E-SCMA" in out and "total" in out and "QCLIP-Tiny" in out
