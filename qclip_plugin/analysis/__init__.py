"""The paper's analysis as a library: figure 6 (t-SNE), figure 1 (efficiency), figure 5 (E-SCMA layers).

>>> from qclip_plugin.analysis import visualize_tsne, run_efficiency, run_ablation
>>> files = visualize_tsne("demo", "analysis/tsne", checkpoint="selected.safetensors", max_videos=60)
>>> files.summary["adapted"]["modality_gap"]                 # also in files.json, recomputable from files.npz
>>> run_efficiency("analysis/efficiency", runs=["work_dirs/"])  # published points + measured runs
>>> run_ablation(["work_dirs/ablations/"], "analysis/ablation")  # any subset of E-SCMA layer counts

This floor sits above ``bench`` (it reads leaderboards and protocol work dirs) and below the
``qclip-bench visualize`` command. Figures are drawn on matplotlib's Agg canvas.
"""

from qclip_plugin.analysis.ablation import (
    AblationFiles,
    layer_ablation_table,
    plot_layer_ablation,
    run_ablation,
)
from qclip_plugin.analysis.efficiency import (
    PAPER_RATIOS,
    QCLIP_PAPER_TRAINABLE,
    EfficiencyFiles,
    EfficiencyPoint,
    measured_efficiency_points,
    plot_efficiency,
    published_efficiency_points,
    run_efficiency,
)
from qclip_plugin.analysis.features import FeatureSet, VideoItem, extract_features, load_model, resolve_videos
from qclip_plugin.analysis.runs import MeasuredRun, checkpoint_trainable_parameters, find_runs
from qclip_plugin.analysis.tsne import (
    TSNEFiles,
    embed_tsne,
    format_summary,
    load_tsne_data,
    plot_tsne,
    run_tsne,
    summarize_tsne,
    visualize_tsne,
)

__all__ = [
    "PAPER_RATIOS",
    "QCLIP_PAPER_TRAINABLE",
    "AblationFiles",
    "EfficiencyFiles",
    "EfficiencyPoint",
    "FeatureSet",
    "MeasuredRun",
    "TSNEFiles",
    "VideoItem",
    "checkpoint_trainable_parameters",
    "embed_tsne",
    "extract_features",
    "find_runs",
    "format_summary",
    "layer_ablation_table",
    "load_model",
    "load_tsne_data",
    "measured_efficiency_points",
    "plot_efficiency",
    "plot_layer_ablation",
    "plot_tsne",
    "published_efficiency_points",
    "resolve_videos",
    "run_ablation",
    "run_efficiency",
    "run_tsne",
    "summarize_tsne",
    "visualize_tsne",
]
