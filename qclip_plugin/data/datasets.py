"""The VQA datasets as mmengine datasets, registered in ``qclip_plugin.registry.DATASETS``.

``VQADataset`` reads any supported label file (:mod:`qclip_plugin.data.labels`) and yields,
after its pipeline, ``dict(inputs=Tensor(T, 3, H, W), data_samples=dict(name=..., mos=...))``.
Before the pipeline an item is ``dict(filename=<absolute video path>, name=..., mos=...,
[duration, fps, width, height, num_frames,] [yuv_geometry=(H, W)], [test_mode=True])``.

Registered: ``VQADataset``, ``LSVQDataset`` (``split="train" | "test" | "1080p"``),
``KoNViDDataset``, ``LIVEVQCDataset``, ``YouTubeUGCDataset``, ``CVD2014Dataset``,
``LIVEQualcommDataset`` (raw YUV420: the spec's ``yuv_geometry`` goes with each item to the
video reader; ``yuv_geometry=`` overrides it), and the packing step ``PackVQAInputs`` in
``TRANSFORMS``. Each dataset class reads its row of
:data:`qclip_plugin.data.dataset_specs.DATASET_SPECS` (key, name, environment variable,
label files, MOS range, YUV geometry).

Where the videos are (the data root), first match wins:

1. ``data_root=`` of the dataset, from a config or a CLI override
   (``qclip-bench run ... data_root.KoNViD=/data/konvid``);
2. the environment variable of the dataset (the spec's ``env_var``), e.g.
   ``QCLIP_DATA_KONVID=/data/konvid``;
3. none: then every video path in the label file must be absolute.

Which label file: ``ann_file=`` (a relative path is looked for in the data root, then in the
working directory), else the first of the spec's label files found in the data root: the
community list (``labels.txt``; LSVQ: ``labels_train.txt``, ``labels_test.txt``,
``labels_1080p.txt``) and then the official files of the release. The community lists are
not shipped with the package; pass one with ``ann_file=`` or copy it into the data root. The
label format is detected from the file's content, or set with ``label_format=``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from mmengine.dataset import BaseDataset

from qclip_plugin.data.dataset_specs import DATASET_SPECS, DatasetSpec, find_spec, spec_of_label_format
from qclip_plugin.data.labels import LABEL_COLUMNS, LabelError, detect_label_format, read_labels
from qclip_plugin.errors import UserError
from qclip_plugin.registry import DATASETS, TRANSFORMS

#: Environment variable holding each dataset's data root, by dataset key (from the specs).
DATA_ROOT_ENV: dict[str, str] = {key: spec.env_var for key, spec in DATASET_SPECS.items()}

_OPTIONAL_FIELDS = tuple(c for c in LABEL_COLUMNS if c not in ("name", "path", "mos"))


def resolve_data_root(dataset: str | None, data_root: str | os.PathLike | None = None) -> Path | None:
    """The data root of a dataset: ``data_root`` if given, else ``$QCLIP_DATA_<KEY>``, else None.

    Args:
        dataset: a dataset name (``"KoNViD"``, ``"konvid-1k"``, ...: see
            :func:`~qclip_plugin.data.dataset_specs.find_spec`), or None for no variable.
    """
    # absolute: a relative root is the working directory's (mmengine would join it to the label file's again)
    if data_root not in (None, ""):
        return Path(data_root).expanduser().absolute()
    spec = find_spec(dataset) if dataset else None
    variable = spec.env_var if spec else None
    if variable and os.environ.get(variable):
        return Path(os.environ[variable]).expanduser().absolute()
    return None


def select_subset(table: pd.DataFrame, subset: Sequence[int | str] | None, source: str = "") -> pd.DataFrame:
    """Rows of a label table by video name or by position, kept in label-file order.

    Raises:
        KeyError: a name that is not in the table; IndexError: a position out of range.
    """
    if subset is None:
        return table
    items = list(subset)
    if all(isinstance(i, str) for i in items):
        known = set(table["name"])
        unknown = [i for i in items if i not in known]
        if unknown:
            raise KeyError(
                f"{len(unknown)} subset name(s) are not in {source or 'the label file'}, e.g. {unknown[:3]}"
            )
        return table[table["name"].isin(set(items))].reset_index(drop=True)
    if all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in items):
        positions = sorted({int(i) for i in items})
        if positions and (positions[0] < 0 or positions[-1] >= len(table)):
            raise IndexError(
                f"subset positions must be in [0, {len(table)}) for {source or 'the label file'}; "
                f"got {positions[0]}..{positions[-1]}"
            )
        return table.iloc[positions].reset_index(drop=True)
    raise TypeError("subset must be video names (str) or positions (int), not a mix")


@TRANSFORMS.register_module()
class PackVQAInputs:
    """Last pipeline step: ``dict(inputs=frames, data_samples=dict(name=..., mos=...))``.

    Args:
        meta_keys: item keys copied into ``data_samples`` (``name`` and ``mos`` always are).
    """

    def __init__(self, meta_keys: Sequence[str] = ()) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        if "inputs" not in results:
            raise KeyError(
                f"PackVQAInputs: no 'inputs' for {results.get('filename', results.get('name'))!r}; "
                "put a frame-loading step (e.g. dict(type='LoadVideoFrames')) before it in the pipeline"
            )
        sample = {"name": results["name"], "mos": float(results["mos"])}
        for key in self.meta_keys:
            if key in results:
                sample[key] = results[key]
        return {"inputs": results["inputs"], "data_samples": sample}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(meta_keys={self.meta_keys})"


def _build_pipeline(pipeline: Sequence[dict | Callable]) -> list[Callable]:
    # Built from our registry so that qclip_plugin transforms resolve without a default scope.
    return [TRANSFORMS.build(step) if isinstance(step, dict) else step for step in pipeline]


class MissingDataError(UserError, FileNotFoundError):
    """A dataset's data root or label file cannot be found; the message names the override to set."""


