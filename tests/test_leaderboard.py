"""Leaderboard files: CSV columns, Markdown tables, scatter plots, atomic writes, published rows."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qclip_plugin.atomic_files import atomic_write_text
from qclip_plugin.benchmark import leaderboard as lb


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _predictions(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mos = rng.uniform(1, 5, n)
    return pd.DataFrame({"name": [f"v{i}.mp4" for i in range(n)], "mos": mos, "pred": mos * 0.3 + rng.normal(0, 0.3, n)})


def _measured(frame: pd.DataFrame, test_set: str, method: str, **extra) -> dict:
    from qclip_plugin.evaluation import evaluate_predictions

    scores = evaluate_predictions(frame["pred"], frame["mos"], "linear")
    return {"method": method, "test_set": test_set, "n_videos": len(frame), **scores, **extra}


def test_published_tables_transcribed() -> None:
    table1 = lb.load_published("cross-dataset", ["KoNViD-1k", "LIVE-VQC"])
    # 21 rows of table 1 (14 methods + 7 Q-CLIP variants) x 2 cross-dataset sets, + FAST-VQA's,
    # FasterVQA's and DOVER's own READMEs (2 each).
    assert (table1["table"] == "Table 1").sum() == 42
    mixed = table1[(table1["method"] == "Q-CLIP (Mixed)") & (table1["test_set"] == "LIVE-VQC")].iloc[0]
    assert (mixed["SROCC"], mixed["PLCC"]) == (0.826, 0.867)
    # Q-Align has no LIVE-VQC result in the paper: empty, not zero.
    qalign = table1[(table1["method"] == "Q-Align") & (table1["test_set"] == "LIVE-VQC")].iloc[0]
    assert np.isnan(qalign["SROCC"])
    table2 = lb.load_published("finetune")
    assert (table2["table"] == "Table 2").sum() == 16 * 5
    qclip = table2[(table2["method"] == "Q-CLIP") & (table2["test_set"] == "LIVE-Qualcomm")].iloc[0]
    assert (qclip["SROCC"], qclip["PLCC"]) == (0.846, 0.884)
    intra = lb.load_published("intra-dataset", ["LSVQ_1080p"])
    fast = intra[(intra["method"] == "FAST-VQA") & (intra["table"] != "Table 1")].iloc[0]
    # the README prints PLCC only: SROCC stays empty rather than borrowed from another paper
    assert np.isnan(fast["SROCC"]) and fast["PLCC"] == 0.814 and "FAST-VQA" in fast["source"]
    assert set(table1["kind"]) == {"published"}
    assert (table1["source"].str.len() > 0).all()


def test_write_leaderboard_files(tmp_path: Path) -> None:
    preds = {"KoNViD-1k": _predictions(0), "LIVE-VQC": _predictions(1)}
    measured = [
        _measured(f, ts, "Q-CLIP (tiny)", selected_epoch=3, note="trained") for ts, f in preds.items()
    ] + [_measured(_predictions(9), ts, "Q-CLIP (tiny, untrained)", note="untrained") for ts in preds]
    meta = {"backbone": "QCLIP-Tiny", "preset": "tiny", "sampler": "UNISampl", "seeds": "0", "commit": "abc1234"}
    files = lb.write_leaderboard(tmp_path / "lb", "cross-dataset", measured, meta, preds, mapping="linear")

    table = pd.read_csv(files.csv)
    assert list(table.columns) == list(lb.COLUMNS)
    mine = table[table["kind"] == "measured"]
    assert len(mine) == 4 and set(mine["backbone"]) == {"QCLIP-Tiny"} and set(mine["mapping"]) == {"linear"}
    row = mine[(mine["test_set"] == "KoNViD-1k") & (mine["method"] == "Q-CLIP (tiny)")].iloc[0]
    f = preds["KoNViD-1k"]
    assert row["SROCC"] == pytest.approx(stats.spearmanr(f["pred"], f["mos"])[0], abs=1e-6)
    assert row["KROCC"] == pytest.approx(stats.kendalltau(f["pred"], f["mos"])[0], abs=1e-6)
    assert row["selected_epoch"] == 3
    published = table[table["kind"] == "published"]
    assert len(published) == 48 and set(published["test_set"]) == {"KoNViD-1k", "LIVE-VQC"}

    md = files.markdown.read_text()
    assert md.count("## ") == 2 and "**linear** mapping" in md and "abc1234" in md
    konvid = md.split("## KoNViD-1k")[1].split("## ")[0]
    table_lines = [line for line in konvid.splitlines() if line.startswith("| ")]
    assert table_lines[0] == "| kind | method | SROCC | PLCC | KROCC | RMSE | mapping | source |"
    # header, 2 measured, 24 published; measured first
    assert len(table_lines) == 1 + 2 + 24
    assert table_lines[1].startswith("| measured |") and table_lines[3].startswith("| published |")
    assert f"| {row['SROCC']:.4f} |" in table_lines[1]

    for test_set in preds:
        png = files.plots[test_set]
        assert png.exists() and _png_size(png) == lb.PLOT_SIZE_PX
        assert f"]({png.name})" in md
        back = pd.read_csv(files.predictions[test_set])
        assert np.allclose(back["pred"], preds[test_set]["pred"], rtol=1e-7)
    assert not [p for p in files.directory.iterdir() if p.name.startswith(".")]


def test_finetune_splits_give_mean_and_std(tmp_path: Path) -> None:
    rows = []
    for split, seed in enumerate([11, 12, 13]):
        frame = _predictions(seed)
        rows.append(_measured(frame, "CVD2014", "Q-CLIP (tiny)", split=str(split), seed=seed, selected_epoch=split + 1))
    files = lb.write_leaderboard(tmp_path, "finetune", rows, {"preset": "tiny"})
    table = pd.read_csv(files.csv, dtype={"split": str})
    summary = table[(table["kind"] == "measured") & (table["split"] == lb.MEAN_STD)].iloc[0]
    per_split = [r["SROCC"] for r in rows]
    assert summary["SROCC"] == pytest.approx(np.mean(per_split), abs=1e-6)
    assert summary["SROCC_std"] == pytest.approx(np.std(per_split, ddof=1), abs=1e-6)
    assert summary["seed"] == "11,12,13"
    md = files.markdown.read_text()
    assert f"{np.mean(per_split):.4f} ± {np.std(per_split, ddof=1):.4f}" in md
    assert "## Per split" in md and md.count("| CVD2014 | Q-CLIP (tiny) |") == 3
    assert (table["table"] == "Table 2").sum() == 16


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "leaderboard.md"
    atomic_write_text(target, "old")

    class Boom(Exception):
        pass

    def fail(handle) -> None:
        handle.write("half")
        raise Boom

    from qclip_plugin.atomic_files import atomic_write

    with pytest.raises(Boom):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["leaderboard.md"]


def test_empty_results_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no measured results"):
        lb.write_leaderboard(tmp_path, "cross-dataset", [])
