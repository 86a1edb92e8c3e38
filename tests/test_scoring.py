"""score_videos / ``qclip-bench score``: inputs, batching, failures recorded, resuming."""

from __future__ import annotations

import csv
import shutil

import pytest
import torch

from qclip_plugin.benchmark.scoring import collect_videos, metric_fingerprint, read_scores, score_videos
from qclip_plugin.cli.main import main
from qclip_plugin.metrics import create_metric
from qclip_plugin.video.errors import VideoReadError

CLIPS = ("carphone_distorted.mp4", "carphone_pristine.mp4", "bikes.mp4")


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def metric(tiny_metric):
    return tiny_metric


@pytest.fixture()
def videos(tmp_path, videos_dir):
    folder = tmp_path / "videos"
    (folder / "nested").mkdir(parents=True)
    for name in CLIPS[:2]:
        shutil.copy(videos_dir / name, folder / name)
    shutil.copy(videos_dir / CLIPS[2], folder / "nested" / CLIPS[2])
    shutil.copy(videos_dir / "empty.mp4", folder / "empty.mp4")
    (folder / "notes.md").write_text("not a video")
    return folder


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_collect_videos_from_folders_lists_and_files(videos, tmp_path):
    found = collect_videos([videos])
    assert [p.relative_to(videos).as_posix() for p in found] == [
        "carphone_distorted.mp4",
        "carphone_pristine.mp4",
        "empty.mp4",
        "nested/bikes.mp4",
    ]
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# a community label list\nvideos/nested/bikes.mp4, -1, -1, 3.2\n\nvideos/empty.mp4, 8, 30, 1.0\n"
    )
    assert collect_videos([listing, videos / "empty.mp4"]) == [
        videos / "nested/bikes.mp4",
        videos / "empty.mp4",
    ]
    with pytest.raises(FileNotFoundError, match="missing.mp4 does not exist"):
        collect_videos([tmp_path / "missing.mp4"])


