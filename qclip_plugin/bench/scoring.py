"""Score many videos with a metric: files, folders or list files; batched, resumable, failures recorded.

>>> from qclip_plugin import create_metric
>>> from qclip_plugin.bench.scoring import score_videos
>>> metric = create_metric("qclip", preset="tiny", pretrained=False)       # doctest: +SKIP
>>> summary = score_videos(metric, ["videos/"], output="scores.csv")        # doctest: +SKIP
>>> print(summary)                                                           # doctest: +SKIP
scored 7, skipped 0, failed 1 in 3.1 s (2.26 videos/s) -> scores.csv

The output CSV has one row per video: ``path, score, status, error, metric`` (``status`` is ``ok``
or ``failed``; ``error`` says why; ``metric`` fingerprints the metric and its configuration, see
:func:`metric_fingerprint`, and a run refuses to resume a file scored by another one). Rows are appended after every batch, so an interrupted run loses at
most one batch; running again with the same output skips the videos already scored and retries the
failed ones. ``qclip-bench evaluate --predictions scores.csv`` evaluates it against labels.

Sharded scoring: ``score_videos(..., shard=(i, N))`` scores the ``i``-th contiguous block of the
videos into its own part file (:func:`shard_output`, resumable like any output) and records the
whole video list beside it (:func:`manifest_path`); :func:`merge_shards` joins the N parts into
one file, in input order, identical to the output of an unsharded run. ``qclip-bench score``
under ``torchrun`` shards by rank and merges on rank 0 once every rank is done.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

#: File extensions taken from folders (lower case).
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts", ".yuv"}
)
#: Files read as lists of videos rather than as videos.
LIST_EXTENSIONS: frozenset[str] = frozenset({".txt", ".csv", ".lst", ".list"})
OUTPUT_COLUMNS: tuple[str, ...] = ("path", "score", "status", "error", "metric")
REQUIRED_COLUMNS: tuple[str, ...] = OUTPUT_COLUMNS[:4]


def metric_fingerprint(metric: Any, amp: str | torch.dtype | None = None) -> str:
    """A short hash of what determines ``metric``'s scores (its ``describe()``: name, weights,
    preprocessing; and the precision when it is not float32: ``amp``, weights stored in bf16/fp16),
    written in the ``metric`` column so that a resumed run never mixes two models."""
    describe = getattr(metric, "describe", None)
    identity = (
        describe() if callable(describe) else {"name": getattr(metric, "metric_name", type(metric).__name__)}
    )
    precision = _precision(metric, amp)
    if precision:
        identity = {**identity, "precision": precision}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _precision(metric: Any, amp: str | torch.dtype | None) -> dict[str, str]:
    from qclip_plugin.bench.precision import amp_dtype

    out = {}
    dtype = amp_dtype(amp)
    if dtype is not None:
        out["amp"] = str(dtype)
    if isinstance(metric, torch.nn.Module):
        stored = sorted(
            {str(p.dtype) for p in metric.parameters() if p.is_floating_point()} - {"torch.float32"}
        )
        if stored:
            out["weights"] = ",".join(stored)
    return out


@dataclass
class ScoringSummary:
    """What :func:`score_videos` did."""

    output: Path | None
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)  # path -> reason
    scores: dict[str, float] = field(default_factory=dict)  # path -> score (this run)

    def record(self, path: str, score: float | None, reason: str) -> None:
        """Count one video: scored (``score``) or failed (``reason``)."""
        if score is None:
            self.failed += 1
            self.failures[path] = reason
        else:
            self.scored += 1
            self.scores[path] = score

    @property
    def videos_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        target = f" -> {self.output}" if self.output else ""
        return (
            f"scored {self.scored}, skipped {self.skipped}, failed {self.failed} in {self.seconds:.1f} s "
            f"({self.videos_per_second:.2f} videos/s){target}"
        )


def read_video_list(path: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Path]:
    """Videos named in a list file: the first comma-separated field of each line (so the community
    label lists ``relative/path, duration, fps, MOS`` work), relative to ``root`` (default: the list's
    folder). Blank lines and ``#`` comments are skipped; a header line naming ``path``/``name`` too."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    videos = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        entry = line.split(",")[0].strip()
        if not entry or entry.startswith("#") or (number == 1 and entry.lower() in ("path", "name", "video")):
            continue
        videos.append(Path(entry) if Path(entry).is_absolute() else base / entry)
    return videos


