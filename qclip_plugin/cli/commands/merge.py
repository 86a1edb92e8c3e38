"""``qclip-bench merge``: join the parts of a sharded ``qclip-bench score`` run into one CSV."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="join the parts of a sharded score run (--shard i/N) into one CSV, in input order",
        description=(
            "Join OUTPUT.part-*-of-N.csv into OUTPUT, ordered as the videos were listed, identical to an "
            "unsharded run's output. Fails, naming them, when parts are missing or unfinished."
        ),
    )
    parser.add_argument("output", help="the --output the shards were scored with (e.g. scores.csv)")
    parser.add_argument("--remove-parts", action="store_true", help="delete the parts and the manifest afterwards")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.benchmark.scoring import merge_shards

    path = merge_shards(args.output, remove_parts=args.remove_parts)  # ShardsError: cli.main prints it, exit 2
    print(f"merged -> {path}")
    return 0
