"""Label files of the six VQA datasets, parsed to one record type.

Every parser returns a :class:`pandas.DataFrame` with the columns :data:`LABEL_COLUMNS`:
``name`` (the video's identifier, its path relative to the dataset root as written in the
community lists, so that predictions from either label format line up), ``path`` (the
same relative path, joined with the data root by the datasets), ``mos`` and the optional
``duration`` (s), ``fps``, ``width``, ``height``, ``num_frames`` (NaN when unknown).

Formats (:data:`LABEL_FORMATS`; :func:`detect_label_format` tells them apart by their
content: the header's columns, the MAT file's variables, the workbook's header row):

- ``community``: the 4-column lists ``relative/path, duration|-1, fps|-1, MOS`` (one row per
  video; ``-1`` means unknown).
- ``konvid``: KoNViD-1k ``KoNViD_1k_attributes.csv`` (``flickr_id``, ``MOS``; the videos are
  ``<flickr_id>.mp4``, whatever ``file_name`` says).
- ``live_vqc``: LIVE-VQC ``data.mat`` (``video_list``, ``mos``; MAT v5) under any name, and the
  MAT v7.3 (HDF5) ``LIVE-VQCinfo.mat`` of VSFA-style code (``video_names``, ``scores``), read
  with h5py.
- ``lsvq``: LSVQ ``labels_train_test.csv`` (``name``, ``mos``, ``is_test``, ...),
  ``labels_test_1080p.csv`` (no ``is_test``) and re-packaged files with those columns; names
  are ``<name>.mp4`` even when they hold dots.
- ``youtube_ugc``: YouTube-UGC ``original_videos_MOS_for_YouTube_UGC_dataset.xlsx`` (``vid``,
  ``MOS full``; read with :func:`pandas.read_excel`, openpyxl) or its CSV export.
- ``cvd2014``: CVD2014 ``Realignment_MOS.csv`` (``;``-separated, decimal commas, empty
  ``;;;;`` lines; ``Content``, ``File_name``, ``Realignment MOS``).
- ``live_qualcomm``: LIVE-Qualcomm ``qualcommSubjectiveData.mat`` (``vidNames``,
  ``unBiasedMOS``; each video's folder from ``distortionType`` / ``distortionNames``).

How a format's identifiers become relative paths (folder, name template, extension) is the
dataset's row of :mod:`qclip_plugin.data.dataset_specs`.

A bad row raises :class:`LabelError` naming the file, the line (or entry) and what is
wrong; with ``strict=False`` it is skipped with a warning instead. A file that is not UTF-8
or cannot be read at all raises :class:`LabelError` in both modes.
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

from qclip_plugin.data.dataset_specs import DATASET_SPECS
from qclip_plugin.errors import UserError

LABEL_COLUMNS: tuple[str, ...] = ("name", "path", "mos", "duration", "fps", "width", "height", "num_frames")
LABEL_FORMATS: tuple[str, ...] = ("community", *(spec.label_format for spec in DATASET_SPECS.values()))
LSVQ_SPLITS: tuple[str, ...] = DATASET_SPECS["LSVQ"].splits

_KONVID, _LIVE_VQC, _LSVQ = DATASET_SPECS["KoNViD"], DATASET_SPECS["LIVE_VQC"], DATASET_SPECS["LSVQ"]
_YOUTUBE_UGC, _CVD2014, _QUALCOMM = DATASET_SPECS["YouTubeUGC"], DATASET_SPECS["CVD2014"], DATASET_SPECS["LIVE_Qualcomm"]


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

    def frame(self, empty_reason: str = "no usable rows (is this the right file for this dataset?)") -> pd.DataFrame:
        if not self.records:
            raise LabelError(self.path, empty_reason)
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


def _key(header: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(header).lower())


# --- text files ------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    """The file as text: UTF-8 (a byte-order mark allowed), else a :class:`LabelError` with the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise LabelError(
            path,
            f"not UTF-8 text (byte 0x{data[err.start]:02x} at column {column}); label files must be UTF-8: "
            "re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`, or 'CSV UTF-8' in a "
            "spreadsheet program)",
            line,
        ) from None