def collect_videos(inputs: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> list[Path]:
    """Expand files, folders (recursively, :data:`VIDEO_EXTENSIONS`, sorted) and list files
    (:data:`LIST_EXTENSIONS`, see :func:`read_video_list`) into absolute video paths, in order, without
    duplicates. A missing input raises ``FileNotFoundError``; missing videos named by a list are kept
    (they are recorded as failures when scored)."""
    videos: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            videos += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
            )
        elif path.suffix.lower() in LIST_EXTENSIONS and path.is_file():
            videos += read_video_list(path, root)
        elif path.exists():
            videos.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist (expected a video, a folder or a list file)")
    return list(dict.fromkeys(p.absolute() for p in videos))


def read_scores(output: str | os.PathLike) -> dict[str, dict[str, str]]:
    """The rows of an existing output file by path (empty if there is none)."""
    output = Path(output)
    if not output.is_file() or output.stat().st_size == 0:
        return {}
    with output.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not set(REQUIRED_COLUMNS) <= set(reader.fieldnames):
            raise ValueError(
                f"{output} exists but is not a scores file (columns {reader.fieldnames}, expected "
                f"{list(OUTPUT_COLUMNS)}); choose another --output or delete it"
            )
        return {row["path"]: row for row in reader}


def score_row(path: str, score: float | None, reason: str, fingerprint: str) -> dict[str, str]:
    """One output row (``OUTPUT_COLUMNS``): ``ok`` with the score, or ``failed`` with the reason."""
    return {
        "path": path,
        "score": "" if score is None else f"{score:.8g}",
        "status": "failed" if score is None else "ok",
        "error": reason,
        "metric": fingerprint,
    }


def resume_plan(
    previous: dict[str, dict[str, str]],
    videos: Sequence[Any],
    fingerprint: str,
    *,
    where: object = "the output",
    metric_name: object = "",
) -> list[Any]:
    """The ``videos`` an output holding ``previous`` rows (by path) still needs, in order: those
    without an ``ok`` row (failed ones are retried).

    Raises:
        ValueError: ``previous`` holds ``ok`` scores of another metric fingerprint (``where``
            names the output in the message).
    """
    others = {row.get("metric") or "" for row in previous.values() if row["status"] == "ok"} - {fingerprint}
    if others:
        raise ValueError(
            f"{where} holds scores of another metric or configuration (metric column {sorted(others)}, this "
            f"one is {fingerprint}: {metric_name}); resuming would mix them. "
            "Choose another output, or rescore everything with resume=False (--no-resume)."
        )
    done = {path for path, row in previous.items() if row["status"] == "ok"}
    return [v for v in videos if str(v) not in done]


class ScoresOutput:
    """The output CSV of a scoring run, whichever engine computes the scores.

    :meth:`start` applies the resume rules (skip what ``output`` scored ``ok`` with this
    ``fingerprint``, retry the failed, refuse another metric's file) and rewrites the kept rows
    atomically; :meth:`add` appends a row, :meth:`flush` after each batch, so an interrupted run
    loses at most the batch in flight. ``output=None`` writes nothing.
    """

    def __init__(
        self,
        output: str | os.PathLike | None,
        fingerprint: str,
        *,
        resume: bool = True,
        metric_name: object = "",
    ) -> None:
        self.output = Path(output) if output is not None else None
        self.fingerprint, self.resume, self.metric_name = fingerprint, resume, metric_name
        self._handle: Any = None
        self._writer: csv.DictWriter | None = None

    def start(self, videos: Sequence[str | os.PathLike]) -> list[Any]:
        """The videos still to score, in order; opens the output for appending."""
        output = self.output
        previous = read_scores(output) if output is not None and self.resume else {}
        todo = resume_plan(previous, videos, self.fingerprint, where=output, metric_name=self.metric_name)
        if output is None:
            return todo
        output.parent.mkdir(parents=True, exist_ok=True)
        retried = {str(v) for v in todo}
        kept = [row for path, row in previous.items() if path not in retried]
        from qclip_plugin.atomic_files import atomic_write

        def rewrite(h):  # previous rows minus those about to be redone, then append as we go
            w = csv.DictWriter(h, fieldnames=OUTPUT_COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(kept)

        atomic_write(output, rewrite)
        self._handle = output.open("a", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=OUTPUT_COLUMNS)
        return todo

    def add(self, path: str, score: float | None, reason: str) -> None:
        if self._writer is not None:
            self._writer.writerow(score_row(path, score, reason, self.fingerprint))

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = self._writer = None


def loads_uint8(metric: Any) -> bool:
    """Whether ``metric.load(path, normalize=False)`` gives uint8 frames that this process can
    normalise with its ``metric.preprocessing`` record (Q-CLIP's metrics; not the baselines,
    which load their own inputs)."""
    load, preprocessing = getattr(metric, "load", None), getattr(metric, "preprocessing", None)
    if load is None or hasattr(metric, "collate") or not hasattr(preprocessing, "normalize"):
        return False
    try:
        return "normalize" in inspect.signature(load).parameters
    except (TypeError, ValueError):
        return False


class _Videos(torch.utils.data.Dataset):
    """Decodes one video per item; a failure becomes the item's error instead of stopping the loader.

    With ``raw`` the frames stay uint8: decoding workers send a quarter of the bytes of float32,
    and the scoring loop normalises them (bit-identically) as it batches them.
    """

    def __init__(self, metric: Any, paths: Sequence[Path], strict: bool, raw: bool = False) -> None:
        self.metric, self.paths, self.strict, self.raw = metric, list(paths), strict, raw

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor | None, str]:
        path = str(self.paths[index])
        try:
            return path, self.metric.load(path, normalize=False) if self.raw else self.metric.load(path), ""
        except Exception as error:  # recorded per video; --strict re-raises in the main process
            if self.strict:
                raise
            return path, None, failure_reason(error)


