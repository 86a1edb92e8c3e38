"""Score and prepare video collections on Ray Data: CPU decoding and model inference as two
streaming stages, on one machine or a cluster (``pip install "qclip-plugin[ray]"``).

>>> import ray
>>> from qclip_plugin.integrations.ray_data import DecodeVideos, MetricSpec, ScoreBatches
>>> spec = MetricSpec("qclip", {"checkpoint": "selected.safetensors"})           # doctest: +SKIP
>>> metric = spec.build("cpu")                                                   # doctest: +SKIP
>>> ds = ray.data.from_items([{"path": p} for p in paths])                       # doctest: +SKIP
>>> ds = ds.map_batches(DecodeVideos.for_metric(metric), batch_format="numpy")  # doctest: +SKIP
>>> ds = ds.map_batches(ScoreBatches, fn_constructor_kwargs={"spec": spec}, batch_size=8,
...                     batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=4),
...                     num_gpus=1)                                              # doctest: +SKIP
>>> ds.write_parquet("s3://bucket/scores/")                                      # doctest: +SKIP

or all of it, with the local engine's resume rules: :func:`score_with_ray` (``qclip-bench score
... --engine ray``).

- :class:`DecodeVideos` (a task stage, CPU): rows with a ``path`` become ``frames`` ``uint8
  (T, 3, H, W)``, sampled with the metric's :class:`~qclip_plugin.preprocessing.Preprocessing` exactly as
  ``metric.load(path, normalize=False)`` samples them (so the scores equal the local engine's), plus
  ``status`` (``ok``/``failed``) and ``error`` (the reason, the column the scores file has). A video
  that cannot be read is a failed row, never a failed job.
- :class:`ScoreBatches` (an actor stage: ``concurrency=N``, ``num_gpus=G``): builds the metric of a
  :class:`MetricSpec` once per actor, normalises the frames with the metric's mean/std (as
  ``score_videos`` does) and scores them; it emits the rows of the local engine's output,
  ``path, score, status, error, metric``. Metrics whose ``metric_input`` is not uint8 frames (the
  DOVER and FAST-VQA baselines: their own views) skip the decode stage: the actor loads their
  inputs itself (:mod:`qclip_plugin.metrics.contract`).
- Paths may be local or URIs (``s3://``, ``gs://``, ``hdfs://``, ``file://``) that pyarrow's (or
  fsspec's) filesystems open where the user has them; a remote video is copied to a temporary file
  on the worker, since the decoders read files.

Ray's retries do the fault tolerance: decode tasks are retried when their worker dies
(``max_retries``), and the scorer's actors are restarted with their task retried (Ray Data's
defaults ``max_restarts=-1``, ``max_task_retries=-1``), so a killed worker costs time, not rows.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qclip_plugin.benchmark.scoring import (
    LIST_EXTENSIONS,
    OUTPUT_COLUMNS,
    VIDEO_EXTENSIONS,
    ScoresOutput,
    ScoringSummary,
    build_metric,
    collect_videos,
    failure_reason,
    metric_fingerprint,
    resume_plan,
    score_batch,
)
from qclip_plugin.errors import UserError
from qclip_plugin.metrics.contract import declared_input, load_item

__all__ = [
    "DecodeVideos",
    "MetricSpec",
    "RayNotInstalledError",
    "ScoreBatches",
    "list_videos",
    "local_copy",
    "prepare_profiles_with_ray",
    "read_dataset_scores",
    "ray_profile_runner",
    "ray_session",
    "score_with_ray",
    "scoring_dataset",
]

#: Blocks of the path dataset: about ``batch_size`` videos each, at most this many blocks.
MAX_BLOCKS = 10_000


class RayNotInstalledError(UserError, ImportError):
    """Ray Data is not installed; the message gives the install command."""


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise RayNotInstalledError(
            f'the Ray engine needs Ray Data ({error}); install it with: pip install "qclip-plugin[ray]"'
        ) from error
    return ray


# --------------------------------------------------------------------------------------------------
# what to build on the workers


@dataclass(frozen=True)
class MetricSpec:
    """How every worker builds the same metric: ``create_metric(name, device=..., **options)``.

    ``name`` may instead be a factory with the entry points' signature ``factory(device=None,
    as_loss=False, **options)`` (picklable: a module-level function). ``amp`` (``bf16``/``fp16``) runs
    the forward under autocast; ``weights_dtype`` stores the frozen backbone in that dtype (as
    ``qclip-bench score --amp ... --weights-dtype ...``).
    """

    name: str | Callable[..., Any] = "qclip"
    options: Mapping[str, Any] = field(default_factory=dict)
    amp: str | None = None
    weights_dtype: str | None = None

    def build(self, device: str | None = None) -> Any:
        return build_metric(self.name, device, self.options, self.weights_dtype)


# --------------------------------------------------------------------------------------------------
# files: local paths and URIs


def is_uri(path: str | os.PathLike) -> bool:
    return "://" in os.fspath(path)


def _filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path inside it)`` of a URI: pyarrow's own schemes, else fsspec's."""
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except ValueError:  # pyarrow.ArrowInvalid: a scheme pyarrow has no filesystem for
        import fsspec

        fs, inner = fsspec.core.url_to_fs(uri)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), inner


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """A local file with the contents of ``path``: the path itself, or for a remote URI a temporary
    copy made through the URI's filesystem (removed afterwards)."""
    if not is_uri(path):
        yield path
        return
    import pyarrow.fs as pafs

    fs, inner = _filesystem(path)
    if isinstance(fs, pafs.LocalFileSystem):
        yield inner
        return
    with tempfile.TemporaryDirectory(prefix="qclip-ray-") as folder:
        target = os.path.join(folder, "video" + Path(inner).suffix)
        with fs.open_input_stream(inner) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        yield target


