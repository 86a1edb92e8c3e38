"""Score many videos with a metric: files, folders or list files; batched, resumable, failures recorded.

>>> from qclip_plugin import create_metric
>>> from qclip_plugin.benchmark.scoring import score_videos
>>> metric = create_metric("qclip", preset="tiny", pretrained=False)       # doctest: +SKIP
>>> summary = score_videos(metric, ["videos/"], output="scores.csv")        # doctest: +SKIP
>>> print(summary)                                                           # doctest: +SKIP
scored 7, skipped 0, failed 2 (1 damaged, 1 dangling link) in 3.1 s (2.26 videos/s) -> scores.csv

The output CSV has one row per input video: ``path, score, status, error, metric`` (``status`` is
``ok`` or ``failed``; ``error`` says why; ``metric`` fingerprints the metric and its configuration,
see :func:`metric_fingerprint`, and a run refuses to resume a file scored by another one). Every
input gets exactly one row: dangling links, directories named like videos, unreadable files and
folders are failed rows with the real reason (:func:`collect_videos`); a name that is not valid
UTF-8 is written with ``\\x`` escapes (:func:`display_path`) and the ``error`` column says so. A
non-finite score fails its video. Running again with the same output skips the videos already
scored and retries the failed ones. ``qclip-bench evaluate --predictions scores.csv`` evaluates it.

Crash safety (:class:`ScoresOutput`, the one writer of a scores file, reused by other engines):

- one writer per output: an exclusive lock ``scores.csv.lock`` (``filelock``) is held for the whole
  run; a second run on the same output waits ``lock_timeout`` seconds, then refuses
  (:class:`OutputBusyError`) instead of rewriting the file under the first one;
- rows are appended after every batch, flushed and fsynced: a kill loses at most one batch;
- a last line cut by a crash or power loss (no line end, or not a valid row) is dropped with a
  note when the file is read (:func:`read_scores_file`) and its video is scored again; an invalid
  row elsewhere is an error naming the line.

Sharded scoring: ``score_videos(..., shard=(i, N))`` scores the ``i``-th contiguous block of the
videos into its own part file (:func:`shard_output`, locked and resumable like any output) and
records the whole video list beside it (:func:`manifest_path`); :func:`merge_shards` joins the N
parts into one file, in input order, identical to the output of an unsharded run.
:func:`score_videos_distributed` (``qclip-bench score``) under ``torchrun`` shards by rank and merges
on rank 0 once every rank is done.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from qclip_plugin.atomic_files import FileBusyError, WriterLock
from qclip_plugin.benchmark.progress import video_progress as _progress
from qclip_plugin.errors import UserError
from qclip_plugin.metrics.contract import collate_batch, declared_input, load_item

log = logging.getLogger(__name__)

#: File extensions taken from folders (lower case).
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts", ".yuv"}
)
#: Files read as lists of videos rather than as videos.
LIST_EXTENSIONS: frozenset[str] = frozenset({".txt", ".csv", ".lst", ".list"})
OUTPUT_COLUMNS: tuple[str, ...] = ("path", "score", "status", "error", "metric")
REQUIRED_COLUMNS: tuple[str, ...] = OUTPUT_COLUMNS[:4]
#: The note written in the ``error`` column of a video whose name is not valid UTF-8.
ESCAPED_NAME_NOTE = "file name is not valid UTF-8: written with \\x escapes"
_FINGERPRINT = re.compile(r"[0-9a-f]{12}")


class ScoresFileError(UserError, ValueError):
    """An output that is not a scores file, holds another metric's scores, or has an invalid row."""


class OutputBusyError(FileBusyError):
    """Another process is writing the same scores file."""


class InputError(UserError, FileNotFoundError):
    """A file, folder or list given to score does not exist or cannot be read."""


