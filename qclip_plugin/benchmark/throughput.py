"""Throughput benchmark: videos/s of decoding (the floor), loading with each sampler, the model's
forward pass and end-to-end scoring, at 1 and 2 DataLoader workers, all in one run.

Every data stage is measured the same way as ``qclip-bench score`` runs: one pass of a fresh
``torch.utils.data.DataLoader`` (``num_workers`` processes, batches of ``batch_size``) over the
clips, each clip listed ``repeats`` times (through symbolic links, so no cache is shared
between the copies); startup is included. Every stage is measured ``rounds`` times, the rounds
interleaving all stages, and the median pass is reported. Stages:

- ``decode``: bare decord, the sampled frames at the model's input size, nothing else (the floor),
  with decord's default threads (one per core in every worker); ``decode (floor, loader threads)``
  is the same with the decoding threads the loader uses in workers
  (:func:`qclip_plugin.data.pipeline.decoder_threads`), for reference;
- ``load/<sampler>``: :func:`qclip_plugin.data.load_video` (decode, sample, resize, normalise);
  the MSE samplers twice: ``first`` with an empty profile cache (eq. 13 computed), then ``cached``;
- ``forward``: the model alone on random frames in this process (fp32 and bf16 autocast), with one
  intra-op thread (as ``score_videos`` runs it beside 2 decoding workers on 2 cores) and torch's default;
- ``score``: :func:`qclip_plugin.benchmark.scoring.score_videos` end to end (decode -> model -> scores);
- on a GPU: ``gpu/<preset>``, forward videos/s in fp32, bf16 autocast and bf16 autocast with the
  frozen weights stored in bf16, with the peak memory of each.

Before any stage the loading stack (``qclip_plugin.data.pipeline``, decord, PyAV) is imported in
this process, as a user's script that imports ``load_video`` has it: forked workers inherit it, so
no stage pays a per-worker import inside its timing (``score_videos`` does the same itself).

Ratios reported (same run): end-to-end scoring at 2 workers over the decode floor at 2 workers
(target >= 0.8) and loading at 2 workers over 1 worker (target >= 1.6 on 2 cores), in wall time
and, steadier on a shared machine, in CPU time (this process and its workers).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["MSE_SAMPLER_NAMES", "Measurement", "SAMPLER_NAMES", "ThroughputResult", "run_throughput", "write_results"]

#: The seven sampling strategies' names, measured under ``load/`` by default.
SAMPLER_NAMES: tuple[str, ...] = (
    "UNISampl",
    "RandSampl",
    "UNIRandStart",
    "MSESortedUNI",
    "SegMSEMean",
    "SegMSEMedian",
    "Mixed",
)
#: Those that read the frame-difference profile (eq. 13): measured with an empty cache, then cached.
MSE_SAMPLER_NAMES = frozenset({"MSESortedUNI", "SegMSEMean", "SegMSEMedian", "Mixed"})
TARGETS: dict[str, tuple[str, float]] = {
    "score_2w_over_decode_2w": (">=", 0.8),
    "load_UNISampl_2w_over_1w": (">=", 1.6),
}


@dataclass
class Measurement:
    """One stage at one worker count."""

    stage: str
    workers: int
    videos: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    cpu_seconds: float = 0.0  # CPU time of this process and its workers (0: not measured)

    @property
    def videos_per_second(self) -> float:
        return self.videos / self.seconds if self.seconds > 0 else 0.0

    @property
    def videos_per_cpu_second(self) -> float:
        return self.videos / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


@dataclass
class ThroughputResult:
    """All measurements of one run, the ratios against the targets, and the machine."""

    measurements: list[Measurement]
    ratios: dict[str, float]
    config: dict[str, Any]
    machine: dict[str, Any]
    cpu_ratios: dict[str, float] = field(default_factory=dict)  # the same ratios in videos per CPU second

    def rate(self, stage: str, workers: int, cpu: bool = False) -> float:
        for m in self.measurements:
            if m.stage == stage and m.workers == workers:
                return m.videos_per_cpu_second if cpu else m.videos_per_second
        raise KeyError(f"no measurement of {stage} at {workers} workers")

    def to_json(self) -> str:
        rows = [
            {
                **asdict(m),
                "videos_per_second": m.videos_per_second,
                "videos_per_cpu_second": m.videos_per_cpu_second,
            }
            for m in self.measurements
        ]
        return json.dumps(
            {
                "measurements": rows,
                "ratios": self.ratios,
                "cpu_ratios": self.cpu_ratios,
                "targets": TARGETS,
                "config": self.config,
                "machine": self.machine,
            },
            indent=2,
        )

    def markdown(self) -> str:
        """Two tables: videos/s per stage and worker count, and the ratios against their targets."""
        counts = sorted({m.workers for m in self.measurements if m.workers > 0})
        stages = list(dict.fromkeys(m.stage for m in self.measurements))
        lines = [
            "| stage | "
            + " | ".join(f"{w} worker{'s' if w > 1 else ''} (videos/s)" for w in counts)
            + " | in process |",
            "|---|" + "---:|" * (len(counts) + 1),
        ]
        for stage in stages:
            cells = []
            for w in [*counts, 0]:
                found = [m for m in self.measurements if m.stage == stage and m.workers == w]
                cells.append(f"{found[0].videos_per_second:.2f}" if found else "")
            lines.append(f"| {stage} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| ratio (same run) | wall | CPU time | target | met (wall) |",
            "|---|---:|---:|---|---|",
        ]
        for key, value in self.ratios.items():
            op, bound = TARGETS.get(key, ("", float("nan")))
            met = "" if not op else ("yes" if (value >= bound if op == ">=" else value <= bound) else "NO")
            cpu = self.cpu_ratios.get(key)
            cpu_cell = f"{cpu:.3f}" if cpu is not None else ""
            lines.append(f"| {key} | {value:.3f} | {cpu_cell} | {op} {bound if op else ''} | {met} |")
        gpu = [m for m in self.measurements if m.stage.startswith("gpu/")]
        if gpu:
            lines += ["", "| GPU stage | videos/s | peak memory (GiB) |", "|---|---:|---:|"]
            lines += [
                f"| {m.stage} | {m.videos_per_second:.1f} | {m.extra.get('peak_gib', float('nan')):.2f} |"
                for m in gpu
            ]
        return "\n".join(lines) + "\n"


class _Clips(torch.utils.data.Dataset):
    """Applies ``load`` to each path; returns a small summary so workers send little back."""

    def __init__(self, paths: Sequence[str], load: Callable[[str], Any]) -> None:
        self.paths, self.load = list(paths), load

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> int:
        out = self.load(self.paths[index])
        return int(out.shape[0])


def _one_thread(_: int) -> None:
    # each worker is one decoding process; torch's intra-op pool would only contend with the others
    torch.set_num_threads(1)


def _cpu_seconds() -> float:
    # workers are children: their time counts once they are joined, as every pass joins them
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _pass(
    paths: Sequence[str], load: Callable[[str], Any], workers: int, batch_size: int
) -> tuple[float, float]:
    """One pass of a fresh DataLoader; ``(wall seconds, CPU seconds)``."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    loader = torch.utils.data.DataLoader(
        _Clips(paths, load),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=list,
        worker_init_fn=_one_thread if workers else None,
    )
    for _ in loader:
        pass
    return time.perf_counter() - start, _cpu_seconds() - cpu


