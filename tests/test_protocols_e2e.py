"""Every protocol and every paper experiment config, end to end on miniatures of the real datasets.

The miniatures (``tests/miniatures.py``) are laid out like the real datasets, with the first rows of
the real community lists and small generated clips; they are built once for the module. Each run
uses the ``tiny`` model and one epoch (``model.preset=tiny train.max_epochs=1``, the data roots, and
``workers=0``: worker processes would cost more than these clips) and no pipeline override: the
frames follow the model. Each test asserts the leaderboard's test sets, its measured rows (trained
and untrained, video counts), its published rows and the selected epoch. The fine-tune protocol
starts from the cross-dataset run's ``selected.safetensors``. The figure-1 and figure-5 charts
(``qclip-bench visualize efficiency|ablation``) are drawn from these runs' outputs.

The tiny backbone has 4 blocks per tower: figure 5's configs with more E-SCMA layers than that run
with the same share of the tower (``model.layers=round(N / 24 * 4)``: 6 -> 1, 8 -> 1, 12 -> 2, 24 -> 4).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pandas as pd
import pytest
import torch

from qclip_plugin.benchmark.leaderboard import PUBLISHED_DIR
from qclip_plugin.benchmark.protocols import CONFIG_ROOT, ProtocolResult, run_protocol

pytestmark = pytest.mark.slow

#: Videos per miniature (LSVQ per split). LSVQ_train 21: 19 train + 2 validation videos (5 %);
#: each small set 10: its fine-tune split trains on 6, validates on 2 (val_ratio 0.2) and tests 2.
SIZES = {
    "LSVQ": {"train": 21, "test": 3, "1080p": 3},
    "KoNViD": 10,
    "LIVE_VQC": 10,
    "YouTubeUGC": 10,
    "CVD2014": 10,
    "LIVE_Qualcomm": 10,
}
N_TEST = {"LSVQ_test": 3, "LSVQ_1080p": 3, "KoNViD-1k": 10, "LIVE-VQC": 10}
FOUR = ["LSVQ_test", "LSVQ_1080p", "KoNViD-1k", "LIVE-VQC"]
TINY = ["model.preset=tiny", "train.max_epochs=1", "workers=0"]
TABLE1 = {"randsampl": "RandSampl", "unisampl": "UNISampl", "unirandstart": "UNIRandStart",
          "msesorteduni": "MSESortedUNI", "segmsemean": "SegMSEMean", "segmsemedian": "SegMSEMedian",
          "mixed": "Mixed"}  # fmt: skip
TABLE3 = {"visual_only": "SCMA visual only", "text_only": "SCMA text only", "unshared": "SCMA both, unshared",
          "shared": "SCMA shared", "shared_layers": "SCMA shared + layer sharing"}  # fmt: skip
TABLE4 = {"antonym": "prompts antonym", "antonym_learnable": "prompts antonym, learnable",
          "five_levels": "prompts five levels", "five_levels_learnable": "prompts five levels, learnable"}  # fmt: skip


def _variants(folder: str, names: dict[str, str], test_sets: list[str]) -> dict[str, tuple]:
    return {
        f"paper/{folder}/{stem}": (f"Q-CLIP ({name})", test_sets, f"Q-CLIP ({name})")
        for stem, name in names.items()
    }


#: config -> (the measured rows' method, the test sets, the published method shown beside them or None)
PAPER: dict[str, tuple[str, list[str], str | None]] = {
    "paper/lsvq_four_test_sets": ("Q-CLIP (UNISampl)", FOUR, "Q-CLIP (UNISampl)"),
    **_variants("table1_sampling", TABLE1, FOUR),
    **_variants("table3_scma", TABLE3, ["LSVQ_test"]),
    **_variants("table4_prompts", TABLE4, ["LSVQ_test", "KoNViD-1k", "LIVE-VQC"]),
    # figure 5 prints no numbers; six layers with uniform sampling is every other experiment's setting
    **{
        f"paper/figure5_escma_layers/layers_{n}": (f"Q-CLIP ({n} E-SCMA layers)", FOUR, None)
        for n in (2, 4, 8, 12, 24)
    },
    "paper/figure5_escma_layers/layers_6": ("Q-CLIP (6 E-SCMA layers)", FOUR, "Q-CLIP (UNISampl)"),
}
#: The paper's (SROCC, PLCC) on LSVQ_test (its tables 1, 3, 4) and the table, to check the published rows.
PAPER_LSVQ_TEST = {
    "Q-CLIP (RandSampl)": (0.895, 0.896, "Table 1"), "Q-CLIP (UNISampl)": (0.897, 0.895, "Table 1"),
    "Q-CLIP (UNIRandStart)": (0.893, 0.895, "Table 1"), "Q-CLIP (MSESortedUNI)": (0.891, 0.893, "Table 1"),
    "Q-CLIP (SegMSEMean)": (0.897, 0.896, "Table 1"), "Q-CLIP (SegMSEMedian)": (0.891, 0.893, "Table 1"),
    "Q-CLIP (Mixed)": (0.899, 0.900, "Table 1"), "Q-CLIP (SCMA visual only)": (0.866, 0.864, "Table 3"),
    "Q-CLIP (SCMA text only)": (0.837, 0.838, "Table 3"), "Q-CLIP (SCMA both, unshared)": (0.875, 0.878, "Table 3"),
    "Q-CLIP (SCMA shared)": (0.885, 0.886, "Table 3"),
    "Q-CLIP (SCMA shared + layer sharing)": (0.895, 0.897, "Table 3"),
    "Q-CLIP (prompts antonym)": (0.883, 0.881, "Table 4"),
    "Q-CLIP (prompts antonym, learnable)": (0.885, 0.883, "Table 4"),
    "Q-CLIP (prompts five levels)": (0.891, 0.891, "Table 4"),
    "Q-CLIP (prompts five levels, learnable)": (0.895, 0.897, "Table 4"),
}  # fmt: skip
TINY_DEPTH = 4


def test_the_table_covers_every_paper_config() -> None:
    on_disk = {str(p.relative_to(CONFIG_ROOT).with_suffix("")) for p in (CONFIG_ROOT / "paper").rglob("*.py")}
    assert on_disk == set(PAPER)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def lean_process(tmp_path_factory):
    """One torch thread (the tiny model runs faster than on two contended cores), a private cache
    for the frame-difference profiles, a frozen garbage collector (mmengine collects garbage for
    every dataset it builds: ~1 s per build with this process's heap) and mmengine's formatted
    config text computed once per config (a Runner formats it ~6 times, 0.5 s each, with yapf;
    the text is a function of the config's content, so the memo returns the same text)."""
    from mmengine.config import Config

    formatted: dict[str, str] = {}
    pretty_text = Config.pretty_text

    def memo(cfg: Config) -> str:
        key = f"{cfg.filename}\n{cfg._cfg_dict!r}"
        if key not in formatted:
            formatted[key] = pretty_text.fget(cfg)
        return formatted[key]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QCLIP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        patch.setattr(Config, "pretty_text", property(memo))
        gc.freeze()
        yield
    gc.unfreeze()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def roots(miniature) -> dict[str, Path]:
    return {key: miniature(key, n=n) for key, n in SIZES.items()}


@pytest.fixture(scope="module")
def runs(roots, tmp_path_factory):
    """``runs(config, *overrides)``: the :class:`ProtocolResult` of a run, made once per module."""
    base = tmp_path_factory.mktemp("runs")
    done: dict[tuple, ProtocolResult] = {}
    data = {key: f"data_root.{key}={root}" for key, root in roots.items()}

    def get(config: str, *extra: str) -> ProtocolResult:
        key = (config, *extra)
        if key not in done:
            name = config.replace("/", "_")
            overrides = [*TINY, *(data[key] for key in _datasets_of(config)), *extra]
            done[key] = run_protocol(
                config,
                overrides,
                work_dir=base / "work_dirs" / name,
                leaderboard_dir=base / "leaderboards" / name,
                log=lambda _: None,
            )
            gc.freeze()  # what the run left behind: not walked by the next run's collections
        return done[key]

    get.base = base
    return get


def _datasets_of(config: str) -> set[str]:
    """The miniature keys a config's protocol reads (a data_root override for another is an error)."""
    from qclip_plugin.benchmark.protocols import load_protocol_config
    from qclip_plugin.data.dataset_specs import find_spec

    spec = load_protocol_config(config).protocol
    return {find_spec(d["type"]).key for d in [*spec.train_sets.values(), *spec.test_sets.values()]}


@pytest.fixture(scope="module")
def cross(runs) -> ProtocolResult:
    return runs("cross-dataset")


# --- what the leaderboards must hold ---------------------------------------------------------------


def _board(result: ProtocolResult) -> pd.DataFrame:
    return pd.read_csv(result.leaderboard.csv, dtype={"split": str, "seed": str, "table": str, "note": str})


def _published_files(
    protocols: list[str], test_sets: list[str], folder: Path = PUBLISHED_DIR
) -> pd.DataFrame:
    """The published CSV rows of these protocols and test sets, read straight from the files."""
    table = pd.concat([pd.read_csv(p, dtype={"table": str}) for p in sorted(folder.glob("*.csv"))])
    return table[table["protocol"].isin(protocols) & table["test_set"].isin(test_sets)]


def _keys(table: pd.DataFrame) -> list[tuple]:
    """Each row as (method, test set, SROCC, PLCC, source), sorted: equal lists are the same rows, repeats counted."""

    def value(x: object) -> float | None:
        return None if pd.isna(x) else round(float(x), 3)

    return sorted(
        ((r.method, r.test_set, value(r.SROCC), value(r.PLCC), r.source) for r in table.itertuples()), key=str
    )


def _check_measured(
    board: pd.DataFrame, method: str, test_sets: list[str], n_videos: dict[str, int], untrained: bool = True
) -> pd.DataFrame:
    measured = board[board["kind"] == "measured"]
    assert list(dict.fromkeys(board["test_set"])) == test_sets
    methods = [f"{method} (tiny)"] + ([f"{method} (tiny), untrained"] if untrained else [])
    assert sorted(measured["method"]) == sorted(m for m in methods for _ in test_sets)
    for row in measured.itertuples():
        assert row.n_videos == n_videos[row.test_set], row
        assert -1.0 <= row.SROCC <= 1.0 and -1.0 <= row.PLCC <= 1.0 and row.RMSE >= 0, row
        assert row.preset == "tiny" and row.backbone.startswith("QCLIP-Tiny")
    trained = measured[~measured["method"].str.endswith("untrained")]
    assert (trained["selected_epoch"] == 1).all()
    assert measured[measured["method"].str.endswith("untrained")]["selected_epoch"].isna().all()
    return measured


def _check_run(result: ProtocolResult, train: int, val: int, heldout: int = 0) -> None:
    for run in result.runs:
        assert run.sizes == {"train": train, "val": val, "test": heldout}
        assert run.result.selected_epoch == 1 and run.result.selected_score is not None
        assert run.result.exported is not None and run.result.exported.is_file()
    assert result.metadata["selected epoch"].startswith("1 (best validation SROCC")
    assert (
        result.metadata["frame preprocessing"]
        == "112x112 px, resize=decoder, mean 0.5/0.5/0.5, std 0.5/0.5/0.5"
    )


# --- the three protocols -----------------------------------------------------------------------------


def test_cross_dataset(cross: ProtocolResult) -> None:
    board = _board(cross)
    _check_measured(board, "Q-CLIP", ["KoNViD-1k", "LIVE-VQC"], N_TEST)
    _check_run(cross, train=19, val=2)
    published = board[board["kind"] == "published"]
    assert _keys(published) == _keys(_published_files(["cross-dataset"], ["KoNViD-1k", "LIVE-VQC"]))
    assert len(published) >= 44 and (published["protocol"] == "cross-dataset").all()
    keys = {key[:3] for key in _keys(published)}
    # the paper's table 1 (its seven Q-CLIP rows among them) and FAST-VQA's own numbers
    assert {
        ("Q-CLIP (Mixed)", "KoNViD-1k", 0.896),
        ("Q-CLIP (SegMSEMean)", "LIVE-VQC", 0.813),
        ("DOVER", "KoNViD-1k", 0.871),
        ("FAST-VQA", "LIVE-VQC", 0.823),
    } <= keys
    markdown = cross.leaderboard.markdown.read_text()
    assert markdown.count("| published | Q-CLIP (Mixed) | 0.896 | 0.901 |") == 1


def test_intra_dataset(runs) -> None:
    result = runs("intra-dataset")
    board = _board(result)
    _check_measured(board, "Q-CLIP", ["LSVQ_test", "LSVQ_1080p"], N_TEST)
    _check_run(result, train=19, val=2)
    published = board[board["kind"] == "published"]
    assert _keys(published) == _keys(_published_files(["intra-dataset"], ["LSVQ_test", "LSVQ_1080p"]))
    assert {("Q-CLIP (Mixed)", "LSVQ_1080p", 0.823), ("FAST-VQA", "LSVQ_test", 0.876)} <= {
        k[:3] for k in _keys(published)
    }


def test_finetune_from_the_cross_dataset_run(runs, cross: ProtocolResult) -> None:
    init = cross.runs[0].result.exported
    # two of the ten splits; validation 20 % of a 10-video miniature's training part: 2 videos
    result = runs(
        "finetune",
        f"init_checkpoint={init}",
        "protocol.split.seeds=[0, 1]",
        "protocol.split.val_ratio=0.2",
        "protocol.train_sets.LIVE-Qualcomm.yuv_geometry=(48, 64)",
    )
    sets = ["LIVE-VQC", "KoNViD-1k", "YouTube-UGC", "CVD2014", "LIVE-Qualcomm"]
    board = _board(result)
    measured = board[board["kind"] == "measured"]
    assert list(dict.fromkeys(board["test_set"])) == sets
    assert set(measured["method"]) == {"Q-CLIP (tiny)"}  # fine-tuning scores no untrained model
    for test_set in sets:
        rows = measured[measured["test_set"] == test_set].fillna({"split": ""})
        assert sorted(rows["split"]) == ["0", "1", "mean±std"]
        assert sorted(rows["n_videos"]) == [2, 2, 4]  # each split's held-out 20 %; the summary counts both
        assert set(rows["selected_epoch"].astype(str)) <= {"1", "1.0"}
    _check_run(result, train=6, val=2, heldout=2)
    assert result.metadata["init"] == str(init)
    published = board[board["kind"] == "published"]
    assert _keys(published) == _keys(_published_files(["finetune"], sets))
    assert {
        ("Q-CLIP", "KoNViD-1k", 0.915),
        ("Q-CLIP", "LIVE-Qualcomm", 0.846),
        ("DOVER", "CVD2014", 0.858),
    } <= {key[:3] for key in _keys(published)}


# --- every paper experiment ------------------------------------------------------------------------------


def _layer_override(config: str) -> list[str]:
    if "figure5" not in config:
        return []
    layers = int(config.rsplit("_", 1)[1])
    return [] if layers <= TINY_DEPTH else [f"model.layers={max(1, round(layers / 24 * TINY_DEPTH))}"]


@pytest.mark.parametrize("config", sorted(PAPER))
def test_paper_experiment(runs, config: str) -> None:
    method, test_sets, published_method = PAPER[config]
    result = runs(config, *_layer_override(config))
    board = _board(result)
    _check_measured(board, method, test_sets, N_TEST)
    _check_run(result, train=19, val=2)
    published = board[board["kind"] == "published"]
    if published_method is None:
        assert published.empty
        return
    # exactly the paper's row of the variant run, on each test set
    srocc, plcc, table = PAPER_LSVQ_TEST[published_method]
    assert list(published["test_set"]) == test_sets and set(published["method"]) == {published_method}
    assert set(published["table"]) == {table}
    folder = PUBLISHED_DIR / ("ablations" if table != "Table 1" else "")
    expected = _published_files(["intra-dataset", "cross-dataset"], test_sets, folder)
    assert _keys(published) == _keys(expected[expected["method"] == published_method])
    row = published[published["test_set"] == "LSVQ_test"].iloc[0]
    assert (row["SROCC"], row["PLCC"]) == (srocc, plcc)


def test_the_tiny_tower_holds_at_most_four_e_scma_layers() -> None:
    """Why figure 5's larger counts run with the tower's share of them here."""
    from qclip_plugin.models import build_qclip

    assert len(build_qclip("tiny", pretrained=None, layers=TINY_DEPTH).adapter_layers["visual"]) == TINY_DEPTH
    with pytest.raises(ValueError, match=f"layers=6: the tower has {TINY_DEPTH} blocks"):
        build_qclip("tiny", pretrained=None, layers=6)


# --- the analysis figures from these runs ----------------------------------------------------------------


def test_visualize_ablation_and_efficiency_show_the_measured_points(runs, cross, tmp_path, capsys) -> None:
    from qclip_plugin.cli.main import main

    configs = {n: f"paper/figure5_escma_layers/layers_{n}" for n in (2, 4, 6, 8, 12, 24)}
    figure5 = {n: runs(config, *_layer_override(config)) for n, config in configs.items()}
    segmsemean = runs("paper/table1_sampling/segmsemean")
    out = tmp_path / "ablation"
    assert (
        main(["visualize", "ablation", *(str(r.work_dir) for r in figure5.values()), "--out", str(out)]) == 0
    )
    ablation = pd.read_csv(out / "ablation_layers.csv")
    expected = set()
    for n, result in figure5.items():
        layers = n if n <= TINY_DEPTH else max(1, round(n / 24 * TINY_DEPTH))
        for row in result.rows[~result.rows["method"].str.endswith("untrained")].itertuples():
            expected.add((layers, row.test_set, row.method, round(row.SROCC, 6)))
    got = {(r.layers, r.test_set, r.method, round(r.SROCC, 6)) for r in ablation.itertuples()}
    assert got == expected and len(got) == 6 * 4
    assert (
        sorted(set(ablation["layers"])) == [1, 2, 4] and (out / "ablation_layers.png").stat().st_size > 10_000
    )

    out = tmp_path / "efficiency"
    assert (
        main(["visualize", "efficiency", str(cross.work_dir), str(segmsemean.work_dir), "--out", str(out)])
        == 0
    )
    points = pd.read_csv(out / "efficiency.csv")
    measured = points[points["kind"] == "measured"]
    expected = set()
    for result in (cross, segmsemean):
        for row in result.rows[~result.rows["method"].str.endswith("untrained")].itertuples():
            expected.add((f"{row.method} [{result.work_dir.name}]", row.test_set, round(row.SROCC, 6)))
    assert {(r.method, r.test_set, round(r.SROCC, 6)) for r in measured.itertuples()} == expected
    assert (measured["trainable_params"] == 4091).all()  # counted in each run's selected.safetensors
    assert {"Q-CLIP (Mixed)", "FAST-VQA", "MBVQA", "CLIPVQA", "Q-Align"} <= set(points["method"])
    assert "measured" in capsys.readouterr().out