def display_path(path: str | os.PathLike) -> str:
    """The path as written in a scores file: itself, or with ``\\xNN`` escapes for bytes that are
    not UTF-8 (names Python keeps as surrogates, which no UTF-8 file can hold)."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")


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
    from qclip_plugin.engine.precision import amp_dtype

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
    failures: dict[str, str] = field(default_factory=dict)  # path (display_path) -> reason
    scores: dict[str, float] = field(default_factory=dict)  # path (display_path) -> score (this run)
    reasons: Counter = field(default_factory=Counter)  # failure kind -> count (this run)
    escaped_names: int = 0  # videos whose names are not valid UTF-8 (written escaped)
    notes: list[str] = field(default_factory=list)  # things done to the output (a torn line dropped)
    shard: tuple[int, int] | None = None  # (i, N): this run scored shard i of N
    merged: Path | None = None  # the file the shards were merged into (score_videos_distributed, rank 0)

    def record(self, path: str | os.PathLike, score: float | None, reason: str, kind: str = "") -> None:
        """Count one video: scored (``score``) or failed (``reason``, counted under ``kind``); a
        non-finite score counts as a failure (see :func:`checked_score`), the name as written."""
        score, reason, kind = checked_score(score, reason, kind)
        shown = display_path(path)
        self.escaped_names += shown != os.fspath(path)
        if score is None:
            self.failed += 1
            self.failures[shown] = reason
            self.reasons[kind or "other"] += 1
        else:
            self.scored += 1
            self.scores[shown] = score

    @property
    def videos_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        target = f" -> {self.output}" if self.output else ""
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
        names = f", {self.escaped_names} names not UTF-8 (written escaped)" if self.escaped_names else ""
        return (
            f"scored {self.scored}, skipped {self.skipped}, failed {self.failed}{f' ({kinds})' if kinds else ''}"
            f"{names} in {self.seconds:.1f} s ({self.videos_per_second:.2f} videos/s){target}"
        )


# --------------------------------------------------------------------------------------------------
# inputs


def read_video_list(path: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Path]:
    """Videos named in a list file: the first comma-separated field of each line (so the community
    label lists ``relative/path, duration, fps, MOS`` work), relative to ``root`` (default: the list's
    folder). Blank lines and ``#`` comments are skipped; a header line naming ``path``/``name`` too.
    Bytes that are not UTF-8 are kept as the file system's own (the names they spell)."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as error:
        raise InputError(f"cannot read the list file {path}: {error.strerror or error}") from error
    videos = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split(",")[0].strip()
        if not entry or entry.startswith("#") or (number == 1 and entry.lower() in ("path", "name", "video")):
            continue
        videos.append(Path(entry) if Path(entry).is_absolute() else base / entry)
    return videos


def _folder_videos(folder: Path) -> list[Path]:
    """Every entry under ``folder`` named like a video, whatever it is (file, dangling link,
    directory), and every sub-folder that cannot be listed: each becomes a row."""
    found: list[Path] = []

    def unreadable(error: OSError) -> None:
        found.append(Path(error.filename))  # scored as a failure: check_file gives the reason

    for directory, folders, files in os.walk(folder, onerror=unreadable):
        for name in folders + files:
            if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                found.append(Path(directory) / name)
        folders[:] = [f for f in folders if Path(f).suffix.lower() not in VIDEO_EXTENSIONS]
    return sorted(found)