def test_failures_recorded_then_resume_skips_scored(metric, videos, tmp_path):
    output = tmp_path / "scores.csv"
    first = score_videos(metric, [videos], output, batch_size=2, progress=False)
    assert (first.scored, first.skipped, first.failed) == (3, 0, 1)
    assert list(first.failures) == [str(videos / "empty.mp4")]
    assert "empty" in first.failures[str(videos / "empty.mp4")]
    rows = {r["path"]: r for r in _rows(output)}
    assert len(rows) == 4
    assert (
        rows[str(videos / "empty.mp4")]["status"] == "failed"
        and rows[str(videos / "empty.mp4")]["score"] == ""
    )
    # each recorded score is the metric's score of that file alone (batch = stacked singles)
    for name in ("carphone_distorted.mp4", "nested/bikes.mp4"):
        assert float(rows[str(videos / name)]["score"]) == pytest.approx(
            float(metric(videos / name)), abs=1e-5
        )

    second = score_videos(metric, [videos], output, batch_size=2, progress=False)
    assert (second.scored, second.skipped, second.failed) == (0, 3, 1)  # failed ones are retried
    assert {r["path"]: r["score"] for r in _rows(output)} == {p: r["score"] for p, r in rows.items()}
    assert len(_rows(output)) == 4  # the retried failure replaced its row

    # a video lost from the output is scored again, the others kept
    kept = [r for r in _rows(output) if not r["path"].endswith("pristine.mp4")]
    with open(output, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    third = score_videos(metric, [videos], output, progress=False)
    assert (third.scored, third.skipped, third.failed) == (1, 2, 1)
    assert set(read_scores(output)) == set(rows)


def test_refuses_to_resume_with_another_metric(metric, videos, tmp_path):
    output = tmp_path / "scores.csv"
    score_videos(metric, [videos / CLIPS[0]], output, progress=False)
    assert {r["metric"] for r in _rows(output)} == {metric_fingerprint(metric)}
    other = create_metric("qclip", preset="tiny", pretrained=False, device="cpu", num_frames=2)
    assert metric_fingerprint(other) != metric_fingerprint(metric)
    with pytest.raises(ValueError, match="another metric or configuration"):
        score_videos(other, [videos / CLIPS[0]], output, progress=False)
    summary = score_videos(other, [videos / CLIPS[0]], output, resume=False, progress=False)
    assert summary.scored == 1 and {r["metric"] for r in _rows(output)} == {metric_fingerprint(other)}


def test_strict_stops_at_the_first_unreadable_video(metric, videos, tmp_path):
    with pytest.raises(VideoReadError, match="empty"):
        score_videos(metric, [videos / "empty.mp4"], tmp_path / "s.csv", strict=True, progress=False)


def test_scores_without_output(metric, videos):
    summary = score_videos(metric, [videos / CLIPS[0]], None, progress=False)
    assert summary.output is None and summary.scored == 1
    assert summary.scores[str(videos / CLIPS[0])] == pytest.approx(float(metric(videos / CLIPS[0])), abs=1e-6)


def test_workers_send_uint8_frames_and_scores_stay_identical(metric, videos):
    # Workers send uint8 frames (a quarter of float32's bytes) that the loop normalises: the batch is
    # bit-identical to stacking metric.load's float frames, so the scores equal an in-process run's.
    from qclip_plugin.metrics import UINT8_FRAMES, declared_input

    assert declared_input(metric) == UINT8_FRAMES
    assert metric.load(videos / CLIPS[0], normalize=False).dtype == torch.uint8
    paths = collect_videos([videos])
    # one batch (the three readable videos), as the reference below
    in_process = score_videos(metric, [videos], None, batch_size=4, progress=False)
    workers = score_videos(metric, [videos], None, batch_size=4, num_workers=2, progress=False)
    assert workers.scores == in_process.scores and workers.failures == in_process.failures
    good = [p for p in paths if p.stat().st_size > 0]
    with torch.no_grad():
        expected = metric.score_frames(torch.stack([metric.load(p) for p in good])).tolist()
    assert [in_process.scores[str(p)] for p in good] == expected


def test_metrics_without_a_uint8_load_still_score(metric, videos):
    from qclip_plugin.metrics import FLOAT_FRAMES, declared_input

    class FloatOnly:  # a third-party metric: load(path) -> normalised frames, score_frames(batch)
        metric_name = "float-only"

        def load(self, path):
            return metric.load(path)

        def score_frames(self, frames):
            return metric.score_frames(frames)

    assert declared_input(FloatOnly()) == FLOAT_FRAMES  # declares nothing: float frames, stacked
    summary = score_videos(FloatOnly(), [videos], None, batch_size=3, num_workers=1, progress=False)
    reference = score_videos(metric, [videos], None, batch_size=3, progress=False)
    assert summary.scores == reference.scores


def test_refuses_to_overwrite_other_files(metric, videos, tmp_path):
    other = tmp_path / "labels.csv"
    other.write_text("name,mos\na.mp4,3\n")
    with pytest.raises(ValueError, match="not a scores file"):
        score_videos(metric, [videos / CLIPS[0]], other, progress=False)
    assert other.read_text() == "name,mos\na.mp4,3\n"


def test_cli_score_then_resume(videos, tmp_path, capsys):
    output = tmp_path / "s.csv"
    argv = [
        "score",
        str(videos),
        "--preset",
        "tiny",
        "--untrained",
        "--output",
        str(output),
        "--frames",
        "4",
        "--batch-size",
        "3",
        "--quiet",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "scored 3, skipped 0, failed 1" in out and f"failed: {videos / 'empty.mp4'}" in out
    assert main(argv) == 0
    assert "scored 0, skipped 3, failed 1" in capsys.readouterr().out
    scores = {r["path"]: r["score"] for r in _rows(output) if r["status"] == "ok"}
    reference = create_metric("qclip", preset="tiny", pretrained=False, device="cpu", num_frames=4)
    with torch.no_grad():
        expected = float(reference(videos / CLIPS[1]))
    assert float(scores[str(videos / CLIPS[1])]) == pytest.approx(expected, abs=1e-5)
