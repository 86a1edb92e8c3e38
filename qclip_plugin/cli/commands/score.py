"""``qclip-bench score``: score video files, folders or list files with a metric, resumably.

Sharded: ``--shard i/N`` scores one block of the videos into its own part (run the N shards
anywhere, then ``qclip-bench merge OUTPUT``); under ``torchrun`` each rank scores the shard of
its rank (on the GPU ``LOCAL_RANK`` when there are GPUs) and rank 0 merges the parts at the end.

``--engine ray``: decoding and scoring as Ray Data stages (``qclip_plugin.integrations.ray_data``),
on the cluster at ``--address`` or on a local Ray instance; same output and resume rules.
"""

from __future__ import annotations

import argparse
import ast

from qclip_plugin.errors import UsageError


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option wants KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare string


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score videos (files, folders, list files) with a metric; resumable, failures recorded",
        description=(
            "Score videos and write path,score,status,error,metric rows to --output. Re-running with the "
            "same output and metric skips the videos already scored and retries the failed ones. An "
            "unreadable video is recorded with its reason and the run goes on (--strict stops instead)."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="video files, folders, or list files (.txt/.csv)")
    parser.add_argument("--metric", default="qclip", help="metric name (see qclip-bench list; default qclip)")
    parser.add_argument("--model", metavar="PRESET", help="Q-CLIP model preset: paper, release, tiny (qclip metric)")
    parser.add_argument("--preset", dest="model", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--checkpoint", metavar="FILE", help="trained Q-CLIP weights (qclip metric)")
    weights.add_argument("--untrained", action="store_true", help="score with an untrained model, on purpose")
    parser.add_argument("--output", default="scores.csv", help="output CSV (default scores.csv)")
    parser.add_argument("--batch-size", type=int, default=4, help="videos per forward pass (default 4)")
    parser.add_argument("--frames", type=int, help="frames sampled per video (metric default: 8)")
    parser.add_argument("--sampler", help="frame sampler, e.g. UNISampl, SegMSEMean (metric default: UNISampl)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (default 0: in-process)")
    parser.add_argument("--root", help="folder that list files' relative paths start from (default: the list's)")
    parser.add_argument("--strict", action="store_true", help="stop at the first unreadable video")
    parser.add_argument("--no-resume", action="store_true", help="rescore everything, overwriting --output")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="while another run writes --output, wait this long for it (default 0: refuse at once)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--prefetch", type=int, metavar="N", help="batches each worker decodes ahead (default 2)")
    parser.add_argument("--shard", metavar="I/N", help="score shard I (from 0) of N into its own part file; "
                        "then qclip-bench merge OUTPUT (under torchrun: automatic, one shard per rank)")
    parser.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision forward (autocast)")
    parser.add_argument("--weights-dtype", choices=("bf16", "fp16"),
                        help="store the frozen backbone's weights in this dtype (needs --amp)")
    parser.add_argument(
        "--trust-pickle", action="store_true",
        help="let the metric unpickle weights files that hold more than tensors (trust_pickle=True); trusted files only",
    )
    parser.add_argument(
        "--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
        help="another keyword for the metric (repeatable), e.g. --option backbone=ViT-B-32",
    )
    engine = parser.add_argument_group("Ray engine (pip install \"qclip-plugin[ray]\")")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this machine (default); ray: Ray Data stages, --workers scorer actors")
    engine.add_argument("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: a local "
                        "Ray instance on this machine's cores)")
    engine.add_argument("--num-gpus-per-worker", type=float, default=0, metavar="G",
                        help="GPUs each scorer actor holds (fractions share a GPU; default 0: CPU)")
    parser.set_defaults(func=run, flags=FLAGS)


#: The library's words in messages -> this command's flags.
FLAGS = {"pretrained=False": "--untrained", "checkpoint=": "--checkpoint", "trust_pickle=True": "--trust-pickle",
         "num_frames=": "--frames", "preset=": "--model"}


def _check_names(args: argparse.Namespace) -> None:
    """The metric and sampler names, before a model is built or a video read (did-you-mean)."""
    from qclip_plugin.errors import check_name
    from qclip_plugin.metrics import list_metrics

    check_name("metric", args.metric, list_metrics())
    if args.sampler:
        import qclip_plugin.sampling  # noqa: F401  (registers the samplers)
        from qclip_plugin.registry import SAMPLERS

        check_name("frame sampler", args.sampler, SAMPLERS.module_dict)


def _exit_code(summary, sharded: bool = False) -> int:
    """0 when something was scored (or already was), 1 when every video failed (main.py's rules). A
    shard is part of a run: its failures are recorded for ``merge``, and it exits 0."""
    return 1 if summary.failed and not (summary.scored or summary.skipped or sharded) else 0


def _metric_options(args: argparse.Namespace) -> dict[str, object]:
    options: dict[str, object] = dict(args.option)
    for key, value in (("preset", args.model), ("checkpoint", args.checkpoint),
                       ("num_frames", args.frames), ("sampler", args.sampler)):
        if value is not None:
            options[key] = value
    if args.untrained:
        options["pretrained"] = False
    if args.trust_pickle:
        options["trust_pickle"] = True
    return options


def _run_ray(args: argparse.Namespace) -> int:
    from qclip_plugin.integrations.ray_data import ray_session, score_with_ray

    unsupported = [flag for flag, given in (("--shard", args.shard), ("--strict", args.strict),
                                            ("--prefetch", args.prefetch), ("--device", args.device)) if given]
    if unsupported:
        raise UsageError(f"--engine ray does not take {', '.join(unsupported)} (Ray places the work: "
                         "--num-gpus-per-worker for GPUs, --workers for scorer actors)")
    with ray_session(args.address):
        summary = score_with_ray(
            args.metric, args.paths, args.output, options=_metric_options(args), amp=args.amp,
            weights_dtype=args.weights_dtype, batch_size=args.batch_size, concurrency=max(1, args.workers),
            num_gpus_per_worker=args.num_gpus_per_worker, resume=not args.no_resume, root=args.root,
            progress=not args.quiet,
        )
    _report(summary)
    return _exit_code(summary)


def run(args: argparse.Namespace) -> int:
    _check_names(args)  # before the scoring imports and the model
    from qclip_plugin.benchmark.scoring import score_videos_distributed
    from qclip_plugin.engine.distributed import parse_shard

    if args.weights_dtype and not args.amp:
        raise UsageError("--weights-dtype needs --amp (the forward pass mixes dtypes)")
    if args.engine == "ray":
        return _run_ray(args)  # a busy or foreign output, a missing input: UserErrors, cli.main prints them
    # errors (--shard under torchrun, a busy or foreign output, a missing input) are UserErrors: cli.main
    # prints them, exit 2
    summary = score_videos_distributed(
        args.metric, args.paths, args.output, metric_options=_metric_options(args), device=args.device,
        weights_dtype=args.weights_dtype, shard=parse_shard(args.shard) if args.shard else None,
        batch_size=args.batch_size, num_workers=args.workers, strict=args.strict, resume=not args.no_resume,
        root=args.root, progress=not args.quiet, amp=args.amp, prefetch_factor=args.prefetch, lock_timeout=args.wait,
    )
    _report(summary)
    if summary.merged is not None:
        print(f"merged {summary.shard[1]} shards -> {summary.merged}")
    return _exit_code(summary, sharded=getattr(summary, "shard", None) is not None)


def _report(summary) -> None:
    for note in summary.notes:
        print(f"note: {note}")
    for path, reason in summary.failures.items():
        print(f"failed: {path}: {reason}")
    print(summary)
