"""Miniature data roots laid out exactly like the six VQA datasets, for end-to-end tests.

``build_miniature(key, root)`` writes, under ``root``:

- the label files the dataset class looks for, with the first rows of the real label files of
  ``../shared/data/labels`` (lines copied verbatim): the community lists (``labels.txt``; LSVQ
  ``labels_train.txt`` / ``labels_test.txt`` / ``labels_1080p.txt``) and/or the official files,
  restricted to the same videos and written in their real formats (KoNViD's attributes CSV with
  its 10 columns, LIVE-VQC's ``data.mat``, LSVQ's 38-column ``labels_train_test.csv`` and
  ``labels_test_1080p.csv``, YouTube-UGC's workbook, CVD2014's ``;``/decimal-comma CSV with its
  empty lines, LIVE-Qualcomm's ``qualcommSubjectiveData.mat`` structs);
- one video per label row at the row's real relative path (LSVQ ``yfcc-batchN/``, ``ia-batchN/``
  and names with dots; ``KoNViD_1k_videos/``; ``Video/``; CVD2014 ``TestN/<Content>/*.avi``;
  LIVE-Qualcomm raw ``.yuv`` in its distortion folders): small generated clips (default; 12
  frames of 48x64, whose noise falls with the MOS so a model has something to learn), or
  ``clips="real"``: symlinks to the real clips of ``../shared/data/videos``, cycled.

LIVE-Qualcomm's raw videos are written at :data:`MINIATURE_YUV_GEOMETRY`, not 1080x1920: give the
dataset ``yuv_geometry=MINIATURE_YUV_GEOMETRY`` (:data:`DATASET_OPTIONS`; in a protocol config
``protocol.train_sets.LIVE-Qualcomm.yuv_geometry=(48,64)``).

Rows are picked in file order, round-robin over the top folders (without digits), so LSVQ's
``yfcc-batch``, ``ia-batch`` and ``backup`` folders and LIVE-Qualcomm's six distortion folders all
appear; LSVQ's names with dots come first among their folder's picks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from qclip_plugin.data.dataset_specs import DATASET_SPECS, DatasetSpec
from qclip_plugin.data.labels import read_labels

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LABELS = SHARED_DATA / "labels"
OFFICIAL = LABELS / "official"

#: Videos per dataset (per split for LSVQ): what the cross-dataset / fine-tune runs of issue 17 use.
MINIATURE_SIZES: dict[str, dict[str, int]] = {
    "LSVQ": {"train": 40, "test": 10, "1080p": 10},
    "KoNViD": {"": 30},
    "LIVE_VQC": {"": 12},
    "YouTubeUGC": {"": 12},
    "CVD2014": {"": 12},
    "LIVE_Qualcomm": {"": 12},
}
#: (height, width) of the generated clips and of LIVE-Qualcomm's raw YUV files.
MINIATURE_YUV_GEOMETRY = (48, 64)
CLIP_FRAMES = 12
#: Dataset arguments a miniature needs beyond ``data_root`` (the small YUV geometry).
DATASET_OPTIONS: dict[str, dict] = {"LIVE_Qualcomm": {"yuv_geometry": MINIATURE_YUV_GEOMETRY}}
#: The community list of each split, relative to ``../shared/data/labels/<key>/`` and to the root.
COMMUNITY_FILES = {
    "train": "labels_train.txt",
    "test": "labels_test.txt",
    "1080p": "labels_1080p.txt",
    "": "labels.txt",
}
REAL_CLIPS = ("bikes.mp4", "carphone_distorted.mp4", "konvid_10053703034.mp4", "lsvq_1724.mp4",
              "lsvq_17734.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")  # fmt: skip


def build_miniature(
    key: str,
    root: str | os.PathLike,
    n: int | dict[str, int] | None = None,
    labels: str = "community",
    clips: str = "generated",
) -> Path:
    """Write a miniature of dataset ``key`` (a key of ``DATASET_SPECS``) under ``root``; return ``root``.

    Args:
        n: videos (an int for a dataset without splits, or ``{split: count}``); default
            :data:`MINIATURE_SIZES`.
        labels: ``"community"``, ``"official"`` or ``"both"`` (the dataset then reads the
            community list, the first of its default files).
        clips: ``"generated"`` or ``"real"`` (symlinks to ``../shared/data/videos``).
    """
    spec, root = DATASET_SPECS[key], Path(root)
    sizes = MINIATURE_SIZES[key] if n is None else (n if isinstance(n, dict) else {"": n})
    picks = {split: pick_rows(_community_lines(spec, split), count) for split, count in sizes.items()}
    root.mkdir(parents=True, exist_ok=True)
    if labels in ("community", "both"):
        for split, lines in picks.items():
            (root / COMMUNITY_FILES[split]).write_text("".join(lines))
    if labels in ("official", "both"):
        OFFICIAL_WRITERS[key](root, {s: [_path_of(line) for line in lines] for s, lines in picks.items()})
    rows = [line for lines in picks.values() for line in lines]
    mos = np.array([float(line.rsplit(",", 1)[1]) for line in rows])
    quality = (mos - mos.min()) / max(np.ptp(mos), 1e-9)
    for index, (line, q) in enumerate(zip(rows, quality, strict=True)):
        _write_video(root / _path_of(line), index, float(q), clips)
    return root


def miniature_dataset(key: str, root: str | os.PathLike, split: str | None = None, **kwargs):
    """The dataset class of ``key`` built on a miniature (with :data:`DATASET_OPTIONS`)."""
    from qclip_plugin.registry import DATASETS

    spec = DATASET_SPECS[key]
    options = {"data_root": str(root), **DATASET_OPTIONS.get(key, {}), **kwargs}
    if split:
        options["split"] = split
    return DATASETS.build(dict(type=spec.dataset_class, **options))


# --- label rows ----------------------------------------------------------------------------------


def _community_lines(spec: DatasetSpec, split: str) -> list[str]:
    lines = [
        line + "\n" for line in (LABELS / spec.key / COMMUNITY_FILES[split]).read_text().splitlines() if line
    ]
    if spec.key == "LSVQ" and split == "test":
        # the official-format test rows come from LSVQ_whole_test.csv, which lacks a few community videos
        whole = set(pd.read_csv(OFFICIAL / "LSVQ/LSVQ_whole_test.csv", usecols=["name"])["name"] + ".mp4")
        lines = [line for line in lines if _path_of(line) in whole]
    return lines


def _path_of(line: str) -> str:
    return line.rsplit(",", 3)[0].strip()


def pick_rows(lines: list[str], count: int) -> list[str]:
    """``count`` lines in file order, round-robin over the top folders (digits removed); names with
    dots first within a folder (LSVQ's ``ia-batch1/Clip.3``)."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        top = _path_of(line).split("/")[0] if "/" in _path_of(line) else ""
        groups.setdefault(re.sub(r"\d+", "", top), []).append(line)
    for members in groups.values():
        members.sort(key=lambda line: "." not in Path(_path_of(line)).stem)  # stable: dotted first
    picked: list[str] = []
    while len(picked) < count and any(groups.values()):
        for members in groups.values():
            if members and len(picked) < count:
                picked.append(members.pop(0))
    order = {line: i for i, line in enumerate(lines)}
    return sorted(picked, key=order.__getitem__)


# --- official label files ------------------------------------------------------------------------


def _copy_csv_rows(source: Path, target: Path, keep: Iterable[int]) -> None:
    """The header and the data lines ``keep`` (0-based) of a CSV, byte for byte."""
    lines = source.read_bytes().splitlines(keepends=True)
    wanted = set(keep)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(lines[0] + b"".join(line for i, line in enumerate(lines[1:]) if i in wanted))


def _positions(table_names: list[str], wanted: list[str]) -> list[int]:
    index = {name: i for i, name in enumerate(table_names)}
    return [index[name] for name in wanted]


def _official_konvid(root: Path, picks: dict[str, list[str]]) -> None:
    source = OFFICIAL / "KoNViD/KoNViD_1k_attributes.csv"
    names = read_labels(source)["name"].tolist()
    _copy_csv_rows(source, root / "KoNViD_1k_attributes.csv", _positions(names, picks[""]))


def _official_live_vqc(root: Path, picks: dict[str, list[str]]) -> None:
    from scipy.io import loadmat, savemat

    mat = loadmat(str(OFFICIAL / "LIVE_VQC/LiveVQC_data.mat"))
    rows = _positions(read_labels(OFFICIAL / "LIVE_VQC/LiveVQC_data.mat")["name"].tolist(), picks[""])
    savemat(root / "data.mat", {"video_list": mat["video_list"][rows], "mos": mat["mos"][rows]})


def _official_lsvq(root: Path, picks: dict[str, list[str]]) -> None:
    """``labels_train_test.csv`` in the official 38-column layout: the test rows verbatim from
    ``LSVQ_whole_test.csv`` (the official file's is_test rows), the train rows from the re-hosted
    5-column file's values with ``is_test`` False (the official file's other columns left empty,
    as the real 38-column train rows are not re-hosted); ``labels_test_1080p.csv`` verbatim."""
    if "1080p" in picks:
        source = OFFICIAL / "LSVQ/labels_test_1080p.csv"
        _copy_csv_rows(
            source, root / source.name, _positions(read_labels(source)["name"].tolist(), picks["1080p"])
        )
    if not {"train", "test"} & set(picks):
        return
    whole = pd.read_csv(OFFICIAL / "LSVQ/LSVQ_whole_test.csv", dtype=str, keep_default_na=False)
    train = pd.read_csv(OFFICIAL / "LSVQ/labels_train_test.csv", dtype=str, keep_default_na=False)
    by_path = lambda table: table.set_index(table["name"] + ".mp4")  # noqa: E731
    test_rows = by_path(whole).loc[picks.get("test", [])]
    train_rows = by_path(train).loc[picks.get("train", [])].reindex(columns=whole.columns, fill_value="")
    train_rows["is_test"] = "False"
    train_rows["is_valid"] = "False"
    pd.concat([train_rows, test_rows]).to_csv(root / "labels_train_test.csv", index=False)


def _official_youtube_ugc(root: Path, picks: dict[str, list[str]]) -> None:
    source = OFFICIAL / "YouTubeUGC/original_videos_MOS_for_YouTube_UGC_dataset.xlsx"
    sheets = pd.read_excel(source, sheet_name=["MOS", "readme"], header=None, dtype=object)
    names = read_labels(source)["name"].tolist()  # the rated rows, in sheet order
    rated = sheets["MOS"].iloc[1:][pd.to_numeric(sheets["MOS"].iloc[1:, 2], errors="coerce").notna()]
    mos_sheet = pd.concat([sheets["MOS"].iloc[:1], rated.iloc[_positions(names, picks[""])]])
    with pd.ExcelWriter(root / source.name, engine="openpyxl") as book:
        mos_sheet.to_excel(book, sheet_name="MOS", index=False, header=False)
        sheets["readme"].to_excel(book, sheet_name="readme", index=False, header=False)


def _official_cvd2014(root: Path, picks: dict[str, list[str]]) -> None:
    """``CVD2014_ratings/Realignment_MOS.csv``: header, the picked lines and an empty ``;;;;;;;``
    line after every third row, as the real file has them (``;``, decimal commas)."""
    source = OFFICIAL / "CVD2014/Realignment_MOS.csv"
    lines = source.read_bytes().splitlines(keepends=True)
    data = [line for line in lines[1:] if line.strip(b";\r\n")]
    rows = _positions(read_labels(source)["name"].tolist(), picks[""])
    empty = next(line for line in lines if not line.strip(b";\r\n"))
    body = b"".join(data[r] + (empty if i % 3 == 2 else b"") for i, r in enumerate(rows))
    target = root / "CVD2014_ratings" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(lines[0] + body)


def _official_live_qualcomm(root: Path, picks: dict[str, list[str]]) -> None:
    from scipy.io import loadmat, savemat

    source = OFFICIAL / "LIVE_Qualcomm/qualcommSubjectiveData.mat"
    mat = loadmat(str(source), struct_as_record=False)
    video, subjective = mat["qualcommVideoData"][0, 0], mat["qualcommSubjectiveData"][0, 0]
    rows = _positions(read_labels(source)["name"].tolist(), picks[""])
    per_video = {"vidNames", "distortionType", "phoneID"}
    savemat(root / source.name, {
        "qualcommVideoData": {f: getattr(video, f)[rows] if f in per_video else getattr(video, f)
                              for f in video._fieldnames},
        "qualcommSubjectiveData": {f: getattr(subjective, f)[rows] for f in subjective._fieldnames},
    })  # fmt: skip


OFFICIAL_WRITERS = {
    "LSVQ": _official_lsvq,
    "KoNViD": _official_konvid,
    "LIVE_VQC": _official_live_vqc,
    "YouTubeUGC": _official_youtube_ugc,
    "CVD2014": _official_cvd2014,
    "LIVE_Qualcomm": _official_live_qualcomm,
}


# --- videos --------------------------------------------------------------------------------------


def clip_frames(index: int, quality: float, size: tuple[int, int] = MINIATURE_YUV_GEOMETRY) -> np.ndarray:
    """``uint8`` RGB frames ``(CLIP_FRAMES, H, W, 3)``: moving stripes whose phase, angle and colours
    come from ``index``, plus noise that falls as ``quality`` (the MOS rank in [0, 1]) rises."""
    rng = np.random.default_rng(index)
    height, width = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.1, 0.4)
    colours = rng.uniform(40, 215, size=(2, 3))
    frames = []
    for t in range(CLIP_FRAMES):
        wave = 0.5 + 0.5 * np.sin(freq * (x * np.cos(angle) + y * np.sin(angle)) + 0.6 * t)
        frame = colours[0] * wave[..., None] + colours[1] * (1 - wave[..., None])
        frame += rng.normal(0.0, 4.0 + 60.0 * (1.0 - quality), size=frame.shape)
        frames.append(np.clip(frame, 0, 255))
    return np.stack(frames).astype(np.uint8)


def _encode(path: Path, frames: np.ndarray, container: str, codec: str) -> None:
    import av

    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=Fraction(25))
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        for rgb in frames:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        output.mux(stream.encode(None))


def _write_video(path: Path, index: int, quality: float, clips: str) -> None:
    from qclip_plugin.data.synthetic.codec import rgb_to_yuv420p

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".yuv":  # raw planar YUV420, no header: the geometry is the reader's to know
        path.write_bytes(b"".join(rgb_to_yuv420p(f).tobytes() for f in clip_frames(index, quality)))
    elif clips == "real":
        path.symlink_to(SHARED_DATA / "videos" / REAL_CLIPS[index % len(REAL_CLIPS)])
    elif clips == "generated":
        container, codec = ("avi", "mpeg4") if path.suffix == ".avi" else ("mp4", "libx264")
        _encode(path, clip_frames(index, quality), container, codec)
    else:
        raise ValueError(f"clips must be 'generated' or 'real', got {clips!r}")
