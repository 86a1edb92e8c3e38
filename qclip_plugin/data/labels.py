"""Label files of the six VQA datasets, parsed to one record type.

Every parser returns a :class:`pandas.DataFrame` with the columns :data:`LABEL_COLUMNS`:
``name`` (the video's identifier, its path relative to the dataset root as written in the
community lists, so that predictions from either label format line up), ``path`` (the
same relative path, joined with the data root by the datasets), ``mos`` and the optional
``duration`` (s), ``fps``, ``width``, ``height``, ``num_frames`` (NaN when unknown).

Formats (:data:`LABEL_FORMATS`; :func:`detect_label_format` picks one from the file name):

- ``community``: the 4-column lists ``relative/path, duration|-1, fps|-1, MOS`` (one row per
  video; ``-1`` means unknown).
- ``konvid``: KoNViD-1k ``KoNViD_1k_attributes.csv`` (``flickr_id`` or ``file_name``, ``MOS``).
- ``live_vqc``: LIVE-VQC ``data.mat`` (``video_list``, ``mos``).
- ``lsvq``: LSVQ ``labels_train_test.csv`` (``name``, ``mos``, ``is_test``, ``height``,
  ``width``, ``frame_number``) and ``labels_test_1080p.csv`` (same columns, no ``is_test``).
- ``youtube_ugc``: YouTube-UGC ``original_videos_MOS_for_YouTube_UGC_dataset.xlsx``
  (``vid``, ``MOS full``; first worksheet, read with the standard library) or its CSV export.
- ``cvd2014``: CVD2014 ``Realignment_MOS.csv`` (``;``-separated, decimal commas;
  ``Content``, ``File_name``, ``Realignment MOS``).
- ``live_qualcomm``: LIVE-Qualcomm ``qualcommSubjectiveData.mat`` (``qualcommVideoData.vidNames``,
  ``qualcommSubjectiveData.unBiasedMOS``); the videos are raw YUV420 1920×1080.

A bad row raises :class:`LabelError` naming the file, the line (or entry) and what is
wrong; with ``strict=False`` it is skipped with a warning instead.
"""

from __future__ import annotations

import csv
import math
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from qclip_plugin.errors import UserError

LABEL_COLUMNS: tuple[str, ...] = ("name", "path", "mos", "duration", "fps", "width", "height", "num_frames")
LABEL_FORMATS: tuple[str, ...] = (
    "community",
    "konvid",
    "live_vqc",
    "lsvq",
    "youtube_ugc",
    "cvd2014",
    "live_qualcomm",
)

#: Folder of the videos inside each dataset root, as in the community lists.
KONVID_VIDEO_DIR = "KoNViD_1k_videos"
LIVE_VQC_VIDEO_DIR = "Video"
#: YouTube-UGC's H.264 versions of the originals, the files the community list names.
YOUTUBE_UGC_NAME_TEMPLATE = "{vid}_crf_10_ss_00_t_20.0.mp4"
LIVE_QUALCOMM_SIZE = (1080, 1920)  # (height, width) of its raw YUV420 videos