def _decoder_threads() -> int:
    """Decoding threads for this Ray worker: the CPUs Ray reserved for it (at least one), so that
    concurrent tasks share the cores as DataLoader workers do (``decoder_threads``)."""
    ray = _ray()
    if not ray.is_initialized():  # called outside Ray (get_runtime_context would start it)
        return 0
    return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)))


# --------------------------------------------------------------------------------------------------
# the two stages


class DecodeVideos:
    """Decode stage for ``Dataset.map_batches(DecodeVideos.for_metric(metric), batch_format="numpy")``
    (or one row, ``Dataset.map``): ``path`` -> ``frames`` uint8 ``(T, 3, H, W)``, ``status``, ``error``.

    The frames are ``load_video(path, normalize=False)`` with the metric's sampler, frame count,
    size and seed in test mode: what ``VideoQualityMetric.load(path, normalize=False)`` returns.
    A failed row carries zero frames of the same shape, so every block keeps one tensor type.
    ``cache_dir`` is the MSE samplers' profile cache (shared storage on a cluster, or ``False``).
    """

    def __init__(
        self,
        preprocessing: Any,
        *,
        num_frames: int = 8,
        sampler: str = "UNISampl",
        seed: int | None = None,
        cache_dir: str | os.PathLike | None | bool = None,
    ) -> None:
        self.preprocessing = preprocessing
        self.num_frames, self.sampler, self.seed = num_frames, sampler, seed
        self.cache_dir = cache_dir
        height, width = preprocessing.image_size
        self.shape = (num_frames, 3, height, width)

    @classmethod
    def for_metric(cls, metric: Any, *, cache_dir: str | os.PathLike | None | bool = None) -> DecodeVideos:
        """The decode stage of a ``VideoQualityMetric``: its preprocessing, frame count, sampler and seed."""
        return cls(metric.preprocessing, num_frames=metric.num_frames, sampler=metric.sampler, seed=metric.seed,
                   cache_dir=cache_dir)

    def decode(self, path: str) -> np.ndarray:
        """The sampled uint8 frames of one video, ``(T, 3, H, W)``; raises ``VideoReadError``."""
        from qclip_plugin.data.pipeline import load_video

        with local_copy(path) as local:
            frames = load_video(
                Path(local),
                num_frames=self.num_frames,
                sampler=self.sampler,
                preprocessing=self.preprocessing,
                seed=self.seed,
                test_mode=True,
                normalize=False,
                threads=_decoder_threads(),
                cache_dir=self.cache_dir if local == path else False,  # a temporary copy has no cache entry
            )
        return np.ascontiguousarray(frames.numpy())

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        if isinstance(batch.get("path"), str):  # Dataset.map: one row
            one = self({"path": np.array([batch["path"]], dtype=object)})
            return {key: value[0] for key, value in one.items()}
        paths = [str(p) for p in batch["path"]]
        frames = np.zeros((len(paths), *self.shape), np.uint8)
        status, errors = ["ok"] * len(paths), [""] * len(paths)
        for i, path in enumerate(paths):
            try:
                frames[i] = self.decode(path)
            except Exception as error:  # recorded as the row's reason; the job goes on
                status[i], errors[i] = "failed", failure_reason(error)
        return {
            "path": np.array(paths, dtype=object),
            "frames": frames,
            "status": np.array(status, dtype=object),
            "error": np.array(errors, dtype=object),
        }


