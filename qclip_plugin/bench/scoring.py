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
"""

from __future__ import annotations

import csv
import hashlib
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


def metric_fingerprint(metric: Any) -> str:
    """A short hash of what determines ``metric``'s scores (its ``describe()``: name, weights,
    preprocessing), written in the ``metric`` column so that a resumed run never mixes two models."""
    describe = getattr(metric, "describe", None)
    identity = describe() if callable(describe) else {"name": getattr(metric, "metric_name", type(metric).__name__)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


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
            videos += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
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


class _Videos(torch.utils.data.Dataset):
    """Decodes one video per item; a failure becomes the item's error instead of stopping the loader."""

    def __init__(self, metric: Any, paths: Sequence[Path], strict: bool) -> None:
        self.metric, self.paths, self.strict = metric, list(paths), strict

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor | None, str]:
        path = str(self.paths[index])
        try:
            return path, self.metric.load(path), ""
        except Exception as error:  # recorded per video; --strict re-raises in the main process
            if self.strict:
                raise
            return path, None, _reason(error)


def _reason(error: BaseException) -> str:
    from qclip_plugin.video.errors import VideoReadError

    if isinstance(error, VideoReadError):
        return error.reason
    return f"{type(error).__name__}: {error}"


def _as_list(batch: list) -> list:
    return batch


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
) -> ScoringSummary:
    """Score every video of ``inputs`` with ``metric`` and write ``path, score, status, error, metric`` rows.

    Args:
        metric: a metric from :func:`qclip_plugin.create_metric`: its ``load`` decodes and samples a
            video, its ``score_frames`` scores a batch (stacked, or built by its ``collate`` if it has one).
        inputs: video files, folders, list files (see :func:`collect_videos`).
        output: the CSV to write (appended after each batch), or None to only return the scores.
        batch_size: videos per forward pass (they are sampled to the same number of frames).
        num_workers: decoding processes (torch ``DataLoader`` workers); 0 decodes in this process.
        strict: stop at the first unreadable video instead of recording it.
        resume: skip the videos ``output`` already scored (``status == ok``); failed ones are retried.
        root: the folder list files' relative paths start from (default: each list's folder).
        progress: show a progress bar on stderr.
    """
    start = time.perf_counter()
    videos = collect_videos(inputs, root=root)
    output = Path(output) if output is not None else None
    fingerprint = metric_fingerprint(metric)
    previous = read_scores(output) if output is not None and resume else {}
    others = {row.get("metric") or "" for row in previous.values() if row["status"] == "ok"} - {fingerprint}
    if others:
        raise ValueError(
            f"{output} holds scores of another metric or configuration (metric column {sorted(others)}, this "
            f"one is {fingerprint}: {getattr(metric, 'metric_name', metric)}); resuming would mix them. "
            "Choose another output, or rescore everything with resume=False (--no-resume)."
        )
    done = {path for path, row in previous.items() if row["status"] == "ok"}
    todo = [v for v in videos if str(v) not in done]
    summary = ScoringSummary(output=output, skipped=len(videos) - len(todo))

    writer = None
    handle = None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        retried = {str(v) for v in todo}
        kept = [row for path, row in previous.items() if path not in retried]
        from qclip_plugin.bench.atomic_files import atomic_write

        def rewrite(h):  # previous rows minus those about to be redone, then append as we go
            w = csv.DictWriter(h, fieldnames=OUTPUT_COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(kept)

        atomic_write(output, rewrite)
        handle = output.open("a", newline="")
        writer = csv.DictWriter(handle, fieldnames=OUTPUT_COLUMNS)

    loader = torch.utils.data.DataLoader(
        _Videos(metric, todo, strict), batch_size=batch_size, num_workers=num_workers, collate_fn=_as_list
    )
    bar = _progress(len(todo), progress)
    try:
        for batch in loader:
            good = [(p, frames) for p, frames, _ in batch if frames is not None]
            scored: dict[str, float] = {}
            if good:
                with torch.no_grad():
                    items = [f for _, f in good]
                    stacked = metric.collate(items) if hasattr(metric, "collate") else torch.stack(items)
                    values = metric.score_frames(stacked).float().cpu().tolist()
                scored = {p: v for (p, _), v in zip(good, values, strict=True)}
            for path, _, reason in batch:
                score = scored.get(path)
                if score is None:
                    summary.failed += 1
                    summary.failures[path] = reason
                else:
                    summary.scored += 1
                    summary.scores[path] = score
                if writer is not None:
                    writer.writerow({
                        "path": path,
                        "score": "" if score is None else f"{score:.8g}",
                        "status": "failed" if score is None else "ok",
                        "error": reason,
                        "metric": fingerprint,
                    })
            if handle is not None:
                handle.flush()
            bar.update(len(batch))
    finally:
        bar.close()
        if handle is not None:
            handle.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="video", disable=not enabled or total == 0, file=sys.stderr, dynamic_ncols=True)