@DATASETS.register_module()
class VQADataset(BaseDataset):
    """A video quality dataset: videos with one MOS each, from a label file.

    Args:
        ann_file: the label file (community list or an official file); a relative path is
            looked for in the data root, then in the working directory. Empty: the first of
            :attr:`DEFAULT_ANN_FILES` found in the data root.
        data_root: the folder the label file's video paths are relative to. None: the
            dataset's environment variable (its spec's ``env_var``).
        pipeline: transforms (configs or callables), e.g.
            ``[dict(type='LoadVideoFrames', ...), dict(type='PackVQAInputs')]``.
        test_mode: as in mmengine (no re-fetch of another item on failure).
        subset: video names or positions to keep (a split), in label-file order.
        label_format: ``"auto"`` (from the file's content) or a format of
            :data:`qclip_plugin.data.labels.LABEL_FORMATS`.
        strict_labels: a bad label row raises (else it is skipped with a warning).
        label_options: extra arguments of the label parser (e.g. ``name_template``).
        yuv_geometry: ``(height, width)`` passed with ``.yuv`` items to the reader (default:
            the spec's, e.g. LIVE-Qualcomm's 1080x1920; small test videos set their own).
        **kwargs: other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    #: The dataset's row of :data:`~qclip_plugin.data.dataset_specs.DATASET_SPECS` (None: a
    #: generic dataset); subclasses set it and the attributes below follow from it.
    SPEC: ClassVar[DatasetSpec | None] = None
    #: The spec's key (``data_root.<KEY>=``, ``$QCLIP_DATA_<KEY>``).
    DATASET_KEY: ClassVar[str | None] = None
    #: Label files looked for, in order, inside the data root when ``ann_file`` is empty.
    DEFAULT_ANN_FILES: ClassVar[tuple[str, ...]] = ("labels.txt",)
    #: Geometry of the dataset's raw ``.yuv`` videos, if any.
    YUV_GEOMETRY: ClassVar[tuple[int, int] | None] = None
    METAINFO: ClassVar[dict] = {"dataset_name": "VQA", "mos_range": None}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("SPEC")
        if spec is not None:
            cls.DATASET_KEY = spec.key
            cls.DEFAULT_ANN_FILES = spec.label_files.get("", ())
            cls.YUV_GEOMETRY = spec.yuv_geometry
            cls.METAINFO = {"dataset_name": spec.name, "mos_range": spec.mos_range}

    def __init__(
        self,
        ann_file: str | os.PathLike = "",
        data_root: str | os.PathLike | None = None,
        pipeline: Sequence[dict | Callable] = (),
        test_mode: bool = False,
        subset: Sequence[int | str] | None = None,
        label_format: str = "auto",
        strict_labels: bool = True,
        label_options: dict[str, Any] | None = None,
        yuv_geometry: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        root = resolve_data_root(self.DATASET_KEY, data_root)
        self.subset = list(subset) if subset is not None else None
        self.label_format = label_format
        self.strict_labels = strict_labels
        self.label_options = dict(label_options or {})
        self.yuv_geometry = tuple(int(v) for v in yuv_geometry) if yuv_geometry is not None else self.YUV_GEOMETRY
        ann = self._resolve_ann_file(ann_file, root) if ann_file else self._default_ann_file(root)
        super().__init__(
            ann_file=str(ann),
            data_root=str(root) if root is not None else "",
            pipeline=_build_pipeline(pipeline),
            test_mode=test_mode,
            **kwargs,
        )

    @classmethod
    def _where_root_comes_from(cls) -> str:
        if cls.SPEC is None:
            return "pass data_root="
        return f"pass data_root= (in a protocol: data_root.{cls.SPEC.key}=) or set ${cls.SPEC.env_var}"

    def _default_ann_files(self) -> tuple[str, ...]:
        return self.DEFAULT_ANN_FILES

    @staticmethod
    def _resolve_ann_file(ann_file: str | os.PathLike, root: Path | None) -> Path:
        # A relative label file: in the data root (mmengine's rule), else from the working directory.
        path = Path(ann_file).expanduser()
        if path.is_absolute() or root is None:
            return path.absolute()
        if (root / path).is_file() or not path.is_file():
            return root / path
        return path.absolute()

    def _default_ann_file(self, root: Path | None) -> Path:
        name = self.DATASET_KEY or type(self).__name__
        if root is None:
            raise MissingDataError(
                f"{name}: no label file and no data root; pass ann_file= (e.g. a community list "
                f"labels.txt), and {self._where_root_comes_from()}"
            )
        for candidate in self._default_ann_files():
            if (root / candidate).is_file():
                return root / candidate
        raise MissingDataError(
            f"{name}: none of {', '.join(self._default_ann_files())} is in the data root {root}; "
            "pass ann_file= (a community list or the official label file)"
        )

    def _parser_options(self, label_format: str) -> dict[str, Any]:
        """Arguments of the label parser for this dataset (subclasses add theirs)."""
        return dict(self.label_options)

    def read_label_table(self) -> pd.DataFrame:
        """The label table of :attr:`ann_file`, before ``subset``."""
        fmt = detect_label_format(self.ann_file) if self.label_format == "auto" else self.label_format
        if self.SPEC is not None and fmt not in ("community", self.SPEC.label_format):
            other = spec_of_label_format(fmt)
            raise LabelError(
                self.ann_file,
                f"this is a {other.name if other else fmt} label file ({fmt} format), not one of "
                f"{self.SPEC.name}; pass {self.SPEC.name}'s community list or official label file",
            )
        return read_labels(self.ann_file, fmt, strict=self.strict_labels, **self._parser_options(fmt))

    def load_data_list(self) -> list[dict]:
        """One item per video of the label file (after ``subset``)."""
        table = select_subset(self.read_label_table(), self.subset, str(self.ann_file))
        root = Path(self.data_root) if self.data_root else None
        data_list = []
        for row in table.itertuples(index=False):
            path = Path(row.path)
            if not path.is_absolute():
                if root is None:
                    raise MissingDataError(
                        f"{self.ann_file}: video paths are relative (e.g. {row.path!r}) but "
                        f"{self.DATASET_KEY or type(self).__name__} has no data root; "
                        f"{self._where_root_comes_from()}"
                    )
                path = root / path
            info = {"filename": str(path), "name": row.name, "mos": float(row.mos)}
            for key in _OPTIONAL_FIELDS:
                value = getattr(row, key)
                if not math.isnan(value):
                    info[key] = int(value) if key in ("width", "height", "num_frames") else float(value)
            if self.yuv_geometry is not None and path.suffix.lower() == ".yuv":
                info["yuv_geometry"] = self.yuv_geometry
            if self.test_mode:
                info["test_mode"] = True  # LoadVideoFrames then samples deterministically
            data_list.append(info)
        return data_list

    @property
    def video_paths(self) -> list[str]:
        """Absolute paths of the dataset's videos, in order."""
        return [self.get_data_info(i)["filename"] for i in range(len(self))]

    @property
    def names(self) -> list[str]:
        """Video names, in order."""
        return [self.get_data_info(i)["name"] for i in range(len(self))]


