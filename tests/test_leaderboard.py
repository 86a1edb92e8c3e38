"""Leaderboard files: CSV columns, Markdown tables (the methods × datasets table first), scatter plots per
method and set, the index of the leaderboards side by side, atomic writes, published rows."""

from __future__ import annotations

import os
import re
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

    # predictions given per test set belong to its first trained method
    assert sorted(files.plots) == [("Q-CLIP (tiny)", "KoNViD-1k"), ("Q-CLIP (tiny)", "LIVE-VQC")]
    for test_set in preds:
        png = files.plots[("Q-CLIP (tiny)", test_set)]
        assert png.name == f"scatter_Q-CLIP_tiny__{test_set}.png"
        assert png.exists() and _png_size(png) == lb.PLOT_SIZE_PX
        assert f"]({png.name})" in md
        back = pd.read_csv(files.predictions[("Q-CLIP (tiny)", test_set)])
        assert np.allclose(back["pred"], preds[test_set]["pred"], rtol=1e-7)
    assert not [p for p in files.directory.iterdir() if p.name.startswith(".")]


def test_finetune_splits_give_mean_and_std(tmp_path: Path) -> None:
    rows = []
    for split, seed in enumerate([11, 12, 13]):
        frame = _predictions(seed)
        rows.append(_measured(frame, "CVD2014", "Q-CLIP (tiny)", split=str(split), seed=seed, selected_epoch=split + 1))
    files = lb.write_leaderboard(tmp_path / "lb", "finetune", rows, {"preset": "tiny"})
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
        lb.write_leaderboard(tmp_path / "lb", "cross-dataset", [])


# --- the methods × datasets table ------------------------------------------------------------------


def _top_table(markdown: str) -> list[list[str]]:
    """The cells of the first Markdown table, header and separator included, and check it opens the page."""
    lines = markdown.splitlines()
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2].startswith("| method |")
    table = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return table


def test_methods_table_opens_the_markdown_with_the_rows_numbers(tmp_path: Path) -> None:
    preds = {"KoNViD-1k": _predictions(0), "LIVE-VQC": _predictions(1)}
    measured = [_measured(f, ts, "Q-CLIP (tiny)") for ts, f in preds.items()]
    measured += [_measured(_predictions(9), ts, "Q-CLIP (tiny), untrained") for ts in preds]
    files = lb.write_leaderboard(tmp_path / "lb", "cross-dataset", measured, {"preset": "tiny"}, preds)

    table = _top_table(files.markdown.read_text())
    header, separator, body = table[0], table[1], table[2:]
    assert header == ["method", "KoNViD-1k SROCC", "KoNViD-1k PLCC", "LIVE-VQC SROCC", "LIVE-VQC PLCC", "source"]
    assert separator == ["---", "---:", "---:", "---:", "---:", "---"]
    published = lb.load_published("cross-dataset", list(preds))
    pairs = {(m, f"published: {s}") for m, s in zip(published["method"], published["source"], strict=True)}
    # one row per method and source: 2 measured + Table 1's 21 methods + FAST-VQA's, FasterVQA's, DOVER's READMEs
    assert len(body) == 2 + len(pairs) == 2 + 24
    assert [row[0] for row in body[:2]] == ["Q-CLIP (tiny)", "Q-CLIP (tiny), untrained"]
    assert [row[-1] for row in body[:2]] == ["measured", "measured, untrained baseline"]
    assert {(row[0], row[-1]) for row in body[2:]} == pairs
    for row in body[:2]:
        for i, test_set in enumerate(preds):
            mine = next(m for m in measured if m["method"] == row[0] and m["test_set"] == test_set)
            assert row[1 + 2 * i : 3 + 2 * i] == [f"{mine['SROCC']:.4f}", f"{mine['PLCC']:.4f}"]
    mixed = next(row for row in body if row[0] == "Q-CLIP (Mixed)")
    assert mixed[1:5] == ["0.896", "0.901", "0.826", "0.867"]  # table 1, as printed
    qalign = next(row for row in body if row[0] == "Q-Align")
    assert qalign[3:5] == ["—", "—"]  # no LIVE-VQC result in the paper
    # published rows by mean SROCC over the sets, rows without any SROCC (the READMEs' PLCC-only rows) last
    wide = lb.methods_table(pd.read_csv(files.csv, dtype={"split": str}))
    means = wide.loc[wide["kind"] == "published", ["KoNViD-1k SROCC", "LIVE-VQC SROCC"]].mean(axis=1).tolist()
    known = [m for m in means if not np.isnan(m)]
    assert known == sorted(known, reverse=True) and all(np.isnan(m) for m in means[len(known):])
    assert len(known) == 21
    assert wide.loc[0, "KoNViD-1k SROCC"] == pytest.approx(measured[0]["SROCC"], abs=1e-6)