def collect_videos(inputs: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> list[Path]:
    """Expand files, folders (recursively, :data:`VIDEO_EXTENSIONS`, sorted) and list files
    (:data:`LIST_EXTENSIONS`, see :func:`read_video_list`) into absolute video paths, in order, without
    duplicates. Nothing named like a video is left out: broken links, directories named ``*.mp4``
    and sub-folders that cannot be listed are kept, so that scoring records each with its reason.
    A missing input raises :class:`InputError`; missing videos named by a list are kept."""
    videos: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir() and path.suffix.lower() not in VIDEO_EXTENSIONS:
            videos += _folder_videos(path)
        elif path.suffix.lower() in LIST_EXTENSIONS and path.is_file():
            videos += read_video_list(path, root)
        elif path.exists() or path.is_symlink():
            videos.append(path)
        else:
            raise InputError(f"{path} does not exist (expected a video, a folder or a list file)")
    return list(dict.fromkeys(p.absolute() for p in videos))


# --------------------------------------------------------------------------------------------------
# the scores file


@dataclass
class ScoresFile:
    """The rows of a scores file, by path, and the torn last line dropped from it (if any)."""

    path: Path
    rows: dict[str, dict[str, str]]
    torn: str | None = None

    @property
    def note(self) -> str | None:
        if self.torn is None:
            return None
        return (f"{self.path}: dropped its last line, cut short by an interrupted write ({self.torn[:80]!r}); "
                "that video is scored again")


def _invalid(row: list[str], header: list[str]) -> str | None:
    """Why a row of a scores file is not one (None if it is)."""
    if len(row) != len(header) or any("\x00" in value for value in row):
        return f"{len(row)} fields, expected {len(header)}"
    values = dict(zip(header, row, strict=True))
    if values["status"] not in ("ok", "failed"):
        return f"status {values['status']!r}"
    if values["status"] == "ok":
        try:
            if not math.isfinite(float(values["score"])):
                return f"score {values['score']!r}"
        except ValueError:
            return f"score {values['score']!r}"
    if values.get("metric") and not _FINGERPRINT.fullmatch(values["metric"]):
        return f"metric {values['metric']!r}"
    return None


def _decode(output: Path, data: bytes) -> tuple[str, str | None]:
    """The text of a scores file, and its last line when that one was cut (or is not UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if b"\n" in data[error.start:].rstrip(b"\r\n"):  # not in the last line: not a torn write
            line = data.count(b"\n", 0, error.start) + 1
            raise ScoresFileError(f"{output}, line {line}: not UTF-8 text ({error.reason}); "
                                  "it is not a scores file, or it is damaged: choose another --output") from None
        cut = data.rfind(b"\n", 0, error.start) + 1
        return data[:cut].decode("utf-8"), data[cut:].decode("utf-8", "replace")
    cut = text.rfind("\n") + 1
    return text[:cut], (text[cut:] or None)


def read_scores_file(output: str | os.PathLike) -> ScoresFile:
    """Read a scores file (empty if there is none), dropping a torn last line (see the module docstring).

    Raises:
        ScoresFileError: not a scores file (other columns, not UTF-8), or an invalid row that is
            not the last one (line named).
    """
    output = Path(output)
    if not output.is_file() or output.stat().st_size == 0:
        return ScoresFile(output, {})
    text, torn = _decode(output, output.read_bytes())
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = records[0] if records else []
    if not set(REQUIRED_COLUMNS) <= set(header):
        raise ScoresFileError(
            f"{output} exists but is not a scores file (columns {header}, expected "
            f"{list(OUTPUT_COLUMNS)}); choose another --output or delete it"
        )
    rows: dict[str, dict[str, str]] = {}
    for number, record in enumerate(records[1:], start=2):
        problem = _invalid(record, header)
        if problem is None:
            row = dict(zip(header, record, strict=True))
            rows[row["path"]] = row
        elif number == len(records) and torn is None:
            torn = ",".join(record)  # a complete but broken last line: a crash left it half written
        else:
            raise ScoresFileError(f"{output}, line {number}: not a scores row ({problem}); fix or delete that line")
    return ScoresFile(output, rows, torn)


def read_scores(output: str | os.PathLike) -> dict[str, dict[str, str]]:
    """The rows of an existing output file by path (empty if there is none), a torn last line dropped."""
    return read_scores_file(output).rows


def checked_score(score: float | None, reason: str, kind: str = "") -> tuple[float | None, str, str]:
    """``(score, reason, kind)`` with a NaN or infinite score turned into a failure: a model that
    diverged must not put ``nan,ok`` rows in an output."""
    if score is not None and not math.isfinite(score):
        return None, f"the model gave a non-finite score ({score}); check the weights", "non-finite score"
    return score, reason, kind


def score_row(path: str | os.PathLike, score: float | None, reason: str, fingerprint: str) -> dict[str, str]:
    """One output row (:data:`OUTPUT_COLUMNS`): ``ok`` with the score, or ``failed`` with the reason
    (a non-finite score fails); a name that is not UTF-8 escaped (:func:`display_path`, noted in ``error``)."""
    score, reason, _ = checked_score(score, reason)
    shown = display_path(path)
    if shown != os.fspath(path):
        reason = f"{reason}; {ESCAPED_NAME_NOTE}" if reason else ESCAPED_NAME_NOTE
    return {
        "path": shown,
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
    """The ``videos`` an output holding ``previous`` rows (by path as written) still needs, in order:
    those without an ``ok`` row (failed ones are retried).

    Raises:
        ScoresFileError: ``previous`` holds ``ok`` scores of another metric fingerprint (``where``
            names the output in the message).
    """
    others = {row.get("metric") or "" for row in previous.values() if row["status"] == "ok"} - {fingerprint}
    if others:
        raise ScoresFileError(
            f"{where} holds scores of another metric or configuration (metric column {sorted(others)}, this "
            f"one is {fingerprint}: {metric_name}); resuming would mix them. "
            "Choose another output, or rescore everything with resume=False (--no-resume)."
        )
    done = {path for path, row in previous.items() if row["status"] == "ok"}
    return [v for v in videos if display_path(v) not in done]


class ScoresOutput:
    """The output CSV of a scoring run, whichever engine computes the scores; its one writer.

    :meth:`start` takes the lock (another writer: wait ``lock_timeout`` s, then
    :class:`OutputBusyError`), reads the file (a torn last line dropped, noted in :attr:`notes`),
    applies the resume rules (skip what ``output`` scored ``ok`` with this ``fingerprint``, retry
    the failed, refuse another metric's file) and rewrites the kept rows atomically; :meth:`add`
    appends a row, :meth:`flush` (after each batch) flushes and fsyncs, so a kill or a power loss
    loses at most the batch in flight; :meth:`close` releases the lock. ``output=None`` writes
    nothing. Also a context manager (``close`` on exit)::

        with ScoresOutput("scores.csv", fingerprint) as sink:
            for path in sink.start(videos):
                sink.add(path, score, reason)
                sink.flush()
    """

    def __init__(
        self,
        output: str | os.PathLike | None,
        fingerprint: str,
        *,
        resume: bool = True,
        metric_name: object = "",
        lock_timeout: float | None = 0.0,
    ) -> None:
        self.output = Path(output) if output is not None else None
        self.fingerprint, self.resume, self.metric_name = fingerprint, resume, metric_name
        self.lock = (
            WriterLock(self.output, timeout=lock_timeout, error=OutputBusyError,
                       advice="let it finish, or score into another --output (two writers on one file would lose "
                       "rows)")
            if self.output is not None else None
        )  # fmt: skip
        self.notes: list[str] = []
        self.kept = 0  # rows of earlier runs left in the file by start()
        self._handle: Any = None
        self._writer: csv.DictWriter | None = None
        self._locked = False

    def start(self, videos: Sequence[str | os.PathLike]) -> list[Any]:
        """The videos still to score, in order; locks the output and opens it for appending."""
        if self.output is None:
            return list(videos)
        self.lock.__enter__()
        self._locked = True
        try:
            return self._open(videos)
        except BaseException:
            self.close()
            raise

    def _open(self, videos: Sequence[str | os.PathLike]) -> list[Any]:
        from qclip_plugin.atomic_files import atomic_write

        existing = read_scores_file(self.output) if self.resume else ScoresFile(self.output, {})
        if existing.note:
            self.notes.append(existing.note)
            log.warning(existing.note)
        todo = resume_plan(existing.rows, videos, self.fingerprint, where=self.output, metric_name=self.metric_name)
        redone = {display_path(v) for v in todo}
        kept = [row for path, row in existing.rows.items() if path not in redone]

        def rewrite(handle) -> None:  # earlier rows minus those about to be redone, then append as we go
            writer = csv.DictWriter(handle, fieldnames=OUTPUT_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(kept)

        atomic_write(self.output, rewrite)
        self.kept = len(kept)
        self._handle = self.output.open("a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, fieldnames=OUTPUT_COLUMNS, extrasaction="ignore")
        return todo

    def add(self, path: str | os.PathLike, score: float | None, reason: str) -> None:
        if self._writer is not None:
            self._writer.writerow(score_row(path, score, reason, self.fingerprint))

    def flush(self) -> None:
        """Flush and fsync: the rows added so far survive a kill or a power loss."""
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        try:
            if self._handle is not None:
                self._handle.close()
                self._handle = self._writer = None
        finally:
            if self._locked:
                self._locked = False
                self.lock.__exit__()

    def __enter__(self) -> ScoresOutput:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------
# scoring


class _Videos(torch.utils.data.Dataset):
    """Loads one video per item as the metric's contract declares (:func:`~qclip_plugin.metrics.contract.load_item`:
    uint8 frames for Q-CLIP's metrics, a quarter of float32's bytes for the workers to send); a
    failure becomes the item's error instead of stopping the loader."""

    def __init__(self, metric: Any, paths: Sequence[str | os.PathLike], strict: bool) -> None:
        self.metric, self.paths, self.strict = metric, list(paths), strict
        self.declared = declared_input(metric)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[str, Any, str, str]:
        path = os.fspath(self.paths[index])
        try:
            return path, load_item(self.metric, path, self.declared), "", ""
        except Exception as error:  # recorded per video; --strict re-raises in the main process
            if self.strict:
                raise
            return path, None, failure_reason(error), failure_kind(error)


def score_batch(metric: Any, items: Sequence[Any], *, amp: str | torch.dtype | None = None) -> list[float]:
    """Scores of one batch of :func:`~qclip_plugin.metrics.contract.load_item` items, as floats: the
    batch is put together as the metric's ``metric_input`` declares (uint8 frames normalised with
    ``metric.preprocessing``, bit-identical to ``metric.load``; float frames stacked; views listed);
    ``amp`` runs the forward under autocast."""
    from qclip_plugin.engine.precision import autocast

    with torch.no_grad(), autocast(getattr(metric, "device", "cpu"), amp):
        return metric.score_frames(collate_batch(metric, items)).float().cpu().tolist()


def failure_reason(error: BaseException) -> str:
    """What a failed video's row says: a :class:`VideoReadError`'s reason, or the exception."""
    from qclip_plugin.video.errors import VideoReadError

    if isinstance(error, VideoReadError):
        return error.reason
    return f"{type(error).__name__}: {error}"


def failure_kind(error: BaseException) -> str:
    """The category a summary counts a failure under (:attr:`VideoReadError.kind`, else the exception type)."""
    return getattr(error, "kind", None) or type(error).__name__


class NonFiniteScoreError(UserError, ValueError):
    """The model gave NaN or infinity for a video (``--strict`` stops on it)."""


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
    lock_timeout: float | None = 0.0,
) -> ScoringSummary:
    """Score every video of ``inputs`` with ``metric`` and write ``path, score, status, error, metric`` rows.

    Args:
        metric: a metric from :func:`qclip_plugin.create_metric`: its ``load`` decodes and samples a
            video, its ``score_frames`` scores a batch, put together as its ``metric_input`` declares
            (:mod:`qclip_plugin.metrics.contract`).
        inputs: video files, folders, list files (see :func:`collect_videos`).
        output: the CSV to write (appended after each batch), or None to only return the scores.
        batch_size: videos per forward pass (they are sampled to the same number of frames).
        num_workers: decoding processes (torch ``DataLoader`` workers); 0 decodes in this process.
            With workers on CPU the model uses at most the cores they leave (at least one thread).
        strict: stop at the first unreadable video (or non-finite score) instead of recording it.
        resume: skip the videos ``output`` already scored (``status == ok``); failed ones are retried.
        root: the folder list files' relative paths start from (default: each list's folder).
        progress: show a progress bar on stderr.
        shard: ``(i, N)``: score only the ``i``-th of ``N`` contiguous blocks of the videos, into
            :func:`shard_output` ``(output, i, N)``; :func:`merge_shards` joins the parts.
        amp: ``bf16`` / ``fp16``: run the model under ``torch.autocast`` (scores are written as
            float32 either way; see :mod:`qclip_plugin.engine.precision`).
        prefetch_factor: batches each decoding worker prepares ahead (torch's default: 2).
        lock_timeout: seconds to wait while another run writes the same output (``None``: no limit);
            then :class:`OutputBusyError`. See :class:`ScoresOutput`.

    Interrupted (Ctrl-C), it raises ``KeyboardInterrupt`` saying how many rows the output keeps and
    how to resume.
    """
    start = time.perf_counter()
    videos: list[str | os.PathLike] = list(collect_videos(inputs, root=root))
    fingerprint = metric_fingerprint(metric, amp)
    output, videos = _shard_plan(output, videos, shard, fingerprint)
    with ScoresOutput(output, fingerprint, resume=resume, lock_timeout=lock_timeout,
                      metric_name=getattr(metric, "metric_name", metric)) as sink:  # fmt: skip
        todo = sink.start(videos)
        summary = ScoringSummary(output=output, skipped=len(videos) - len(todo), notes=list(sink.notes))
        with _resumable_interrupt(output, sink, summary):
            _score_loop(metric, todo, sink, summary, batch_size=batch_size, num_workers=num_workers,
                        strict=strict, progress=progress, amp=amp, prefetch_factor=prefetch_factor)  # fmt: skip
    summary.seconds = time.perf_counter() - start
    summary.shard = shard
    return summary


