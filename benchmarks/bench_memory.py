"""Memory benchmark (issue 14, Memory bound): peak RSS of scoring a 4K, 20 s video with each sampler.

    python benchmarks/bench_memory.py [--seconds 20] [--out benchmarks/results]

Generates (once, cached in ``--out``) a 3840x2160, 30 fps, H.264 clip of ``--seconds`` seconds with
motion everywhere (a panning texture), then scores it with the untrained ``tiny`` Q-CLIP metric
(8 frames at 112 px, as the demo) once per sampler, each in a fresh process: ``score_videos`` on the
file with the frame-difference cache in an empty folder, so the MSE samplers make their first,
full-decode pass. Reports each process's peak RSS (``ru_maxrss``) and its RSS before scoring (torch,
the model, the decoders imported), whose difference is what the video cost. Writes
``memory.json`` and ``memory.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLERS = ("UNISampl", "RandSampl", "UNIRandStart", "MSESortedUNI", "SegMSEMean", "SegMSEMedian", "Mixed")
HEIGHT, WIDTH, FPS = 2160, 3840, 30

CHILD = """
import json, resource, sys, time
from qclip_plugin.metrics import create_metric
from qclip_plugin.benchmark.scoring import score_videos
from qclip_plugin.data.pipeline import import_decoders
import_decoders()
path, sampler, cache = sys.argv[1:4]
metric = create_metric("qclip", preset="tiny", pretrained=False, device="cpu", num_frames=8, sampler=sampler)
def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
before = rss_mb()
start = time.perf_counter()
summary = score_videos(metric, [path], None, progress=False)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"sampler": sampler, "ok": summary.scored == 1, "failures": summary.failures,
                  "rss_before_mb": before, "peak_rss_mb": peak, "seconds": seconds}))
"""


def make_video(path: Path, seconds: int) -> Path:
    """A 4K H.264 clip: a random texture panning 7 px a frame (every block moves, like real footage)."""
    import av

    if path.is_file():
        return path
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8 + 64, 3), dtype=np.uint8)
    texture = coarse.repeat(8, axis=0).repeat(8, axis=1)
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.height, stream.width, stream.pix_fmt = HEIGHT, WIDTH, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for t in range(seconds * FPS):
            x = (7 * t) % 512
            frame = np.ascontiguousarray(texture[:, x : x + WIDTH])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    partial.rename(path)
    return path


def measure(path: Path, sampler: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {"QCLIP_CACHE_DIR": cache, "PYTHONPATH": str(REPO)}
        import os

        done = subprocess.run([sys.executable, "-c", CHILD, str(path), sampler, cache], capture_output=True,
                              text=True, env={**os.environ, **env}, timeout=3600)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{sampler}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--samplers", nargs="*", default=list(SAMPLERS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    video = make_video(args.out / f"uhd_{args.seconds}s.mp4", args.seconds)
    print(
        f"{video}: {video.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - start:.0f} s to make or find)"
    )
    rows = []
    for sampler in args.samplers:
        row = measure(video, sampler)
        rows.append(row)
        print(
            f"{sampler:13} ok={row['ok']}  peak RSS {row['peak_rss_mb']:7.0f} MB  before scoring "
            f"{row['rss_before_mb']:5.0f} MB  {row['seconds']:6.1f} s"
        )
    result = {"machine": platform.platform(), "video": {"path": str(video), "size": [HEIGHT, WIDTH], "fps": FPS,
              "frames": args.seconds * FPS}, "rows": rows}  # fmt: skip
    (args.out / "memory.json").write_text(json.dumps(result, indent=1))
    lines = [
        "| sampler | peak RSS (MB) | RSS before scoring (MB) | scoring time (s) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {r['sampler']} | {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} | {r['seconds']:.1f} |"
              for r in rows]  # fmt: skip
    (args.out / "memory.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'memory.json'} and {args.out / 'memory.md'}")


if __name__ == "__main__":
    main()
