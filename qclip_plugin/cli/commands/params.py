"""``qclip-bench params --model paper``: parameter report of a Q-CLIP model preset (total, trainable, per component)."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "params",
        help="parameter counts of a Q-CLIP preset (random weights, nothing downloaded)",
        description="Build a model preset with random backbone weights and print its parameter counts. "
        "Options are key=value pairs, as model.<key>= of `qclip-bench run` (the model. may be left out): "
        "any build_qclip override, e.g. bottleneck=16 layers=4 sharing=unshared.",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="build_qclip overrides (model.<key>=)")
    parser.add_argument("--model", metavar="PRESET", help="model preset: paper (default), release, tiny")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run, flags={"preset=": "--model"})


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.benchmark.overrides import OverrideError
    from qclip_plugin.models import build_qclip, parameter_report

    options = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise OverrideError(f"expected KEY=VALUE, got {item!r} (e.g. layers=4; the preset is --model)")
        options[key.strip().removeprefix("model.")] = _value(value.strip())
    if "preset" in options:  # the old spelling, params preset=tiny: still read
        print("note: the model preset is --model PRESET (or model.preset=)", file=sys.stderr)
    preset = args.model or options.pop("preset", "paper")
    options.pop("preset", None)
    options.setdefault("pretrained", None)
    model = build_qclip(preset, **options)
    report = parameter_report(model)
    if args.json:
        print(json.dumps(dict(preset=preset, backbone=model.backbone_name, **report.as_dict()), indent=2))
    else:
        print(f"Q-CLIP preset {preset!r} on {model.backbone_name}")
        print(report.as_table())
    return 0
