"""``qclip-bench run protocol=<name> [preset=demo] [key=value ...] [--flags]``: run a benchmark protocol.

As mmaction2's ``tools/train.py``: config overrides are ``key=value`` items (mmaction2's
``--cfg-options``), checked against the config before anything runs; how the run goes (where it
writes, resume, pre-flight, launcher, scale) are flags, mapped onto
:func:`qclip_plugin.benchmark.protocols.run_protocol`'s keyword arguments.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
protocols: intra-dataset, cross-dataset, finetune (or a config path, e.g. paper/table1_sampling/segmsemean)
preset=demo: the protocol's demo variant (synthetic data, tiny model); the model's preset is model.preset=

examples:
  qclip-bench run protocol=cross-dataset preset=demo          # synthetic demo, tiny model, ~1 min on 2 CPU cores
  qclip-bench run protocol=finetune preset=demo               # 10 splits on demo part B (after the line above)
  qclip-bench run protocol=cross-dataset data_root.LSVQ=/data/LSVQ data_root.KoNViD=/data/KoNViD \\
      data_root.LIVE_VQC=/data/LIVE-VQC --output leaderboard/mine
  qclip-bench run protocol=finetune data_root.KoNViD=/data/KoNViD --datasets KoNViD-1k \\
      --init-checkpoint work_dirs/cross-dataset/LSVQ_train/seed42/selected.safetensors

config overrides (key=value, Python literals; checked against the config, with a did-you-mean):
  model.preset=release, model.layers=12, train.max_epochs=1, sampler=SegMSEMean, train_sampler=Mixed,
  batch_size=6, seed=1, optim_wrapper.optimizer.lr=3e-3, data_root.<dataset>=PATH (or $QCLIP_DATA_<DATASET>)

scale: --launcher pytorch (under torchrun: DDP, NCCL on GPUs, gloo on CPU), slurm (srun) or mpi (mpirun)
  torchrun --nproc_per_node=4 -m qclip_plugin.cli.main run protocol=cross-dataset --launcher pytorch ...

exit codes: 0 done, 2 a user error (one message, no traceback; --debug shows it), 130 interrupted
"""

#: The library's words in messages -> this command's flags.
FLAGS = {
    "init_checkpoint=": "--init-checkpoint", "resume=True": "--resume", "work_dir=": "--work-dir",
    "leaderboard_dir=": "--output", "datasets=": "--datasets", "launcher=": "--launcher",
    "workers=": "--workers", "prefetch=": "--prefetch", "trust_pickle=True": "--trust-pickle",
    "preflight=False": "--preflight off",
}  # fmt: skip

#: Run options once given as key=value, and their flags (still read, with a note).
OLD_STYLE = {
    "work_dir": "--work-dir", "leaderboard_dir": "--output", "resume": "--resume", "preflight": "--preflight",
    "datasets": "--datasets", "init_checkpoint": "--init-checkpoint", "launcher": "--launcher", "amp": "--amp",
    "frozen_dtype": "--frozen-dtype", "workers": "--workers", "prefetch": "--prefetch",
    "trust_pickle": "--trust-pickle",
}  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a benchmark protocol (train, select on validation, test, write a leaderboard)",
        description="Run a benchmark protocol on mmengine's Runner and write its leaderboard.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="protocol=<name> (required), preset=demo (the protocol's), and config overrides")
    out = parser.add_argument_group("where results go")
    out.add_argument("--output", metavar="DIR", help="leaderboard folder (default leaderboard/<protocol>[-<preset>])")
    out.add_argument("--work-dir", metavar="DIR", help="checkpoints and logs (default work_dirs/<protocol>[-<preset>])")
    how = parser.add_argument_group("how the run goes")
    how.add_argument("--resume", action="store_true", help="continue interrupted runs from their last epoch checkpoint")
    how.add_argument("--preflight", choices=("on", "deep", "off"), default="on",
                     help="check every dataset's videos before training (deep: also decode; default on)")
    how.add_argument("--datasets", metavar="A,B", help="only these training sets (comma list)")
    how.add_argument("--init-checkpoint", metavar="PATH", help="adapters (.safetensors) or mmengine .pth to start from")
    how.add_argument("--trust-pickle", action="store_true",
                     help="unpickle mmengine checkpoints in full (--init-checkpoint, resumed ones); trusted files only")
    scale = parser.add_argument_group("scale")
    scale.add_argument("--launcher", metavar="NAME",  # checked by the engine (LAUNCHERS), with a did-you-mean
                       help="none (default), pytorch (torchrun), slurm (srun), mpi (mpirun)")
    scale.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision training")
    scale.add_argument("--frozen-dtype", choices=("bf16", "fp16"), help="store the frozen backbone in this dtype")
    scale.add_argument("--workers", type=int, metavar="N", help="data loader processes")
    scale.add_argument("--prefetch", type=int, metavar="N", help="batches each worker loads ahead (needs --workers)")
    parser.set_defaults(func=run, flags=FLAGS)


def _run_options(args: argparse.Namespace, overrides: dict) -> dict:
    """The flags as run_protocol's keyword arguments; run options given the old way (key=value) are
    taken out of ``overrides``, with a note, unless the flag is given too."""
    options = dict(
        leaderboard_dir=args.output, work_dir=args.work_dir, resume=args.resume,
        preflight={"on": True, "deep": "deep", "off": False}[args.preflight], datasets=args.datasets,
        init_checkpoint=args.init_checkpoint, trust_pickle=args.trust_pickle, launcher=args.launcher,
        amp=args.amp, frozen_dtype=args.frozen_dtype, workers=args.workers, prefetch=args.prefetch,
    )  # fmt: skip
    defaults = {"resume": False, "trust_pickle": False, "preflight": True}
    old = [key for key in OLD_STYLE if key in overrides]
    for key in old:
        value = overrides.pop(key)
        if options[key] == defaults.get(key):  # the flag, when given, wins
            options[key] = value
    if old:
        print(f"note: run options given as key=value ({', '.join(f'{k}=' for k in old)}) are flags now: "
              f"{', '.join(OLD_STYLE[k] for k in old)}", file=sys.stderr)
    return options


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.benchmark.overrides import parse_overrides
    from qclip_plugin.benchmark.protocols import ProtocolError, run_protocol

    overrides = parse_overrides(args.overrides)  # OverrideError: cli.main prints it, exit 2
    if "protocol" not in overrides:
        raise ProtocolError("say which protocol, e.g. `qclip-bench run protocol=cross-dataset preset=demo` "
                            "(protocols: intra-dataset, cross-dataset, finetune)")
    name, preset = str(overrides.pop("protocol")), overrides.pop("preset", None)
    options = _run_options(args, overrides)
    run_protocol(name, overrides, preset=preset, **options)  # UserErrors: cli.main prints them, exit 2
    return 0
