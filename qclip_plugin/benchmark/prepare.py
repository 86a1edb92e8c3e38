"""Prepare a dataset before training: frame-difference profiles (eq. 13) of every video, computed
once with N processes, and the unreadable videos written to a list once, instead of being met
again at every epoch.

>>> from qclip_plugin.benchmark.prepare import prepare_profiles
>>> report = prepare_profiles(dataset, num_workers=8)       # doctest: +SKIP
>>> print(report.summary())                                  # doctest: +SKIP
KoNViD: 1200 videos: 1187 profiles computed, 11 already cached, 2 bad (listed in .../KoNViD.csv)

The profiles go to the cache the MSE samplers read (``LoadVideoFrames``/``load_video`` with the
default ``profile_size`` and ``cache_dir``), so training's first epoch decodes only the sampled
frames. Resuming is free: cached profiles are not computed again, and videos already in the bad
list are not decoded again unless the file changed since (size or modification time) or
``retry_bad=True``.

The bad list is a CSV ``path,reason,size,mtime_ns``; :func:`read_bad_videos` reads it and
:func:`without_bad_videos` drops its videos from a list of paths (its first column also makes it
a video list for ``qclip-bench score``).
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qclip_plugin.benchmark.progress import video_progress
from qclip_plugin.data.preflight import BAD_LIST_COLUMNS, file_stamp, read_bad_videos, still_bad, video_items

__all__ = [
    "BAD_LIST_COLUMNS",
    "PrepareReport",
    "ProfileJob",
    "ProfileRunner",
    "dataset_by_name",
    "default_bad_list",
    "local_runner",
    "prepare_profiles",
    "profile_one",
    "read_bad_videos",
    "without_bad_videos",
]


@dataclass
class PrepareReport:
    """What :func:`prepare_profiles` did (paths as strings)."""

    source: str
    total: int = 0
    computed: int = 0
    cached: int = 0
    bad: dict[str, str] = field(default_factory=dict)  # path -> reason, found by this run
    known_bad: dict[str, str] = field(default_factory=dict)  # path -> reason, from the bad list (not retried)
    bad_list: Path | None = None
    seconds: float = 0.0

    @property
    def num_bad(self) -> int:
        return len(self.bad) + len(self.known_bad)

    def summary(self) -> str:
        listed = f" (listed in {self.bad_list})" if self.bad_list is not None and self.num_bad else ""
        known = f", {len(self.known_bad)} of them already known" if self.known_bad else ""
        return (
            f"{self.source}: {self.total} videos: {self.computed} profiles computed, {self.cached} already "
            f"cached, {self.num_bad} bad{known}{listed} in {self.seconds:.1f} s"
        )


def default_bad_list(source: str) -> Path:
    """Where the bad list of ``source`` (a dataset key such as ``KoNViD``) goes by default."""
    from qclip_plugin.cache import cache_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in source) or "videos"
    return cache_dir("bad_videos") / f"{safe}.csv"


def without_bad_videos(paths: Iterable[str | os.PathLike], bad_list: str | os.PathLike) -> list[str]:
    """``paths`` minus the videos of ``bad_list``, in order."""
    bad = read_bad_videos(bad_list)
    return [os.fspath(p) for p in paths if os.fspath(p) not in bad]


def dataset_by_name(name: str, data_root: str | os.PathLike | None = None,
                    ann_file: str | os.PathLike | None = None, split: str | None = None) -> Any | None:
    """The dataset that ``name`` names (its key, display name, class name or an alias, any case:
    ``KoNViD``, ``konvid-1k``, ``KoNViDDataset``; see :mod:`qclip_plugin.data.dataset_specs`), built
    with the given data root and label file; None when no dataset has that name."""
    from qclip_plugin.data.dataset_specs import find_spec
    from qclip_plugin.registry import DATASETS

    spec = find_spec(name)
    if spec is None:
        return None
    import qclip_plugin.data.datasets  # noqa: F401  (registers the datasets)

    kwargs: dict[str, Any] = {"data_root": data_root, "ann_file": ann_file or "", "test_mode": True}
    if split is not None:
        kwargs["split"] = split
    return DATASETS.build(dict(type=spec.dataset_class, **kwargs))


def _options(geometry: Sequence[int] | None) -> dict[str, Any]:
    return {"yuv_geometry": tuple(geometry)} if geometry is not None else {}


#: One video to profile: its path and, for raw YUV, its ``(height, width)``.
ProfileJob = tuple[str, tuple[int, int] | None]
#: Runs profile jobs somewhere and yields ``(path, None | reason)`` as they finish:
#: ``runner(jobs, size, cache_dir)`` (:func:`local_runner`; Ray: ``qclip_plugin.integrations.ray_data``).
ProfileRunner = Callable[[Sequence[ProfileJob], tuple[int, int], str | None], Iterable[tuple[str, str | None]]]


def profile_one(path: str, geometry: tuple[int, int] | None, size: tuple[int, int],
                cache_dir: str | None) -> tuple[str, str | None]:
    """Compute and cache one profile (in any worker); ``(path, None)`` or ``(path, reason)``."""
    from qclip_plugin.sampling import frame_difference_profile
    from qclip_plugin.video.errors import VideoReadError

    try:
        frame_difference_profile(path, size=size, cache_dir=cache_dir, **_options(geometry))
    except VideoReadError as error:
        return path, error.reason
    except Exception as error:  # a decoder bug on one file must not stop the other videos
        return path, f"{type(error).__name__}: {error}"
    return path, None


def _write_bad_list(path: Path, rows: dict[str, dict[str, str]]) -> None:
    from qclip_plugin.atomic_files import atomic_write

    def write(handle):
        writer = csv.DictWriter(handle, fieldnames=BAD_LIST_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows.values())

    atomic_write(path, write)


def prepare_profiles(
    videos: Any,
    *,
    num_workers: int = 1,
    profile_size: int | Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    bad_list: str | os.PathLike | None = None,
    retry_bad: bool = False,
    progress: bool = True,
    runner: ProfileRunner | None = None,
) -> PrepareReport:
    """Compute the frame-difference profile (eq. 13) of every video into the profile cache.

    Args:
        videos: a dataset (:class:`~qclip_plugin.data.datasets.VQADataset`, or any object with
            ``get_data_info(i)["filename"]`` and ``len``; its items' ``yuv_geometry`` is used) or paths.
        num_workers: processes decoding in parallel (1: this process).
        profile_size: ``(height, width)`` of the profile (default the samplers' 112 x 112).
        cache_dir: the profile cache (default ``$QCLIP_CACHE_DIR/frame_difference``, what training reads).
        bad_list: where unreadable videos are listed (default :func:`default_bad_list` of the
            dataset's key); rewritten after each newly found bad video, so an interrupted run keeps them.
        retry_bad: decode the videos of the bad list again even when unchanged.
        progress: show a progress bar on stderr.
        runner: where the profiles are computed (default :func:`local_runner` ``(num_workers)``);
            the planning (cache hits, bad list) and the bad list's writing stay in this process.
    """
    from qclip_plugin.atomic_files import WriterLock
    from qclip_plugin.sampling import PROFILE_SIZE
    from qclip_plugin.video.reader import as_size

    start = time.perf_counter()
    listing = video_items(videos)
    items, source = listing.items, listing.key
    size = as_size(profile_size if profile_size is not None else PROFILE_SIZE)
    report = PrepareReport(source=source, total=len(items))
    report.bad_list = Path(bad_list) if bad_list is not None else default_bad_list(source)
    # one run at a time updates a bad list: two would each rewrite it from their own view
    with WriterLock(report.bad_list, advice="let it finish (the profile cache it fills is shared)"):
        _prepare(report, items, size, cache_dir, retry_bad, runner or local_runner(num_workers), progress)
    report.seconds = time.perf_counter() - start
    return report


def _prepare(report: PrepareReport, items: list, size: tuple[int, int], cache_dir, retry_bad: bool,
             run: ProfileRunner, progress: bool) -> None:
    from qclip_plugin.sampling import cached_profile

    known = read_bad_videos(report.bad_list)
    listed = {p: row for p, row in known.items()}  # rows for videos outside this run stay listed
    todo = []
    for path, geometry in items:
        row = known.get(path)
        if row is not None and not retry_bad and still_bad(row, path):
            report.known_bad[path] = row["reason"]
            continue
        listed.pop(path, None)
        try:
            hit = cached_profile(path, size, cache_dir=cache_dir, **_options(geometry))
        except Exception:  # a missing file: decoding reports it properly
            hit = None
        if hit is not None:
            report.cached += 1
        else:
            todo.append((path, geometry))
    if len(listed) != len(known):
        _write_bad_list(report.bad_list, listed)  # fixed videos leave the list

    def record(path: str, reason: str | None) -> None:
        if reason is None:
            report.computed += 1
            return
        report.bad[path] = reason
        size_, mtime = file_stamp(path)
        listed[path] = {"path": path, "reason": reason, "size": size_, "mtime_ns": mtime}
        _write_bad_list(report.bad_list, listed)

    cache = os.fspath(cache_dir) if cache_dir is not None else None
    bar = video_progress(len(todo), progress)
    try:
        for path, reason in run(todo, size, cache):
            record(path, reason)
            bar.update()
    finally:
        bar.close()


def local_runner(num_workers: int = 1) -> ProfileRunner:
    """Profiles computed in this process (``num_workers <= 1``) or in ``num_workers`` processes."""

    def run(jobs: Sequence[ProfileJob], size: tuple[int, int], cache: str | None) -> Iterator[tuple[str, str | None]]:
        if num_workers <= 1 or len(jobs) <= 1:
            for path, geometry in jobs:
                yield profile_one(path, geometry, size, cache)
            return
        # spawn: the parent may hold torch's thread pools, which a forked child must not inherit
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=num_workers, mp_context=context) as pool:
            futures = [pool.submit(profile_one, path, geometry, size, cache) for path, geometry in jobs]
            for future in as_completed(futures):
                yield future.result()

    return run