class _BareDecode:
    """decord, the sampled frames at ``size``: the least any loader must do. ``loader_threads``:
    with the loader's decoding threads (:func:`~qclip_plugin.data.pipeline.decoder_threads`)
    instead of decord's default."""

    def __init__(self, num_frames: int, size: tuple[int, int], loader_threads: bool = False) -> None:
        self.num_frames, self.size, self.loader_threads = num_frames, size, loader_threads

    def __call__(self, path: str):
        import decord

        from qclip_plugin.data.pipeline import decoder_threads
        from qclip_plugin.sampling import uniform_indices

        threads = {"num_threads": decoder_threads()} if self.loader_threads else {}
        vr = decord.VideoReader(path, height=self.size[0], width=self.size[1], **threads)
        return vr.get_batch(uniform_indices(len(vr), self.num_frames)).asnumpy()


class _Load:
    def __init__(self, num_frames: int, sampler: str, size: tuple[int, int], cache_dir: str) -> None:
        self.num_frames, self.sampler, self.size, self.cache_dir = num_frames, sampler, size, cache_dir

    def __call__(self, path: str):
        from qclip_plugin.data import load_video

        return load_video(path, self.num_frames, self.sampler, self.size, seed=0, cache_dir=self.cache_dir)


def _replicate(videos: Sequence[Path], repeats: int, folder: Path) -> Path:
    """``folder``, made, with ``repeats`` symbolic links to each video (no cache shared between them)."""
    folder.mkdir()
    for r in range(repeats):
        for i, video in enumerate(videos):
            (folder / f"r{r}_{i}_{video.name}").symlink_to(video.resolve())
    return folder