def _shard_plan(
    output: str | os.PathLike | None, videos: list[str | os.PathLike], shard: tuple[int, int] | None, fingerprint: str
) -> tuple[Path | None, list[str | os.PathLike]]:
    """The file this run writes and the videos it scores: all of them into ``output``, or shard
    ``(i, N)``'s block into its part file (the whole list recorded in the manifest first)."""
    output = Path(output) if output is not None else None
    if shard is None:
        return output, videos
    from qclip_plugin.engine.distributed import shard_slice

    index, count = shard
    if output is not None:
        write_manifest(output, videos, count, fingerprint)
        output = shard_output(output, index, count)
    return output, shard_slice(videos, index, count)


@contextlib.contextmanager
def _resumable_interrupt(output: Path | None, sink: ScoresOutput, summary: ScoringSummary) -> Iterator[None]:
    """Ctrl-C re-raised as a ``KeyboardInterrupt`` that says what the output keeps and how to resume."""
    try:
        yield
    except KeyboardInterrupt:
        written = summary.scored + summary.failed
        raise KeyboardInterrupt(
            f"interrupted: {output} keeps {sink.kept + written} rows ({written} from this run); "
            "run the same command again to resume (it skips the videos already scored)"
            if output is not None else "interrupted (no --output: nothing was kept)"
        ) from None