def _output_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("path", pa.string()),
            ("score", pa.float64()),
            ("status", pa.string()),
            ("error", pa.string()),
            ("metric", pa.string()),
        ]
    )


class ScoreBatches:
    """Scoring stage for ``Dataset.map_batches(ScoreBatches, fn_constructor_kwargs={"spec": spec},
    concurrency=N, num_gpus=G, batch_format="numpy")``: one metric per actor.

    Batches from :class:`DecodeVideos` (``path, frames, status, error``) are normalised with the
    metric's preprocessing and scored (:func:`~qclip_plugin.benchmark.scoring.score_batch`, the local
    engine's forward); batches of bare ``path`` rows are loaded here with ``metric.load``. Returns
    a pyarrow table of the scores file's columns (``score`` null where ``status`` is ``failed``).

    ``fingerprint``: the driver's :func:`~qclip_plugin.benchmark.scoring.metric_fingerprint`; an actor
    that builds another metric (other package versions on the node) refuses to start.
    """

    def __init__(
        self, spec: MetricSpec, *, device: str | None = None, fingerprint: str | None = None
    ) -> None:
        self.spec = spec
        self.metric = spec.build(device)
        self.declared = declared_input(self.metric)
        self.fingerprint = metric_fingerprint(self.metric, spec.amp)
        if fingerprint is not None and fingerprint != self.fingerprint:
            raise RuntimeError(
                f"this Ray worker builds {spec.name!r} with fingerprint {self.fingerprint}, the driver "
                f"{fingerprint}: install the same qclip-plugin (and weights) on every node"
            )

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa
        import torch

        paths = [str(p) for p in batch["path"]]
        status = [str(s) for s in batch.get("status", ["ok"] * len(paths))]
        errors = [str(e) for e in batch.get("error", [""] * len(paths))]
        items: dict[int, Any] = {}
        for i, path in enumerate(paths):
            if status[i] != "ok":
                continue
            if "frames" in batch:
                items[i] = torch.from_numpy(np.asarray(batch["frames"][i]))
                continue
            try:
                with local_copy(path) as local:
                    items[i] = load_item(self.metric, local, self.declared)
            except Exception as error:  # the row fails, the job goes on
                status[i], errors[i] = "failed", failure_reason(error)
        scores: list[float | None] = [None] * len(paths)
        if items:
            values = score_batch(self.metric, list(items.values()), amp=self.spec.amp)
            for i, value in zip(items, values, strict=True):
                scores[i] = value
        return pa.table(
            {
                "path": paths,
                "score": scores,
                "status": status,
                "error": errors,
                "metric": [self.fingerprint] * len(paths),
            },
            schema=_output_schema(),
        )