def _sniff_delimiter(first_line: str) -> str:
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _read_table(
    path: Path, delimiter: str | None = None, decimal_comma: bool = False
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and rows ``(line, {normalised header: text})`` of a delimited file (None: sniffed)."""
    lines = _read_text(path).splitlines()
    start = next((i for i, text in enumerate(lines) if text.strip()), None)
    if start is None:
        raise LabelError(path, "the file is empty")
    delimiter = delimiter or _sniff_delimiter(lines[start])
    reader = csv.reader(lines[start:], delimiter=delimiter)
    header = next(reader)
    keys = [_key(h) for h in header]
    rows = []
    for fields in reader:
        line = start + reader.line_num
        if not any(f.strip() for f in fields):
            continue  # empty lines, and CVD2014's ';;;;;;;' lines
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
            f"no column {' / '.join(repr(c) for c in candidates)} in the header ({', '.join(map(str, header))})",
            1,
        )
    return None


def read_community_list(path: str | os.PathLike, strict: bool = True) -> pd.DataFrame:
    """The community 4-column list: ``relative/path, duration|-1, fps|-1, MOS`` per line."""
    path = Path(path)
    rows = _Rows(path, strict)
    for line, text in enumerate(_read_text(path).splitlines(), start=1):
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
    path: str | os.PathLike, strict: bool = True, video_dir: str | None = None
) -> pd.DataFrame:
    """KoNViD-1k ``KoNViD_1k_attributes.csv``: videos ``<video_dir>/<flickr_id>.mp4``.

    The official zip names its videos by ``flickr_id`` (the ``file_name`` column names the
    centre-cropped originals); without ``flickr_id`` the leading digits of ``file_name`` are used.
    """
    path = Path(path)
    header, table = _read_table(path)
    id_col = _column(path, header, "flickr_id", "file_name")
    mos_col = _column(path, header, "MOS")
    width_col = _column(path, header, "width", required=False)
    height_col = _column(path, header, "height", required=False)
    fps_col = _column(path, header, "frame_rate", "framerate", "fps", required=False)
    rows = _Rows(path, strict)
    for line, row in table:
        ident = row.get(id_col, "").strip()
        digits = re.match(r"\d+", ident)
        if digits and (id_col == "filename" or re.fullmatch(r"\d+(\.0+)?", ident)):
            ident = digits.group(0)  # a file name, or an id read back from a spreadsheet as 123.0
        name = _KONVID.video_path(ident, video_dir=video_dir) if ident else ""
        rows.add(
            line, name, row.get(mos_col),
            width=row.get(width_col or ""), height=row.get(height_col or ""), fps=row.get(fps_col or ""),
        )  # fmt: skip
    return rows.frame()


# --- MATLAB files ----------------------------------------------------------------------------


def _mat_strings(value: object) -> list[str]:
    """A MATLAB cell array / char matrix of names (or a list from the HDF5 reader) as strings."""
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    out = []
    for item in np.asarray(value, dtype=object).reshape(-1):
        while isinstance(item, np.ndarray) and item.dtype == object and item.size == 1:
            item = item.reshape(-1)[0]
        if isinstance(item, np.ndarray):
            item = "".join(str(c) for c in item.reshape(-1)) if item.dtype.kind in "US" else item.tolist()
        out.append(str(item).strip())
    return out


def _mat_fields_v5(mat: dict) -> dict[str, object]:
    """Every variable and struct field of a MAT v5 file, by lower-cased name."""
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


def _h5_value(node, file) -> object:
    """A MAT v7.3 variable: char -> str, cell -> list, numeric -> array, struct -> dict of fields."""
    import h5py

    kind = node.attrs.get("MATLAB_class", b"")
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if isinstance(node, h5py.Group):
        return {name: _h5_value(node[name], file) for name in node}
    data = node[()]
    if node.attrs.get("MATLAB_empty", 0):
        return np.zeros(0)
    if kind == "char":
        codes = np.asarray(data).reshape(data.shape[0], -1) if np.ndim(data) else np.asarray([[data]])
        # MATLAB stores a char matrix column-major: each h5py column is one string
        strings = ["".join(map(chr, codes[:, j])).rstrip("\x00 ") for j in range(codes.shape[1])]
        return strings[0] if len(strings) == 1 else strings
    if kind == "cell":
        return [_h5_value(file[ref], file) for ref in np.asarray(data).reshape(-1)]
    return np.asarray(data)


def _mat_fields_v73(path: Path) -> dict[str, object]:
    import h5py

    fields: dict[str, object] = {}
    with h5py.File(path, "r") as file:
        for key in file:
            if key.startswith("#"):
                continue  # '#refs#', '#subsystem#': storage of cells and objects
            value = _h5_value(file[key], file)
            fields.setdefault(key.lower(), value)
            if isinstance(value, dict):
                for name, item in value.items():
                    fields.setdefault(name.lower(), item)
    return fields


def _load_mat(path: Path) -> dict[str, object]:
    """Every variable and struct field of a MAT file (v5 with scipy, v7.3 with h5py), lower-cased."""
    from scipy.io import loadmat

    try:
        return _mat_fields_v5(loadmat(str(path), squeeze_me=False, struct_as_record=False))
    except NotImplementedError:  # MAT v7.3: an HDF5 file
        pass
    except (ValueError, TypeError, OSError) as err:
        raise LabelError(path, f"cannot read it as a MATLAB file ({err})") from None
    try:
        return _mat_fields_v73(path)
    except ImportError:
        raise LabelError(path, "a MAT v7.3 (HDF5) file needs h5py: pip install h5py") from None
    except (OSError, KeyError, ValueError) as err:
        raise LabelError(path, f"cannot read it as a MAT v7.3 (HDF5) file ({err})") from None


def _first(fields: dict[str, object], *names: str) -> str | None:
    return next((n for n in names if n in fields), None)


def _names_and_mos(path: Path, fields: dict, names_key: str, mos_key: str) -> tuple[list[str], np.ndarray]:
    names = _mat_strings(fields[names_key])
    mos = np.asarray(fields[mos_key], dtype=np.float64).reshape(-1)
    if len(names) != len(mos):
        raise LabelError(path, f"{names_key} has {len(names)} entries but {mos_key} has {len(mos)}")
    return names, mos


def read_live_vqc_mat(
    path: str | os.PathLike, strict: bool = True, video_dir: str | None = None
) -> pd.DataFrame:
    """LIVE-VQC ``data.mat`` (``video_list``, ``mos``) or VSFA's ``LIVE-VQCinfo.mat``
    (MAT v7.3: ``video_names``, ``scores``), under any file name; videos ``<video_dir>/<name>``."""
    path = Path(path)
    fields = _load_mat(path)
    names_key, mos_key = _first(fields, "video_list", "video_names"), _first(fields, "mos", "scores")
    if names_key is None or mos_key is None:
        found = ", ".join(k for k in fields)
        raise LabelError(path, f"no variable video_list and mos (or video_names and scores) (found: {found})")
    database = fields.get("database")
    if isinstance(database, str) and not _LIVE_VQC.matches(database):
        raise LabelError(path, f"a VSFA-style file of the {database} database, not LIVE-VQC; use the community "
                               f"list or the official label file of {database}")  # fmt: skip
    names, mos = _names_and_mos(path, fields, names_key, mos_key)
    rows = _Rows(path, strict, unit="entry")
    for index, (name, value) in enumerate(zip(names, mos, strict=True), start=1):
        rows.add(index, _LIVE_VQC.video_path(name, video_dir=video_dir) if name else "", value)
    return rows.frame()


# --- LSVQ ------------------------------------------------------------------------------------


def _lsvq_missing_is_test(path: Path, header: list[str], split: str) -> LabelError:
    return LabelError(
        path,
        f"no column 'is_test', which tells the {split} videos apart (this file has {len(header)} columns: "
        f"{', '.join(header[:8])}{', ...' if len(header) > 8 else ''}; a re-packaged copy?). Use the official "
        "labels_train_test.csv of the LSVQ release (38 columns, with is_test), or the community lists "
        "labels_train.txt / labels_test.txt (ann_file=...)",
        1,
    )


def read_lsvq_csv(path: str | os.PathLike, split: str | None = None, strict: bool = True) -> pd.DataFrame:
    """LSVQ ``labels_train_test.csv`` or ``labels_test_1080p.csv``; videos ``<name>.mp4``.

    Args:
        split: ``"train"`` / ``"test"`` keep the rows whose ``is_test`` is false / true (the
            file must have ``is_test``); ``None`` or ``"1080p"`` keep every row (``"1080p"`` refuses a
            file with ``is_test``, the train/test file).
    """
    path = Path(path)
    if split not in (None, *LSVQ_SPLITS):
        raise ValueError(f"LSVQ split must be one of {', '.join(LSVQ_SPLITS)}, got {split!r}")
    header, table = _read_table(path, delimiter=",")
    name_col, mos_col = _column(path, header, "name"), _column(path, header, "mos")
    test_col = _column(path, header, "is_test", required=False)
    if split in ("train", "test") and test_col is None:
        raise _lsvq_missing_is_test(path, header, split)
    if split == "1080p" and test_col is not None:
        raise LabelError(path, "the LSVQ 1080p set is not in this file (it has is_test: the train/test file); pass "
                               "its own label file, labels_test_1080p.csv (official) or labels_1080p.txt (community)")
    optional = {key: _column(path, header, *names, required=False) or "" for key, names in
                (("width", ("width",)), ("height", ("height",)), ("num_frames", ("frame_number", "num_frames")))}
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
        rows.add(line, _LSVQ.video_path(name) if name else "", row.get(mos_col),
                 **{key: row.get(col, "") for key, col in optional.items()})
    return rows.frame(f"no {split} rows (is_test {split == 'test'}) in this file" if split in ("train", "test")
                      else "no usable rows (is this the right file for this dataset?)")


# --- YouTube-UGC -----------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _read_workbook(path: Path, sheet: int | str, header_key: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """Header and ``(row, {normalised header: text})`` of a worksheet read with :func:`pandas.read_excel`.

    The header is the first row with a cell ``header_key`` (title rows above it are skipped).
    """
    import zipfile

    try:
        book = pd.ExcelFile(path)
    except ImportError as err:
        raise LabelError(path, f"reading .xlsx needs openpyxl ({err}): pip install openpyxl") from None
    except (zipfile.BadZipFile, ValueError, OSError, KeyError) as err:
        raise LabelError(path, f"not a readable .xlsx workbook ({err}); export the sheet to CSV instead") from None
    with book:
        titles = list(book.sheet_names)
        if isinstance(sheet, str) and sheet not in titles or isinstance(sheet, int) and not 0 <= sheet < len(titles):
            raise LabelError(path, f"no worksheet {sheet!r} (found: {', '.join(titles)})")
        cells = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object)
    grid = [[_cell_text(v) for v in row] for row in cells.itertuples(index=False)]
    start = next((i for i, row in enumerate(grid) if _key(header_key) in map(_key, row)), None)
    if start is None:
        raise LabelError(path, f"no header row with a {header_key!r} column in worksheet {sheet!r}")
    header, keys = grid[start], [_key(h) for h in grid[start]]
    return header, [(i + 1, dict(zip(keys, row, strict=False))) for i, row in enumerate(grid) if i > start]


def read_youtube_ugc_mos(
    path: str | os.PathLike,
    strict: bool = True,
    name_template: str | None = None,
    sheet: int | str = 0,
) -> pd.DataFrame:
    """YouTube-UGC ``original_videos_MOS_for_YouTube_UGC_dataset.xlsx`` (first sheet) or its CSV export.

    Uses ``vid`` and ``MOS full`` (the MOS of the whole 20 s video); rows without a MOS are not
    rated videos and are left out silently. ``name_template`` (``{vid}`` or ``{name}``) turns
    ``vid`` into the file name; the default (the spec's) names the H.264 versions, as the
    community list does. ``sheet``: the worksheet of an ``.xlsx`` (position or name).
    """
    path = Path(path)
    with path.open("rb") as handle:
        workbook = handle.read(4) == b"PK\x03\x04"
    if workbook:
        header, table = _read_workbook(path, sheet, "vid")
    else:
        header, table = _read_table(path)
    vid_col = _column(path, header, "vid")
    mos_col = _column(path, header, "MOS full", "mos")
    rows = _Rows(path, strict)
    for line, row in table:
        vid, mos = row.get(vid_col, "").strip(), row.get(mos_col, "").strip()
        if mos.lower() in ("", "nan", "n/a", "na"):
            continue  # an empty line, or an unrated video of the release
        if not vid:
            name = ""
        elif name_template is None:
            name = _YOUTUBE_UGC.video_path(vid)
        else:
            name = name_template.format(vid=vid, name=vid)
        rows.add(line, name, mos)
    return rows.frame()


# --- CVD2014 ---------------------------------------------------------------------------------


def read_cvd2014_mos(path: str | os.PathLike, strict: bool = True) -> pd.DataFrame:
    """CVD2014 ``Realignment_MOS.csv`` (``;``, decimal commas); videos ``TestN/<Content>/<File_name>.avi``.

    The test number N comes from the file name (``Test03_City_D12`` -> ``Test3``). A copy
    re-saved with commas and decimal points reads too.
    """
    path = Path(path)
    header, table = _read_table(path, decimal_comma=True)
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
        rows.add(line, _CVD2014.video_path(file_name, folder=f"Test{match.group(1)}/{content}"), row.get(mos_col))
    return rows.frame()


# --- LIVE-Qualcomm ---------------------------------------------------------------------------


def _qualcomm_folders(path: Path, fields: dict, count: int) -> list[str] | None:
    """Each video's distortion folder, from ``distortionType`` (1-based) and ``distortionNames``."""
    if "distortiontype" not in fields or "distortionnames" not in fields:
        return None
    folders = _mat_strings(fields["distortionnames"])
    kinds = np.asarray(fields["distortiontype"]).reshape(-1)
    if len(kinds) != count:
        raise LabelError(path, f"distortionType has {len(kinds)} entries but vidNames has {count}")
    bad = [int(k) for k in kinds if not 1 <= int(k) <= len(folders)]
    if bad:
        raise LabelError(path, f"distortionType {bad[0]} is not a position in distortionNames ({', '.join(folders)})")
    return [folders[int(k) - 1] for k in kinds]


def _scan_folders(video_root: str | os.PathLike, ext: str) -> dict[str, str]:
    root = Path(video_root)
    located: dict[str, str] = {}
    for file in root.rglob(f"*{ext}"):
        located.setdefault(file.name, file.relative_to(root).parent.as_posix())
    return located


def read_live_qualcomm_mat(
    path: str | os.PathLike,
    strict: bool = True,
    video_root: str | os.PathLike | None = None,
    yuv_geometry: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """LIVE-Qualcomm ``qualcommSubjectiveData.mat``: ``vidNames`` and ``unBiasedMOS``.

    The videos sit in one folder per distortion (``Artifacts/``, ``Color/``, ...), which the
    file's ``distortionType`` / ``distortionNames`` give. A file without them: the names are
    looked up under ``video_root`` when given (a one-time scan), else they stay bare.
    ``yuv_geometry`` (default the spec's 1080x1920) fills the width and height columns.
    """
    path = Path(path)
    fields = _load_mat(path)
    names_key = _first(fields, "vidnames", "videonames", "video_names", "video_list")
    mos_key = _first(fields, "unbiasedmos", "mos", "scores")
    if names_key is None or mos_key is None:
        raise LabelError(
            path,
            "expected qualcommVideoData.vidNames and qualcommSubjectiveData.unBiasedMOS; "
            f"found fields {', '.join(sorted(fields))}",
        )
    names, mos = _names_and_mos(path, fields, names_key, mos_key)
    folders = _qualcomm_folders(path, fields, len(names))
    if folders is None:
        located = _scan_folders(video_root, _QUALCOMM.video_ext) if video_root is not None else {}
        folders = [located.get(_QUALCOMM.video_path(n), "") for n in names]
    height, width = yuv_geometry or _QUALCOMM.yuv_geometry
    rows = _Rows(path, strict, unit="entry")
    for index, (name, folder, value) in enumerate(zip(names, folders, mos, strict=True), start=1):
        rows.add(index, _QUALCOMM.video_path(name, folder=folder) if name else "", value, width=width, height=height)
    return rows.frame()


# --- format detection ------------------------------------------------------------------------

_PARSERS: dict[str, Callable[..., pd.DataFrame]] = {
    "community": read_community_list,
    "konvid": read_konvid_attributes,
    "live_vqc": read_live_vqc_mat,
    "lsvq": read_lsvq_csv,
    "youtube_ugc": read_youtube_ugc_mos,
    "cvd2014": read_cvd2014_mos,
    "live_qualcomm": read_live_qualcomm_mat,
}
if set(_PARSERS) != set(LABEL_FORMATS):  # a new spec row needs its parser here
    raise ImportError(f"label formats without a parser: {sorted(set(LABEL_FORMATS) - set(_PARSERS))}")

#: MAT variables (struct fields included, lower-case) that identify a format, first match wins.
_MAT_LAYOUTS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"vidnames", "unbiasedmos"}), "live_qualcomm"),
    (frozenset({"video_list", "mos"}), "live_vqc"),
    (frozenset({"video_names", "scores"}), "live_vqc"),  # VSFA-style LIVE-VQCinfo.mat
)

