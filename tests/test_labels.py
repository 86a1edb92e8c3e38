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


# --- the official files as distributed (../shared/data/labels/official, SOURCES.md there) --------

# (official file, parser options, community lists it must equal, relation, MOS tolerance)
# relation "equal": the same relative paths; "superset": every community path is in the
# official file (which holds more videos). MOS: the absolute difference on every common path.
# KoNViD's attributes file rounds the MOS to 4 decimals (the community list keeps up to 6).
OFFICIAL = {
    "KoNViD/KoNViD_1k_attributes.csv": ({}, ["KoNViD/labels.txt"], "equal", 5e-5),
    "LIVE_VQC/LiveVQC_data.mat": ({}, ["LIVE_VQC/labels.txt"], "equal", 1e-9),
    "LIVE_VQC/LIVE-VQCinfo.mat": ({}, ["LIVE_VQC/labels.txt"], "equal", 1e-9),
    "LSVQ/labels_test_1080p.csv": ({}, ["LSVQ/labels_1080p.txt"], "equal", 1e-9),
    # the re-packaged file has no is_test: read whole, it holds train + test and 257 videos more
    "LSVQ/labels_train_test.csv": ({}, ["LSVQ/labels_train.txt", "LSVQ/labels_test.txt"], "superset", 1e-8),
    "YouTubeUGC/original_videos_MOS_for_YouTube_UGC_dataset.xlsx": ({}, ["YouTubeUGC/labels.txt"], "superset", 1e-9),
    "CVD2014/Realignment_MOS.csv": ({}, ["CVD2014/labels.txt"], "equal", 1e-9),
    "LIVE_Qualcomm/qualcommSubjectiveData.mat": ({}, ["LIVE_Qualcomm/labels.txt"], "equal", 1e-9),
}
OFFICIAL_ROWS = {
    "KoNViD/KoNViD_1k_attributes.csv": 1200,
    "LIVE_VQC/LiveVQC_data.mat": 585,
    "LIVE_VQC/LIVE-VQCinfo.mat": 585,
    "LSVQ/labels_test_1080p.csv": 3573,
    "LSVQ/labels_train_test.csv": 35499,
    "YouTubeUGC/original_videos_MOS_for_YouTube_UGC_dataset.xlsx": 1380,
    "CVD2014/Realignment_MOS.csv": 234,
    "LIVE_Qualcomm/qualcommSubjectiveData.mat": 208,
}


def _community_union(shared_data, lists):
    return pd.concat([read_labels(shared_data / "labels" / rel) for rel in lists], ignore_index=True)


@pytest.mark.parametrize("rel", sorted(OFFICIAL))
def test_real_official_file_gives_the_community_paths_and_mos(shared_data, rel):
    options, lists, relation, tolerance = OFFICIAL[rel]
    table = read_labels(shared_data / "labels" / "official" / rel, **options)  # no format given
    community = _community_union(shared_data, lists)
    assert len(table) == OFFICIAL_ROWS[rel] and table["name"].is_unique
    assert (table["name"] == table["path"]).all()
    official, expected = set(table["name"]), set(community["name"])
    if relation == "equal":
        assert official == expected
    else:
        assert expected < official, sorted(expected - official)[:5]
    mos = dict(zip(table["name"], table["mos"], strict=True))
    diff = np.array([abs(mos[n] - m) for n, m in zip(community["name"], community["mos"], strict=True)])
    assert diff.max() <= tolerance


def test_real_lsvq_whole_test_keeps_official_names_and_mos(shared_data):
    # SimpleVQA's is_test rows of the official 38-column file: the same MOS as the community test
    # list on the 7,174 videos both hold; each list also has videos the other lacks (46 / 12).
    table = read_labels(shared_data / "labels/official/LSVQ/LSVQ_whole_test.csv", split="test")
    community = read_labels(shared_data / "labels/LSVQ/labels_test.txt")
    assert len(table) == 7220
    mos = dict(zip(table["name"], table["mos"], strict=True))
    common = [(n, m) for n, m in zip(community["name"], community["mos"], strict=True) if n in mos]
    assert len(common) == 7174
    assert max(abs(mos[n] - m) for n, m in common) < 1e-9
    assert "ia-batch10/DootysSparksterIn1801.67.mp4" in mos  # a dotted name still gets .mp4
    with pytest.raises(LabelError, match="no train rows"):
        read_labels(shared_data / "labels/official/LSVQ/LSVQ_whole_test.csv", split="train")