def score_batch(
    metric: Any, items: Sequence[Any], *, raw: bool, amp: str | torch.dtype | None = None
) -> list[float]:
    """Scores of one batch of loaded videos, as floats: ``raw`` uint8 frames are normalised with
    ``metric.preprocessing`` (bit-identical to ``metric.load``), otherwise the metric's ``collate``
    (or a stack) builds the batch; ``amp`` runs the forward under autocast."""
    from qclip_plugin.bench.precision import autocast

    with torch.no_grad(), autocast(getattr(metric, "device", "cpu"), amp):
        if raw:
            stacked = metric.preprocessing.normalize(list(items))
        elif hasattr(metric, "collate"):
            stacked = metric.collate(list(items))
        else:
            stacked = torch.stack(list(items))
        return metric.score_frames(stacked).float().cpu().tolist()


def failure_reason(error: BaseException) -> str:
    from qclip_plugin.video.errors import VideoReadError

    if isinstance(error, VideoReadError):
        return error.reason
    return f"{type(error).__name__}: {error}"


def score_videos(
    metric: Any,
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike | None = "scores.csv",
    *,
    batch_size: int = 4,
    num_workers: int = 0,
    strict: bool = False,
    resume: bool = True,
    root: str | os.PathLike | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    amp: str | torch.dtype | None = None,
    prefetch_factor: int | None = None,
) -> ScoringSummary:
    """Score every video of ``inputs`` with ``metric`` and write ``path, score, status, error, metric`` rows.

    Args:
        metric: a metric from :func:`qclip_plugin.create_metric`: its ``load`` decodes and samples a
            video, its ``score_frames`` scores a batch (stacked, or built by its ``collate`` if it has one).
        inputs: video files, folders, list files (see :func:`collect_videos`).
        output: the CSV to write (appended after each batch), or None to only return the scores.
        batch_size: videos per forward pass (they are sampled to the same number of frames).
        num_workers: decoding processes (torch ``DataLoader`` workers); 0 decodes in this process.
            With workers on CPU the model uses at most the cores they leave (at least one thread).
        strict: stop at the first unreadable video instead of recording it.
        resume: skip the videos ``output`` already scored (``status == ok``); failed ones are retried.
        root: the folder list files' relative paths start from (default: each list's folder).
        progress: show a progress bar on stderr.
        shard: ``(i, N)``: score only the ``i``-th of ``N`` contiguous blocks of the videos, into
            :func:`shard_output` ``(output, i, N)``; :func:`merge_shards` joins the parts.
        amp: ``bf16`` / ``fp16``: run the model under ``torch.autocast`` (scores are written as
            float32 either way; see :mod:`qclip_plugin.bench.precision`).
        prefetch_factor: batches each decoding worker prepares ahead (torch's default: 2).
    """
    start = time.perf_counter()
    videos = collect_videos(inputs, root=root)
    output = Path(output) if output is not None else None
    fingerprint = metric_fingerprint(metric, amp)
    if shard is not None:
        index, count = shard
        if output is not None:
            write_manifest(output, videos, count, fingerprint)
            output = shard_output(output, index, count)
        from qclip_plugin.bench.distributed import shard_slice

        videos = shard_slice(videos, index, count)
    sink = ScoresOutput(
        output, fingerprint, resume=resume, metric_name=getattr(metric, "metric_name", metric)
    )
    todo = sink.start(videos)
    summary = ScoringSummary(output=output, skipped=len(videos) - len(todo))

    from qclip_plugin.data.pipeline import import_decoders

    extra = {"prefetch_factor": prefetch_factor} if num_workers > 0 and prefetch_factor else {}
    raw = loads_uint8(metric)
    if num_workers > 0:
        import_decoders()  # forked workers inherit them instead of importing them each
    loader = torch.utils.data.DataLoader(
        _Videos(metric, todo, strict, raw),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=list,
        **extra,
    )
    bar = _progress(len(todo), progress)
    threads = torch.get_num_threads()
    if num_workers > 0 and torch.device(getattr(metric, "device", "cpu")).type == "cpu":
        # the decoding processes hold num_workers cores; more intra-op threads than the cores left
        # make torch's thread pool spin against them (50x slower forward passes on a busy 2-core CPU)
        torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 1) - num_workers)))
    try:
        for batch in loader:
            good = [(p, frames) for p, frames, _ in batch if frames is not None]
            values = score_batch(metric, [f for _, f in good], raw=raw, amp=amp) if good else []
            scored = {p: v for (p, _), v in zip(good, values, strict=True)}
            for path, _, reason in batch:
                summary.record(path, scored.get(path), reason)
                sink.add(path, scored.get(path), reason)
            sink.flush()
            bar.update(len(batch))
    finally:
        torch.set_num_threads(threads)
        bar.close()
        sink.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, unit="video", disable=not enabled or total == 0, file=sys.stderr, dynamic_ncols=True
    )


