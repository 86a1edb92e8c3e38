"""``qclip-bench list``: what each registry holds, and the quality metrics found through entry points."""

from __future__ import annotations

import argparse

#: Not an mmengine registry: the ``qclip_plugin.metrics`` entry-point group behind ``create_metric``.
QUALITY_METRICS = "quality-metrics"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "list", help="list registered models, samplers, datasets, metrics and entry-point quality metrics"
    )
    parser.add_argument("registry", nargs="?", help=f"only this registry (e.g. samplers, {QUALITY_METRICS})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.errors import check_name
    from qclip_plugin.registry import ALL_REGISTRIES, populate_registries

    known = [*ALL_REGISTRIES, QUALITY_METRICS]
    if args.registry:
        check_name("registry", args.registry, known)
    names = [args.registry] if args.registry else known
    if any(name in ALL_REGISTRIES for name in names):
        populate_registries()
    for name in names:
        if name == QUALITY_METRICS:
            _print_quality_metrics()
            continue
        entries = sorted(ALL_REGISTRIES[name].module_dict)
        print(f"{name} ({len(entries)}):")
        for entry in entries:
            print(f"  {entry}")
        if name == "datasets":
            _print_dataset_specs()
    return 0


def _print_dataset_specs() -> None:
    from qclip_plugin.data.dataset_specs import spec_table

    rows = spec_table()
    columns = ["key", "name", "environment variable", "official format", "videos", "MOS", "raw YUV (H, W)", "aliases"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("dataset specs (data_root.<key>=PATH or the environment variable; names match in any case):")
    print(("  " + "  ".join(c.ljust(widths[c]) for c in columns)).rstrip())
    for row in rows:
        print(("  " + "  ".join(row[c].ljust(widths[c]) for c in columns)).rstrip())


def _print_quality_metrics() -> None:
    from qclip_plugin.metrics import metric_sources

    sources = metric_sources()
    print(f"{QUALITY_METRICS} (create_metric / qclip-bench score --metric) ({len(sources)}):")
    for source in sources.values():
        print(f"  {source.name:<16} {source.package:<22} {source.value}")
