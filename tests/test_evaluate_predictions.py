"""``qclip-bench evaluate``: DOVER's released predictions reproduce DESIGN.md §4 to four decimals."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qclip_plugin.benchmark.predictions import (
    add_to_leaderboard,
    evaluate_predictions_file,
    fuse_branches,
    match_names,
    read_predictions,
)
from qclip_plugin.cli.main import main

# DESIGN.md §4: DOVER's released predictions, branches z-scored and summed.
DOVER_REFERENCE = [
    ("KoNViD", "KoNViD/labels.txt", 1200, 0.8825, 0.8836),
    ("LIVE_VQC", "LIVE_VQC/labels.txt", 585, 0.8291, 0.8533),
    ("LSVQ_test", "LSVQ/labels_test.txt", 7186, 0.8866, 0.8870),
    ("LSVQ_1080p", "LSVQ/labels_1080p.txt", 3573, 0.7927, 0.8283),
]


@pytest.mark.parametrize(("name", "labels", "n", "srocc", "plcc"), DOVER_REFERENCE)
def test_dover_released_predictions(shared_data, name, labels, n, srocc, plcc):
    result = evaluate_predictions_file(
        shared_data / "reference_predictions/dover" / f"{name}.csv", shared_data / "labels" / labels
    )
    assert result.fused_branches == ("aesthetic", "technical")
    assert result.n == n and not result.missing and not result.unmatched
    assert round(result.SROCC, 4) == srocc
    assert round(result.PLCC, 4) == plcc
    assert result.mapping == "linear"


def test_fusion_is_sum_of_population_z_scores():
    table = pd.DataFrame({"aesthetic": [1.0, 2.0, 4.0], "technical": [10.0, 0.0, 5.0]})
    a = (table.aesthetic - table.aesthetic.mean()) / table.aesthetic.std(ddof=0)
    t = (table.technical - table.technical.mean()) / table.technical.std(ddof=0)
    np.testing.assert_allclose(fuse_branches(table).to_numpy(), (a + t).to_numpy())


def _labels(tmp_path, names, mos):
    path = tmp_path / "labels.txt"
    path.write_text("".join(f"{n}, -1, -1, {m}\n" for n, m in zip(names, mos, strict=True)))
    return path


def test_name_score_files_with_and_without_header(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"videos/{i}.mp4" for i in range(20)]
    mos = rng.uniform(1, 5, 20)
    pred = mos + rng.normal(0, 0.5, 20)
    labels = _labels(tmp_path, names, mos)
    headerless = tmp_path / "a.csv"
    headerless.write_text("".join(f"{n},{p}\n" for n, p in zip(names, pred, strict=True)))
    with_header = tmp_path / "b.csv"
    pd.DataFrame({"name": names, "score": pred}).to_csv(with_header, index=False)
    for path in (headerless, with_header):
        result = evaluate_predictions_file(path, labels, mapping="none")
        assert result.n == 20 and result.fused_branches == ()
        assert result.SROCC == pytest.approx(stats.spearmanr(pred, mos)[0], abs=1e-12)
        assert result.PLCC == pytest.approx(stats.pearsonr(pred, mos)[0], abs=1e-12)
        assert result.RMSE == pytest.approx(np.sqrt(np.mean((pred - mos) ** 2)), abs=1e-12)


def test_score_output_drops_failures_and_matches_absolute_paths(tmp_path):
    names = [f"KoNViD_1k_videos/{i}.mp4" for i in range(6)]
    labels = _labels(tmp_path, names, [1, 2, 3, 4, 5, 6])
    scores = tmp_path / "scores.csv"
    pd.DataFrame(
        {
            "path": [f"/data/konvid/{i}.mp4" for i in range(6)] + ["/data/konvid/broken.mp4"],
            "score": [0.1, 0.2, 0.3, 0.5, 0.4, 0.6, np.nan],
            "status": ["ok"] * 6 + ["failed"],
            "error": [""] * 6 + ["cannot read video"],
        }
    ).to_csv(scores, index=False)
    series, _ = read_predictions(scores)
    assert len(series) == 6
    result = evaluate_predictions_file(scores, labels)
    assert result.n == 6 and not result.unmatched
    assert result.SROCC == pytest.approx(stats.spearmanr([0.1, 0.2, 0.3, 0.5, 0.4, 0.6], range(6))[0])


def test_match_names_refuses_ambiguous_suffixes():
    labelled = ["a/1.mp4", "b/1.mp4", "a/2.mp4"]
    assert match_names(["/x/a/1.mp4", "/y/2.mp4", "/z/1.mp4"], labelled) == {
        "/x/a/1.mp4": "a/1.mp4",
        "/y/2.mp4": "a/2.mp4",
    }


def test_too_few_matches_is_explained(tmp_path):
    labels = _labels(tmp_path, ["a.mp4", "b.mp4", "c.mp4"], [1, 2, 3])
    predictions = tmp_path / "p.csv"
    predictions.write_text("name,score\nx.mp4,1\ny.mp4,2\nz.mp4,3\n")
    with pytest.raises(ValueError, match="same dataset"):
        evaluate_predictions_file(predictions, labels)


def test_cli_prints_dover_konvid_and_adds_measured_row(shared_data, tmp_path, capsys):
    board = tmp_path / "board"
    argv = [
        "evaluate",
        "--predictions", str(shared_data / "reference_predictions/dover/KoNViD.csv"),
        "--labels", str(shared_data / "labels/KoNViD/labels.txt"),
        "--leaderboard", str(board), "--method", "DOVER (released predictions)", "--test-set", "KoNViD-1k",
        "--train-set", "LSVQ_train",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "SROCC 0.8825" in out and "PLCC 0.8836" in out
    assert main(argv) == 0  # a second run replaces the row, it does not add one
    rows = pd.read_csv(board / "leaderboard.csv")
    measured = rows[rows["kind"] == "measured"]
    assert len(measured) == 1
    row = measured.iloc[0]
    assert (row["method"], row["test_set"], row["n_videos"], row["mapping"]) == (
        "DOVER (released predictions)", "KoNViD-1k", 1200, "linear",
    )
    assert round(row["SROCC"], 4) == 0.8825 and round(row["PLCC"], 4) == 0.8836
    # the published cross-dataset rows of the same test set sit beside it
    assert (rows["kind"] == "published").sum() >= 1 and set(rows["test_set"]) == {"KoNViD-1k"}
    # one predictions file per method and set (several methods on a set no longer overwrite each other)
    per_video = pd.read_csv(board / "predictions_DOVER_released_predictions__KoNViD-1k.csv")
    assert len(per_video) == 1200 and {"name", "mos", "pred"} <= set(per_video.columns)


def test_leaderboard_keeps_other_measured_rows(tmp_path, shared_data):
    board = tmp_path / "board"
    for name, labels, test_set in (("KoNViD", "KoNViD/labels.txt", "KoNViD-1k"), ("LIVE_VQC", "LIVE_VQC/labels.txt", "LIVE-VQC")):
        result = evaluate_predictions_file(
            shared_data / "reference_predictions/dover" / f"{name}.csv", shared_data / "labels" / labels
        )
        add_to_leaderboard(result, board, method="DOVER", test_set=test_set, train_set="LSVQ_train")
    rows = pd.read_csv(board / "leaderboard.csv")
    measured = rows[rows["kind"] == "measured"].set_index("test_set")
    assert sorted(measured.index) == ["KoNViD-1k", "LIVE-VQC"]
    assert round(measured.loc["LIVE-VQC", "SROCC"], 4) == 0.8291
    assert round(measured.loc["LIVE-VQC", "PLCC"], 4) == 0.8533


def test_evaluating_twice_keeps_one_row_per_method_and_set_and_every_plot_linked(tmp_path, monkeypatch):
    """Issue 13: after two ``evaluate --leaderboard`` calls the first plot was unlinked, rows repeated and
    the metadata header empty."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    runs = []
    for test_set in ("KoNViD-1k", "LIVE-VQC"):
        names = [f"{test_set}/{i}.mp4" for i in range(30)]
        mos = rng.uniform(1, 5, 30)
        labels = tmp_path / test_set / "labels.txt"
        labels.parent.mkdir()
        labels.write_text("".join(f"{n}, -1, -1, {m}\n" for n, m in zip(names, mos, strict=True)))
        for method, noise in (("DOVER", 0.4), ("FAST-VQA", 0.8)):
            predictions = tmp_path / test_set / f"{method}.csv"
            pd.DataFrame({"name": names, "score": mos + rng.normal(0, noise, 30)}).to_csv(predictions, index=False)
            runs.append(["evaluate", "--predictions", str(predictions), "--labels", str(labels),
                         "--leaderboard", "leaderboard/mine", "--method", method, "--test-set", test_set])  # fmt: skip
    for argv in runs + runs:  # each twice
        assert main(argv) == 0
    board = tmp_path / "leaderboard" / "mine"
    rows = pd.read_csv(board / "leaderboard.csv")
    measured = rows[rows["kind"] == "measured"]
    assert sorted(zip(measured["method"], measured["test_set"], strict=True)) == [
        ("DOVER", "KoNViD-1k"), ("DOVER", "LIVE-VQC"), ("FAST-VQA", "KoNViD-1k"), ("FAST-VQA", "LIVE-VQC"),
    ]  # fmt: skip
    published = rows[rows["kind"] == "published"]
    assert not published.duplicated(["method", "source", "test_set"]).any() and len(published) == 48
    md = (board / "leaderboard.md").read_text()
    links = re.findall(r"!\[prediction vs MOS: ([^]]+)\]\(([^)]+)\)", md)
    assert sorted(links) == sorted(
        (f"{m} on {t}", f"scatter_{m}__{t}.png") for m in ("DOVER", "FAST-VQA") for t in ("KoNViD-1k", "LIVE-VQC")
    )
    assert all((board / target).is_file() for _, target in links)
    # the methods table: one row per measured method, its cells the rows' numbers
    top = md.split("\n\n")[1].splitlines()
    dover = [line for line in top if line.startswith("| DOVER |")]
    # measured first, then the paper's and DOVER's own published rows
    assert len(dover) == 3 and dover[0].endswith("| measured: predictions file DOVER.csv |")
    assert [line.split(" | ")[-1] for line in dover[1:]] == [
        "published: Q-CLIP paper |", "published: README of github.com/VQAssessment/DOVER (commit f1ddc96) |",
    ]
    konvid = measured[(measured["method"] == "DOVER") & (measured["test_set"] == "KoNViD-1k")].iloc[0]
    assert dover[0].startswith(f"| DOVER | {konvid['SROCC']:.4f} | {konvid['PLCC']:.4f} |")
    assert "- **protocol**: cross-dataset" in md and "- **last added**: FAST-VQA on LIVE-VQC (qclip-bench evaluate" in md
    index = (tmp_path / "leaderboard" / "README.md").read_text()
    assert "## [mine](mine/leaderboard.md)" in index and index.count("| DOVER |") == 3