def _forward(metric: Any, batch_size: int, num_frames: int, amp: str | None, iterations: int) -> float:
    from qclip_plugin.engine.precision import autocast

    h, w = metric.preprocessing.image_size
    frames = torch.randn(batch_size, num_frames, 3, h, w, device=metric.device)
    with torch.no_grad(), autocast(metric.device, amp):
        metric.score_frames(frames)  # warm-up (allocations, kernels)
        if metric.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iterations):
            metric.score_frames(frames)
        if metric.device.type == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - start


def _gpu_measurements(preset: str, batch_size: int, num_frames: int, iterations: int) -> list[Measurement]:
    """PE-Core-L (preset ``paper``) on the GPU: fp32, bf16 autocast, bf16 weights; peak memory."""
    from qclip_plugin.engine.precision import cast_frozen
    from qclip_plugin.metrics import create_metric

    out = []
    for label, amp, stored in (
        ("fp32", None, None),
        ("bf16", "bf16", None),
        ("bf16 weights", "bf16", "bf16"),
    ):
        torch.cuda.empty_cache()
        metric = create_metric(
            "qclip",
            preset=preset,
            pretrained=False,
            backbone_weights=None,
            device="cuda",
            num_frames=num_frames,
        )
        cast_frozen(metric, stored)
        torch.cuda.reset_peak_memory_stats()
        seconds = _forward(metric, batch_size, num_frames, amp, iterations)
        peak = torch.cuda.max_memory_allocated() / 2**30
        out.append(
            Measurement(
                f"gpu/{preset} forward {label}",
                0,
                batch_size * iterations,
                seconds,
                {"peak_gib": peak, "device": torch.cuda.get_device_name()},
            )
        )
        del metric
    return out