def test_real_lsvq_without_is_test_names_the_column_and_the_alternatives(shared_data):
    path = shared_data / "labels/official/LSVQ/labels_train_test.csv"
    for split in ("train", "test"):
        with pytest.raises(LabelError) as info:
            read_labels(path, split=split)
        message = str(info.value)
        assert "no column 'is_test'" in message and f"the {split} videos" in message
        assert "5 columns: name, height, width, mos, frame_number" in message
        assert "38 columns" in message and "labels_train.txt / labels_test.txt" in message


def test_real_official_formats_are_detected_from_content(shared_data, tmp_path):
    expected = {
        "KoNViD/KoNViD_1k_attributes.csv": "konvid",
        "LIVE_VQC/LiveVQC_data.mat": "live_vqc",
        "LIVE_VQC/LIVE-VQCinfo.mat": "live_vqc",
        "LSVQ/labels_test_1080p.csv": "lsvq",
        "LSVQ/labels_train_test.csv": "lsvq",
        "LSVQ/LSVQ_whole_test.csv": "lsvq",
        "YouTubeUGC/original_videos_MOS_for_YouTube_UGC_dataset.xlsx": "youtube_ugc",
        "CVD2014/Realignment_MOS.csv": "cvd2014",
        "LIVE_Qualcomm/qualcommSubjectiveData.mat": "live_qualcomm",
    }
    for index, (rel, fmt) in enumerate(expected.items()):
        # a name that says nothing: the content alone decides
        anonymous = tmp_path / f"labels_{index}.bin"
        anonymous.symlink_to(shared_data / "labels" / "official" / rel)
        assert detect_label_format(anonymous) == fmt, rel
    assert detect_label_format(shared_data / "labels/KoNViD/labels.txt") == "community"


def test_real_live_qualcomm_folders_need_no_videos_on_disk(shared_data, tmp_path):
    table = read_labels(shared_data / "labels/official/LIVE_Qualcomm/qualcommSubjectiveData.mat",
                        video_root=tmp_path)  # an empty root: the folders come from the file
    folders = table["name"].str.split("/").str[0].value_counts().to_dict()
    assert folders == {"Artifacts": 36, "Color": 35, "Exposure": 34, "Focus": 34, "Sharpness": 34, "Stabilization": 35}
    assert (table["width"] == 1920).all() and (table["height"] == 1080).all()
    small = read_labels(shared_data / "labels/official/LIVE_Qualcomm/qualcommSubjectiveData.mat",
                        yuv_geometry=(48, 64))
    assert (small["width"] == 64).all() and (small["height"] == 48).all()


# --- each format on small files written in its layout -------------------------------------------


