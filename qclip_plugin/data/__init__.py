"""Data: the dataset specs (one row per dataset), label parsers, the six VQA datasets, the
``load_video`` pipeline and its mmengine step, splits, the pre-flight check and the synthetic
demo benchmark.

Importing this package fills the ``DATASETS`` and ``TRANSFORMS`` registries (their location).
The synthetic benchmark (``qclip_plugin.data.synthetic``) is imported on demand.
"""

from qclip_plugin.data.dataset_specs import DATASET_SPECS, DatasetSpec, get_spec
from qclip_plugin.data.datasets import (
    DATA_ROOT_ENV,
    DATASET_CLASSES,
    CVD2014Dataset,
    KoNViDDataset,
    LIVEQualcommDataset,
    LIVEVQCDataset,
    LSVQDataset,
    PackVQAInputs,
    VQADataset,
    YouTubeUGCDataset,
    resolve_data_root,
    select_subset,
)
from qclip_plugin.data.labels import (
    LABEL_COLUMNS,
    LABEL_FORMATS,
    LabelError,
    detect_label_format,
    read_labels,
)
from qclip_plugin.data.pipeline import (
    DEFAULT_SIZE,
    PE_MEAN,
    PE_STD,
    LoadVideoFrames,
    frames_to_tensor,
    load_frames,
    load_video,
    normalize_frames,
    sample_video,
)
from qclip_plugin.data.preflight import PreflightError, PreflightReport, preflight_check
from qclip_plugin.data.splits import Split, make_splits, split_indices, split_seeds

__all__ = [
    "DATASET_CLASSES",
    "DATASET_SPECS",
    "DATA_ROOT_ENV",
    "DEFAULT_SIZE",
    "LABEL_COLUMNS",
    "LABEL_FORMATS",
    "PE_MEAN",
    "PE_STD",
    "CVD2014Dataset",
    "DatasetSpec",
    "KoNViDDataset",
    "LIVEQualcommDataset",
    "LIVEVQCDataset",
    "LSVQDataset",
    "LabelError",
    "LoadVideoFrames",
    "PackVQAInputs",
    "PreflightError",
    "PreflightReport",
    "Split",
    "VQADataset",
    "YouTubeUGCDataset",
    "detect_label_format",
    "frames_to_tensor",
    "get_spec",
    "load_frames",
    "load_video",
    "make_splits",
    "normalize_frames",
    "preflight_check",
    "read_labels",
    "resolve_data_root",
    "sample_video",
    "select_subset",
    "split_indices",
    "split_seeds",
]
