"""Figure 5 of the paper: accuracy against the number of E-SCMA layers.

The paper trains on LSVQ_train with 1 to 24 E-SCMA layers (the ``escma_<n>_layers`` overrides
of :data:`qclip_plugin.models.ABLATIONS`) and tests on LSVQ_test, LSVQ_1080p, KoNViD-1k and
LIVE-VQC; it prints no numbers for the figure, so there is no published curve to draw beside
the measured one. :func:`run_ablation` draws whichever runs are present (any subset of layer
counts, any test sets): one line per test set, the layer count read from each run's exported
checkpoint (its recorded config), or from its name (:func:`.runs.layers_from_name`). Runs
with the same layer count and test set (several seeds) are averaged and their spread shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qclip_plugin.analysis.plotting import new_figure, save_png
from qclip_plugin.analysis.runs import MeasuredRun, find_runs
from qclip_plugin.atomic_files import atomic_write_text

__all__ = [
    "ABLATION_COLUMNS",
    "AblationFiles",
    "layer_ablation_figure",
    "layer_ablation_table",
    "plot_layer_ablation",
    "run_ablation",
]

ABLATION_COLUMNS = ("layers", "test_set", "method", "SROCC", "PLCC", "trainable_params", "run", "source")
#: Figure 5's test sets, drawn first and in this order when present.
PAPER_TEST_SETS = ("LSVQ_test", "LSVQ_1080p", "KoNViD-1k", "LIVE-VQC")


@dataclass
class AblationFiles:
    png: Path
    csv: Path
    table: pd.DataFrame


def layer_ablation_table(runs: Sequence[MeasuredRun]) -> pd.DataFrame:
    """One row per run and test set: ``layers, test_set, method, SROCC, PLCC, trainable_params, run, source``.

    Raises:
        ValueError: no run states its layer count (the message lists the runs seen).
    """
    rows, unknown = [], []
    for run in runs:
        layers = run.encoder_layers
        if layers is None:
            unknown.append(str(run.source))
            continue
        for _, row in run.rows.iterrows():
            rows.append({"layers": int(layers), "test_set": str(row["test_set"]), "method": str(row["method"]),
                         "SROCC": float(row["SROCC"]), "PLCC": float(row["PLCC"]),
                         "trainable_params": run.trainable_params, "run": run.name, "source": str(run.source)})
    if not rows:
        seen = f" (runs without a layer count: {unknown})" if unknown else ""
        raise ValueError("no E-SCMA-layers runs found" + seen + "; run the ablation with model.qclip.layers=N "
                         "(or the escma_<N>_layers configs) and pass their work dirs")
    table = pd.DataFrame(rows, columns=list(ABLATION_COLUMNS))
    return table.sort_values(["test_set", "layers", "run"], kind="stable").reset_index(drop=True)


def _test_set_order(names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    return [n for n in PAPER_TEST_SETS if n in names] + sorted(n for n in names if n not in PAPER_TEST_SETS)


def plot_layer_ablation(table: pd.DataFrame, path: str | os.PathLike, metric: str = "SROCC",
                        title: str = "") -> Path:
    """``metric`` (SROCC or PLCC) against the number of E-SCMA layers, one line per test set
    (mean over runs with the same count; error bars: their min-max where there are several)."""
    return save_png(layer_ablation_figure(table, metric, title), path)


def layer_ablation_figure(table: pd.DataFrame, metric: str = "SROCC", title: str = ""):
    """The matplotlib ``Figure`` :func:`plot_layer_ablation` saves."""
    if metric not in ("SROCC", "PLCC"):
        raise ValueError(f"metric must be SROCC or PLCC, got {metric!r}")
    fig, axes = new_figure(900, 600)
    ax = axes[0, 0]
    for i, test_set in enumerate(_test_set_order(table["test_set"])):
        group = table[table["test_set"] == test_set].groupby("layers")[metric]
        layers = np.array(sorted(group.groups), dtype=np.int64)
        mean = group.mean().loc[layers].to_numpy()
        low, high = group.min().loc[layers].to_numpy(), group.max().loc[layers].to_numpy()
        counts = group.count().loc[layers].to_numpy()
        label = test_set if counts.max() == 1 else f"{test_set} (mean of {counts.max()} runs)"
        ax.errorbar(layers, mean, yerr=np.vstack([mean - low, high - mean]) if counts.max() > 1 else None,
                    marker="o", ms=6, capsize=3, color=f"C{i}", label=label)
        for x, y in zip(layers, mean, strict=True):
            ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7.5)
    ticks = sorted(set(table["layers"]))
    ax.set_xticks(ticks)
    ax.set_xlabel("number of E-SCMA layers (per tower)")
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8, title="test set", title_fontsize=8)
    ax.set_title(title or f"Ablation on the number of E-SCMA layers (figure 5): {metric}", fontsize=11)
    fig.tight_layout()
    return fig


def run_ablation(
    runs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    metric: str = "SROCC",
    test_sets: Iterable[str] | None = None,
    title: str = "",
) -> AblationFiles:
    """Find the runs under ``runs`` (work dirs / leaderboard folders), write ``ablation_layers.csv``
    (every run and test set) and ``ablation_layers.png``.

    Args:
        runs: paths searched recursively (:func:`.runs.find_runs`).
        out_dir: where the files go.
        metric: ``SROCC`` (figure 5) or ``PLCC``.
        test_sets: only these test sets (default: all found).
    """
    table = layer_ablation_table(find_runs(runs))
    if test_sets is not None:
        wanted = list(test_sets)
        table = table[table["test_set"].isin(wanted)].reset_index(drop=True)
        if table.empty:
            raise ValueError(f"none of the test sets {wanted} is in the runs found")
    out = Path(out_dir)
    csv = atomic_write_text(out / "ablation_layers.csv", table.to_csv(index=False, float_format="%.10g"))
    png = plot_layer_ablation(table, out / "ablation_layers.png", metric=metric, title=title)
    return AblationFiles(png=png, csv=csv, table=table)