#: Header columns (normalised) that identify a delimited format, first match wins; the parser
#: then asks for the columns it needs (so a missing MOS column is named as such).
_COLUMN_LAYOUTS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"content", "filename"}), "cvd2014"),
    (frozenset({"flickrid"}), "konvid"),
    (frozenset({"filename", "mos", "ti", "si"}), "konvid"),  # a KoNViD file without flickr_id
    (frozenset({"vid"}), "youtube_ugc"),
    (frozenset({"name", "mos"}), "lsvq"),
    (frozenset({"name", "istest"}), "lsvq"),
)

_HINT = "pass label_format= one of " + ", ".join(LABEL_FORMATS)


def _mat_format(path: Path) -> str:
    fields = set(_load_mat(path))
    for needed, fmt in _MAT_LAYOUTS:
        if needed <= fields:
            return fmt
    raise LabelError(path, f"a MATLAB file without the variables of a known label format (found: "
                           f"{', '.join(sorted(fields))}); {_HINT}")  # fmt: skip


def _columns_format(columns: list[str]) -> str | None:
    keys = {_key(c) for c in columns}
    return next((fmt for needed, fmt in _COLUMN_LAYOUTS if needed <= keys), None)


def _is_community_line(line: str) -> bool:
    fields = line.rsplit(",", 3)
    return len(fields) == 4 and all(_number(f) is not None for f in fields[1:])