def run_throughput(
    videos: Sequence[str | os.PathLike],
    *,
    preset: str = "tiny",
    num_frames: int = 8,
    workers: Sequence[int] = (1, 2),
    samplers: Sequence[str] = SAMPLER_NAMES,
    repeats: int = 4,
    rounds: int = 3,
    batch_size: int = 4,
    forward_iterations: int = 10,
    gpu: bool = True,
    gpu_preset: str = "paper",
    log: Callable[[str], None] = print,
) -> ThroughputResult:
    """Measure every stage (see the module docstring) on ``videos`` and return the result.

    Args:
        videos: readable video files (the real clips of ``../shared/data/videos``).
        preset: the Q-CLIP preset scored end to end and in ``forward`` (untrained weights: speed
            does not depend on them).
        num_frames: frames sampled per video.
        workers: DataLoader worker counts to compare.
        samplers: samplers measured under ``load/``.
        repeats: each clip is listed this many times per pass.
        rounds: every stage is measured this many times, interleaved; the median is reported.
        batch_size: videos per batch (loading and scoring) and per forward pass.
        forward_iterations: forward passes timed per precision.
        gpu: on a CUDA machine also measure ``gpu_preset`` (PE-Core-L for ``paper``) on the GPU.
        log: where progress lines go.
    """
    from qclip_plugin.metrics import create_metric

    videos = [Path(v) for v in videos]
    if not videos:
        raise ValueError(
            "no videos to benchmark; pass readable video files (e.g. ../shared/data/videos/*.mp4)"
        )
    metric = create_metric("qclip", preset=preset, pretrained=False, device="cpu", num_frames=num_frames)
    size = metric.preprocessing.image_size
    timings = _Timings(log)
    _import_loading_stack()
    with tempfile.TemporaryDirectory(prefix="qclip-throughput-") as tmp:
        root = Path(tmp)
        folders = {count: _replicate(videos, repeats, root / f"links-{count}") for count in workers}
        # rounds interleave every stage, so a busy spell of the machine hits them all alike
        for round_ in range(rounds):
            for count in workers:
                paths = sorted(str(p) for p in folders[count].iterdir())
                _measure_decode_and_load(timings, paths, count, num_frames, size, samplers, batch_size,
                                         caches=(root, round_))  # fmt: skip
                _measure_scoring(timings, metric, folders[count], count, batch_size)
            _measure_forward(timings, metric, batch_size, num_frames, forward_iterations)
    measurements = timings.medians()
    if gpu and torch.cuda.is_available():
        for m in _gpu_measurements(gpu_preset, batch_size, num_frames, forward_iterations):
            measurements.append(m)
            log(f"{m.stage}: {m.videos_per_second:.1f} videos/s, peak {m.extra['peak_gib']:.2f} GiB")
    config = {"videos": [str(v) for v in videos], "preset": preset, "num_frames": num_frames, "size": list(size),
              "workers": list(workers), "repeats": repeats, "rounds": rounds, "batch_size": batch_size}  # fmt: skip
    return _with_ratios(ThroughputResult(measurements, {}, config, _machine()), workers, samplers)


def _with_ratios(result: ThroughputResult, workers: Sequence[int], samplers: Sequence[str]) -> ThroughputResult:
    """``result`` with its ratios (wall and CPU time) between the fewest and the most workers."""
    low, high = min(workers), max(workers)
    if low != high:
        result.ratios = _ratios(result, low, high, samplers)
        result.cpu_ratios = _ratios(result, low, high, samplers, cpu=True)
    return result


def _import_loading_stack() -> None:
    """Import what loading needs before any worker forks (see the module docstring)."""
    import qclip_plugin.sampling  # noqa: F401
    from qclip_plugin.data.pipeline import import_decoders

    import_decoders()


class _Timings:
    """Every round's ``(videos, wall seconds, CPU seconds)`` per ``(stage, workers)``; logs each as it comes."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.runs: dict[tuple[str, int], list[tuple[int, float, float]]] = {}

    def add(self, stage: str, count: int, items: int, seconds: tuple[float, float] | float) -> None:
        wall, cpu = seconds if isinstance(seconds, tuple) else (seconds, 0.0)
        self.runs.setdefault((stage, count), []).append((items, wall, cpu))
        self.log(
            f"{stage:<36} {count} worker(s): {items / wall:7.2f} videos/s"
            + (f", {items / cpu:7.2f} videos/CPU-s" if cpu > 0 else "")
        )

    def medians(self) -> list[Measurement]:
        """One :class:`Measurement` per stage and worker count: the median round, every round in ``extra``."""
        out = []
        for (stage, count), runs in self.runs.items():
            walls, cpus = [wall for _, wall, _ in runs], [cpu for _, _, cpu in runs]
            out.append(Measurement(stage, count, runs[0][0], statistics.median(walls),
                                   {"seconds": walls, "cpu_seconds": cpus}, statistics.median(cpus)))  # fmt: skip
        return out


def _measure_decode_and_load(timings: _Timings, paths: list[str], count: int, num_frames: int,
                             size: tuple[int, int], samplers: Sequence[str], batch_size: int, *,
                             caches: tuple[Path, int]) -> None:  # fmt: skip
    """The decode floors and ``load/<sampler>`` (the MSE samplers with an empty cache, then cached);
    ``caches``: the folder and round that name each pass's fresh profile cache."""
    root, round_ = caches
    timings.add("decode (floor)", count, len(paths), _pass(paths, _BareDecode(num_frames, size), count, batch_size))
    timings.add("decode (floor, loader threads)", count, len(paths),
                _pass(paths, _BareDecode(num_frames, size, loader_threads=True), count, batch_size))  # fmt: skip
    for sampler in samplers:
        load = _Load(num_frames, sampler, size, str(root / f"cache-{sampler}-{count}-{round_}"))
        if sampler in MSE_SAMPLER_NAMES:
            timings.add(f"load/{sampler} first", count, len(paths), _pass(paths, load, count, batch_size))
            timings.add(f"load/{sampler} cached", count, len(paths), _pass(paths, load, count, batch_size))
        else:
            timings.add(f"load/{sampler}", count, len(paths), _pass(paths, load, count, batch_size))


