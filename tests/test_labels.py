"""Label parsers: the real community lists and fixtures written in each official layout."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from qclip_plugin.data.labels import (
    LABEL_COLUMNS,
    LabelError,
    detect_label_format,
    read_community_list,
    read_labels,
    write_community_list,
)

COMMUNITY_COUNTS = {
    "LSVQ/labels_train.txt": 28056,
    "LSVQ/labels_test.txt": 7186,
    "LSVQ/labels_1080p.txt": 3573,
    "KoNViD/labels.txt": 1200,
    "LIVE_VQC/labels.txt": 585,
    "YouTubeUGC/labels.txt": 1147,
    "CVD2014/labels.txt": 234,
    "LIVE_Qualcomm/labels.txt": 208,
}


@pytest.mark.parametrize("rel", sorted(COMMUNITY_COUNTS))
def test_real_community_lists_parse_to_documented_counts(shared_data, rel):
    table = read_labels(shared_data / "labels" / rel)
    assert list(table.columns) == list(LABEL_COLUMNS)
    assert len(table) == COMMUNITY_COUNTS[rel]
    assert table["name"].is_unique
    assert (table["name"] == table["path"]).all()
    assert np.isfinite(table["mos"]).all()


def test_real_community_list_values(shared_data):
    konvid = read_labels(shared_data / "labels" / "KoNViD" / "labels.txt")
    first = konvid.iloc[0]
    assert first["name"] == "KoNViD_1k_videos/4542323058.mp4"
    assert (first["duration"], first["fps"], first["mos"]) == (8.008, 29.97002997002997, 3.22)
    assert konvid["mos"].between(1, 5).all()
    cvd = read_labels(shared_data / "labels" / "CVD2014" / "labels.txt")
    assert (cvd["mos"].min(), cvd["mos"].max()) == (-6.5, 93.38)  # DESIGN.md §4: -6.5-93.4
    qualcomm = read_labels(shared_data / "labels" / "LIVE_Qualcomm" / "labels.txt")
    assert qualcomm["fps"].isna().all()  # -1 means unknown
    assert qualcomm["name"].str.endswith(".yuv").all()


def test_community_list_bad_rows_name_file_and_line(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a/1.mp4, 8.0, 30, 3.2\n\nb/2.mp4, -1, -1\nc/3.mp4, -1, -1, good\nd/4.mp4, x, -1, 2.0\na/1.mp4, -1, -1, 1.0\n")
    with pytest.raises(LabelError, match=r"labels\.txt, line 3: expected 4 comma-separated fields") as info:
        read_community_list(path)
    assert info.value.line == 3 and info.value.path == str(path)
    with pytest.warns(RuntimeWarning) as caught:
        table = read_community_list(path, strict=False)
    messages = [str(w.message) for w in caught]
    assert any("line 4: MOS 'good'" in m for m in messages)
    assert any("line 5: duration 'x' is not a number" in m for m in messages)
    assert any("line 6: video 'a/1.mp4' is listed twice (first at line 1)" in m for m in messages)
    assert table["name"].tolist() == ["a/1.mp4"] and table.attrs["skipped_rows"] == 4


def test_community_roundtrip(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("x/a b,c.mp4, 10.0, 25.0, 3.5\nx/b.mp4, -1, -1, 71.25\n")
    table = read_community_list(path)
    assert table["name"].tolist() == ["x/a b,c.mp4", "x/b.mp4"]  # commas in paths survive
    assert math.isnan(table.loc[1, "duration"]) and math.isnan(table.loc[1, "fps"])
    again = read_community_list(write_community_list(table, tmp_path / "out.txt"))
    pd.testing.assert_frame_equal(again, table)


def test_konvid_attributes(tmp_path):
    path = tmp_path / "KoNViD_1k_attributes.csv"
    path.write_text(
        "flickr_id,MOS,SD,n,MOS_raw,SD_raw,n_raw\n"
        "10053703034,3.42,0.71,50,3.46,0.72,51\n"
        "4542323058,3.22,0.62,49,3.20,0.60,52\n"
    )
    table = read_labels(path)
    assert table["name"].tolist() == ["KoNViD_1k_videos/10053703034.mp4", "KoNViD_1k_videos/4542323058.mp4"]
    assert table["mos"].tolist() == [3.42, 3.22]
    # the same names as the community list, so predictions line up across formats
    with_file_name = tmp_path / "KoNViD_1k_attributes_v2.csv"
    with_file_name.write_text("file_name,flickr_id,MOS,width,height\n4542323058.mp4,4542323058,3.22,960,540\n")
    row = read_labels(with_file_name).iloc[0]
    assert (row["name"], row["width"], row["height"]) == ("KoNViD_1k_videos/4542323058.mp4", 960, 540)
    bad = tmp_path / "KoNViD_1k_attributes_bad.csv"
    bad.write_text("flickr_id,MOS\n1,3.1\n2,\n")
    with pytest.raises(LabelError, match=r"line 3: MOS '' of 'KoNViD_1k_videos/2.mp4'"):
        read_labels(bad)
    missing = tmp_path / "KoNViD_1k_attributes_nomos.csv"
    missing.write_text("flickr_id,score\n1,3.1\n")
    with pytest.raises(LabelError, match=r"no column 'MOS' in the header \(flickr_id, score\)"):
        read_labels(missing)


def test_live_vqc_data_mat(tmp_path):
    path = tmp_path / "data.mat"
    names = np.array(["A001.mp4", "A002.mp4", "B105.mp4"], dtype=object).reshape(-1, 1)  # a cell array
    savemat(path, {"video_list": names, "mos": np.array([[80.232], [57.3005], [61.0]])})
    table = read_labels(path)
    assert table["name"].tolist() == ["Video/A001.mp4", "Video/A002.mp4", "Video/B105.mp4"]
    np.testing.assert_array_equal(table["mos"], [80.232, 57.3005, 61.0])
    savemat(tmp_path / "other.mat", {"video_list": names, "mos": np.array([1.0, 2.0])})
    with pytest.raises(LabelError, match="video_list has 3 entries but mos has 2"):
        read_labels(tmp_path / "other.mat", label_format="live_vqc")
    savemat(tmp_path / "data2.mat", {"videos": names})
    with pytest.raises(LabelError, match="no variable video_list and mos"):
        read_labels(tmp_path / "data2.mat", label_format="live_vqc")


LSVQ_HEADER = "name,p1,p2,p3,height,width,mos_p1,mos_p2,mos_p3,mos,frame_number,is_test\n"


def test_lsvq_train_test_and_1080p(tmp_path):
    path = tmp_path / "labels_train_test.csv"
    path.write_text(
        LSVQ_HEADER
        + "yfcc-batch1/725,1,2,3,540,960,70,71,72,76.84375,240,False\n"
        + "yfcc-batch1/747,1,2,3,720,1280,60,61,62,67.75,300,True\n"
        + "ia-batch4/1234,1,2,3,480,640,50,51,52,52.5,150,False\n"
    )
    train = read_labels(path, split="train")
    test = read_labels(path, split="test")
    assert train["name"].tolist() == ["yfcc-batch1/725.mp4", "ia-batch4/1234.mp4"]
    assert test["name"].tolist() == ["yfcc-batch1/747.mp4"]
    row = test.iloc[0]
    assert (row["mos"], row["height"], row["width"], row["num_frames"]) == (67.75, 720, 1280, 300)
    assert len(read_labels(path)) == 3  # no split: every row
    hd = tmp_path / "labels_test_1080p.csv"
    hd.write_text(LSVQ_HEADER.replace(",is_test", "") + "yfcc-batch1/722,1,2,3,1080,1920,1,2,3,78.77,300\n")
    assert read_labels(hd, split="1080p")["name"].tolist() == ["yfcc-batch1/722.mp4"]
    with pytest.raises(LabelError, match=r"no column 'is_test'"):
        read_labels(hd, split="test")
    bad = tmp_path / "labels_train_test_bad.csv"
    bad.write_text(LSVQ_HEADER + "a/1,1,2,3,1,1,1,1,1,50,10,maybe\n")
    with pytest.raises(LabelError, match=r"line 2: is_test 'maybe'"):
        read_labels(bad, split="train")


def test_youtube_ugc_csv_export(tmp_path):
    path = tmp_path / "original_videos_MOS_for_YouTube_UGC_dataset.csv"
    path.write_text(
        "vid,MOS full,MOS chunk00,MOS chunk05,MOS chunk10\n"
        "Sports_2160P-4e9f,4.405,4.3,4.4,4.5\n"
        "Animation_480P-7a31,3.487,3.1,3.5,3.6\n"
        "Gaming_360P-0000,,,,\n"
    )
    table = read_labels(path)
    assert table["name"].tolist() == [
        "Sports_2160P-4e9f_crf_10_ss_00_t_20.0.mp4",
        "Animation_480P-7a31_crf_10_ss_00_t_20.0.mp4",
    ]  # the unrated video is not a row; names match the community list
    assert table["mos"].tolist() == [4.405, 3.487]
    originals = read_labels(path, name_template="original_videos/{vid}.mkv")
    assert originals["name"].iloc[0] == "original_videos/Sports_2160P-4e9f.mkv"


def _write_xlsx(path, sheets):
    """A minimal .xlsx as spreadsheet programs write it: shared strings, numbers, two sheets."""
    import zipfile

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel_ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    strings: list[str] = []
    sheet_xml = []
    for rows in sheets.values():
        xml_rows = []
        for r, row in enumerate(rows, start=1):
            cells = []
            for c, value in enumerate(row):
                ref = f"{chr(65 + c)}{r}"
                if value is None:
                    continue
                if isinstance(value, str):
                    strings.append(value)
                    cells.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
                else:
                    cells.append(f'<c r="{ref}"><v>{value!r}</v></c>')
            xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
        sheet_xml.append(f'<worksheet xmlns="{main}"><sheetData>{"".join(xml_rows)}</sheetData></worksheet>')
    names = list(sheets)
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        book.writestr("xl/workbook.xml", f'<workbook xmlns="{main}" xmlns:r="{rel_ns}"><sheets>' + "".join(
            f'<sheet name="{n}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(names)) + "</sheets></workbook>")
        book.writestr("xl/_rels/workbook.xml.rels",
                      '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' + "".join(
                          f'<Relationship Id="rId{i + 1}" Target="worksheets/sheet{i + 1}.xml" Type="x"/>'
                          for i in range(len(names))) + "</Relationships>")
        book.writestr("xl/sharedStrings.xml", f'<sst xmlns="{main}">' + "".join(
            f"<si><t>{t}</t></si>" for t in strings) + "</sst>")
        for i, xml in enumerate(sheet_xml):
            book.writestr(f"xl/worksheets/sheet{i + 1}.xml", xml)


def test_youtube_ugc_official_xlsx(tmp_path):
    path = tmp_path / "original_videos_MOS_for_YouTube_UGC_dataset.xlsx"
    _write_xlsx(path, {
        "MOS": [
            ["vid", "category", "MOS full", "MOS chunk00"],
            ["Sports_2160P-4e9f", "Sports", 4.405, 4.3],
            ["Animation_480P-7a31", "Animation", 3.487, None],
            ["Gaming_360P-0000", "Gaming", None, None],
        ],
        "notes": [["YouTube UGC subjective scores"], [], ["vid", "MOS full"], ["Vlog_720P-1111", 2.5]],
    })
    table = read_labels(path)
    assert table["name"].tolist() == [
        "Sports_2160P-4e9f_crf_10_ss_00_t_20.0.mp4",
        "Animation_480P-7a31_crf_10_ss_00_t_20.0.mp4",
    ]
    assert table["mos"].tolist() == [4.405, 3.487]
    other = read_labels(path, sheet="notes")  # the header row is found below a title row
    assert other["name"].tolist() == ["Vlog_720P-1111_crf_10_ss_00_t_20.0.mp4"] and other["mos"].tolist() == [2.5]
    with pytest.raises(LabelError, match="no worksheet 'MOS2' \\(found: MOS, notes\\)"):
        read_labels(path, sheet="MOS2")
    broken = tmp_path / "broken_youtube_ugc.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(LabelError, match="not a readable .xlsx workbook.*export the sheet to CSV"):
        read_labels(broken)


def test_cvd2014_semicolons_and_decimal_commas(tmp_path):
    path = tmp_path / "Realignment_MOS.csv"
    path.write_bytes(
        "Test;Content;File_name;Realignment MOS;Realignment SD\n"
        "3;City;Test03_City_D12;20,65;8,1\n"
        "5;City;Test05_City_D05;42,92;7,5\n"
        "3;Talking_head;Test03_Talking_Head_D10;53,33;9,0\n"
        "1;Traffic;Test01_Traffic_D01;-6,5;3,2\n".encode("utf-8-sig")
    )
    table = read_labels(path)
    assert table["name"].tolist() == [
        "Test3/City/Test03_City_D12.avi",
        "Test5/City/Test05_City_D05.avi",
        "Test3/Talking_head/Test03_Talking_Head_D10.avi",
        "Test1/Traffic/Test01_Traffic_D01.avi",
    ]  # the community list's paths
    assert table["mos"].tolist() == [20.65, 42.92, 53.33, -6.5]
    bad = tmp_path / "Realignment_MOS_bad.csv"
    bad.write_text("Content;File_name;Realignment MOS\nCity;Test03_City_D12;20,65\nCity;City_D13;1,0\n")
    with pytest.raises(LabelError, match=r"line 3: cannot place video 'City_D13'"):
        read_labels(bad)
    comma = tmp_path / "Realignment_MOS_comma.csv"
    comma.write_text("Content,File_name,Realignment MOS\nCity,Test03_City_D12,20.65\n")
    with pytest.raises(LabelError, match="expected ';'-separated columns"):
        read_labels(comma)


def _qualcomm_mat(path, names, mos):
    savemat(
        path,
        {
            "qualcommVideoData": {"vidNames": np.array(names, dtype=object).reshape(-1, 1)},
            "qualcommSubjectiveData": {"unBiasedMOS": np.asarray(mos, dtype=float).reshape(-1, 1)},
        },
    )


def test_live_qualcomm_mat(tmp_path):
    path = tmp_path / "qualcommSubjectiveData.mat"
    names = ["1024_TableTennisAtBalboa_HTCOneVx_VIDEO0138.yuv", "1019_SkateBoardingSkills_LGG2_CAM00855"]
    _qualcomm_mat(path, names, [41.6489, 54.095])
    table = read_labels(path)
    assert table["name"].tolist() == [names[0], names[1] + ".yuv"]
    assert table["mos"].tolist() == [41.6489, 54.095]
    assert (table["width"] == 1920).all() and (table["height"] == 1080).all()
    # names without their distortion folder are found under the video root
    for folder, name in (("Focus", names[0]), ("Color", names[1] + ".yuv")):
        (tmp_path / "root" / folder).mkdir(parents=True)
        (tmp_path / "root" / folder / name).write_bytes(b"")
    located = read_labels(path, video_root=tmp_path / "root")
    assert located["path"].tolist() == [f"Focus/{names[0]}", f"Color/{names[1]}.yuv"]
    _qualcomm_mat(tmp_path / "qualcommSubjectiveData_short.mat", names, [1.0])
    with pytest.raises(LabelError, match="vidnames has 2 entries but unbiasedmos has 1"):
        read_labels(tmp_path / "qualcommSubjectiveData_short.mat")


def test_format_detection_and_errors(tmp_path):
    assert detect_label_format("a/labels_train.txt") == "community"
    assert detect_label_format("KoNViD_1k_attributes.csv") == "konvid"
    assert detect_label_format("LIVE VQC/data.mat") == "live_vqc"
    assert detect_label_format("labels_train_test.csv") == "lsvq"
    assert detect_label_format("labels_test_1080p.csv") == "lsvq"
    assert detect_label_format("original_videos_MOS_for_YouTube_UGC_dataset.xlsx") == "youtube_ugc"
    assert detect_label_format("CVD2014_ratings/Realignment_MOS.csv") == "cvd2014"
    assert detect_label_format("qualcommSubjectiveData.mat") == "live_qualcomm"
    with pytest.raises(LabelError, match="cannot tell the label format.*label_format="):
        detect_label_format("scores.json")
    with pytest.raises(LabelError, match="nothing.txt: label file not found"):
        read_labels(tmp_path / "nothing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(LabelError, match="no usable rows"):
        read_labels(empty)
