"""``qclip-bench params preset=paper``: parameter report of a Q-CLIP preset (total, trainable, per component)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "params",
        help="parameter counts of a Q-CLIP preset (random weights, nothing downloaded)",
        description="Build a preset with random backbone weights and print its parameter counts. "
        "Options are key=value pairs: preset=paper (default), and any build_qclip override, "
        "e.g. bottleneck=16 layers=4 sharing=unshared.",
    )
    parser.add_argument("options", nargs="*", metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.models import build_qclip, parameter_report

    options = {}
    for item in args.options:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"expected KEY=VALUE, got {item!r} (e.g. preset=paper)")
            return 2
        options[key.strip()] = _value(value.strip())
    preset = options.pop("preset", "paper")
    options.setdefault("pretrained", None)
    model = build_qclip(preset, **options)
    report = parameter_report(model)
    if args.json:
        print(json.dumps(dict(preset=preset, backbone=model.backbone_name, **report.as_dict()), indent=2))
    else:
        print(f"Q-CLIP preset {preset!r} on {model.backbone_name}")
        print(report.as_table())
    return 0
