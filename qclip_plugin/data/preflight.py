"""Pre-flight check of a dataset's videos, before hours of training find a missing file.

The cheap check (default) finds missing and 0-byte files and, for raw ``.yuv`` videos, sizes
that are not a whole number of frames. The deep check also opens each video with
:func:`qclip_plugin.video.open_video` and decodes its first frame (a few ms to a few tens of
ms per video, run on a thread pool).

A bad-video list (``path,reason,size,mtime_ns``, written once per dataset by
``qclip-bench prepare``) makes known-bad videos count as unreadable without decoding them
again, as long as the file has not changed since (same size and mtime).

>>> report = preflight_check(dataset, strict=False)            # doctest: +SKIP
>>> print(report.summary())                                     # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from qclip_plugin.data.dataset_specs import DatasetSpec
from qclip_plugin.errors import UserError

#: Paths listed per kind of problem in summaries and errors.
MAX_LISTED = 5

#: Columns of a bad-video list.
BAD_LIST_COLUMNS: tuple[str, ...] = ("path", "reason", "size", "mtime_ns")


def read_bad_videos(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """The rows of a bad-video list by video path (empty when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"path", "reason"} <= set(reader.fieldnames):
            raise ValueError(f"{path} is not a bad-video list (columns {reader.fieldnames}, expected "
                             f"{list(BAD_LIST_COLUMNS)}); pass another --bad-list")
        return {row["path"]: row for row in reader}


def file_stamp(path: str | os.PathLike) -> tuple[str, str]:
    """``(size, mtime_ns)`` of a file as a bad-video list records them (empty strings if absent)."""
    try:
        stat = os.stat(path)
    except OSError:
        return "", ""
    return str(stat.st_size), str(stat.st_mtime_ns)


def still_bad(row: dict[str, str], path: str | os.PathLike) -> bool:
    """Whether a bad-list row still describes ``path`` (the file has not changed since)."""
    return (row.get("size", ""), row.get("mtime_ns", "")) == file_stamp(path)


@dataclass
class PreflightReport:
    """What the pre-flight check found.

    Attributes:
        total: number of videos checked.
        missing: paths that do not exist (or are not files).
        empty: 0-byte files.
        unreadable: ``(path, reason)`` of files that exist but cannot be read.
        deep: whether videos were opened and decoded.
        source: what was checked (a dataset name or label file).
        root_hint: how to give the data root (from the dataset's spec, e.g.
            ``data_root.KoNViD=/path/to/KoNViD (or $QCLIP_DATA_KONVID)``).
    """

    total: int
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    deep: bool = False
    source: str = ""
    root_hint: str = "data_root=... or $QCLIP_DATA_<DATASET>"

    @property
    def num_bad(self) -> int:
        return len(self.missing) + len(self.empty) + len(self.unreadable)

    @property
    def ok(self) -> bool:
        return self.num_bad == 0

    @property
    def bad_paths(self) -> list[str]:
        """Every path with a problem (missing, empty, unreadable)."""
        return [*self.missing, *self.empty, *(p for p, _ in self.unreadable)]

    def summary(self, max_listed: int = MAX_LISTED) -> str:
        """A few lines for people: counts and the first few paths of each problem."""
        what = f" of {self.source}" if self.source else ""
        check = "opened and decoded" if self.deep else "checked for existence and size"
        if self.ok:
            return f"pre-flight: all {self.total} videos{what} {check}: OK"
        lines = [f"pre-flight: {self.num_bad} of {self.total} videos{what} are not usable ({check})"]
        for label, items in (
            ("missing", self.missing),
            ("empty (0 bytes)", self.empty),
            ("unreadable", [f"{p} ({why})" for p, why in self.unreadable]),
        ):
            if items:
                more = f", and {len(items) - max_listed} more" if len(items) > max_listed else ""
                lines.append(f"  {len(items)} {label}: " + ", ".join(items[:max_listed]) + more)
        return "\n".join(lines)


class PreflightError(UserError, RuntimeError):
    """Videos of a dataset are missing or unreadable; ``report`` says which."""

    def __init__(self, report: PreflightReport) -> None:
        self.report = report
        super().__init__(
            report.summary()
            + f"\nFix the data root ({report.root_hint}) or the label file, "
            "or pass strict=False to get the report (report.bad_paths) and leave those videos out "
            "with the dataset's subset=."
        )


class VideoItems(NamedTuple):
    """The videos of a dataset or of a list of paths, as the checks over many videos take them."""

    #: ``(path, yuv_geometry)`` per video (the geometry is ``None`` unless the item gives one)
    items: list[tuple[str, tuple[int, int] | None]]
    #: what is checked, for people: the dataset's name or label file (``""`` for paths)
    source: str
    #: a short name for files about these videos (a bad list): the dataset's key (``"videos"`` for paths)
    key: str
    #: the dataset's spec (``None`` for paths or a generic dataset)
    spec: DatasetSpec | None


