"""Distributed training and evaluation on CPU: ``torchrun`` with 2 gloo ranks against one process.

The same config, global batch and seed run once in this process and once as 2 ranks (this file
is also the ranks' script, see ``__main__``). Both must end with the same trainable weights and
the same metrics; evaluation sets of 7 videos (not divisible by 2) must count every video once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

GLOBAL_BATCH = 8
#: Reached (2 epochs, 4 steps): trainable weights within 1.1e-4 at worst, most within 3e-5 (they are
#: ~0.1-1 in size), predictions within 1e-5, SROCC and KROCC equal, PLCC within 4e-6 and RMSE within
#: 1.5e-5. The runs differ only in float summation order (DDP's gradient all-reduce; matrix
#: products over batches of 4 instead of 8), which AdamW's normalised steps amplify for weights
#: with near-zero gradients (an lr of 1e-2 times a relative gradient noise).
ATOL_WEIGHTS = 2e-4
ATOL_PRED = 2e-5
ATOL_METRICS = {"SROCC": 0.0, "KROCC": 0.0, "PLCC": 1e-4, "RMSE": 1e-4}


class NoisyTextures(Dataset):
    """Smooth random textures plus white noise; MOS = 5 - 4 * noise level (in memory, no decoding)."""

    def __init__(self, n: int, seed: int, frames: int = 2, size: int = 112) -> None:
        rng = np.random.default_rng(seed)
        level = rng.uniform(0.0, 1.0, n)
        coarse = torch.from_numpy(rng.normal(0, 0.5, (n, 3, 8, 8))).float()
        base = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        noise = torch.from_numpy(rng.normal(0, 1, (n, frames, 3, size, size))).float()
        self.frames = (base[:, None] + 0.8 * torch.from_numpy(level).float().view(n, 1, 1, 1, 1) * noise).clamp(-1, 1)
        self.mos = 5.0 - 4.0 * level

    def __len__(self) -> int:
        return len(self.mos)

    def __getitem__(self, i: int) -> dict:
        return {"inputs": self.frames[i], "data_samples": {"name": f"v{i:03d}", "mos": float(self.mos[i])}}


def train(work_dir: Path) -> dict | None:
    """Train 2 epochs on 16 videos, validate on 7, test on 7; on rank 0 return what to compare."""
    from qclip_plugin.benchmark.protocols import load_protocol_config
    from qclip_plugin.engine.distributed import configure_launcher, dist_info, launched_by_torchrun
    from qclip_plugin.engine.runner import train_and_test

    torch.set_num_threads(1)
    launcher = "pytorch" if launched_by_torchrun() else "none"
    cfg = load_protocol_config("cross-dataset", preset="demo")
    configure_launcher(cfg, launcher)
    world = dist_info().world_size
    cfg.train_cfg.max_epochs = 2
    cfg.train_dataloader.batch_size = GLOBAL_BATCH // world
    cfg.val_dataloader.batch_size = cfg.test_dataloader.batch_size = 3
    cfg.optim_wrapper.optimizer.lr = 1e-2
    cfg.default_hooks.logger.interval = 1
    result = train_and_test(
        cfg, work_dir, NoisyTextures(16, seed=1), NoisyTextures(7, seed=2), {"test": NoisyTextures(7, seed=3)},
        evaluate_untrained=False, name=f"dist{world}",
    )
    if not dist_info().is_main:
        return None
    checkpoint = result.selected_checkpoint or work_dir / f"epoch_{result.max_epochs}.pth"
    weights = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    table = result.trained["test"].predictions
    return {
        "world": world,
        "metrics": result.trained["test"].metrics,
        "n_videos": result.trained["test"].n_videos,
        "names": table["name"].tolist(),
        "num_clips": table["num_clips"].tolist(),
        "pred": table["pred"].tolist(),
        "selected_epoch": result.selected_epoch,
        "weights": {k: v.flatten().tolist() for k, v in weights.items()},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ddp")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", __file__, str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return json.loads((out / "result.json").read_text())


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory) -> dict:
    threads = torch.get_num_threads()
    try:
        return train(tmp_path_factory.mktemp("single"))
    finally:
        torch.set_num_threads(threads)


def test_two_ranks_train_like_one_process(two_ranks: dict, one_rank: dict) -> None:
    assert (two_ranks["world"], one_rank["world"]) == (2, 1)
    assert two_ranks["selected_epoch"] == one_rank["selected_epoch"]
    assert two_ranks["weights"].keys() == one_rank["weights"].keys() and len(one_rank["weights"]) > 0
    for key, values in one_rank["weights"].items():
        np.testing.assert_allclose(two_ranks["weights"][key], values, atol=ATOL_WEIGHTS, rtol=0, err_msg=key)
    for key, value in one_rank["metrics"].items():
        assert two_ranks["metrics"][key] == pytest.approx(value, abs=ATOL_METRICS[key], rel=1e-12), key
    np.testing.assert_allclose(two_ranks["pred"], one_rank["pred"], atol=ATOL_PRED, rtol=0)


def test_evaluation_counts_each_video_once_when_the_ranks_pad(two_ranks: dict) -> None:
    # 7 test videos on 2 ranks: the sampler pads to 8 (v000 twice); the metric must see 7, once each
    assert two_ranks["n_videos"] == 7
    assert two_ranks["names"] == [f"v{i:03d}" for i in range(7)]
    assert two_ranks["num_clips"] == [1] * 7


def test_launcher_config_on_cpu(monkeypatch) -> None:
    from mmengine.config import Config

    from qclip_plugin.engine.distributed import configure_launcher

    cfg = Config(dict(model=dict(type="QCLIPVQAModel", loss=dict(type="PLCCRankLoss", rank_weight=0.3))))
    assert configure_launcher(cfg, "none").launcher == "none" and "model_wrapper_cfg" not in cfg
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun --nproc_per_node=N"):
        configure_launcher(cfg, "pytorch")
    # slurm and mpi are supported now (tests/test_cli.py); an unknown launcher is still a ValueError
    with pytest.raises(ValueError, match="unknown launcher 'ddp'"):
        configure_launcher(cfg, "ddp")


def test_global_batch_loss_without_process_group_is_the_inner_loss() -> None:
    from qclip_plugin.models.global_batch_loss import GlobalBatchLoss
    from qclip_plugin.models.losses import PLCCRankLoss

    pred, mos = torch.randn(6), torch.randn(6)
    wrapped = GlobalBatchLoss(dict(type="PLCCRankLoss", rank_weight=0.5))(pred, mos)
    plain = PLCCRankLoss(rank_weight=0.5)(pred, mos)
    assert wrapped.keys() == plain.keys() and all(torch.equal(wrapped[k], plain[k]) for k in plain)


def test_loader_workers_reach_the_dataloaders() -> None:
    from mmengine.config import Config
    from mmengine.runner import Runner

    from qclip_plugin.engine.loader_options import set_loader_workers

    loader = dict(batch_size=2, num_workers=0, sampler=dict(type="DefaultSampler", shuffle=False),
                  collate_fn=dict(type="default_collate"))
    cfg = Config(dict(train_dataloader=dict(loader), val_dataloader=dict(loader), test_dataloader=dict(loader)))
    set_loader_workers(cfg, 2, prefetch_factor=3)
    train_cfg = dict(cfg.train_dataloader, dataset=NoisyTextures(4, seed=0))
    built = Runner.build_dataloader(train_cfg, seed=0)
    assert (built.num_workers, built.persistent_workers, built.prefetch_factor) == (2, True, 3)
    assert (cfg.val_dataloader.num_workers, cfg.val_dataloader.persistent_workers) == (2, False)
    set_loader_workers(cfg, 0, prefetch_factor=3)
    built = Runner.build_dataloader(dict(cfg.train_dataloader, dataset=NoisyTextures(4, seed=0)), seed=0)
    assert (built.num_workers, built.persistent_workers, built.prefetch_factor) == (0, False, None)


def uneven_gather() -> dict:
    """Rank r holds 3 - r scores: what ``gather_batch`` returns and the gradient it sends back."""
    import torch.distributed as dist

    from qclip_plugin.models.global_batch_loss import gather_batch

    rank = dist.get_rank()
    local = torch.arange(3 - rank, dtype=torch.float32).add(10 * rank).requires_grad_()
    pred, mos = gather_batch(local * 1.0, local.detach() + 100)
    (pred * torch.arange(1, len(pred) + 1)).sum().backward()  # the same loss on every rank
    return {"pred": pred.tolist(), "mos": mos.tolist(), "grad": local.grad.tolist()}


def test_gather_of_uneven_batches(two_ranks: dict) -> None:
    # rank 0 holds [0, 1, 2], rank 1 [10, 11]; the loss weights them 1..5 on both ranks, so each
    # rank's gradient is 2 x its weights (DDP then averages over the 2 ranks)
    gathered = two_ranks["gather"]
    assert gathered[0]["pred"] == gathered[1]["pred"] == [0, 1, 2, 10, 11]
    assert gathered[0]["mos"] == [100, 101, 102, 110, 111]
    assert (gathered[0]["grad"], gathered[1]["grad"]) == ([2, 4, 6], [8, 10])


if __name__ == "__main__":  # one rank of the torchrun run of the fixture ``two_ranks``
    import torch.distributed as dist

    out = Path(sys.argv[1])
    summary = train(out / "work")
    gathered = [None, None]
    dist.all_gather_object(gathered, uneven_gather())
    if summary is not None:
        (out / "result.json").write_text(json.dumps({**summary, "gather": gathered}))
