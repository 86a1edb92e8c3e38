"""Multi-process runs with ``torchrun``: process groups on CPU and GPU, mmengine's DDP setup, shards.

Training and evaluation run on mmengine's distributed Runner (``launcher='pytorch'``), started by
``torchrun``, which sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``::

    torchrun --nproc_per_node=2 -m qclip_plugin.cli.main run protocol=cross-dataset preset=demo --launcher pytorch
    # two machines, 8 GPUs each (run on both; the rendezvous endpoint is the first machine):
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=host0:29400 \\
        --rdzv_id=qclip-lsvq -m qclip_plugin.cli.main run protocol=cross-dataset --launcher pytorch

:func:`configure_launcher` prepares a config for that: NCCL with one GPU per process where CUDA is
available, gloo on CPU. mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device``
unconditionally, so on CPU the gloo process group is initialised here, before the Runner (which
then skips its own initialisation), and the model is wrapped with ``device_ids=None``
(DESIGN.md section 6).

``train_dataloader.batch_size`` is per process (mmengine's convention): N processes with ``B/N``
videos each train like one process with ``B`` (the loss is computed on the global batch, see
:class:`~qclip_plugin.models.global_batch_loss.GlobalBatchLoss`). Measured on the demo protocol
(67 training videos, 2 epochs): 2 gloo processes with ``train_dataloader.batch_size=4`` and
``train_dataloader.sampler.round_up=False`` end with the 1-process run's metrics (batch 8): SROCC
and KROCC equal, PLCC and RMSE within 8e-7 (float summation order). With the default
``round_up=True`` a training set whose size is not a multiple of N gets padded duplicates in its
last global batch, as with any ``DistributedSampler``; ``round_up=False`` avoids them but is only
safe when every rank gets the same number of batches (DDP waits for the missing one).

Evaluation counts each video once: mmengine's ``DefaultSampler`` pads the last round with videos
from the start so that every rank gets as many, and ``BaseMetric.evaluate`` gathers the ranks'
results in sampler order and cuts them to the dataset's size (``collect_results``), before
``VQAMetric`` averages clips per video.

On a cluster, ``launcher='slurm'`` (``srun``) and ``launcher='mpi'`` (``mpirun``) initialise the process
group with mmengine's :func:`mmengine.dist.init_dist` from the variables those launchers set (one GPU per
process, as mmengine does), as mmaction2's ``tools/train.py --launcher`` does::

    srun -N 2 --ntasks-per-node=8 --gres=gpu:8 python -m qclip_plugin.cli.main run protocol=cross-dataset --launcher slurm

Scoring shards its inputs instead (:func:`shard_slice`): shard ``i`` of ``N`` is a contiguous
block of the video list, so parts concatenated in shard order are in input order.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from qclip_plugin.errors import UserError, check_name

__all__ = [
    "LAUNCHERS",
    "DistInfo",
    "LauncherError",
    "configure_launcher",
    "dist_info",
    "init_distributed",
    "launched_by_torchrun",
    "parse_shard",
    "shard_slice",
]

T = TypeVar("T")

#: What torchrun exports to every process it starts.
TORCHRUN_VARIABLES: tuple[str, ...] = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
#: The launchers a run takes: one process, torchrun, and mmengine's ``init_dist`` for the other two.
LAUNCHERS: tuple[str, ...] = ("none", "pytorch", "slurm", "mpi")
#: What mmengine's ``init_dist`` reads for each launcher it starts from the environment.
LAUNCHER_VARIABLES: dict[str, tuple[str, ...]] = {
    "slurm": ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST"),
    "mpi": ("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "MASTER_ADDR"),
}


class LauncherError(UserError, RuntimeError):
    """A launcher that cannot start here (unknown, or its variables are missing)."""


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a multi-process run (``rank 0 of 1`` without one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """Whether ``torchrun`` (or another launcher setting its variables) started this process."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def default_backend() -> str:
    """NCCL when this process can use a GPU, else gloo."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def dist_info() -> DistInfo:
    """This process's rank and world, from the process group if there is one, else from torchrun's
    variables (``rank 0 of 1`` when neither)."""
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend())
    if launched_by_torchrun():
        return DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), local_rank, None)
    return DistInfo()


def init_distributed(backend: str | None = None, timeout_minutes: float = 30.0) -> DistInfo:
    """Initialise the default process group from torchrun's variables (once; later calls return it).

    Args:
        backend: ``nccl``, ``gloo`` or None (:func:`default_backend`). With NCCL this process
            uses the GPU ``LOCAL_RANK``.
        timeout_minutes: how long collectives wait for a slow rank (long evaluations on one rank
            hold the others at the next barrier).

    Raises:
        RuntimeError: not started by torchrun (the message shows the command).
    """
    import torch.distributed as dist

    if dist.is_initialized():
        return dist_info()
    if not launched_by_torchrun():
        missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
        raise LauncherError(
            f"launcher=pytorch needs the variables torchrun sets ({', '.join(missing)} missing); start the "
            "command with `torchrun --nproc_per_node=N -m qclip_plugin.cli.main ...`, or drop launcher=pytorch "
            "for one process"
        )
    backend = backend or default_backend()
    local_rank = int(os.environ["LOCAL_RANK"])
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=timeout_minutes))
    return dist_info()


def init_with_mmengine(launcher: str, backend: str | None = None) -> DistInfo:
    """Initialise the default process group through mmengine's ``init_dist`` for ``slurm`` or ``mpi``
    (once; later calls return it). Raises :class:`LauncherError` when the launcher's variables are missing."""
    import torch.distributed as dist
    from mmengine.dist import init_dist

    if dist.is_initialized():
        return dist_info()
    missing = [name for name in LAUNCHER_VARIABLES[launcher] if name not in os.environ]
    if missing:
        starter = "srun" if launcher == "slurm" else "mpirun"
        raise LauncherError(f"launcher={launcher} needs the variables {starter} sets ({', '.join(missing)} missing); "
                            f"start the command with {starter}, or drop launcher={launcher} for one process")
    backend = backend or default_backend()
    init_dist(launcher, backend=backend)
    info = dist_info()
    return info if info.backend else DistInfo(info.rank, info.world_size, info.local_rank, backend)


