"""Ray engine benchmark (issue 15): videos/s of ``qclip-bench score --engine ray`` on a local Ray
instance with 2 CPUs against ``qclip-bench score --workers 2`` on the same clips, in one run.

    python benchmarks/bench_ray.py [--repeats 4] [--rounds 2] [--out benchmarks/results] [VIDEOS_DIR]

The real clips of ``../shared/data/videos`` (the empty one left out) are listed ``--repeats`` times
(symlinks), scored by the ``tiny`` preset, untrained, 8 frames, batch 4. Each round alternates:

- local: ``score_videos(metric, paths, num_workers=2)`` (the metric built beforehand, as the CLI does);
- ray: ``score_with_ray(..., concurrency=2)`` on the Ray instance, everything the command does
  after ``ray.init``: the driver's metric build, the scorer actors' start-up (each imports torch
  and builds the model), decoding and scoring.

Both engines score the first half of the list and then the whole list; the marginal rate (the
second half's videos over the time they added) leaves each job's start-up out. Ray's own start-up
(``ray.init``, and each job's fixed cost) is reported apart. Ratios (ray over local, same run,
median of the rounds): end to end and marginal; target >= 0.8. Writes ``ray.json`` and ``ray.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPTIONS = {"preset": "tiny", "pretrained": False}


def _paths(videos_dir: Path, repeats: int, folder: Path) -> list[str]:
    clips = sorted(p for p in videos_dir.glob("*.mp4") if p.stat().st_size > 0)
    paths = []
    for r in range(repeats):
        for clip in clips:
            link = folder / f"r{r}_{clip.name}"
            link.symlink_to(clip.resolve())
            paths.append(str(link))
    return paths


def _local(paths: list[str], workers: int, batch_size: int) -> float:
    from qclip_plugin.benchmark.scoring import score_videos
    from qclip_plugin.metrics import create_metric

    metric = create_metric("qclip", device="cpu", **OPTIONS)
    summary = score_videos(metric, paths, None, batch_size=batch_size, num_workers=workers, progress=False)
    assert summary.scored == len(paths), summary
    return summary.seconds


def _ray_end_to_end(paths: list[str], workers: int, batch_size: int) -> float:
    from qclip_plugin.integrations.ray_data import score_with_ray

    start = time.perf_counter()
    summary = score_with_ray(
        "qclip", paths, None, options=OPTIONS, batch_size=batch_size, concurrency=workers, progress=False
    )
    assert summary.scored == len(paths), summary
    return time.perf_counter() - start


def run(videos_dir: Path, repeats: int, rounds: int, workers: int, batch_size: int) -> dict:
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=workers, object_store_memory=300 * 2**20, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - start
    ray.data.DataContext.get_current().enable_progress_bars = False
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = _paths(videos_dir, 2 * repeats, Path(folder))
        half = paths[: len(paths) // 2]
        _local(paths[:4], workers, batch_size)  # imports and the page cache, for both engines
        for _ in range(rounds):
            rows.append(
                {
                    "local_half_s": _local(half, workers, batch_size),
                    "ray_half_s": _ray_end_to_end(half, workers, batch_size),
                    "local_s": _local(paths, workers, batch_size),
                    "ray_s": _ray_end_to_end(paths, workers, batch_size),
                }
            )
    ray.shutdown()
    n, extra = len(paths), len(paths) - len(half)

    def median(key: str, marginal: bool = False) -> float:
        if marginal:  # the second half's videos over the time they added: start-up cancels out
            return statistics.median(extra / (r[f"{key}_s"] - r[f"{key}_half_s"]) for r in rows)
        return statistics.median(n / r[f"{key}_s"] for r in rows)

    local, ray_rate = median("local"), median("ray")
    local_marginal, ray_marginal = median("local", True), median("ray", True)
    startup = statistics.median(r["ray_half_s"] - len(half) / ray_marginal for r in rows)
    return {
        "videos": n,
        "workers": workers,
        "batch_size": batch_size,
        "rounds": rows,
        "ray_init_s": init_s,
        "ray_job_startup_s": startup,
        "local_videos_per_s": local,
        "ray_videos_per_s": ray_rate,
        "local_marginal_videos_per_s": local_marginal,
        "ray_marginal_videos_per_s": ray_marginal,
        "ratio_end_to_end": ray_rate / local,
        "ratio_marginal": ray_marginal / local_marginal,
    }


def markdown(result: dict) -> str:
    w = result["workers"]
    return "\n".join(
        [
            f"{result['videos']} videos (the real clips, repeated), `tiny` untrained, 8 frames, batch "
            f"{result['batch_size']}, {w} CPUs; median of {len(result['rounds'])} rounds",
            "",
            f"| videos/s | local `--workers {w}` | ray, {w} actors | ray / local |",
            "|---|---:|---:|---:|",
            f"| end to end (after `ray.init`) | {result['local_videos_per_s']:.2f} | "
            f"{result['ray_videos_per_s']:.2f} | {result['ratio_end_to_end']:.2f} |",
            f"| marginal (start-up excluded) | {result['local_marginal_videos_per_s']:.2f} | "
            f"{result['ray_marginal_videos_per_s']:.2f} | {result['ratio_marginal']:.2f} |",
            "",
            f"Ray start-up: `ray.init` {result['ray_init_s']:.1f} s; each job "
            f"{result['ray_job_startup_s']:.1f} s more than its videos take (driver metric build, actors "
            "importing torch and building the model).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "videos_dir", nargs="?", type=Path, default=REPO.parent / "shared" / "data" / "videos"
    )
    parser.add_argument(
        "--repeats", type=int, default=4, help="half the times each clip is listed (default 4)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="CPUs: local workers, Ray CPUs and actors")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    result = run(args.videos_dir, args.repeats, args.rounds, args.workers, args.batch_size)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ray.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "ray.md").write_text(markdown(result) + "\n")
    print(markdown(result))
    print(f"-> {args.out / 'ray.json'}, {args.out / 'ray.md'}")


if __name__ == "__main__":
    main()