def scoring_dataset(
    paths: Sequence[str],
    spec: MetricSpec,
    *,
    decode: DecodeVideos | None = None,
    fingerprint: str | None = None,
    batch_size: int = 4,
    concurrency: int = 1,
    num_gpus: float = 0,
    scorer_cpus: float = 1,
    decode_cpus: float = 1,
) -> Any:
    """The Ray dataset of ``paths`` decoded and scored: rows ``path, score, status, error, metric``.

    ``decode`` (``DecodeVideos.for_metric(metric)``, for metrics that load uint8 frames) adds that
    task stage with ``decode_cpus`` each; without it the scorer loads the videos. The scorer runs
    in ``concurrency`` actors with ``num_gpus`` and ``scorer_cpus`` each, ``batch_size`` videos per
    forward pass. Nothing runs until the dataset is consumed or written.
    """
    ray = _ray()
    blocks = max(1, min(MAX_BLOCKS, math.ceil(len(paths) / max(1, batch_size))))
    ds = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=blocks)
    if decode is not None:
        ds = ds.map_batches(
            decode,
            batch_size=None,
            batch_format="numpy",
            num_cpus=decode_cpus,
        )
    return ds.map_batches(
        ScoreBatches,
        fn_constructor_kwargs={
            "spec": spec,
            "device": "cuda" if num_gpus else "cpu",
            "fingerprint": fingerprint,
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),  # map_batches' concurrency=N, not deprecated
        num_gpus=num_gpus,
        num_cpus=scorer_cpus,
    )


# --------------------------------------------------------------------------------------------------
# inputs


def _read_table(location: str) -> Any:
    """A Parquet or CSV file, or a folder of them (by the name's suffix: ``.csv`` or Parquet), local
    or at a URI, as one pyarrow table (through pyarrow's dataset reader and filesystems)."""
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    fs, inner = (
        _filesystem(location) if is_uri(location) else (pafs.LocalFileSystem(), os.path.abspath(location))
    )
    kind = "csv" if location.rstrip("/").lower().endswith(".csv") else "parquet"
    return pads.dataset(inner, filesystem=fs, format=kind).to_table()


def _table_paths(table_path: str) -> list[str]:
    """The ``path`` column (else the first column) of a Parquet or CSV table of videos; relative
    entries start from the table's folder."""
    table = _read_table(table_path)
    column = table.column("path") if "path" in table.column_names else table.column(0)
    rows = [str(v) for v in column.to_pylist() if v is not None and str(v).strip()]
    base = table_path.rsplit("/", 1)[0] if "/" in table_path else "."
    return [v if is_uri(v) or os.path.isabs(v) else f"{base}/{v}" for v in rows]


def _folder_uri(uri: str) -> list[str]:
    """Videos (:data:`VIDEO_EXTENSIONS`) under a folder URI, sorted, as URIs; or the URI itself."""
    import pyarrow.fs as pafs

    fs, inner = _filesystem(uri)
    info = fs.get_file_info(inner)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"{uri} does not exist (expected a video, a folder or a list of videos)")
    if info.type == pafs.FileType.File:
        return [uri]
    scheme = uri.split("://", 1)[0]
    found = fs.get_file_info(pafs.FileSelector(inner, recursive=True))
    return sorted(
        f"{scheme}://{f.path}"
        for f in found
        if f.type == pafs.FileType.File and Path(f.path).suffix.lower() in VIDEO_EXTENSIONS
    )


