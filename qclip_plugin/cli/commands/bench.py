"""``qclip-bench bench``: the throughput benchmark (decode floor, loading per sampler, forward,
end-to-end scoring; 1 and 2 workers; PE-Core-L on a GPU), written as JSON and a Markdown table."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="throughput benchmark: decode floor, loading per sampler, forward, end-to-end scoring (videos/s)",
        description=(
            "Measure videos/s of decoding (the floor), loading with each sampler, the model's forward pass and "
            "end-to-end scoring at each --workers count in one run, and the ratios scoring/decoding and "
            "2 workers/1 worker. Writes OUTPUT/throughput.json and OUTPUT/throughput.md. On a CUDA machine it also "
            "measures PE-Core-L (preset paper, random weights) in fp32 and bf16 with peak memory."
        ),
    )
    parser.add_argument(
        "videos", nargs="+", help="video files or folders (the README's numbers: the real clips of ../shared/data/videos)"
    )
    parser.add_argument("--output", default="benchmarks/results", help="output folder (default benchmarks/results)")
    parser.add_argument("--out", dest="output", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name
    parser.add_argument("--model", default="tiny", metavar="PRESET", help="model preset scored end to end (default tiny)")
    parser.add_argument("--preset", dest="model", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name
    parser.add_argument("--frames", type=int, default=8, help="frames per video (default 8)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=4, help="times each clip is listed per pass (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, median reported (default 3)")
    parser.add_argument("--batch-size", type=int, default=4, help="videos per batch (default 4)")
    parser.add_argument("--samplers", nargs="+", help="samplers measured (default: all seven)")
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU measurements")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qclip_plugin.benchmark.scoring import collect_videos
    from qclip_plugin.benchmark.throughput import SAMPLER_NAMES, run_throughput, write_results

    videos = [v for v in collect_videos(args.videos) if v.is_file() and v.stat().st_size > 0]
    result = run_throughput(
        videos, preset=args.model, num_frames=args.frames, workers=args.workers, repeats=args.repeats, rounds=args.rounds,
        batch_size=args.batch_size, samplers=args.samplers or SAMPLER_NAMES, gpu=not args.no_gpu,
    )
    print(result.markdown())
    json_path, md_path = write_results(result, args.output)
    print(f"wrote {json_path} and {md_path}")
    return 0