def test_methods_table_shows_split_means_with_std(tmp_path: Path) -> None:
    rows = [
        _measured(_predictions(seed), "CVD2014", "Q-CLIP (tiny)", split=str(split), seed=seed)
        for split, seed in enumerate([11, 12, 13])
    ]
    files = lb.write_leaderboard(tmp_path / "lb", "finetune", rows, published=False)
    body = _top_table(files.markdown.read_text())[2:]
    srocc, plcc = (np.array([r[c] for r in rows]) for c in ("SROCC", "PLCC"))
    assert body == [[
        "Q-CLIP (tiny)", f"{srocc.mean():.4f} ± {srocc.std(ddof=1):.4f}", f"{plcc.mean():.4f} ± {plcc.std(ddof=1):.4f}",
        "measured",
    ]]  # fmt: skip


# --- scatter plots -----------------------------------------------------------------------------------


def test_one_scatter_per_method_and_set_titled_with_both(tmp_path: Path, monkeypatch) -> None:
    titles = {}
    draw = lb.scatter_plot

    def recording(pred, mos, path, mapping="linear", title="", groups=None):
        titles[Path(path).name] = (title, None if groups is None else sorted(set(groups)))
        return draw(pred, mos, path, mapping, title, groups)

    monkeypatch.setattr(lb, "scatter_plot", recording)
    frames = {("DOVER", "KoNViD-1k"): _predictions(0), ("FAST-VQA", "KoNViD-1k"): _predictions(1)}
    rows = [_measured(frame, t, m) for (m, t), frame in frames.items()]
    files = lb.write_leaderboard(tmp_path / "lb", "cross-dataset", rows, predictions=frames, published=False)
    assert titles == {
        "scatter_DOVER__KoNViD-1k.png": ("DOVER on KoNViD-1k", None),
        "scatter_FAST-VQA__KoNViD-1k.png": ("FAST-VQA on KoNViD-1k", None),
    }
    md = files.markdown.read_text()
    for (method, test_set), png in files.plots.items():
        assert png.is_file() and f"![prediction vs MOS: {method} on {test_set}]({png.name})" in md
        assert pd.read_csv(files.predictions[(method, test_set)])["pred"].tolist() == pytest.approx(
            frames[(method, test_set)]["pred"].tolist(), rel=1e-7
        )
    assert files.plots[("DOVER", "KoNViD-1k")].read_bytes() != files.plots[("FAST-VQA", "KoNViD-1k")].read_bytes()


def test_split_predictions_are_pooled_and_coloured_by_split(tmp_path: Path, monkeypatch) -> None:
    frames = [_predictions(seed).assign(split=str(split)) for split, seed in enumerate([11, 12, 13])]
    pooled = pd.concat(frames, ignore_index=True)
    fig = lb.scatter_figure(pooled["pred"], pooled["mos"], title="Q-CLIP (tiny) on CVD2014", groups=pooled["split"])
    from qclip_plugin.evaluation import evaluate_predictions

    scores = evaluate_predictions(pooled["pred"], pooled["mos"], "linear")
    ax = fig.axes[0]
    assert ax.get_title().splitlines() == [
        "Q-CLIP (tiny) on CVD2014", f"SROCC {scores['SROCC']:.3f}  PLCC {scores['PLCC']:.3f} (pooled)"
    ]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:3] == ["split 0 (40)", "split 1 (40)", "split 2 (40)"]
    assert lb.plot_title("Q-CLIP (tiny)", "CVD2014", ["0", "1", "2"]) == "Q-CLIP (tiny) on CVD2014, all 3 splits pooled"
    assert lb.plot_title("Q-CLIP (tiny)", "CVD2014", ["0"]) == "Q-CLIP (tiny) on CVD2014, split 0"

    titles = []
    draw = lb.scatter_plot
    monkeypatch.setattr(lb, "scatter_plot", lambda *a, **k: titles.append(k["title"]) or draw(*a, **k))
    rows = [_measured(f, "CVD2014", "Q-CLIP (tiny)", split=str(i)) for i, f in enumerate(frames)]
    files = lb.write_leaderboard(tmp_path / "lb", "finetune", rows, predictions={"CVD2014": pooled}, published=False)
    assert titles == ["Q-CLIP (tiny) on CVD2014, all 3 splits pooled"]
    assert sorted(pd.read_csv(files.predictions[("Q-CLIP (tiny)", "CVD2014")])["split"].unique()) == [0, 1, 2]