def test_konvid_attributes_name_videos_by_flickr_id(tmp_path):
    path = tmp_path / "KoNViD_1k_attributes.csv"
    path.write_text(
        "flickr_id,download_id,file_name,MOS,ti,si\n"
        "10053703034,1,10053703034_original_centercrop_960x540_8s.mp4,3.42,1.0,2.0\n"
        "4542323058,2,4542323058_cut_centercrop_960x540_8s.mp4,3.22,1.0,2.0\n"
    )
    table = read_labels(path)
    assert table["name"].tolist() == ["KoNViD_1k_videos/10053703034.mp4", "KoNViD_1k_videos/4542323058.mp4"]
    assert table["mos"].tolist() == [3.42, 3.22]
    no_id = tmp_path / "attributes_no_id.csv"  # only file_name: its leading digits are the id
    no_id.write_text("file_name,MOS,ti,si,width,height\n4542323058_original_centercrop_960x540_8s.mp4,3.22,1,2,960,540\n")
    row = read_labels(no_id).iloc[0]
    assert (row["name"], row["width"], row["height"]) == ("KoNViD_1k_videos/4542323058.mp4", 960, 540)
    from_sheet = tmp_path / "attributes_float_ids.csv"  # ids read back from a spreadsheet
    from_sheet.write_text("flickr_id,MOS\n4542323058.0,3.22\n")
    assert read_labels(from_sheet)["name"].tolist() == ["KoNViD_1k_videos/4542323058.mp4"]
    bad = tmp_path / "KoNViD_1k_attributes_bad.csv"
    bad.write_text("flickr_id,MOS\n1,3.1\n2,\n")
    with pytest.raises(LabelError, match=r"line 3: MOS '' of 'KoNViD_1k_videos/2.mp4'"):
        read_labels(bad)
    missing = tmp_path / "KoNViD_1k_attributes_nomos.csv"
    missing.write_text("flickr_id,score\n1,3.1\n")
    with pytest.raises(LabelError, match=r"no column 'MOS' in the header \(flickr_id, score\)"):
        read_labels(missing)


def test_live_vqc_mat_under_any_name(tmp_path):
    names = np.array(["A001.mp4", "A002.mp4", "B105.mp4"], dtype=object).reshape(-1, 1)  # a cell array
    for file_name in ("data.mat", "LiveVQC_data.mat", "scores.mat"):
        savemat(tmp_path / file_name, {"video_list": names, "mos": np.array([[80.232], [57.3005], [61.0]])})
        table = read_labels(tmp_path / file_name)
        assert table["name"].tolist() == ["Video/A001.mp4", "Video/A002.mp4", "Video/B105.mp4"]
        np.testing.assert_array_equal(table["mos"], [80.232, 57.3005, 61.0])
    savemat(tmp_path / "other.mat", {"video_list": names, "mos": np.array([1.0, 2.0])})
    with pytest.raises(LabelError, match="video_list has 3 entries but mos has 2"):
        read_labels(tmp_path / "other.mat")
    savemat(tmp_path / "data2.mat", {"videos": names})
    with pytest.raises(LabelError, match=r"without the variables of a known label format \(found: videos\)"):
        read_labels(tmp_path / "data2.mat")
    with pytest.raises(LabelError, match=r"no variable video_list and mos .*\(found: videos\)"):
        read_labels(tmp_path / "data2.mat", label_format="live_vqc")


LSVQ_HEADER = "name,p1,p2,p3,height,width,mos_p1,mos_p2,mos_p3,mos,frame_number,is_test\n"


def test_lsvq_train_test_and_1080p(tmp_path):
    path = tmp_path / "labels_train_test.csv"
    path.write_text(
        LSVQ_HEADER
        + "yfcc-batch1/725,1,2,3,540,960,70,71,72,76.84375,240,False\n"
        + "yfcc-batch1/747,1,2,3,720,1280,60,61,62,67.75,300,True\n"
        + "ia-batch4/Clip.Seg.3,1,2,3,480,640,50,51,52,52.5,150,False\n"
        + "ia-batch1/spanish-4dSP9EYgNoU.mp4,1,2,3,480,640,50,51,52,40.0,150,False\n"
    )
    train = read_labels(path, split="train")
    test = read_labels(path, split="test")
    # <name>.mp4, also for names with dots and for names that already end in .mp4 (as the videos are)
    assert train["name"].tolist() == [
        "yfcc-batch1/725.mp4", "ia-batch4/Clip.Seg.3.mp4", "ia-batch1/spanish-4dSP9EYgNoU.mp4.mp4"]  # fmt: skip
    assert test["name"].tolist() == ["yfcc-batch1/747.mp4"]
    row = test.iloc[0]
    assert (row["mos"], row["height"], row["width"], row["num_frames"]) == (67.75, 720, 1280, 300)
    assert len(read_labels(path)) == 4  # no split: every row
    with pytest.raises(LabelError, match=r"1080p set is not in this file \(it has is_test"):
        read_labels(path, split="1080p")
    hd = tmp_path / "labels_test_1080p.csv"
    hd.write_text(LSVQ_HEADER.replace(",is_test", "") + "yfcc-batch1/722,1,2,3,1080,1920,1,2,3,78.77,300\n")
    assert read_labels(hd, split="1080p")["name"].tolist() == ["yfcc-batch1/722.mp4"]
    with pytest.raises(LabelError, match=r"no column 'is_test', which tells the test videos apart"):
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


