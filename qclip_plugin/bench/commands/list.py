"""``qclip-bench list``: what each registry holds."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="list registered models, samplers, datasets, metrics")
    parser.add_argument("registry", nargs="?", help="only this registry (e.g. samplers)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.registry import ALL_REGISTRIES, populate_registries

    populate_registries()
    names = [args.registry] if args.registry else list(ALL_REGISTRIES)
    for name in names:
        if name not in ALL_REGISTRIES:
            print(f"unknown registry {name!r}; choose from {', '.join(ALL_REGISTRIES)}")
            return 2
        entries = sorted(ALL_REGISTRIES[name].module_dict)
        print(f"{name} ({len(entries)}):")
        for entry in entries:
            print(f"  {entry}")
    return 0
