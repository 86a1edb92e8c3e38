"""Training on mmengine's Runner: trainable-only optimizer and checkpoints, learning, resume.

The data is an in-memory synthetic set (textures with a known amount of noise and darkening,
MOS falling with it), so these tests exercise the training machinery, not video decoding.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from scipy import stats
from torch.utils.data import Dataset

from qclip_plugin.benchmark.protocols import load_protocol_config
from qclip_plugin.engine.runner import build_runner, fit_schedule, train_and_test

pytest.importorskip("qclip_plugin.models.qclip")


class NoisyTextures(Dataset):
    """Smooth random textures, noisier and darker with a level; MOS = 5 - 4 * level (a clean signal)."""

    def __init__(self, n: int, seed: int, frames: int = 2, size: int = 112) -> None:
        rng = np.random.default_rng(seed)
        self.level = rng.uniform(0.0, 1.0, n)
        coarse = torch.from_numpy(rng.normal(0, 0.5, (n, 3, 8, 8))).float()
        base = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        noise = torch.from_numpy(rng.normal(0, 1, (n, frames, 3, size, size))).float()
        level = torch.from_numpy(self.level).float().view(n, 1, 1, 1, 1)
        # degradation = white noise and under-exposure, both growing with the level
        self.frames = ((base[:, None] + 0.8 * level * noise) * (1 - 0.5 * level) - 0.5 * level).clamp(-1, 1)
        self.mos = 5.0 - 4.0 * self.level

    def __len__(self) -> int:
        return len(self.mos)

    def __getitem__(self, i: int) -> dict:
        return {"inputs": self.frames[i], "data_samples": {"name": f"v{i:03d}", "mos": float(self.mos[i])}}


def _cfg(max_epochs: int = 4, batch_size: int = 8):
    cfg = load_protocol_config("cross-dataset", preset="demo")
    cfg.model.qclip = {"preset": "tiny", "pretrained": None}  # the plain tiny preset, not the demo's tweaks
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_dataloader.batch_size = batch_size
    cfg.val_dataloader.batch_size = 16
    cfg.test_dataloader.batch_size = 16
    cfg.default_hooks.logger.interval = 5
    cfg.optim_wrapper.optimizer.lr = 1e-2
    cfg.param_scheduler[0]["start_factor"] = 0.1
    return cfg


@pytest.fixture(scope="module")
def data() -> dict:
    return {"train": NoisyTextures(40, seed=1), "val": NoisyTextures(12, seed=2), "test": NoisyTextures(24, seed=3)}


def test_schedule_is_fitted_to_the_epochs() -> None:
    cfg = load_protocol_config("cross-dataset")
    assert [s["type"] for s in cfg.param_scheduler] == ["LinearLR", "CosineAnnealingLR"]
    assert all(s["convert_to_iter_based"] for s in cfg.param_scheduler)
    assert (cfg.param_scheduler[1]["begin"], cfg.param_scheduler[1]["end"], cfg.param_scheduler[1]["T_max"]) == (1, 8, 7)
    cfg.train_cfg.max_epochs = 3
    fit_schedule(cfg)
    assert (cfg.param_scheduler[1]["end"], cfg.param_scheduler[1]["T_max"]) == (3, 2)
    cfg.train_cfg.max_epochs = 1
    fit_schedule(cfg)
    assert [s["type"] for s in cfg.param_scheduler] == ["LinearLR"]
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.weight_decay) == ("AdamW", 1e-3, 1e-4)
    assert cfg.train_dataloader.batch_size == 12 and cfg.train_cfg.max_epochs == 1


def test_optimizer_holds_only_trainable_parameters(tmp_path: Path, data: dict) -> None:
    from mmengine.optim import DefaultOptimWrapperConstructor

    runner = build_runner(_cfg(), tmp_path, data["train"], data["val"], name="optim")
    wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    model = runner.model
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    frozen = {id(p) for p in model.parameters() if not p.requires_grad}
    assert trainable and frozen
    in_groups = {id(p) for group in wrapper.optimizer.param_groups for p in group["params"]}
    assert in_groups == trainable
    # mmengine's own constructor would have handed the frozen backbone to the optimizer
    default_cfg = copy.deepcopy(dict(runner.cfg.optim_wrapper))
    default_cfg.pop("constructor")
    default = DefaultOptimWrapperConstructor(default_cfg)
    assert frozen <= {id(p) for g in default(model).optimizer.param_groups for p in g["params"]}
    # one step: optimizer state exists for trainable tensors only
    batch = next(iter(runner.build_dataloader(runner.cfg.train_dataloader | {"dataset": data["train"]})))
    model.train_step(batch, wrapper)
    assert {id(p) for p in wrapper.optimizer.state} == trainable


class _Stop(Exception):
    pass


class _InterruptAfter(Hook):
    """Stops the run after the validation of ``epoch``, once the CheckpointHook has saved it."""

    priority = "LOWEST"

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_val_epoch(self, runner, metrics=None) -> None:
        if runner.epoch == self.epoch:
            raise _Stop


def test_training_improves_heldout_srocc_and_checkpoints_are_trainable_only(tmp_path: Path, data: dict) -> None:
    result = train_and_test(_cfg(), tmp_path, data["train"], data["val"], {"test": data["test"]}, name="learn")
    before, after = result.untrained["test"].metrics["SROCC"], result.trained["test"].metrics["SROCC"]
    preds = result.trained["test"].predictions
    assert after == pytest.approx(stats.spearmanr(preds["pred"], preds["mos"])[0], abs=1e-9)
    assert after > before + 0.3 and after > 0.7, (before, after)
    assert result.selected_epoch in range(1, 5) and result.selected_checkpoint.name.endswith(f"epoch_{result.selected_epoch}.pth")

    # every epoch checkpoint holds exactly the trainable tensors, and loads with weights_only=True
    ckpt_path = tmp_path / "epoch_4.pth"
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    model = build_runner(_cfg(), tmp_path / "fresh", data["train"], data["val"], name="fresh").model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(ckpt["state_dict"]) == trainable
    trainable_bytes = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if n in trainable)
    full_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    # the weights (~16 KB) plus AdamW's two moments and mmengine's logs; the whole model is ~13 MB
    assert trainable_bytes < 20_000 and full_bytes > 10_000_000
    assert ckpt_path.stat().st_size < 4 * trainable_bytes + 100_000
    # the exported model carries the random tiny backbone too (it cannot be rebuilt from a tag)
    from qclip_plugin.models import build_qclip

    assert result.exported is not None
    reloaded = build_qclip("tiny", pretrained=None, checkpoint=result.exported)
    with torch.no_grad():
        again = reloaded(data["test"].frames).numpy()
    assert np.allclose(np.sort(again), np.sort(preds["pred"].to_numpy()), atol=1e-5)


def test_interrupted_then_resumed_run_ends_like_an_uninterrupted_one(tmp_path: Path) -> None:
    cfg = _cfg(max_epochs=2)
    train, val, tests = NoisyTextures(24, 4, frames=1), NoisyTextures(8, 5, frames=1), {"test": NoisyTextures(8, 6, frames=1)}
    full = train_and_test(cfg, tmp_path / "full", train, val, tests, evaluate_untrained=False, name="full")
    with pytest.raises(_Stop):
        train_and_test(cfg, tmp_path / "cut", train, val, tests, evaluate_untrained=False,
                       extra_hooks=[_InterruptAfter(1)], name="cut")
    assert (tmp_path / "cut" / "epoch_1.pth").is_file() and not (tmp_path / "cut" / "epoch_2.pth").exists()
    resumed = train_and_test(cfg, tmp_path / "cut", train, val, tests, evaluate_untrained=False,
                             resume=True, name="resumed")
    assert (tmp_path / "cut" / "epoch_2.pth").is_file()
    assert resumed.selected_epoch == full.selected_epoch
    for key, value in full.trained["test"].metrics.items():
        assert resumed.trained["test"].metrics[key] == pytest.approx(value, abs=1e-6), key
    a = torch.load(tmp_path / "full" / "epoch_2.pth", weights_only=True)
    b = torch.load(tmp_path / "cut" / "epoch_2.pth", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.allclose(a["state_dict"][k], b["state_dict"][k], atol=1e-6) for k in a["state_dict"])
    assert a["meta"]["iter"] == b["meta"]["iter"] == 2 * 3  # 24 videos / batch 8, two epochs


def test_restricted_getattr_refuses_anything_but_history_buffer_statistics() -> None:
    from mmengine.logging.history_buffer import HistoryBuffer

    from qclip_plugin.engine.safe_loading import _history_buffer_getattr

    assert _history_buffer_getattr(HistoryBuffer, "mean") is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match="refusing getattr"):
        _history_buffer_getattr(HistoryBuffer, "__init__")
    with pytest.raises(pickle.UnpicklingError, match="refusing getattr"):
        _history_buffer_getattr(object(), "__class__")