@DATASETS.register_module()
class LSVQDataset(VQADataset):
    """LSVQ (Ying et al. 2021): ``split="train"`` (28,056), ``"test"`` (7,186) or ``"1080p"`` (3,573).

    Community lists ``labels_train.txt`` / ``labels_test.txt`` / ``labels_1080p.txt``, or the
    official ``labels_train_test.csv`` (``is_test`` selects train or test) and
    ``labels_test_1080p.csv``. MOS 0-100.
    """

    SPEC = DATASET_SPECS["LSVQ"]

    def __init__(self, split: str = "train", **kwargs: Any) -> None:
        if split not in self.SPEC.splits:
            raise ValueError(f"LSVQDataset: split must be one of {', '.join(self.SPEC.splits)}, got {split!r}")
        self.split = split
        super().__init__(**kwargs)
        self._metainfo.update(dataset_name=self.SPEC.set_name(split), split=split)

    def _default_ann_files(self) -> tuple[str, ...]:
        return self.SPEC.default_label_files(self.split)

    def _parser_options(self, label_format: str) -> dict[str, Any]:
        options = super()._parser_options(label_format)
        if label_format == "lsvq":
            options.setdefault("split", self.split)
        return options


@DATASETS.register_module()
class KoNViDDataset(VQADataset):
    """KoNViD-1k (Hosu et al. 2017): 1,200 videos, MOS 1-5.

    Community list ``labels.txt`` or the official ``KoNViD_1k_attributes.csv`` (videos
    ``KoNViD_1k_videos/<flickr_id>.mp4``).
    """

    SPEC = DATASET_SPECS["KoNViD"]