def _score_loop(metric: Any, todo: Sequence[str | os.PathLike], sink: ScoresOutput, summary: ScoringSummary, *,
                batch_size: int, num_workers: int, strict: bool, progress: bool, amp,
                prefetch_factor: int | None) -> None:  # fmt: skip
    """Load ``todo`` in a DataLoader, score it batch by batch and append each batch's rows to ``sink``."""
    loader = _loader(metric, todo, strict, batch_size, num_workers, prefetch_factor)
    bar = _progress(len(todo), progress)
    try:
        with _threads_beside_workers(metric, num_workers):
            for batch in loader:
                _record_batch(metric, batch, sink, summary, strict=strict, amp=amp)
                bar.update(len(batch))
    finally:
        bar.close()


def _loader(metric: Any, todo: Sequence[str | os.PathLike], strict: bool, batch_size: int, num_workers: int,
            prefetch_factor: int | None) -> torch.utils.data.DataLoader:  # fmt: skip
    from qclip_plugin.data.pipeline import import_decoders

    extra = {"prefetch_factor": prefetch_factor} if num_workers > 0 and prefetch_factor else {}
    if num_workers > 0:
        import_decoders()  # forked workers inherit them instead of importing them each
    return torch.utils.data.DataLoader(
        _Videos(metric, todo, strict), batch_size=batch_size, num_workers=num_workers, collate_fn=list, **extra
    )