def configure_launcher(cfg: Any, launcher: str = "pytorch", backend: str | None = None) -> Any:
    """Prepare an mmengine config for ``launcher`` (:data:`LAUNCHERS`), in place; return it.

    ``pytorch`` (under torchrun), ``slurm`` and ``mpi`` (:func:`init_with_mmengine`) initialise the process group here (see the module docstring),
    sets ``env_cfg.dist_cfg.backend`` to the same backend, on CPU wraps the model with
    ``MMDistributedDataParallel(device_ids=None)``, and wraps the training loss in
    :class:`~qclip_plugin.models.global_batch_loss.GlobalBatchLoss`, so that the PLCC and rank
    losses (which do not split over sub-batches) are computed on the global batch and N processes
    with ``batch_size = B / N`` each train like one process with ``B``.
    """
    check_name("launcher", launcher, LAUNCHERS)
    cfg.launcher = launcher
    if launcher == "none":
        return cfg
    info = init_distributed(backend) if launcher == "pytorch" else init_with_mmengine(launcher, backend)
    env_cfg = cfg.setdefault("env_cfg", {})
    env_cfg.setdefault("dist_cfg", {})["backend"] = info.backend
    if info.backend != "nccl":
        # mmengine's default wrapper passes device_ids=[LOCAL_RANK], which only a GPU accepts
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None)
    model = cfg.get("model")
    if model is not None and model.get("type") == "QCLIPVQAModel":
        import qclip_plugin.models.global_batch_loss  # noqa: F401  (registers GlobalBatchLoss)

        loss = model.get("loss") or dict(type="PLCCRankLoss")
        if loss.get("type") != "GlobalBatchLoss":
            model["loss"] = dict(type="GlobalBatchLoss", loss=dict(loss))
    return cfg


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)``, shard ``i`` (from 0) of ``N``."""
    index, sep, count = str(text).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise ValueError(f"a shard is written i/N with 0 <= i < N (e.g. 0/4 ... 3/4), got {text!r}")
    return i, n


def shard_slice(items: Sequence[T], index: int, count: int) -> list[T]:
    """Shard ``index`` of ``count``: a contiguous block, sizes differing by at most one, the larger first."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index} of {count} does not exist")
    size, extra = divmod(len(items), count)
    start = index * size + min(index, extra)
    return list(items[start:start + size + (index < extra)])