def list_videos(inputs: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> list[str]:
    """The videos of ``inputs``, in order, without duplicates: local files, folders and list files
    as :func:`~qclip_plugin.benchmark.scoring.collect_videos` reads them (absolute paths); Parquet tables
    and CSV tables at URIs of paths (their ``path`` column, else the first); folder URIs."""
    videos: list[str] = []
    for item in inputs:
        text = os.fspath(item)
        suffix = Path(text.split("?", 1)[0]).suffix.lower()
        if suffix == ".parquet" or (is_uri(text) and suffix == ".csv"):
            videos += _table_paths(text)
        elif is_uri(text) and suffix in LIST_EXTENSIONS:
            raise UserError(
                f"{text}: a list of videos at a URI must be a .csv or .parquet table with a path column"
            )
        elif is_uri(text):
            videos += _folder_uri(text)
        else:
            videos += [str(p) for p in collect_videos([text], root=root)]
    return list(dict.fromkeys(videos))


# --------------------------------------------------------------------------------------------------
# the whole run


@contextlib.contextmanager
def ray_session(address: str | None = None, **init_kwargs: Any) -> Iterator[Any]:
    """Ray, connected: the running session if there is one; else the cluster at ``address``
    (``auto``, ``HOST:PORT``, ``ray://HOST:10001``); else a local instance (``init_kwargs``, e.g.
    ``num_cpus``), shut down on exit. Yields the ``ray`` module."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    if address is None:
        init_kwargs.setdefault("include_dashboard", False)
    ray.init(address=address, **init_kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def is_dataset_output(output: str | os.PathLike) -> bool:
    """Whether ``output`` is written as a Ray dataset (a folder of part files: a URI, a ``.parquet``
    name, a name ending in ``/`` or an existing folder) rather than one CSV file."""
    text = os.fspath(output)
    return is_uri(text) or text.endswith("/") or text.lower().endswith(".parquet") or Path(text).is_dir()


def score_with_ray(
    metric: str | Callable[..., Any] | MetricSpec,
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike | None = "scores.csv",
    *,
    options: Mapping[str, Any] | None = None,
    amp: str | None = None,
    weights_dtype: str | None = None,
    batch_size: int = 4,
    concurrency: int = 1,
    num_gpus_per_worker: float = 0,
    scorer_cpus: float = 1,
    decode_cpus: float = 1,
    resume: bool = True,
    root: str | os.PathLike | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None | bool = None,
) -> ScoringSummary:
    """Score every video of ``inputs`` on Ray Data; the output and its resume rules are
    ``score_videos``'s (same columns; ``ok`` rows are skipped, failed ones retried, another metric's
    output refused). Call inside :func:`ray_session` (or after ``ray.init``).

    Args:
        metric: a metric name (``create_metric``), a factory, or a :class:`MetricSpec`.
        inputs: local files, folders, list files; Parquet/CSV tables of paths; folder URIs
            (:func:`list_videos`).
        output: a CSV file, appended by this process as results stream in (as the local engine); or
            a dataset folder (:func:`is_dataset_output`: a URI, ``*.parquet``, ``.../``), written
            as part files by Ray Data's ``write_parquet`` (``write_csv`` for a ``.csv`` URI); a
            resumed run adds parts, and a video retried after failing then has its failed row and
            the new one (an ``ok`` row wins). None: only return the scores.
        batch_size: videos per forward pass.
        concurrency, num_gpus_per_worker, scorer_cpus: scorer actors and what each holds.
        decode_cpus: CPUs per decode task.
        cache_dir: the MSE samplers' profile cache (see :class:`DecodeVideos`).
    """
    start = time.perf_counter()
    spec = (
        metric
        if isinstance(metric, MetricSpec)
        else MetricSpec(metric, dict(options or {}), amp, weights_dtype)
    )
    fingerprint, decode, name = _probe(spec, cache_dir)
    videos = list_videos(inputs, root=root)
    dataset_output = output is not None and is_dataset_output(output)
    if dataset_output:
        previous = read_dataset_scores(str(output)) if resume else {}
        todo = resume_plan(previous, videos, fingerprint, where=output, metric_name=name)
        sink = None
    else:
        sink = ScoresOutput(output, fingerprint, resume=resume, metric_name=name)
        todo = sink.start(videos)
    summary = ScoringSummary(
        output=Path(output) if output is not None and not is_uri(output) else None,
        skipped=len(videos) - len(todo),
    )
    try:
        if todo:
            _ray().data.DataContext.get_current().enable_progress_bars = progress
            ds = scoring_dataset(
                todo,
                spec,
                decode=decode,
                fingerprint=fingerprint,
                batch_size=batch_size,
                concurrency=concurrency,
                num_gpus=num_gpus_per_worker,
                scorer_cpus=scorer_cpus,
                decode_cpus=decode_cpus,
            )
            if sink is None:
                _write_dataset(ds, str(output), summary, set(todo), overwrite=not resume)
            else:
                _stream_to(ds, sink, summary)
    finally:
        if sink is not None:
            sink.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _probe(spec: MetricSpec, cache_dir: str | os.PathLike | None | bool) -> tuple[str, DecodeVideos | None, str]:
    """What the workers will build, built once here on the CPU: ``(fingerprint, its decode stage
    if it declares uint8 frames else None, name)``."""
    metric = spec.build("cpu")
    uint8 = declared_input(metric).frames == "uint8"
    decode = DecodeVideos.for_metric(metric, cache_dir=cache_dir) if uint8 else None
    return metric_fingerprint(metric, spec.amp), decode, str(getattr(metric, "metric_name", spec.name))


def _stream_to(ds: Any, sink: ScoresOutput, summary: ScoringSummary) -> None:
    """Consume the scored rows as they come and append them to the CSV, flushing per block."""
    for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in table.to_pylist():
            score = row["score"] if row["status"] == "ok" else None
            summary.record(row["path"], score, row["error"] or "")
            sink.add(row["path"], score, row["error"] or "")
        sink.flush()


def read_dataset_scores(output: str) -> dict[str, dict[str, str]]:
    """The rows of a dataset output by path (an ``ok`` row wins over failed attempts); {} if none."""
    import pyarrow.fs as pafs

    fs, inner = _filesystem(output) if is_uri(output) else (pafs.LocalFileSystem(), os.path.abspath(output))
    if fs.get_file_info(inner).type == pafs.FileType.NotFound:
        return {}
    table = _read_table(output)
    if table.num_rows == 0:
        return {}
    missing = set(OUTPUT_COLUMNS) - set(table.column_names)
    if missing:
        raise UserError(
            f"{output} holds files that are not scores (no {sorted(missing)} columns); choose another output"
        )
    rows: dict[str, dict[str, str]] = {}
    for row in table.select(list(OUTPUT_COLUMNS)).to_pylist():
        row = {k: "" if v is None else str(v) for k, v in row.items()}
        if rows.get(row["path"], {}).get("status") != "ok":
            rows[row["path"]] = row
    return rows


def _write_dataset(ds: Any, output: str, summary: ScoringSummary, todo: set[str], *, overwrite: bool) -> None:
    """Write the scored rows as part files into the dataset ``output`` (Ray's file names carry
    each write's id, so a resumed run adds files beside the earlier ones; ``overwrite`` replaces
    them: ``--no-resume``); count this run's rows."""
    mode = _ray().data.SaveMode.OVERWRITE if overwrite else _ray().data.SaveMode.APPEND
    if output.rstrip("/").lower().endswith(".csv"):
        ds.write_csv(output, mode=mode)
    else:
        ds.write_parquet(output, mode=mode)
    for path, row in read_dataset_scores(output).items():
        if path in todo:
            summary.record(path, float(row["score"]) if row["status"] == "ok" else None, row["error"])