@DATASETS.register_module()
class LIVEVQCDataset(VQADataset):
    """LIVE-VQC (Sinno & Bovik 2018): 585 videos, MOS 0-100.

    Community list ``labels.txt`` or the official ``data.mat`` (videos in ``Video/``).
    """

    SPEC = DATASET_SPECS["LIVE_VQC"]


@DATASETS.register_module()
class YouTubeUGCDataset(VQADataset):
    """YouTube-UGC (Wang et al. 2019): the 1,147 rated videos of the community list, MOS 1-5.

    Community list ``labels.txt`` or the official
    ``original_videos_MOS_for_YouTube_UGC_dataset.xlsx`` (all 1,380 videos) or its CSV
    export; ``label_options=dict(name_template=...)`` maps ``vid`` to a file name.
    """

    SPEC = DATASET_SPECS["YouTubeUGC"]


@DATASETS.register_module()
class CVD2014Dataset(VQADataset):
    """CVD2014 (Nuutinen et al. 2016): 234 AVI videos, MOS -6.5-93.4.

    Community list ``labels.txt`` or the official ``CVD2014_ratings/Realignment_MOS.csv``.
    """

    SPEC = DATASET_SPECS["CVD2014"]


@DATASETS.register_module()
class LIVEQualcommDataset(VQADataset):
    """LIVE-Qualcomm (Ghadiyaram et al. 2018): 208 raw YUV420 1920×1080 videos, MOS 16.6-73.6.

    Community list ``labels.txt`` or the official ``qualcommSubjectiveData.mat``; each item
    carries ``yuv_geometry`` (the spec's ``(1080, 1920)`` unless overridden) for the reader.
    """

    SPEC = DATASET_SPECS["LIVE_Qualcomm"]

    def _parser_options(self, label_format: str) -> dict[str, Any]:
        options = super()._parser_options(label_format)
        if label_format == "live_qualcomm":
            if self.data_root:
                options.setdefault("video_root", self.data_root)
            options.setdefault("yuv_geometry", self.yuv_geometry)
        return options


#: Dataset class of each dataset key (from the specs' ``dataset_class``).
DATASET_CLASSES: dict[str, type[VQADataset]] = {
    key: DATASETS.get(spec.dataset_class) for key, spec in DATASET_SPECS.items()
}


@DATASETS.register_module()
class DemoDataset(VQADataset):
    """A part (``"A"`` or ``"B"``) of the synthetic demo benchmark (:mod:`qclip_plugin.data.synthetic`),
    which finds its own files: generated on first use into the user cache (``root=None``:
    :func:`~qclip_plugin.data.synthetic.default_root`), reused afterwards. Synthetic data: no human
    rated these clips.

    ``groups_file`` is the benchmark's metadata CSV (``path``, ``source``, ...), which a split with
    ``group_by='source'`` reads so that no source video is in two parts.
    """

    def __init__(self, part: str = "A", seed: int = 0, root: str | os.PathLike | None = None, **kwargs: Any) -> None:
        from qclip_plugin.data.synthetic import generate_demo_benchmark

        bench = generate_demo_benchmark(root, seed=seed)
        if part not in bench.labels:
            raise ValueError(f"DemoDataset: part must be one of {', '.join(bench.labels)}, got {part!r}")
        self.part, self.demo_seed, self.demo_root = part, seed, bench.root
        self.groups_file = bench.metadata
        super().__init__(ann_file=bench.labels[part], data_root=bench.root, **kwargs)