@contextlib.contextmanager
def _threads_beside_workers(metric: Any, num_workers: int) -> Iterator[None]:
    """On the CPU with decoding workers, the model's intra-op threads limited to the cores they leave."""
    threads = torch.get_num_threads()
    if num_workers > 0 and torch.device(getattr(metric, "device", "cpu")).type == "cpu":
        # the decoding processes hold num_workers cores; more intra-op threads than the cores left
        # make torch's thread pool spin against them (50x slower forward passes on a busy 2-core CPU)
        torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 1) - num_workers)))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _record_batch(metric: Any, batch: Sequence[tuple[str, Any, str, str]], sink: ScoresOutput,
                  summary: ScoringSummary, *, strict: bool, amp) -> None:  # fmt: skip
    """Score the loaded items of ``batch`` and write one row per video (failed ones with their reason)."""
    good = [(p, item) for p, item, _, _ in batch if item is not None]
    values = score_batch(metric, [item for _, item in good], amp=amp) if good else []
    scored = {p: v for (p, _), v in zip(good, values, strict=True)}
    for path, _, reason, kind in batch:
        score = scored.get(path)
        if strict and score is not None and not math.isfinite(score):
            raise NonFiniteScoreError(f"{display_path(path)}: the model gave a non-finite score ({score})")
        summary.record(path, score, reason, kind)
        sink.add(path, score, reason)
    sink.flush()


