"""``qclip-bench run protocol=<name> [preset=demo] [key=value ...]``: run a benchmark protocol."""

from __future__ import annotations

import argparse

EPILOG = """\
protocols: intra-dataset, cross-dataset, finetune (or a config path, e.g. paper/table1_sampling/segmsemean)

examples:
  qclip-bench run protocol=cross-dataset preset=demo          # synthetic demo, tiny model, ~1 min on 2 CPU cores
  qclip-bench run protocol=finetune preset=demo               # 10 splits on demo part B, mean ± std
  qclip-bench run protocol=cross-dataset data_root.LSVQ=/data/LSVQ data_root.KoNViD=/data/KoNViD \\
      data_root.LIVE_VQC=/data/LIVE-VQC
  qclip-bench run protocol=finetune init_checkpoint=work_dirs/cross-dataset/LSVQ_train/seed42/selected.safetensors \\
      datasets=KoNViD-1k data_root.KoNViD=/data/KoNViD

overrides (key=value, Python literals): model.preset=release, model.layers=12, train.max_epochs=1,
  sampler=SegMSEMean, train_sampler=Mixed, batch_size=6, seed=1, optim_wrapper.optimizer.lr=3e-3,
  data_root.<dataset>=PATH (or $QCLIP_DATA_<DATASET>), work_dir=..., leaderboard_dir=...,
  resume=true, preflight=false|deep, datasets=A,B, init_checkpoint=PATH

scale: launcher=pytorch (under torchrun: DDP, NCCL on GPUs, gloo on CPU), amp=bf16|fp16,
  frozen_dtype=bf16|fp16 (frozen backbone weights stored in half precision), workers=N, prefetch=N
  torchrun --nproc_per_node=4 -m qclip_plugin.cli.main run protocol=cross-dataset launcher=pytorch ...
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a benchmark protocol (train, select on validation, test, write a leaderboard)",
        description="Run a benchmark protocol on mmengine's Runner and write its leaderboard.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="protocol=<name> (required), preset=demo, and config overrides")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.benchmark.overrides import OverrideError, parse_overrides
    from qclip_plugin.benchmark.protocols import run_protocol

    try:
        options = parse_overrides(args.overrides)
    except OverrideError as error:
        print(f"qclip-bench run: {error}")
        return 2
    if "protocol" not in options:
        print("qclip-bench run: say which protocol, e.g. `qclip-bench run protocol=cross-dataset preset=demo` "
              "(protocols: intra-dataset, cross-dataset, finetune)")
        return 2
    run_protocol(options["protocol"], args.overrides)  # ProtocolError, OverrideError: cli.main prints, exit 2
    return 0