def video_items(videos: Any) -> VideoItems:
    """The :class:`VideoItems` of a dataset (``get_data_info(i)`` and ``len``) or an iterable of paths."""
    if hasattr(videos, "get_data_info") and hasattr(videos, "__len__"):
        infos = [videos.get_data_info(i) for i in range(len(videos))]
        items = [(str(i["filename"]), i.get("yuv_geometry")) for i in infos]
        name = (getattr(videos, "metainfo", {}) or {}).get("dataset_name")
        source = str(name or getattr(videos, "ann_file", "") or type(videos).__name__)
        key = str(getattr(videos, "DATASET_KEY", None) or name or type(videos).__name__)
        return VideoItems(items, source, key, getattr(videos, "SPEC", None))
    return VideoItems([(os.fspath(p), None) for p in videos], "", "videos", None)


def _yuv_frame_bytes(geometry: Sequence[int]) -> int:
    height, width = geometry
    return height * width * 3 // 2  # YUV420p: a luma plane and two quarter-size chroma planes


def _file_problem(path: str, geometry: tuple[int, int] | None,
                  yuv_default: tuple[int, int]) -> tuple[str, str] | None:
    """``(kind, reason)`` of a problem with the file itself (missing, not a file, 0 bytes, not readable,
    a raw YUV size that is no whole number of frames), found without decoding; or None."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return "missing", "does not exist"
    except OSError as err:
        return "unreadable", f"cannot stat it ({err.strerror})"
    if not Path(path).is_file():
        return "missing", "not a file"
    if stat.st_size == 0:
        return "empty", "0 bytes"
    if not os.access(path, os.R_OK):
        return "unreadable", "no read permission"
    if path.lower().endswith(".yuv"):
        frame = _yuv_frame_bytes(geometry or yuv_default)
        if stat.st_size % frame:
            h, w = geometry or yuv_default
            return "unreadable", f"{stat.st_size} bytes is not a whole number of {w}x{h} YUV420 frames"
    return None


def _first_frame_problem(path: str, geometry: tuple[int, int] | None, guard: str) -> str | None:
    """Why the video cannot be opened or its first frame decoded, or None."""
    from qclip_plugin.video import VideoReadError, open_video

    options: dict[str, Any] = {"size": (32, 32), "guard": guard}
    if geometry is not None:
        options["yuv_geometry"] = tuple(geometry)
    try:
        with open_video(path, **options) as reader:
            if reader.num_frames < 1:
                return "no frames"
            reader.get_batch([0])
    except VideoReadError as err:
        return getattr(err, "reason", None) or str(err)
    except Exception as err:  # a reader bug must not hide the other videos' results
        return f"{type(err).__name__}: {err}"
    return None


def preflight_check(
    videos: Any | Iterable[str | os.PathLike],
    deep: bool = False,
    strict: bool = True,
    num_workers: int = 4,
    guard: str = "header",
    yuv_geometry: Sequence[int] | None = None,
    bad_list: str | os.PathLike | None = None,
) -> PreflightReport:
    """Check that every video of a dataset exists and can be read.

    Args:
        videos: a dataset (a :class:`~qclip_plugin.data.datasets.VQADataset` or any object
            with ``get_data_info(i)["filename"]`` and ``len``) or an iterable of paths.
        deep: also open each video and decode its first frame.
        strict: raise :class:`PreflightError` when any video is unusable (else just report).
        num_workers: threads for the deep check.
        guard: decord guard of the deep check (see :func:`qclip_plugin.video.open_video`).
        yuv_geometry: ``(height, width)`` of ``.yuv`` files whose items do not carry one
            (default: the video reader's, 1080x1920 as LIVE-Qualcomm).
        bad_list: a bad-video list (``qclip-bench prepare``); its unchanged videos are reported
            unreadable with the recorded reason, without being opened again.

    Returns:
        The :class:`PreflightReport` (also when strict and everything is fine).
    """
    from qclip_plugin.video import DEFAULT_YUV_GEOMETRY

    items, source, _, spec = video_items(videos)
    report = PreflightReport(total=len(items), deep=deep, source=source)
    if spec is not None:
        report.root_hint = spec.root_hint()
    geometry = yuv_geometry if yuv_geometry is not None else DEFAULT_YUV_GEOMETRY
    default = (int(geometry[0]), int(geometry[1]))
    known_bad = read_bad_videos(bad_list) if bad_list is not None else {}
    to_open = []
    for path, geometry in items:
        row = known_bad.get(path)
        if row is not None and still_bad(row, path):
            report.unreadable.append((path, f"{row['reason']} (listed in {bad_list})"))
            continue
        problem = _file_problem(path, geometry, default)
        if problem is None:
            to_open.append((path, geometry or (default if path.lower().endswith(".yuv") else None)))
        elif problem[0] == "missing":
            report.missing.append(path)
        elif problem[0] == "empty":
            report.empty.append(path)
        else:
            report.unreadable.append((path, problem[1]))
    if deep and to_open:
        with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
            reasons = list(pool.map(lambda item: _first_frame_problem(item[0], item[1], guard), to_open))
        report.unreadable += [(p, why) for (p, _), why in zip(to_open, reasons, strict=True) if why]
    if strict and not report.ok:
        raise PreflightError(report)
    return report