# --------------------------------------------------------------------------------------------------
# one metric per process (torchrun)


def build_metric(
    metric: str | Callable[..., Any],
    device: str | torch.device | None = None,
    options: Mapping[str, Any] | None = None,
    weights_dtype: str | None = None,
) -> Any:
    """``create_metric(metric, device=device, **options)`` (``metric`` may instead be a factory with the
    entry points' signature), its frozen weights stored in ``weights_dtype`` (``bf16``/``fp16``) if given."""
    if callable(metric):
        built = metric(device=device, **dict(options or {}))
    else:
        from qclip_plugin.metrics import create_metric

        built = create_metric(metric, device=device, **dict(options or {}))
    if weights_dtype:
        from qclip_plugin.engine.precision import cast_frozen

        cast_frozen(built, weights_dtype)
    return built


def score_videos_distributed(
    metric: str | Callable[..., Any],
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike = "scores.csv",
    *,
    metric_options: Mapping[str, Any] | None = None,
    device: str | None = None,
    weights_dtype: str | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    **score_options: Any,
) -> ScoringSummary:
    """Score ``inputs`` into ``output`` with one metric per process, as ``qclip-bench score`` does.

    Under ``torchrun`` (``WORLD_SIZE > 1``) every rank builds the metric (:func:`build_metric`; on the
    GPU ``LOCAL_RANK`` when there are GPUs and no ``device`` is given), scores the shard of its rank into
    its part file (:func:`score_videos` with ``shard=(rank, world_size)``), and rank 0 merges the parts
    into ``output`` once every rank is done (``summary.merged``); only rank 0 shows progress. A gloo
    group synchronises the ranks at the end; the scoring itself needs no collective. Without
    torchrun this is :func:`score_videos` in this process (``shard`` as given).

    ``metric`` is a name for :func:`~qclip_plugin.metrics.create_metric` (with ``metric_options``) or a
    factory, built here because its device depends on the rank. Other keywords go to :func:`score_videos`.

    Raises:
        ShardsError: ``shard`` given under torchrun (both would split the videos).
    """
    from qclip_plugin.engine.distributed import dist_info, init_distributed, launched_by_torchrun

    torchrun = launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1
    if torchrun and shard is not None:
        raise ShardsError("--shard and torchrun both split the videos: under torchrun each rank scores the shard "
                          "of its rank; drop --shard (or run without torchrun)")  # fmt: skip
    if torchrun:
        info = init_distributed("gloo", timeout_minutes=24 * 60)
        shard = (info.rank, info.world_size)
        if device is None and torch.cuda.is_available():
            device = f"cuda:{info.local_rank % torch.cuda.device_count()}"
    built = build_metric(metric, device, metric_options, weights_dtype)
    summary = score_videos(built, inputs, output, shard=shard, progress=progress and dist_info().is_main,
                           **score_options)  # fmt: skip
    if torchrun:
        summary.merged = _merge_when_all_done(output)
    return summary