def _text_format(path: Path) -> str:
    text = _read_text(path)
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), None)
    if first is None:
        raise LabelError(path, "the file is empty")
    header = next(csv.reader([first], delimiter=_sniff_delimiter(first)))
    fmt = _columns_format(header)
    if fmt is not None:
        return fmt
    if _is_community_line(first):
        return "community"
    raise LabelError(path, f"cannot tell the label format from its first line {first[:100]!r}; {_HINT}", 1)


def detect_label_format(path: str | os.PathLike) -> str:
    """The label format of a file (see :data:`LABEL_FORMATS`), from its content, not its name:
    a MAT file's variables, a workbook's header row, a delimited file's header columns, or the
    community list's ``path, number, number, number`` lines."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "label file not found" if not path.exists() else "not a file")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"MATLAB") or head.startswith(b"\x89HDF"):
        return _mat_format(path)
    if head.startswith(b"PK\x03\x04"):
        header, _ = _read_workbook(path, 0, "vid")
        fmt = _columns_format(header)
        if fmt is None:
            raise LabelError(path, f"a workbook whose header ({', '.join(header)}) is no known label format; {_HINT}")
        return fmt
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise LabelError(path, "an old Excel .xls workbook; save it as .xlsx (or export it to CSV)")
    return _text_format(path)


def read_labels(
    path: str | os.PathLike, label_format: str = "auto", strict: bool = True, **options: object
) -> pd.DataFrame:
    """Parse a label file of any supported format to the common table (:data:`LABEL_COLUMNS`).

    Args:
        path: the label file.
        label_format: one of :data:`LABEL_FORMATS`, or ``"auto"`` to detect it from the content.
        strict: raise :class:`LabelError` on a bad row (else warn and skip it). A file that
            cannot be read (not UTF-8, not a workbook, ...) raises in both modes.
        **options: passed to the format's parser (e.g. ``split`` for LSVQ, ``video_root``
            for LIVE-Qualcomm, ``name_template`` for YouTube-UGC).
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "label file not found" if not path.exists() else "not a file")
    fmt = detect_label_format(path) if label_format == "auto" else label_format
    if fmt not in _PARSERS:
        raise LabelError(path, f"unknown label format {fmt!r}; choose one of auto, {', '.join(LABEL_FORMATS)}")
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
    "LSVQ_SPLITS",
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