# --------------------------------------------------------------------------------------------------
# shards


def shard_output(output: str | os.PathLike, index: int, count: int) -> Path:
    """The part file of shard ``index`` of ``count``: ``scores.csv`` -> ``scores.part-00001-of-00004.csv``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.part-{index:05d}-of-{count:05d}{output.suffix}")


def manifest_path(output: str | os.PathLike) -> Path:
    """Where a sharded run records its whole video list and shard count: ``scores.shards.json``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.shards.json")


def write_manifest(output: str | os.PathLike, videos: Sequence[Path], count: int, fingerprint: str) -> Path:
    """Record the video list of a run sharded ``count`` ways (every shard writes the same content).

    Raises:
        ValueError: a manifest of another video list, shard count or metric is already there, so
            the parts on disk would not fit together.
    """
    from qclip_plugin.atomic_files import atomic_write_text

    path = manifest_path(output)
    manifest = {"shards": int(count), "metric": fingerprint, "videos": [str(v) for v in videos]}
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != manifest:
            what = [k for k in manifest if previous.get(k) != manifest[k]]
            raise ValueError(
                f"{path} records another sharded run of {output} (different {', '.join(what)}); its parts "
                "cannot be resumed or merged with this one. Use another --output, or delete the old "
                "parts and their .shards.json"
            )
        return path
    return atomic_write_text(path, json.dumps(manifest, indent=1) + "\n")


def merge_shards(output: str | os.PathLike, *, remove_parts: bool = False) -> Path:
    """Join the parts of a sharded run of ``output`` into ``output``, in input order.

    The rows are ordered as :func:`collect_videos` listed the videos (the manifest), so the file
    equals an unsharded run's. A part still running or missing is an error naming it; so are
    parts scored with different metrics.

    Args:
        output: the output the shards were started with (``scores.csv``).
        remove_parts: delete the parts and the manifest once the merged file is written.
    """
    from qclip_plugin.atomic_files import atomic_write

    output = Path(output)
    manifest_file = manifest_path(output)
    if not manifest_file.is_file():
        raise FileNotFoundError(
            f"{manifest_file} does not exist: {output} was not scored in shards (score with --shard i/N, "
            "or under torchrun, first)"
        )
    manifest = json.loads(manifest_file.read_text())
    count, videos = int(manifest["shards"]), list(manifest["videos"])
    parts = [shard_output(output, i, count) for i in range(count)]
    absent = [str(p) for p in parts if not p.is_file()]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} of {count} parts of {output} are missing: {', '.join(absent)}"
        )
    rows: dict[str, dict[str, str]] = {}
    for part in parts:
        rows.update(read_scores(part))
    metrics = {row.get("metric") or "" for row in rows.values()}
    if len(metrics) > 1:
        raise ValueError(
            f"the parts of {output} were scored by different metrics {sorted(metrics)}; rescore them"
        )
    unscored = [v for v in videos if v not in rows]
    if unscored:
        raise ValueError(
            f"{len(unscored)} of {len(videos)} videos have no row in the parts of {output} (first: "
            f"{unscored[0]}); a shard is unfinished: run it again (it resumes), then merge"
        )

    def write(handle):
        writer = csv.DictWriter(handle, fieldnames=OUTPUT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[v] for v in videos)

    atomic_write(output, write)
    if remove_parts:
        for part in parts:
            part.unlink()
        manifest_file.unlink()
    return output
