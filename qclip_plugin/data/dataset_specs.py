"""One row per VQA dataset: every fact about a dataset, written once.

The label parsers (:mod:`~qclip_plugin.data.labels`), the dataset classes
(:mod:`~qclip_plugin.data.datasets`), the pre-flight check, ``qclip-bench prepare``, the
protocols' data-root lookup (``data_root.<KEY>=`` / ``$QCLIP_DATA_<KEY>``) and
``qclip-bench list datasets`` all read :data:`DATASET_SPECS` (in the manner of open_clip's
pretrained table and pyiqa's ``DEFAULT_CONFIGS``).

``qclip-bench list datasets`` prints the table (:func:`spec_table`).

A dataset is found by its key, its name, its class name or an alias, case-insensitively and
ignoring ``-``/``_``/spaces (``konvid``, ``KoNViD-1k``, ``KoNViDDataset`` all name KoNViD);
:func:`get_spec` suggests the closest names for a typo.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from qclip_plugin.errors import UserError

__all__ = [
    "DATASET_SPECS",
    "DatasetSpec",
    "UnknownDatasetError",
    "find_spec",
    "get_spec",
    "spec_of_label_format",
    "spec_table",
]


@dataclass(frozen=True)
class DatasetSpec:
    """The facts of one dataset.

    Attributes:
        key: the dataset's key: ``data_root.<key>=`` on the command line, the dataset classes'
            ``DATASET_KEY``, the bad-video list's name.
        name: the display name (leaderboards, ``metainfo["dataset_name"]``).
        dataset_class: the registered class in ``qclip_plugin.registry.DATASETS``.
        env_var: the environment variable holding the data root.
        aliases: other names accepted for it (compared case-insensitively, ignoring ``-_ ``).
        label_format: the format of the official label file (a key of
            :data:`qclip_plugin.data.labels.LABEL_FORMATS`); community lists are always read.
        label_files: per split (``""`` when the dataset has none) the label files looked for,
            in order, in the data root: the community list first, then the official files.
        video_dir: the folder of the videos inside the data root, as the community lists write it.
        name_template: the file name of a video from the official file's identifier ``{name}``.
        video_ext: the videos' extension, appended to file names that do not end with it.
        mos_range: the range of the MOS (as the community list has it).
        num_videos: videos per split (``""``: the whole dataset), as in the community lists.
        yuv_geometry: ``(height, width)`` of raw YUV420 videos, or None (a container format).
        citation: the paper that introduced the dataset.
    """

    key: str
    name: str
    dataset_class: str
    env_var: str
    label_format: str
    label_files: Mapping[str, tuple[str, ...]]
    video_ext: str
    mos_range: tuple[float, float]
    num_videos: Mapping[str, int]
    aliases: tuple[str, ...] = ()
    video_dir: str = ""
    name_template: str = "{name}"
    yuv_geometry: tuple[int, int] | None = None
    citation: str = ""
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_files", MappingProxyType(dict(self.label_files)))
        object.__setattr__(self, "num_videos", MappingProxyType(dict(self.num_videos)))
        names = {
            self.key,
            self.name,
            self.dataset_class,
            self.dataset_class.removesuffix("Dataset"),
            *self.aliases,
        }
        object.__setattr__(self, "_names", frozenset(_norm(n) for n in names))

    @property
    def splits(self) -> tuple[str, ...]:
        """The dataset's splits (LSVQ: train, test, 1080p); empty when it has none."""
        return tuple(s for s in self.label_files if s)

    def default_label_files(self, split: str | None = None) -> tuple[str, ...]:
        """The label files looked for in the data root, for ``split`` (None: the dataset's own)."""
        if self.splits:
            if split not in self.splits:
                raise ValueError(f"{self.name}: split must be one of {', '.join(self.splits)}, got {split!r}")
            return self.label_files[split]
        return self.label_files[""]

    def video_path(self, name: str, folder: str = "", video_dir: str | None = None) -> str:
        """A video's path relative to the data root from its identifier in a label file.

        ``name_template`` is filled in (LSVQ: ``ia-batch1/Clip.3`` -> ``ia-batch1/Clip.3.mp4``),
        :attr:`video_ext` appended unless the file name ends with it, and the result joined under
        ``video_dir`` (default :attr:`video_dir`) and ``folder``.
        """
        file_name = self.name_template.format(name=name)
        if not file_name.lower().endswith(self.video_ext.lower()):
            file_name += self.video_ext
        top = self.video_dir if video_dir is None else video_dir
        return "/".join(part.strip("/") for part in (top, folder, file_name) if part)

    def set_name(self, split: str | None = None) -> str:
        """The name results give this dataset, or one of its splits: ``KoNViD-1k``, ``LSVQ_test``
        (protocol test sets, leaderboard rows, the published rows of ``leaderboard/published``)."""
        if self.splits:
            if split not in self.splits:
                raise ValueError(f"{self.name}: split must be one of {', '.join(self.splits)}, got {split!r}")
            return f"{self.name}_{split}"
        return self.name

    def matches(self, name: str) -> bool:
        """Whether ``name`` names this dataset (key, name, class or alias; case and ``-_ `` ignored)."""
        return _norm(name) in self._names

    def root_hint(self) -> str:
        """How a user gives the data root, in the words of the command line and the environment."""
        return f"data_root.{self.key}=/path/to/{self.key} (or ${self.env_var})"


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