def test_youtube_ugc_official_xlsx(tmp_path):
    path = tmp_path / "original_videos_MOS_for_YouTube_UGC_dataset.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        pd.DataFrame({
            "vid": ["Sports_2160P-4e9f", "Animation_480P-7a31", "Gaming_360P-0000"],
            "category": ["Sports", "Animation", "Gaming"],
            "MOS full": [4.405, 3.487, None],
            "MOS chunk00": [4.3, None, None],
        }).to_excel(book, sheet_name="MOS", index=False)
        pd.DataFrame([["YouTube UGC subjective scores", None], [None, None], ["vid", "MOS full"],
                      ["Vlog_720P-1111", 2.5]]).to_excel(book, sheet_name="notes", index=False, header=False)
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


def test_cvd2014_semicolons_decimal_commas_and_empty_lines(tmp_path):
    path = tmp_path / "Realignment_MOS.csv"
    path.write_bytes(
        "Content;File_name;Original MOS;Realignment MOS;;;;\n"
        "City;Test03_City_D12;21,0;20,65;;;;\n"
        ";;;;;;;\n"
        "City;Test05_City_D05;43,1;42,92;;;;\n"
        "Talking_head;Test03_Talking_Head_D10;53,0;53,33;;;;\n"
        ";;;;;;;\n"
        "Traffic;Test01_Traffic_D01;-6,0;-6,5;;;;\n".encode("utf-8-sig")
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
    bad.write_text("Content;File_name;Realignment MOS\nCity;Test03_City_D12;20,65\n;;\nCity;City_D13;1,0\n")
    with pytest.raises(LabelError, match=r"line 4: cannot place video 'City_D13'"):
        read_labels(bad)
    comma = tmp_path / "Realignment_MOS_comma.csv"  # re-saved with commas and decimal points
    comma.write_text("Content,File_name,Realignment MOS\nCity,Test03_City_D12,20.65\n")
    assert read_labels(comma)["mos"].tolist() == [20.65]


def _qualcomm_mat(path, names, mos, kinds=None, folders=None):
    video = {"vidNames": np.array(names, dtype=object).reshape(-1, 1)}
    if kinds is not None:
        video["distortionType"] = np.array(kinds, dtype=np.uint8).reshape(-1, 1)
        video["distortionNames"] = np.array(folders, dtype=object).reshape(-1, 1)
    savemat(path, {"qualcommVideoData": video,
                   "qualcommSubjectiveData": {"unBiasedMOS": np.asarray(mos, dtype=float).reshape(-1, 1)}})


def test_live_qualcomm_mat(tmp_path):
    names = ["1024_TableTennisAtBalboa_HTCOneVx_VIDEO0138.yuv", "1019_SkateBoardingSkills_LGG2_CAM00855"]
    path = tmp_path / "qualcommSubjectiveData.mat"
    _qualcomm_mat(path, names, [41.6489, 54.095], kinds=[2, 1], folders=["Color", "Focus"])
    table = read_labels(path)  # folders from distortionType / distortionNames, no videos needed
    assert table["name"].tolist() == [f"Focus/{names[0]}", f"Color/{names[1]}.yuv"]
    assert table["mos"].tolist() == [41.6489, 54.095]
    assert (table["width"] == 1920).all() and (table["height"] == 1080).all()
    _qualcomm_mat(tmp_path / "bad_kind.mat", names, [1.0, 2.0], kinds=[1, 7], folders=["Color", "Focus"])
    with pytest.raises(LabelError, match=r"distortionType 7 is not a position in distortionNames \(Color, Focus\)"):
        read_labels(tmp_path / "bad_kind.mat")
    # a file without the distortion fields: names are found under the video root
    bare = tmp_path / "bare.mat"
    _qualcomm_mat(bare, names, [41.6489, 54.095])
    assert read_labels(bare)["name"].tolist() == [names[0], names[1] + ".yuv"]
    for folder, name in (("Focus", names[0]), ("Color", names[1] + ".yuv")):
        (tmp_path / "root" / folder).mkdir(parents=True)
        (tmp_path / "root" / folder / name).write_bytes(b"")
    located = read_labels(bare, video_root=tmp_path / "root")
    assert located["path"].tolist() == [f"Focus/{names[0]}", f"Color/{names[1]}.yuv"]
    _qualcomm_mat(tmp_path / "short.mat", names, [1.0])
    with pytest.raises(LabelError, match="vidnames has 2 entries but unbiasedmos has 1"):
        read_labels(tmp_path / "short.mat")


def test_format_detection_reads_content_not_names(tmp_path):
    files = {
        "a.txt": ("x/1.mp4, 8.0, 30, 3.2\n", "community"),
        "b.csv": ("flickr_id,MOS\n1,3.0\n", "konvid"),
        "c.csv": ("name,mos,is_test\na/1,50,True\n", "lsvq"),
        "d.csv": ("vid,MOS full\nA_360P-1,3.0\n", "youtube_ugc"),
        "e.csv": ("Content;File_name;Realignment MOS\nCity;Test01_City_D01;3,0\n", "cvd2014"),
        "labels_train.txt": ("flickr_id,MOS\n1,3.0\n", "konvid"),  # the name says community; the content wins
    }
    for name, (text, fmt) in files.items():
        (tmp_path / name).write_text(text)
        assert detect_label_format(tmp_path / name) == fmt, name
    _qualcomm_mat(tmp_path / "f.mat", ["a.yuv"], [1.0])
    assert detect_label_format(tmp_path / "f.mat") == "live_qualcomm"
    (tmp_path / "scores.json").write_text('{"a.mp4": 3.0}\n')
    with pytest.raises(LabelError, match=r"line 1: cannot tell the label format from its first line .*label_format="):
        detect_label_format(tmp_path / "scores.json")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(LabelError, match=r"old Excel .xls workbook; save it as .xlsx"):
        read_labels(tmp_path / "old.xls")
    with pytest.raises(LabelError, match="nothing.txt: label file not found"):
        read_labels(tmp_path / "nothing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(LabelError, match="the file is empty"):
        read_labels(empty)
    with pytest.raises(LabelError, match="unknown label format 'konvid2'"):
        read_labels(tmp_path / "b.csv", label_format="konvid2")


# --- files that are not UTF-8 (issue 14, item 7) ------------------------------------------------


@pytest.mark.parametrize("strict", [True, False])
def test_non_utf8_label_files_name_file_and_line_in_both_modes(tmp_path, strict):
    community = tmp_path / "labels.txt"
    community.write_bytes("a/1.mp4, -1, -1, 3.0\nb/Caf\xe9.mp4, -1, -1, 2.0\n".encode("latin-1"))
    with pytest.raises(LabelError) as info:
        read_labels(community, strict=strict)
    error = info.value
    assert (error.path, error.line) == (str(community), 2)
    assert "not UTF-8 text (byte 0xe9 at column 6)" in str(error) and "re-save it as UTF-8" in str(error)
    official = tmp_path / "KoNViD_1k_attributes.csv"  # an official CSV saved as Windows-1252
    official.write_bytes("flickr_id,MOS,note\n1,3.0,ok\n2,3.1,\x93quoted\x94\n".encode("latin-1"))
    with pytest.raises(LabelError, match=r"KoNViD_1k_attributes.csv, line 3: not UTF-8 text \(byte 0x93"):
        read_labels(official, strict=strict)
    with pytest.raises(LabelError, match=r"line 3: not UTF-8"):
        read_labels(official, label_format="konvid", strict=strict)