class LabelError(UserError, ValueError):
    """A label file, or one of its rows, cannot be used.

    Attributes:
        path: the label file.
        line: the 1-based line (or entry) number, or ``None`` for the whole file.
        reason: what is wrong.
    """

    def __init__(self, path: str | os.PathLike, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class _Rows:
    """Collects parsed records; a bad row raises (strict) or warns and is skipped."""

    def __init__(self, path: str | os.PathLike, strict: bool, unit: str = "line") -> None:
        self.path = Path(path)
        self.strict = strict
        self.unit = unit
        self.records: list[dict] = []
        self.skipped = 0
        self._seen: dict[str, int] = {}

    def bad(self, line: int, reason: str) -> None:
        if self.strict:
            if self.unit == "line":
                raise LabelError(self.path, reason, line)
            raise LabelError(self.path, f"{self.unit} {line}: {reason}")
        self.skipped += 1
        where = f"line {line}" if self.unit == "line" else f"{self.unit} {line}"
        warnings.warn(f"{self.path}, {where}: {reason}; row skipped", RuntimeWarning, stacklevel=4)

    def add(self, line: int, name: str, mos: object, **optional: object) -> None:
        name = name.strip().replace("\\", "/")
        if not name:
            self.bad(line, "empty video path")
            return
        value = _number(mos)
        if value is None or not math.isfinite(value):
            self.bad(line, f"MOS {mos!r} of {name!r} is not a finite number")
            return
        if name in self._seen:
            self.bad(line, f"video {name!r} is listed twice (first at {self.unit} {self._seen[name]})")
            return
        self._seen[name] = line
        record = {"name": name, "path": name, "mos": value}
        for key, raw in optional.items():
            number = _number(raw)
            record[key] = number if number is not None and number >= 0 else math.nan
        self.records.append(record)

    def frame(self) -> pd.DataFrame:
        if not self.records:
            raise LabelError(self.path, "no usable rows (is this the right file for this dataset?)")
        table = pd.DataFrame.from_records(self.records)
        for column in LABEL_COLUMNS:
            if column not in table:
                table[column] = math.nan
        table = table[list(LABEL_COLUMNS)]
        table.attrs["label_file"] = str(self.path)
        table.attrs["skipped_rows"] = self.skipped
        return table


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _with_ext(name: str, ext: str) -> str:
    return name if Path(name).suffix else name + ext


def _key(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.lower())


def _read_table(
    path: Path, delimiter: str = ",", decimal_comma: bool = False
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Rows of a delimited file as ``(line, {normalised header: text})``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise LabelError(path, "the file is empty") from None
    keys = [_key(h) for h in header]
    rows = []
    for fields in reader:
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if decimal_comma:
            fields = [re.sub(r"^(-?\d+),(\d+)$", r"\1.\2", f.strip()) for f in fields]
        rows.append((line, dict(zip(keys, fields, strict=False))))
    return header, rows


def _column(path: Path, header: list[str], *candidates: str, required: bool = True) -> str | None:
    keys = {_key(h) for h in header}
    for candidate in candidates:
        if _key(candidate) in keys:
            return _key(candidate)
    if required:
        raise LabelError(
            path,
            f"no column {' / '.join(repr(c) for c in candidates)} in the header ({', '.join(header)})",
            1,
        )
    return None


def read_community_list(path: str | os.PathLike, strict: bool = True) -> pd.DataFrame:
    """The community 4-column list: ``relative/path, duration|-1, fps|-1, MOS`` per line."""
    path = Path(path)
    rows = _Rows(path, strict)
    with path.open(encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, start=1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            fields = [f.strip() for f in text.rsplit(",", 3)]  # the path may hold commas
            if len(fields) != 4:
                rows.bad(line, f"expected 4 comma-separated fields (path, duration, fps, MOS), got {len(fields)}")
                continue
            name, duration, fps, mos = fields
            for label, value in (("duration", duration), ("fps", fps)):
                if _number(value) is None:
                    rows.bad(line, f"{label} {value!r} is not a number (use -1 when unknown)")
                    break
            else:
                rows.add(line, name, mos, duration=duration, fps=fps)
    return rows.frame()


def read_konvid_attributes(
    path: str | os.PathLike, strict: bool = True, video_dir: str = KONVID_VIDEO_DIR
) -> pd.DataFrame:
    """KoNViD-1k ``KoNViD_1k_attributes.csv``: videos ``<video_dir>/<flickr_id>.mp4``."""
    path = Path(path)
    header, table = _read_table(path)
    name_col = _column(path, header, "file_name", "flickr_id")
    mos_col = _column(path, header, "MOS")
    width_col = _column(path, header, "width", required=False)
    height_col = _column(path, header, "height", required=False)
    fps_col = _column(path, header, "frame_rate", "framerate", "fps", required=False)
    rows = _Rows(path, strict)
    for line, row in table:
        ident = row.get(name_col, "").strip()
        if ident and re.fullmatch(r"\d+(\.0+)?", ident):  # a numeric id read back from a spreadsheet
            ident = ident.split(".")[0]
        name = f"{video_dir}/{_with_ext(ident, '.mp4')}" if ident else ""
        rows.add(
            line, name, row.get(mos_col),
            width=row.get(width_col or ""), height=row.get(height_col or ""), fps=row.get(fps_col or ""),
        )
    return rows.frame()


def _mat_strings(value: object) -> list[str]:
    """A MATLAB cell array / char matrix of names as a list of strings."""
    out = []
    for item in np.asarray(value, dtype=object).reshape(-1):
        while isinstance(item, np.ndarray) and item.dtype == object and item.size == 1:
            item = item.reshape(-1)[0]
        if isinstance(item, np.ndarray):
            item = "".join(str(c) for c in item.reshape(-1)) if item.dtype.kind in "US" else item.tolist()
        out.append(str(item).strip())
    return out


def _load_mat(path: Path) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(str(path), squeeze_me=False, struct_as_record=False)
    except NotImplementedError:
        raise LabelError(
            path, "MATLAB v7.3 (HDF5) files are not supported; re-save it with save(..., '-v7') in MATLAB"
        ) from None
    except (ValueError, TypeError, OSError) as err:
        raise LabelError(path, f"cannot read it as a MATLAB file ({err})") from None


def read_live_vqc_mat(
    path: str | os.PathLike, strict: bool = True, video_dir: str = LIVE_VQC_VIDEO_DIR
) -> pd.DataFrame:
    """LIVE-VQC ``data.mat``: ``video_list`` (names) and ``mos``; videos ``<video_dir>/<name>``."""
    path = Path(path)
    mat = _load_mat(path)
    missing = [key for key in ("video_list", "mos") if key not in mat]
    if missing:
        found = ", ".join(k for k in mat if not k.startswith("__"))
        raise LabelError(path, f"no variable {' and '.join(missing)} (found: {found})")
    names = _mat_strings(mat["video_list"])
    mos = np.asarray(mat["mos"], dtype=np.float64).reshape(-1)
    if len(names) != len(mos):
        raise LabelError(path, f"video_list has {len(names)} entries but mos has {len(mos)}")
    rows = _Rows(path, strict, unit="entry")
    for index, (name, value) in enumerate(zip(names, mos, strict=True), start=1):
        rows.add(index, f"{video_dir}/{name}" if name else "", value)
    return rows.frame()


LSVQ_SPLITS = ("train", "test", "1080p")


def read_lsvq_csv(path: str | os.PathLike, split: str | None = None, strict: bool = True) -> pd.DataFrame:
    """LSVQ ``labels_train_test.csv`` or ``labels_test_1080p.csv``; videos ``<name>.mp4``.

    Args:
        split: ``"train"`` / ``"test"`` keep the rows whose ``is_test`` is false / true;
            ``None`` or ``"1080p"`` keep every row (the 1080p file is all test videos).
    """
    path = Path(path)
    if split not in (None, *LSVQ_SPLITS):
        raise ValueError(f"LSVQ split must be one of {', '.join(LSVQ_SPLITS)}, got {split!r}")
    header, table = _read_table(path)
    name_col = _column(path, header, "name")
    mos_col = _column(path, header, "mos")
    test_col = _column(path, header, "is_test", required=split in ("train", "test"))
    width_col = _column(path, header, "width", required=False)
    height_col = _column(path, header, "height", required=False)
    frames_col = _column(path, header, "frame_number", "num_frames", required=False)
    rows = _Rows(path, strict)
    for line, row in table:
        if split in ("train", "test"):
            flag = row.get(test_col, "").strip().lower()
            if flag not in ("true", "false", "1", "0", "1.0", "0.0"):
                rows.bad(line, f"is_test {flag!r} is not true/false")
                continue
            if (flag in ("true", "1", "1.0")) != (split == "test"):
                continue
        name = row.get(name_col, "").strip()
        rows.add(
            line, _with_ext(name, ".mp4") if name else "", row.get(mos_col),
            width=row.get(width_col or ""), height=row.get(height_col or ""),
            num_frames=row.get(frames_col or ""),
        )
    return rows.frame()


_XLSX_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "p": "http://schemas.openxmlformats.org/package/2006/relationships",
}


def _xlsx_column(ref: str) -> int:
    index = 0
    for char in re.match(r"[A-Z]+", ref).group(0):
        index = index * 26 + ord(char) - 64
    return index - 1


def _read_xlsx_cells(path: Path, sheet: int | str = 0) -> list[tuple[int, list[str]]]:
    """``(row number, cell texts)`` of a worksheet (position or name), read with the standard library.

    Enough for label sheets (shared strings, inline strings, numbers); openpyxl is not a
    dependency of this package.
    """
    import zipfile
    from xml.etree import ElementTree

    ns = _XLSX_NS
    try:
        with zipfile.ZipFile(path) as book:
            names = set(book.namelist())
            workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
            sheets = workbook.findall("m:sheets/m:sheet", ns)
            titles = [s.get("name", "") for s in sheets]
            if isinstance(sheet, str):
                if sheet not in titles:
                    raise LabelError(path, f"no worksheet {sheet!r} (found: {', '.join(titles)})")
                chosen = sheets[titles.index(sheet)]
            elif 0 <= sheet < len(sheets):
                chosen = sheets[sheet]
            else:
                raise LabelError(path, f"no worksheet number {sheet} ({len(sheets)} worksheets)")
            target = f"xl/worksheets/sheet{sheet + 1 if isinstance(sheet, int) else 1}.xml"
            if "xl/_rels/workbook.xml.rels" in names:
                rel_id = chosen.get(f"{{{ns['r']}}}id")
                rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
                for rel in rels.findall("p:Relationship", ns):
                    if rel.get("Id") == rel_id:
                        ref = rel.get("Target", "").lstrip("/")
                        target = ref if ref.startswith("xl/") else f"xl/{ref}"
            shared: list[str] = []
            if "xl/sharedStrings.xml" in names:
                for item in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall("m:si", ns):
                    shared.append("".join(t.text or "" for t in item.iter(f"{{{ns['m']}}}t")))
            sheet = ElementTree.fromstring(book.read(target))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as err:
        raise LabelError(path, f"not a readable .xlsx workbook ({err}); export the sheet to CSV instead") from None
    rows = []
    for row in sheet.iter(f"{{{ns['m']}}}row"):
        cells: dict[int, str] = {}
        for position, cell in enumerate(row.findall("m:c", ns)):
            column = _xlsx_column(cell.get("r")) if cell.get("r") else position
            kind, value = cell.get("t"), cell.find("m:v", ns)
            if kind == "inlineStr":
                text = "".join(t.text or "" for t in cell.iter(f"{{{ns['m']}}}t"))
            elif value is None or value.text is None:
                text = ""
            elif kind == "s":
                text = shared[int(value.text)]
            else:
                text = value.text
            cells[column] = text
        width = max(cells) + 1 if cells else 0
        rows.append((int(row.get("r", len(rows) + 1)), [cells.get(i, "") for i in range(width)]))
    return rows


def _read_xlsx_sheet(
    path: Path, sheet: int | str, header_key: str
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and ``(line, {normalised header: text})`` rows of a worksheet.

    The header is the first row with a cell ``header_key`` (title rows above it are skipped).
    """
    rows = [r for r in _read_xlsx_cells(path, sheet) if any(c.strip() for c in r[1])]
    start = next((i for i, (_, cells) in enumerate(rows) if _key(header_key) in map(_key, cells)), None)
    if start is None:
        raise LabelError(path, f"no header row with a {header_key!r} column in worksheet {sheet!r}")
    header = rows[start][1]
    keys = [_key(h) for h in header]
    return header, [(line, dict(zip(keys, cells, strict=False))) for line, cells in rows[start + 1 :]]


def read_youtube_ugc_mos(
    path: str | os.PathLike,
    strict: bool = True,
    name_template: str = YOUTUBE_UGC_NAME_TEMPLATE,
    sheet: int | str = 0,
) -> pd.DataFrame:
    """YouTube-UGC ``original_videos_MOS_for_YouTube_UGC_dataset.xlsx`` (first sheet) or its CSV export.

    Uses ``vid`` and ``MOS full`` (the MOS of the whole 20 s video); rows without a MOS
    are not rated videos and are left out silently. ``name_template`` turns ``vid`` into the
    file name; the default names the H.264 versions, as the community list does. ``sheet``:
    the worksheet of an ``.xlsx`` (position or name).
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        header, table = _read_xlsx_sheet(path, sheet, "vid")
    else:
        header, table = _read_table(path)
    vid_col = _column(path, header, "vid")
    mos_col = _column(path, header, "MOS full", "mos")
    rows = _Rows(path, strict)
    for line, row in table:
        vid, mos = row.get(vid_col, "").strip(), row.get(mos_col, "").strip()
        if not vid and not mos:
            continue
        if mos.lower() in ("", "nan", "n/a", "na"):
            continue  # an unrated video of the release
        rows.add(line, name_template.format(vid=vid) if vid else "", mos)
    return rows.frame()


def read_cvd2014_mos(path: str | os.PathLike, strict: bool = True) -> pd.DataFrame:
    """CVD2014 ``Realignment_MOS.csv`` (``;``, decimal commas); videos ``TestN/<Content>/<File_name>.avi``.

    The test number N comes from the file name (``Test03_City_D12`` -> ``Test3``).
    """
    path = Path(path)
    header, table = _read_table(path, delimiter=";", decimal_comma=True)
    if len(header) < 2:
        raise LabelError(path, "expected ';'-separated columns (is it the CVD2014 Realignment_MOS.csv?)", 1)
    file_col = _column(path, header, "File_name", "filename")
    content_col = _column(path, header, "Content")
    mos_col = _column(path, header, "Realignment MOS", "RealignmentMOS", "MOS")
    rows = _Rows(path, strict)
    for line, row in table:
        file_name = row.get(file_col, "").strip()
        content = row.get(content_col, "").strip().replace(" ", "_")
        match = re.match(r"Test0*(\d+)_", file_name)
        if not match or not content:
            rows.bad(line, f"cannot place video {file_name!r} (content {content!r}); expected File_name 'TestNN_...'")
            continue
        rows.add(line, f"Test{match.group(1)}/{content}/{_with_ext(file_name, '.avi')}", row.get(mos_col))
    return rows.frame()


def _mat_fields(mat: dict) -> dict[str, object]:
    """Every variable and struct field of a .mat file, by lower-cased name."""
    fields: dict[str, object] = {}
    for key, value in mat.items():
        if key.startswith("__"):
            continue
        fields.setdefault(key.lower(), value)
        structs = [value] if hasattr(value, "_fieldnames") else []
        if isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
            item = value.reshape(-1)[0]
            structs += [item] if hasattr(item, "_fieldnames") else []
        for struct in structs:
            for name in struct._fieldnames:
                fields.setdefault(name.lower(), getattr(struct, name))
    return fields


def read_live_qualcomm_mat(
    path: str | os.PathLike, strict: bool = True, video_root: str | os.PathLike | None = None
) -> pd.DataFrame:
    """LIVE-Qualcomm ``qualcommSubjectiveData.mat``: ``vidNames`` and ``unBiasedMOS``.

    The videos sit in one folder per distortion (``Artifacts/``, ``Color/``, ...). Names
    without a folder are looked up under ``video_root`` when given (a one-time scan for
    ``*.yuv``); otherwise they stay relative to the root.
    """
    path = Path(path)
    fields = _mat_fields(_load_mat(path))
    names_key = next((k for k in ("vidnames", "videonames", "video_names", "video_list") if k in fields), None)
    mos_key = next((k for k in ("unbiasedmos", "mos", "scores") if k in fields), None)
    if names_key is None or mos_key is None:
        raise LabelError(
            path,
            "expected qualcommVideoData.vidNames and qualcommSubjectiveData.unBiasedMOS; "
            f"found fields {', '.join(sorted(fields))}",
        )
    names = _mat_strings(fields[names_key])
    mos = np.asarray(fields[mos_key], dtype=np.float64).reshape(-1)
    if len(names) != len(mos):
        raise LabelError(path, f"{names_key} has {len(names)} entries but {mos_key} has {len(mos)}")
    located: dict[str, str] = {}
    if video_root is not None and any("/" not in n.replace("\\", "/") for n in names):
        root = Path(video_root)
        for file in root.rglob("*.yuv"):
            located.setdefault(file.name, file.relative_to(root).as_posix())
    height, width = LIVE_QUALCOMM_SIZE
    rows = _Rows(path, strict, unit="entry")
    for index, (name, value) in enumerate(zip(names, mos, strict=True), start=1):
        name = _with_ext(name, ".yuv") if name else ""
        rows.add(index, located.get(name, name), value, width=width, height=height)
    return rows.frame()


_BY_FILE_NAME: tuple[tuple[str, str], ...] = (
    (r"konvid_1k_attributes.*\.csv", "konvid"),
    (r"data\.mat", "live_vqc"),
    (r"labels_(train_test|test_1080p).*\.csv", "lsvq"),
    (r".*youtube_ugc.*\.(xlsx|xlsm|csv)", "youtube_ugc"),
    (r"realignment_mos.*\.csv", "cvd2014"),
    (r"qualcommsubjectivedata.*\.mat", "live_qualcomm"),
    (r".*\.(txt|lst)", "community"),
)

_PARSERS: dict[str, Callable[..., pd.DataFrame]] = {
    "community": read_community_list,
    "konvid": read_konvid_attributes,
    "live_vqc": read_live_vqc_mat,
    "lsvq": read_lsvq_csv,
    "youtube_ugc": read_youtube_ugc_mos,
    "cvd2014": read_cvd2014_mos,
    "live_qualcomm": read_live_qualcomm_mat,
}


def detect_label_format(path: str | os.PathLike) -> str:
    """The label format of a file, from its name (see :data:`LABEL_FORMATS`)."""
    name = Path(path).name.lower()
    for pattern, fmt in _BY_FILE_NAME:
        if re.fullmatch(pattern, name):
            return fmt
    raise LabelError(
        path,
        "cannot tell the label format from the file name; pass label_format= one of "
        + ", ".join(LABEL_FORMATS),
    )


def read_labels(
    path: str | os.PathLike, label_format: str = "auto", strict: bool = True, **options: object
) -> pd.DataFrame:
    """Parse a label file of any supported format to the common table (:data:`LABEL_COLUMNS`).

    Args:
        path: the label file.
        label_format: one of :data:`LABEL_FORMATS`, or ``"auto"`` to detect it from the name.
        strict: raise :class:`LabelError` on a bad row (else warn and skip it).
        **options: passed to the format's parser (e.g. ``split`` for LSVQ, ``video_root``
            for LIVE-Qualcomm, ``name_template`` for YouTube-UGC).
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "label file not found" if not path.exists() else "not a file")
    fmt = detect_label_format(path) if label_format == "auto" else label_format
    if fmt not in _PARSERS:
        raise ValueError(f"unknown label format {fmt!r}; choose one of auto, {', '.join(LABEL_FORMATS)}")
    return _PARSERS[fmt](path, strict=strict, **options)


def write_community_list(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a label table as a community 4-column list (unknown duration/fps as -1)."""
    path = Path(path)
    lines = []
    for row in table.itertuples(index=False):
        duration = -1 if not np.isfinite(row.duration) else row.duration
        fps = -1 if not np.isfinite(row.fps) else row.fps
        lines.append(f"{row.path}, {float(duration)!r}, {float(fps)!r}, {float(row.mos)!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


__all__ = [
    "LABEL_COLUMNS",
    "LABEL_FORMATS",
    "LabelError",
    "detect_label_format",
    "read_community_list",
    "read_cvd2014_mos",
    "read_konvid_attributes",
    "read_labels",
    "read_live_qualcomm_mat",
    "read_live_vqc_mat",
    "read_lsvq_csv",
    "read_youtube_ugc_mos",
    "write_community_list",
]