def test_protocol_predictions_pool_splits_and_name_the_untrained_baseline() -> None:
    from types import SimpleNamespace

    def run(split_index, seed):
        result = SimpleNamespace(
            trained={"B": SimpleNamespace(predictions=_predictions(seed))},
            untrained={"B": SimpleNamespace(predictions=_predictions(seed + 100))},
        )
        return SimpleNamespace(split_index=split_index, result=result)

    pooled = lb.protocol_predictions([run(0, 1), run(1, 2)], "Q-CLIP (tiny)")
    assert sorted(pooled) == [("Q-CLIP (tiny)", "B"), ("Q-CLIP (tiny), untrained", "B")]
    trained = pooled[("Q-CLIP (tiny)", "B")]
    assert trained["split"].tolist() == ["0"] * 40 + ["1"] * 40
    assert trained["pred"].tolist() == _predictions(1)["pred"].tolist() + _predictions(2)["pred"].tolist()
    single = lb.protocol_predictions([run(None, 1)], "M")
    assert "split" not in single[("M", "B")] and single[("M", "B")]["pred"].tolist() == _predictions(1)["pred"].tolist()


# --- the index of the leaderboards --------------------------------------------------------------------


def test_index_lists_every_leaderboard_with_its_table_and_link(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "leaderboard"
    cross = lb.write_leaderboard(
        root / "cross-dataset-demo", "cross-dataset", [_measured(_predictions(0), "demo-B", "Q-CLIP (tiny)")],
        {"protocol": "cross-dataset", "model": "QCLIP tiny — 7 trainable parameters", "date": "2026-12-02T12:00:00Z"},
        published=False,
    )
    assert cross.index == root / "README.md"
    (root / "other-tool").mkdir()
    (root / "other-tool" / "leaderboard.csv").write_text("x,y\n1,2\n")  # not a leaderboard of ours: left out
    fine = lb.write_leaderboard(
        root / "finetune", "finetune", [_measured(_predictions(1), "CVD2014", "Q-CLIP (tiny)")], {"protocol": "finetune"},
    )
    index = fine.index.read_text()
    assert index.startswith(lb._INDEX_MARK)
    links = re.findall(r"^## \[([^]]+)\]\(([^)]+)\)$", index, flags=re.MULTILINE)
    assert links == [("cross-dataset-demo", "cross-dataset-demo/leaderboard.md"), ("finetune", "finetune/leaderboard.md")]
    assert all((root / target).is_file() for _, target in links)
    assert "protocol **cross-dataset**; model QCLIP tiny — 7 trainable parameters; written 2026-12-02T12:00:00Z" in index
    # each section is that folder's methods table
    for name, _ in links:
        section = index.split(f"## [{name}]")[1].split("\n## ")[0]
        table = [line for line in section.splitlines() if line.startswith("|")]
        own = _top_table((root / name / "leaderboard.md").read_text())
        assert len(table) == len(own) and table[0] == "| " + " | ".join(own[0]) + " |"
    assert "| Q-CLIP | 0.897 | 0.907 | published: Q-CLIP paper |" in index.split("## [finetune]")[1]  # table 2

    # a README.md of someone else's is never replaced; a folder in the current directory gets no index
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "README.md").write_text("mine")
    assert lb.write_leaderboard(tmp_path / "other" / "x", "finetune", [_measured(_predictions(2), "CVD2014", "M")]).index is None
    assert (tmp_path / "other" / "README.md").read_text() == "mine"
    with pytest.raises(lb.LeaderboardIndexError, match="not written by qclip-bench"):
        lb.write_leaderboard_index(tmp_path / "other")
    assert lb.write_leaderboard(tmp_path / "board", "finetune", [_measured(_predictions(2), "CVD2014", "M")]).index is None
    assert not (tmp_path / "README.md").exists()
