"""Generate (or reuse) the synthetic demo VQA benchmark.

Layout of a generated set (``root``)::

    A/a000_texture_blur_L1.mp4 ...   clips of part A (H.264 MP4)
    B/b000_texture_blur_L1.mp4 ...   clips of part B
    labels_A.txt, labels_B.txt       community 4-column lists: path, duration, fps, MOS
    metadata.csv                     one row per clip: part, path, content kind, seeds,
                                     distortion, level, parameter, CRF, SSIM, SSIM dB, MOS
    manifest.json                    parameters, their hash, counts, versions; written last

A set is complete when ``manifest.json`` exists with the hash of the requested
parameters: such a set is reused as is. Generation happens in a sibling
``.<name>.partial-<hash>`` directory, which is renamed into place when complete;
an interrupted run leaves it behind and the next run resumes from the clips it holds.
A lock file serialises concurrent generators of the same set.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from qclip_plugin.atomic_files import atomic_write, atomic_write_text
from qclip_plugin.cache import cache_dir
from qclip_plugin.data.synthetic.codec import LOSSLESS_CRF, read_rgb, write_h264
from qclip_plugin.data.synthetic.config import GENERATOR_VERSION, ClipSpec, DemoConfig, plan_clips
from qclip_plugin.data.synthetic.content import render_content
from qclip_plugin.data.synthetic.distortions import apply_distortion
from qclip_plugin.data.synthetic.pseudo_mos import frame_ssim, ssim_db, ssim_to_mos

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
METADATA = "metadata.csv"
METADATA_COLUMNS = (
    "part", "path", "source", "content_kind", "content_seed", "distortion", "level", "param",
    "distortion_seed", "crf", "ssim", "ssim_db", "mos",
)  # fmt: skip


@dataclass(frozen=True)
class DemoBenchmark:
    """A generated demo set: its root, one community label list per part, and the metadata CSV.

    Label paths are relative to ``root`` (use it as the data root of a dataset).
    """

    root: Path
    labels: dict[str, Path]
    metadata: Path
    manifest: Path
    seed: int
    param_hash: str
    reused: bool = False  # True when an existing complete set was returned

    @property
    def labels_a(self) -> Path:
        return self.labels["A"]

    @property
    def labels_b(self) -> Path:
        return self.labels["B"]

    def read_metadata(self):  # -> pandas.DataFrame (pandas imported lazily)
        """The metadata CSV as a DataFrame (for results per distortion type, content kind or level)."""
        import pandas as pd

        return pd.read_csv(self.metadata)

    def describe(self) -> str:
        """A short text summary: clips and pseudo-MOS per part, mean MOS per distortion and level."""
        meta = self.read_metadata()
        lines = [f"synthetic demo benchmark (seed {self.seed}) at {self.root}"]
        for part, rows in meta.groupby("part", sort=False):
            mos = rows["mos"]
            lines.append(
                f"part {part}: {len(rows)} clips, {rows['content_kind'].nunique()} content kinds, "
                f"{rows['source'].nunique()} sources; MOS mean {mos.mean():.2f} std {mos.std():.2f} "
                f"min {mos.min():.2f} median {mos.median():.2f} max {mos.max():.2f}; labels {self.labels[part]}"
            )
        table = meta.pivot_table(index=["distortion"], columns=["part", "level"], values="mos", aggfunc="mean")
        lines.append("mean pseudo-MOS per distortion (columns: part, level):")
        lines.append(table.round(2).to_string())
        return "\n".join(lines)


def default_root(seed: int = 0, config: DemoConfig | None = None) -> Path:
    """``cache_dir("demo")/<version>-seed<seed>``, with a parameter-hash suffix for non-default configs."""
    name = f"{GENERATOR_VERSION}-seed{seed}"
    if config is not None and config != DemoConfig():
        name += f"-{config.param_hash(seed)[:10]}"
    return cache_dir("demo") / name


def generate_demo_benchmark(
    root: str | os.PathLike | None = None,
    seed: int = 0,
    config: DemoConfig | None = None,
    *,
    force: bool = False,
    workers: int | None = None,
    verbose: bool = False,
) -> DemoBenchmark:
    """Generate the synthetic demo VQA benchmark under ``root``, or reuse it if already there.

    Args:
        root: output directory (default :func:`default_root`). If it holds a complete
            set with the same parameters, nothing is regenerated. If it holds a demo set
            made with other parameters, that set is replaced. Any other non-empty
            directory is refused.
        seed: the seed every content, noise and frame-drop draw derives from.
        config: parts, clip size, frame count, MOS mapping (default :class:`DemoConfig`:
            160 + 84 clips of 16 frames at 112x112).
        force: regenerate even if a complete set is present.
        workers: processes generating clips (default: the CPU count, at most 8). The
            result does not depend on it.
        verbose: log progress at INFO level to stderr.

    Returns:
        A :class:`DemoBenchmark` with the label files of each part and the metadata path.
    """
    config = config or DemoConfig()
    root = Path(root).expanduser() if root is not None else default_root(seed, config)
    param_hash = config.param_hash(seed)
    with _progress_to_stderr(verbose):
        return _generate(root, seed, config, param_hash, force, workers)


@contextlib.contextmanager
def _progress_to_stderr(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    handler, level = logging.StreamHandler(sys.stderr), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _generate(
    root: Path, seed: int, config: DemoConfig, param_hash: str, force: bool, workers: int | None
) -> DemoBenchmark:
    if not force and (bench := _load_complete(root, param_hash)) is not None:
        return bench
    root.parent.mkdir(parents=True, exist_ok=True)
    with _lock(root.parent / f".{root.name}.lock"):
        if not force and (bench := _load_complete(root, param_hash)) is not None:
            return bench  # another process finished it while we waited
        _check_replaceable(root)
        partial = root.parent / f".{root.name}.partial-{param_hash[:12]}"
        if workers is None:
            workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        _build(partial, config, seed, param_hash, workers)
        _swap_into_place(partial, root)
    bench = _load_complete(root, param_hash)
    if bench is None:  # pragma: no cover - only if the file system lost our rename
        raise RuntimeError(f"demo benchmark at {root} is incomplete right after generation")
    return dataclasses.replace(bench, reused=False)


def _load_complete(root: Path, param_hash: str) -> DemoBenchmark | None:
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("param_hash") != param_hash:
        return None
    labels = {part: root / name for part, name in manifest["labels"].items()}
    metadata = root / METADATA
    if not metadata.is_file() or not all(p.is_file() for p in labels.values()):
        return None
    missing = [path for path in manifest["clips"] if not (root / path).is_file()]
    if missing:
        logger.warning("demo set %s misses %d clips (first: %s); regenerating", root, len(missing), missing[0])
        return None
    return DemoBenchmark(root, labels, metadata, manifest_path, int(manifest["seed"]), param_hash, reused=True)


def _check_replaceable(root: Path) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"demo root {root} exists and is not a directory; choose another --root")
    if any(root.iterdir()) and not (root / MANIFEST).is_file():
        raise FileExistsError(
            f"demo root {root} is a non-empty directory without a demo {MANIFEST}; refusing to replace it. "
            "Choose a new or empty directory as root."
        )


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent generation is then the caller's problem
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(partial: Path, config: DemoConfig, seed: int, param_hash: str, workers: int) -> None:
    records_dir = partial / ".records"
    records_dir.mkdir(parents=True, exist_ok=True)
    for part in config.parts:
        (partial / part.name).mkdir(exist_ok=True)
    clips = plan_clips(config, seed)
    done: dict[str, dict] = {}
    for clip in clips:
        record = _read_record(records_dir / (Path(clip.path).stem + ".json"), partial / clip.path)
        if record is not None:
            done[clip.path] = record
    sources: dict[tuple[str, int], list[ClipSpec]] = {}
    for clip in clips:
        if clip.path not in done:
            sources.setdefault((clip.part, clip.source), []).append(clip)
    todo = list(sources.values())
    start = time.perf_counter()
    finished = 0
    for records in _map(_make_source, todo, config, partial, workers):
        for record in records:
            atomic_write_text(records_dir / (Path(record["path"]).stem + ".json"), json.dumps(record))
            done[record["path"]] = record
        finished += 1
        if finished % 10 == 0 or finished == len(todo):
            logger.info("demo set: %d/%d sources (%.1f s)", finished, len(todo), time.perf_counter() - start)
    elapsed = time.perf_counter() - start
    resumed = len(clips) - sum(len(t) for t in todo)
    _write_outputs(partial, config, seed, param_hash, [done[c.path] for c in clips], elapsed, resumed)
    shutil.rmtree(records_dir)


def _map(fn, tasks: list, config: DemoConfig, root: Path, workers: int) -> Iterator:
    """``fn(task, config, root)`` over tasks, in order, in ``workers`` processes (1: this process).

    Each process runs torch on one thread: on a shared 2-core machine two-thread
    convolutions mostly wait on each other.
    """
    if workers <= 1 or len(tasks) <= 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for task in tasks:
                yield fn(task, config, root)
        finally:
            torch.set_num_threads(previous)
        return
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=torch.set_num_threads,
                             initargs=(1,)) as pool:
        yield from pool.map(fn, tasks, [config] * len(tasks), [root] * len(tasks))


def _make_source(clips: list[ClipSpec], config: DemoConfig, root: Path) -> list[dict]:
    first = clips[0]
    reference = render_content(first.content_kind, first.content_seed, config.num_frames, config.size)
    return [make_clip(clip, config, root, reference) for clip in clips]


def make_clip(clip: ClipSpec, config: DemoConfig, root: Path, reference: np.ndarray | None = None) -> dict:
    """Render, distort, write and score one clip under ``root``; return its metadata row.

    ``reference`` is the clip's pristine content if already rendered. The SSIM is
    computed on the decoded written file, i.e. on what a model will see.
    """
    if reference is None:
        reference = render_content(clip.content_kind, clip.content_seed, config.num_frames, config.size)
    distorted, crf = apply_distortion(
        reference, clip.distortion, clip.level, np.random.default_rng(clip.distortion_seed)
    )
    crf = LOSSLESS_CRF if crf is None else crf
    target = root / clip.path
    tmp = target.with_name(f".{target.stem}.tmp.mp4")
    write_h264(tmp, distorted, config.fps, crf=crf, preset=config.x264_preset)
    os.replace(tmp, target)
    decoded = read_rgb(target)
    if decoded.shape != reference.shape:
        raise RuntimeError(f"{target}: decoded {decoded.shape}, wrote {reference.shape}; is PyAV's libx264 usable?")
    ssim = float(frame_ssim(decoded, reference).mean())
    row = asdict(clip)
    row.update(
        crf=crf,
        ssim=ssim,
        ssim_db=float(ssim_db(ssim)),
        mos=float(ssim_to_mos(ssim, config.q_mid, config.q_scale)),
    )
    return {key: row[key] for key in METADATA_COLUMNS}


def _read_record(record_path: Path, clip_path: Path) -> dict | None:
    if not clip_path.is_file():
        return None
    try:
        return json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None


def _write_outputs(
    root: Path, config: DemoConfig, seed: int, param_hash: str, records: list[dict], elapsed: float, resumed: int
) -> None:
    duration = config.num_frames / config.fps
    labels = {}
    for part in config.parts:
        rows = [r for r in records if r["part"] == part.name]
        text = "".join(f"{r['path']}, {duration}, {float(config.fps)}, {r['mos']:.6f}\n" for r in rows)
        labels[part.name] = f"labels_{part.name}.txt"
        atomic_write_text(root / labels[part.name], text)
    def write_metadata(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=METADATA_COLUMNS)
        writer.writeheader()
        for r in records:
            writer.writerow({k: (f"{v:.8f}" if isinstance(v, float) and k in ("ssim", "ssim_db", "mos") else v)
                             for k, v in r.items()})

    atomic_write(root / METADATA, write_metadata)
    manifest = {
        "description": "qclip_plugin synthetic demo VQA benchmark (procedural content, pseudo-MOS from SSIM)",
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "param_hash": param_hash,
        "config": asdict(config),
        "labels": labels,
        "counts": {p.name: sum(r["part"] == p.name for r in records) for p in config.parts},
        "clips": [r["path"] for r in records],
        "generation_seconds": round(elapsed, 2),
        "resumed_clips": resumed,
        "versions": _versions(),
    }
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1))  # last: marks the set complete


def _versions() -> dict[str, str]:
    import av
    import pyiqa
    import torch

    return {"av": av.__version__, "ffmpeg": str(av.library_versions.get("libavcodec")), "pyiqa": pyiqa.__version__,
            "torch": torch.__version__, "numpy": np.__version__}


def _swap_into_place(partial: Path, root: Path) -> None:
    stale = None
    if root.exists():
        stale = root.parent / f".{root.name}.stale-{os.getpid()}"
        os.replace(root, stale)
    os.replace(partial, root)
    if stale is not None:
        shutil.rmtree(stale, ignore_errors=True)