# --------------------------------------------------------------------------------------------------
# qclip-bench prepare --engine ray


def ray_profile_runner(num_cpus: float = 1, max_in_flight: int | None = None) -> Callable[..., Iterator]:
    """A :data:`~qclip_plugin.benchmark.prepare.ProfileRunner` computing each profile as a Ray task
    (:func:`~qclip_plugin.benchmark.prepare.profile_one`, ``num_cpus`` each, retried if its worker
    dies), yielding results as they finish; at most ``max_in_flight`` tasks are submitted at once
    (default twice the cluster's CPUs). The profile cache must be storage every node shares."""
    ray = _ray()
    from qclip_plugin.benchmark.prepare import profile_one

    task = ray.remote(num_cpus=num_cpus)(profile_one)

    def run(jobs: Sequence[tuple[str, Any]], size: tuple[int, int], cache: str | None) -> Iterator:
        window = max_in_flight or max(2, int(2 * ray.cluster_resources().get("CPU", 1) / max(num_cpus, 1e-3)))
        pending = iter(jobs)
        running = [task.remote(path, geometry, size, cache) for path, geometry in _take(pending, window)]
        while running:
            done, running = ray.wait(running, num_returns=1)
            yield ray.get(done[0])
            running += [task.remote(path, geometry, size, cache) for path, geometry in _take(pending, 1)]

    return run


def _take(iterator: Iterator[Any], count: int) -> list[Any]:
    return [item for _, item in zip(range(count), iterator, strict=False)]


def prepare_profiles_with_ray(videos: Any, *, num_cpus: float = 1, **kwargs: Any) -> Any:
    """:func:`~qclip_plugin.benchmark.prepare.prepare_profiles` with the profiles computed as Ray tasks
    (call inside :func:`ray_session`); planning, cache hits and the bad list as in the local run."""
    from qclip_plugin.benchmark.prepare import prepare_profiles

    return prepare_profiles(videos, runner=ray_profile_runner(num_cpus), **kwargs)
