"""The Ray Data engine (qclip_plugin.integrations.ray_data) on a small local Ray instance: scores
equal to the local engine's on the real clips, failures as rows, resume, Parquet outputs, path
tables, profiles as Ray tasks, and workers killed mid-job."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from qclip_plugin.benchmark.scoring import OUTPUT_COLUMNS, metric_fingerprint, score_videos  # noqa: E402
from qclip_plugin.cli.main import main  # noqa: E402
from qclip_plugin.integrations.ray_data import (  # noqa: E402
    DecodeVideos,
    MetricSpec,
    list_videos,
    prepare_profiles_with_ray,
    read_dataset_scores,
    score_with_ray,
)

# actors import torch and build the model once each: about a minute for the module on 2 busy cores
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_thread")]

TINY = {"preset": "tiny", "pretrained": False, "num_frames": 4}
SMALL_CLIPS = ("carphone_distorted.mp4", "carphone_pristine.mp4", "empty.mp4")


@pytest.fixture(scope="module")
def local_ray():
    """One small local Ray instance for the module (other processes share this machine's memory)."""
    # test functions and classes below travel to the workers by value: the workers cannot import tests/
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, object_store_memory=300 * 2**20, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def metric(tiny_metric):
    return tiny_metric


@pytest.fixture()
def small_folder(tmp_path, videos_dir):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in SMALL_CLIPS:
        shutil.copy(videos_dir / name, folder / name)
    return folder


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_importing_the_package_does_not_import_ray():
    code = (
        "import sys, qclip_plugin, qclip_plugin.integrations, qclip_plugin.benchmark.scoring, qclip_plugin.cli.main; "
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("sampler", ["UNISampl", "SegMSEMean"])
def test_decode_stage_gives_the_metrics_own_frames(metric, videos_dir, tmp_path, sampler):
    from qclip_plugin.metrics import create_metric

    if sampler != "UNISampl":
        metric = create_metric("qclip", device="cpu", sampler=sampler, **TINY)
    decode = DecodeVideos.for_metric(metric, cache_dir=tmp_path)
    paths = [str(videos_dir / name) for name in ("bikes.mp4", "empty.mp4", "lsvq_1724.mp4")]
    out = decode({"path": np.array(paths, dtype=object)})
    assert out["frames"].dtype == np.uint8 and out["frames"].shape == (3, 4, 3, 112, 112)
    assert list(out["status"]) == ["ok", "failed", "ok"]
    assert out["error"][1] == "the file is empty (0 bytes)" and out["error"][0] == ""
    assert not out["frames"][1].any()
    for i in (0, 2):  # bit-identical to what the local engine's workers send
        assert np.array_equal(out["frames"][i], metric.load(paths[i], normalize=False).numpy())
    row = decode({"path": paths[0]})  # Dataset.map: one row
    assert row["status"] == "ok" and np.array_equal(row["frames"], out["frames"][0])


def test_cli_engine_ray_scores_as_the_local_engine_and_resumes(
    local_ray, metric, videos_dir, tmp_path, capsys
):
    local = score_videos(metric, [videos_dir], tmp_path / "local.csv", progress=False)
    output = tmp_path / "r.csv"
    common = [
        "--preset",
        "tiny",
        "--untrained",
        "--frames",
        "4",
        "--quiet",
        "--engine",
        "ray",
        "--output",
        str(output),
    ]
    assert main(["score", str(videos_dir), *common]) == 0
    empty = str(videos_dir / "empty.mp4")
    assert f"failed: {empty}: the file is empty (0 bytes)" in capsys.readouterr().out
    rows = {r["path"]: r for r in _rows(output)}
    assert list(_rows(output)[0]) == list(OUTPUT_COLUMNS) and len(rows) == 8
    assert (rows[empty]["status"], rows[empty]["score"], rows[empty]["error"]) == (
        "failed",
        "",
        "the file is empty (0 bytes)",
    )
    assert {r["metric"] for r in rows.values()} == {metric_fingerprint(metric)}
    assert {p for p, r in rows.items() if r["status"] == "ok"} == set(local.scores)
    for path, score in local.scores.items():
        assert float(rows[path]["score"]) == pytest.approx(score, abs=1e-6)
    # re-running skips what the output holds (no Ray job is even started for them)
    scored = [videos_dir / Path(p).name for p in local.scores]
    again = score_with_ray("qclip", scored, output, options=TINY, progress=False)
    assert (again.scored, again.failed, again.skipped) == (0, 0, 7)
    assert {r["path"]: r["score"] for r in _rows(output)} == {p: r["score"] for p, r in rows.items()}
    assert main(["score", str(videos_dir), *common, "--shard", "0/2"]) == 2


def test_parquet_dataset_output_and_path_tables(local_ray, small_folder, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = tmp_path / "lists" / "videos.parquet"
    table.parent.mkdir()
    relative = [os.path.relpath(small_folder / n, table.parent) for n in SMALL_CLIPS]
    pq.write_table(pa.table({"path": relative, "mos": [1.0, 2.0, 3.0]}), table)
    listed = list_videos([table])
    assert [Path(p).resolve() for p in listed] == [(small_folder / n).resolve() for n in SMALL_CLIPS]
    uris = [(small_folder / n).as_uri() for n in sorted(SMALL_CLIPS)]
    assert list_videos([small_folder.as_uri()]) == uris

    output = tmp_path / "scores.parquet"
    first = score_with_ray("qclip", [small_folder.as_uri()], output, options=TINY, progress=False)
    assert (first.scored, first.failed) == (2, 1)
    rows = pq.read_table(output).to_pylist()
    assert sorted(r["status"] for r in rows) == ["failed", "ok", "ok"]
    assert [r["score"] for r in rows if r["status"] == "failed"] == [None]
    ok = [r["path"] for r in rows if r["status"] == "ok"]
    again = score_with_ray("qclip", ok, output, options=TINY, progress=False)
    assert (again.scored, again.failed, again.skipped) == (0, 0, 2)
    # a failed video scored by a later run: the ok row wins over the failed attempt
    failed = next(r for r in rows if r["status"] == "failed")
    later = {**failed, "score": 0.5, "status": "ok", "error": ""}
    pq.write_table(
        pa.Table.from_pylist([later], schema=pq.read_schema(next(output.glob("*.parquet")))),
        output / "later.parquet",
    )
    assert read_dataset_scores(str(output))[failed["path"]]["status"] == "ok"
    assert score_with_ray("qclip", [small_folder.as_uri()], output, options=TINY, progress=False).skipped == 3


def _dies_once(device=None, as_loss=False, marker="", **options):
    """The tiny metric, whose first forward pass anywhere kills its worker process."""
    from qclip_plugin.metrics import create_metric

    metric = create_metric("qclip", device=device, as_loss=as_loss, **options)
    forward = metric.score_frames

    def score_frames(frames):
        if not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)
        return forward(frames)

    metric.score_frames = score_frames
    return metric


class _DecodeDiesOnce(DecodeVideos):
    def __init__(self, metric, marker):
        super().__init__(metric.preprocessing, num_frames=metric.num_frames, sampler=metric.sampler)
        self.marker = marker

    def decode(self, path):
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)
        return super().decode(path)


def test_killed_workers_are_retried_and_every_row_ends(local_ray, metric, small_folder, tmp_path):
    marker = tmp_path / "scorer-died"
    spec = MetricSpec(_dies_once, {**TINY, "marker": str(marker)})
    output = tmp_path / "scores.csv"
    summary = score_with_ray(spec, [small_folder], output, batch_size=1, progress=False)
    assert marker.exists()  # an actor died in its first batch, was restarted and its batch retried
    assert (summary.scored, summary.failed) == (2, 1) and len(_rows(output)) == 3
    for name in SMALL_CLIPS[:2]:
        assert summary.scores[str(small_folder / name)] == pytest.approx(
            float(metric(small_folder / name)), abs=1e-6
        )

    marker = tmp_path / "decoder-died"
    paths = [str(small_folder / n) for n in SMALL_CLIPS]
    ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=3)
    rows = ds.map_batches(_DecodeDiesOnce(metric, str(marker)), batch_format="numpy").take_all()
    assert marker.exists()  # a decode task's worker died; Ray ran the task again
    assert sorted((r["path"], r["status"]) for r in rows) == sorted(
        zip(paths, ["ok", "ok", "failed"], strict=True)
    )


def test_prepare_profiles_as_ray_tasks(local_ray, small_folder, tmp_path, capsys):
    from qclip_plugin.sampling import cached_profile, frame_difference_profile

    cache = tmp_path / "cache"
    report = prepare_profiles_with_ray(
        [small_folder / n for n in SMALL_CLIPS],
        cache_dir=cache,
        bad_list=tmp_path / "bad.csv",
        progress=False,
    )
    assert (report.computed, report.cached, list(report.bad)) == (2, 0, [str(small_folder / "empty.mp4")])
    for name in SMALL_CLIPS[:2]:
        path = small_folder / name
        assert np.array_equal(
            cached_profile(path, cache_dir=cache), frame_difference_profile(path, cache_dir=False)
        )
    args = [
        "prepare",
        str(small_folder),
        "--engine",
        "ray",
        "--cache-dir",
        str(cache),
        "--bad-list",
        str(tmp_path / "bad.csv"),
        "--quiet",
    ]
    assert main(args) == 0
    assert "2 already cached, 1 bad, 1 of them already known" in capsys.readouterr().out