_SPECS = (
    DatasetSpec(
        key="LSVQ",
        name="LSVQ",
        dataset_class="LSVQDataset",
        env_var="QCLIP_DATA_LSVQ",
        label_format="lsvq",
        label_files={
            "train": ("labels_train.txt", "labels_train_test.csv"),
            "test": ("labels_test.txt", "labels_train_test.csv"),
            "1080p": ("labels_1080p.txt", "labels_test_1080p.csv"),
        },
        # always <name>.mp4, also for names that hold dots or end in .mp4 (.mp4.mp4 files exist)
        name_template="{name}.mp4",
        video_ext=".mp4",
        mos_range=(0.0, 100.0),
        num_videos={"train": 28056, "test": 7186, "1080p": 3573},
        aliases=("LIVE-FB",),
        citation="Ying et al. 2021",
    ),
    DatasetSpec(
        key="KoNViD",
        name="KoNViD-1k",
        dataset_class="KoNViDDataset",
        env_var="QCLIP_DATA_KONVID",
        label_format="konvid",
        label_files={"": ("labels.txt", "KoNViD_1k_attributes.csv", "metadata/KoNViD_1k_attributes.csv")},
        video_dir="KoNViD_1k_videos",
        video_ext=".mp4",
        mos_range=(1.0, 5.0),
        num_videos={"": 1200},
        citation="Hosu et al. 2017",
    ),
    DatasetSpec(
        key="LIVE_VQC",
        name="LIVE-VQC",
        dataset_class="LIVEVQCDataset",
        env_var="QCLIP_DATA_LIVE_VQC",
        label_format="live_vqc",
        label_files={"": ("labels.txt", "data.mat")},
        video_dir="Video",
        video_ext=".mp4",
        mos_range=(0.0, 100.0),
        num_videos={"": 585},
        aliases=("VQC",),
        citation="Sinno & Bovik 2018",
    ),
    DatasetSpec(
        key="YouTubeUGC",
        name="YouTube-UGC",
        dataset_class="YouTubeUGCDataset",
        env_var="QCLIP_DATA_YOUTUBE_UGC",
        label_format="youtube_ugc",
        label_files={
            "": (
                "labels.txt",
                "original_videos_MOS_for_YouTube_UGC_dataset.xlsx",
                "original_videos_MOS_for_YouTube_UGC_dataset.csv",
            )
        },
        # the H.264 versions of the originals, the files the community list names
        name_template="{name}_crf_10_ss_00_t_20.0.mp4",
        video_ext=".mp4",
        mos_range=(1.0, 5.0),
        num_videos={"": 1147},
        aliases=("YouTube", "YT-UGC"),
        citation="Wang et al. 2019",
    ),
    DatasetSpec(
        key="CVD2014",
        name="CVD2014",
        dataset_class="CVD2014Dataset",
        env_var="QCLIP_DATA_CVD2014",
        label_format="cvd2014",
        label_files={"": ("labels.txt", "CVD2014_ratings/Realignment_MOS.csv", "Realignment_MOS.csv")},
        video_ext=".avi",
        mos_range=(-6.5, 93.4),
        num_videos={"": 234},
        aliases=("CVD",),
        citation="Nuutinen et al. 2016",
    ),
    DatasetSpec(
        key="LIVE_Qualcomm",
        name="LIVE-Qualcomm",
        dataset_class="LIVEQualcommDataset",
        env_var="QCLIP_DATA_LIVE_QUALCOMM",
        label_format="live_qualcomm",
        label_files={"": ("labels.txt", "qualcommSubjectiveData.mat")},
        video_ext=".yuv",
        mos_range=(16.6, 73.6),
        num_videos={"": 208},
        yuv_geometry=(1080, 1920),
        aliases=("Qualcomm",),
        citation="Ghadiyaram et al. 2018",
    ),
)

#: Every dataset's spec, by key.
DATASET_SPECS: Mapping[str, DatasetSpec] = MappingProxyType({spec.key: spec for spec in _SPECS})


class UnknownDatasetError(UserError, ValueError):
    """A dataset name that no spec answers to; the message lists the closest names."""


def find_spec(name: str) -> DatasetSpec | None:
    """The spec that ``name`` names (key, display name, class name or alias, any case), or None."""
    return next((spec for spec in _SPECS if spec.matches(name)), None)


def get_spec(name: str) -> DatasetSpec:
    """The spec that ``name`` names; :class:`UnknownDatasetError` with a did-you-mean otherwise."""
    spec = find_spec(name)
    if spec is not None:
        return spec
    spellings = {n: s.key for s in _SPECS for n in (s.key, s.name, s.dataset_class, *s.aliases)}
    by_norm = {_norm(n): key for n, key in spellings.items()}
    close = difflib.get_close_matches(_norm(name), list(by_norm), n=3, cutoff=0.6)
    suggestion = list(dict.fromkeys(by_norm[c] for c in close))
    hint = f"; did you mean {' or '.join(suggestion)}?" if suggestion else ""
    raise UnknownDatasetError(f"unknown dataset {name!r}{hint} (datasets: {', '.join(DATASET_SPECS)})")


def spec_table() -> list[dict[str, str]]:
    """The table as rows of text, for people (``qclip-bench list datasets``, the README)."""
    rows = []
    for spec in _SPECS:
        rows.append(
            {
                "key": spec.key,
                "name": spec.name,
                "class": spec.dataset_class,
                "environment variable": spec.env_var,
                "official format": spec.label_format,
                "videos": ", ".join(f"{s or 'all'} {n:,}" for s, n in spec.num_videos.items())
                + f" ({spec.video_ext})",
                "MOS": f"{spec.mos_range[0]:g} to {spec.mos_range[1]:g}",
                "raw YUV (H, W)": str(spec.yuv_geometry) if spec.yuv_geometry else "-",
                "aliases": ", ".join(spec.aliases) or "-",
            }
        )
    return rows


def spec_of_label_format(label_format: str) -> DatasetSpec | None:
    """The dataset whose official label format is ``label_format`` (None for ``community``)."""
    return next((spec for spec in _SPECS if spec.label_format == label_format), None)