def _measure_scoring(timings: _Timings, metric: Any, folder: Path, count: int, batch_size: int) -> None:
    """``score_videos`` end to end on ``folder`` with ``count`` decoding workers."""
    from qclip_plugin.benchmark.scoring import score_videos

    cpu = _cpu_seconds()
    summary = score_videos(metric, [folder], None, batch_size=batch_size, num_workers=count, progress=False)
    cpu = _cpu_seconds() - cpu
    if summary.failed:
        raise RuntimeError(f"scoring failed on {summary.failures}; benchmark readable videos only")
    timings.add("score (end to end)", count, summary.scored, (summary.seconds, cpu))


def _measure_forward(timings: _Timings, metric: Any, batch_size: int, num_frames: int, iterations: int) -> None:
    """The model alone, fp32 and bf16, with one intra-op thread and with torch's default."""
    threads = torch.get_num_threads()
    try:
        for count in sorted({1, threads}):
            torch.set_num_threads(count)  # 1: how scoring runs beside its decoding workers on 2 cores
            for amp in (None, "bf16"):
                seconds = _forward(metric, batch_size, num_frames, amp, iterations)
                timings.add(f"forward {amp or 'fp32'} (batch {batch_size}, {count} thread{'s' * (count > 1)})",
                            0, batch_size * iterations, seconds)  # fmt: skip
    finally:
        torch.set_num_threads(threads)


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def _ratios(
    result: ThroughputResult, low: int, high: int, samplers: Sequence[str], cpu: bool = False
) -> dict[str, float]:
    """The reported ratios (targets first), in wall time or in CPU time."""

    def ratio(stage_a: str, workers_a: int, stage_b: str, workers_b: int) -> float:
        rate_b = result.rate(stage_b, workers_b, cpu)
        return result.rate(stage_a, workers_a, cpu) / rate_b if rate_b > 0 else float("nan")

    out = {f"score_{high}w_over_decode_{high}w": ratio("score (end to end)", high, "decode (floor)", high)}
    for sampler in samplers:
        stage = f"load/{sampler}" + (" cached" if sampler in MSE_SAMPLER_NAMES else "")
        out[f"load_{sampler}_{high}w_over_{low}w"] = ratio(stage, high, stage, low)
    out[f"decode_{high}w_over_{low}w"] = ratio("decode (floor)", high, "decode (floor)", low)
    out[f"score_{high}w_over_{low}w"] = ratio("score (end to end)", high, "score (end to end)", low)
    out[f"score_{high}w_over_decode_loader_threads_{high}w"] = ratio(
        "score (end to end)", high, "decode (floor, loader threads)", high
    )
    return out


def write_results(result: ThroughputResult, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``throughput.json`` and ``throughput.md`` into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "throughput.json", out / "throughput.md"
    json_path.write_text(result.to_json())
    md_path.write_text(result.markdown())
    return json_path, md_path
