"""``qclip-bench make-demo``: generate (or find) the synthetic demo VQA benchmark."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "make-demo",
        help="generate the synthetic demo VQA benchmark (two parts, pseudo-MOS from SSIM); reused if present",
        description="Generate the synthetic demo VQA benchmark: procedural clips, six distortions at four "
        "levels, pseudo-MOS from SSIM. Synthetic data: no human rated these clips.",
    )
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="output directory (default: the qclip_plugin cache, demo/)")
    parser.add_argument("--root", dest="output", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name
    parser.add_argument("--seed", type=int, default=0, help="seed of all content and distortions (default 0)")
    parser.add_argument("--workers", type=int, default=None, help="generator processes (default: CPU count, <= 8)")
    parser.add_argument("--force", action="store_true", help="regenerate even if a complete set exists")
    parser.add_argument("--quiet", action="store_true", help="print only the root directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.data.synthetic import generate_demo_benchmark

    bench = generate_demo_benchmark(
        args.output, seed=args.seed, force=args.force, workers=args.workers, verbose=not args.quiet
    )
    if args.quiet:
        print(bench.root)
        return 0
    print(("reused " if bench.reused else "generated ") + bench.describe())
    print(f"metadata: {bench.metadata}")
    return 0
