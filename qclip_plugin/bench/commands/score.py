"""``qclip-bench score``: score video files, folders or list files with a metric, resumably."""

from __future__ import annotations

import argparse
import ast


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
    parser.add_argument("--preset", help="Q-CLIP preset: paper, release, tiny (qclip metric)")
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
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
        help="another keyword for the metric (repeatable), e.g. --option backbone=ViT-B-32",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.api import create_metric
    from qclip_plugin.bench.scoring import score_videos

    options: dict[str, object] = dict(args.option)
    for key, value in (("preset", args.preset), ("checkpoint", args.checkpoint),
                       ("num_frames", args.frames), ("sampler", args.sampler)):
        if value is not None:
            options[key] = value
    if args.untrained:
        options["pretrained"] = False
    metric = create_metric(args.metric, device=args.device, **options)
    summary = score_videos(
        metric, args.paths, args.output, batch_size=args.batch_size, num_workers=args.workers,
        strict=args.strict, resume=not args.no_resume, root=args.root, progress=not args.quiet,
    )
    for path, reason in summary.failures.items():
        print(f"failed: {path}: {reason}")
    print(summary)
    return 0