def _merge_when_all_done(output: str | os.PathLike) -> Path | None:
    """After every rank has scored its part: rank 0 merges them (the path), the others get None."""
    import torch.distributed as dist

    from qclip_plugin.engine.distributed import dist_info

    try:
        dist.barrier()
        merged = merge_shards(output) if dist_info().is_main else None
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return merged


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
    manifest = {"shards": int(count), "metric": fingerprint, "videos": [display_path(v) for v in videos]}
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            previous = {}
        if previous != manifest:
            what = [k for k in manifest if previous.get(k) != manifest[k]]
            raise ShardsError(
                f"{path} records another sharded run of {output} (different {', '.join(what)}); its parts "
                "cannot be resumed or merged with this one. Use another --output, or delete the old "
                "parts and their .shards.json"
            )
        return path
    return atomic_write_text(path, json.dumps(manifest, indent=1) + "\n")


class ShardsError(UserError, ValueError):
    """The parts of a sharded run do not fit together (unfinished, other metrics, another run)."""


class MissingShardsError(UserError, FileNotFoundError):
    """A sharded run's manifest or parts are not there."""


def _read_manifest(output: Path) -> tuple[int, list[str]]:
    manifest_file = manifest_path(output)
    if not manifest_file.is_file():
        raise MissingShardsError(
            f"{manifest_file} does not exist: {output} was not scored in shards (score with --shard i/N, "
            "or under torchrun, first)"
        )
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        return int(manifest["shards"]), [display_path(v) for v in manifest["videos"]]
    except (ValueError, KeyError, TypeError) as error:
        raise ShardsError(f"{manifest_file} is not a shard manifest ({error}); score the shards again") from None


def merge_shards(output: str | os.PathLike, *, remove_parts: bool = False, lock_timeout: float | None = 0.0) -> Path:
    """Join the parts of a sharded run of ``output`` into ``output``, in input order.

    The rows are ordered as :func:`collect_videos` listed the videos (the manifest), so the file
    equals an unsharded run's. A part still running or missing is an error naming it; so are
    parts scored with different metrics. ``output`` is locked while it is written (see
    :class:`ScoresOutput`).

    Args:
        output: the output the shards were started with (``scores.csv``).
        remove_parts: delete the parts and the manifest once the merged file is written.
        lock_timeout: as in :func:`score_videos`.
    """
    from qclip_plugin.atomic_files import atomic_write

    output = Path(output)
    count, videos = _read_manifest(output)
    parts = [shard_output(output, i, count) for i in range(count)]
    absent = [str(p) for p in parts if not p.is_file()]
    if absent:
        raise MissingShardsError(f"{len(absent)} of {count} parts of {output} are missing: {', '.join(absent)}")
    rows: dict[str, dict[str, str]] = {}
    for part in parts:
        rows.update(read_scores(part))
    metrics = {row.get("metric") or "" for row in rows.values()}
    if len(metrics) > 1:
        raise ShardsError(f"the parts of {output} were scored by different metrics {sorted(metrics)}; rescore them")
    unscored = [v for v in videos if v not in rows]
    if unscored:
        raise ShardsError(
            f"{len(unscored)} of {len(videos)} videos have no row in the parts of {output} (first: "
            f"{unscored[0]}); a shard is unfinished: run it again (it resumes), then merge"
        )

    def write(handle):
        writer = csv.DictWriter(handle, fieldnames=OUTPUT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[v] for v in videos)

    with WriterLock(output, timeout=lock_timeout, error=OutputBusyError):
        atomic_write(output, write)
    if remove_parts:
        for part in parts:
            part.unlink()
        manifest_path(output).unlink()
    return output
