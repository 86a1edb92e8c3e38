"""``qclip-bench convert-official SRC DST``: import an official Q-CLIP checkpoint (``release`` preset)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-official",
        help="convert an official Q-CLIP .pth checkpoint to this project's safetensors checkpoint",
        description="Convert the official release's checkpoint (whole model, Meta PE key names) so that "
        "build_qclip('release', checkpoint=DST, pretrained=None) loads it completely.",
    )
    parser.add_argument(
        "src", help="official checkpoint, as its training script saves it (.pth with a 'state_dict'; read weights-only)"
    )
    parser.add_argument("dst", help="output .safetensors")
    parser.add_argument("--backbone", help="open_clip backbone name (default: the release preset's)")
    parser.add_argument(
        "--layers", default=None,
        help="adapter layers the official model uses: N (the last N) or a comma list (default: the release "
        "preset's, see qclip-bench params --model release)",
    )
    parser.add_argument("--adapters-only", action="store_true", help="leave the backbone out of DST")
    parser.add_argument(
        "--trust-pickle", action="store_true",
        help="allow non-tensor Python objects in SRC (torch.load weights_only=False); trusted files only",
    )
    parser.set_defaults(func=run, flags={"trust_pickle=True": "--trust-pickle", "layers=": "--layers"})


def _layers(text: str):
    parts = [p for p in text.split(",") if p.strip()]
    return int(parts[0]) if len(parts) == 1 else [int(p) for p in parts]


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.models.official import convert_official_checkpoint

    report = convert_official_checkpoint(
        args.src, args.dst, backbone=args.backbone, layers=_layers(args.layers) if args.layers else None, include_backbone=not args.adapters_only,
        trust_pickle=args.trust_pickle,
    )
    print(f"wrote {report['dst']}")
    print(f"used adapter layers {report['used_layers']} of {len(report['allocated_layers'])} allocated; "
          f"prompt template {report['prompt_template']!r}")
    print(f"dropped {report['alias_keys']} alias keys (vit.*, text_encoder.*), each equal to its clip_model.* twin")
    print(f"dropped {len(report['dropped_keys'])} unused official tensors: "
          + json.dumps(report["dropped_keys"][:12]) + (" ..." if len(report["dropped_keys"]) > 12 else ""))
    return 0
