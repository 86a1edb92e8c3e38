"""``qclip-bench visualize``: the paper's figures for your own models and runs (``qclip_plugin.analysis``).

- ``tsne``: figure 6, t-SNE of video and prompt features, frozen backbone vs adapted model;
- ``efficiency``: figure 1, trainable parameters (log scale) vs SROCC, published and measured;
- ``ablation``: figure 5, accuracy vs number of E-SCMA layers from ablation runs.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "visualize",
        help="the paper's figures: t-SNE of features (fig. 6), efficiency chart (fig. 1), E-SCMA layers (fig. 5)",
        description="Draw the paper's analysis figures for your own models and runs; every figure is written "
        "with the data it was drawn from.",
    )
    kinds = parser.add_subparsers(dest="figure", metavar="FIGURE", required=True)
    _register_tsne(kinds)
    _register_efficiency(kinds)
    _register_ablation(kinds)


def _register_tsne(kinds: argparse._SubParsersAction) -> None:
    tsne = kinds.add_parser(
        "tsne",
        help="figure 6: t-SNE of video and prompt features, frozen backbone vs Q-CLIP",
        description="Embed a dataset's videos and the five prompts with the frozen backbone and with the adapted "
        "model, map them with t-SNE, and write tsne.png, tsne.npz (features and maps) and tsne_summary.json "
        "(modality gap, silhouettes, SROCC of the map axes with MOS; recomputable from the .npz).",
    )
    weights = tsne.add_mutually_exclusive_group(required=True)
    weights.add_argument("--checkpoint", metavar="FILE", help="trained Q-CLIP adapters (.safetensors)")
    weights.add_argument("--untrained", action="store_true", help="analyse --model as built, on purpose")
    tsne.add_argument("--dataset", required=True,
                      help="demo, demo-A, demo-B (synthetic set), a dataset key (KoNViD, LIVE_VQC, LSVQ, ...) "
                           "or a label file")
    tsne.add_argument("--model", metavar="PRESET", help="Q-CLIP model preset (default: the checkpoint's; with "
                      "--untrained: tiny)")
    tsne.add_argument("--preset", dest="model", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name
    tsne.add_argument("--pretrained", help="backbone weights: an open_clip tag or file, 'none' for random "
                                           "(default: the preset's)")
    tsne.add_argument("--init-seed", type=int, default=0,
                      help="torch seed the model is built under (default 0): fixes an untrained model's random "
                           "adapters (random backbones follow the seed their checkpoint records)")
    tsne.add_argument("--data-root", help="folder of the dataset's videos (default: $QCLIP_DATA_<KEY>)")
    tsne.add_argument("--ann-file", help="label file of the dataset (default: found in the data root)")
    tsne.add_argument("--max-videos", type=int, help="at most this many videos, evenly spread over the MOS ranking")
    tsne.add_argument("--frames", type=int, default=8, help="frames per video (default 8)")
    tsne.add_argument("--sampler", default="UNISampl", help="frame sampler (default UNISampl)")
    tsne.add_argument("--batch-size", type=int, default=4, help="videos per forward pass (default 4)")
    tsne.add_argument("--device", help="cpu, cuda, ... (default: cpu)")
    tsne.add_argument("--frozen-prompts", choices=("template", "initial"), default="template",
                      help="frozen prompts: the template alone (default) or with the initial context words")
    tsne.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (lowered for small sets)")
    tsne.add_argument("--seed", type=int, default=0, help="t-SNE seed (default 0)")
    tsne.add_argument("--demo-seed", type=int, default=0, help="seed of the synthetic demo set (default 0)")
    _output(tsne, None, "output folder (default analysis/tsne_<dataset>)")
    tsne.set_defaults(func=run_tsne, flags=FLAGS)


def _register_efficiency(kinds: argparse._SubParsersAction) -> None:
    eff = kinds.add_parser(
        "efficiency",
        help="figure 1: trainable parameters (log scale) vs SROCC, published and measured",
        description="Published points: Q-CLIP's 0.14 M trainable parameters and the counts of FAST-VQA, MBVQA, "
        "CLIPVQA and Q-Align derived from the paper's stated reduction ratios (197x, 666x, 3,964x, 58,556x), "
        "with their Table 1 SROCC. Measured points: the trained rows of the runs given (protocol work dirs, "
        "whose exported checkpoints give the exact trainable count, or leaderboard folders).",
    )
    eff.add_argument("runs", nargs="*", metavar="RUN", help="protocol work dirs or leaderboard folders (searched)")
    eff.add_argument("--test-set", default="LSVQ_test", help="published rows' test set (default LSVQ_test)")
    eff.add_argument("--measured-test-set", action="append", default=None, metavar="NAME",
                     help="only this measured test set (repeatable; default: all)")
    eff.add_argument("--qclip-method", help="published Q-CLIP row, e.g. 'Q-CLIP (UNISampl)' (default: its best)")
    eff.add_argument("--no-published", action="store_true", help="measured points only")
    _output(eff, "analysis/efficiency", "output folder (default analysis/efficiency)")
    eff.set_defaults(func=run_efficiency)


def _register_ablation(kinds: argparse._SubParsersAction) -> None:
    abl = kinds.add_parser(
        "ablation",
        help="figure 5: accuracy vs number of E-SCMA layers, from ablation runs",
        description="Collect the runs of the E-SCMA-layers ablation (any subset of layer counts) and draw one "
        "line per test set. The layer count comes from each run's exported checkpoint, or its name.",
    )
    abl.add_argument("runs", nargs="+", metavar="RUN", help="protocol work dirs or leaderboard folders (searched)")
    abl.add_argument("--metric", choices=("SROCC", "PLCC"), default="SROCC", help="y axis (default SROCC)")
    abl.add_argument("--test-set", action="append", default=None, metavar="NAME",
                     help="only this test set (repeatable; default: all)")
    _output(abl, "analysis/ablation", "output folder (default analysis/ablation)")
    abl.set_defaults(func=run_ablation)


#: The library's words in messages -> the flags of ``visualize tsne``.
FLAGS = {"data_root=": "--data-root", "ann_file=": "--ann-file", "checkpoint=": "--checkpoint",
         "pretrained=False": "--untrained", "preset=": "--model"}


def _output(parser: argparse.ArgumentParser, default: str | None, text: str) -> None:
    parser.add_argument("--output", default=default, metavar="DIR", help=text)
    parser.add_argument("--out", dest="output", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name


def _backbone_weights(text: str | None) -> object:
    from qclip_plugin.sentinel import FROM_PRESET

    if text is None:
        return FROM_PRESET
    return None if text.lower() in ("none", "null", "random") else text


def run_tsne(args: argparse.Namespace) -> int:
    from qclip_plugin.analysis.tsne import format_summary, visualize_tsne

    out = args.output or f"analysis/tsne_{args.dataset.replace('/', '_')}"
    files = visualize_tsne(
        args.dataset, out, checkpoint=args.checkpoint, preset=args.model or (None if args.checkpoint else "tiny"),
        backbone_weights=_backbone_weights(args.pretrained), data_root=args.data_root, ann_file=args.ann_file,
        max_videos=args.max_videos, demo_seed=args.demo_seed, init_seed=args.init_seed, num_frames=args.frames, sampler=args.sampler,
        batch_size=args.batch_size, device=args.device, frozen_prompts=args.frozen_prompts,
        perplexity=args.perplexity, seed=args.seed,
    )
    print(format_summary(files.summary))
    print(f"figure: {files.png}\nfeatures and maps: {files.npz}\nsummary: {files.json}")
    return 0


def run_efficiency(args: argparse.Namespace) -> int:
    from qclip_plugin.analysis.efficiency import run_efficiency as draw

    files = draw(args.output, args.runs, test_set=args.test_set, measured_test_sets=args.measured_test_set,
                 qclip_method=args.qclip_method, published=not args.no_published)
    for p in files.points:
        print(f"{p.kind:<9}  {p.method:<40}  {p.test_set:<20}  {p.trainable_params:>16,.0f}  SROCC {p.SROCC:.3f}"
              f"  ({p.params_source})")
    print(f"figure: {files.png}\ndata: {files.csv}")
    return 0


def run_ablation(args: argparse.Namespace) -> int:
    from qclip_plugin.analysis.ablation import run_ablation as draw

    files = draw(args.runs, args.output, metric=args.metric, test_sets=args.test_set)
    print(files.table[["layers", "test_set", "SROCC", "PLCC", "run"]].to_string(index=False))
    print(f"figure: {files.png}\ndata: {files.csv}")
    return 0
