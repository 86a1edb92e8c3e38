"""Registered VQA datasets (community and official labels, data roots, subsets, pipeline) and preflight."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from qclip_plugin.data import datasets as vqa_datasets
from qclip_plugin.data.datasets import DATA_ROOT_ENV, PackVQAInputs, VQADataset, resolve_data_root
from qclip_plugin.data.labels import LabelError
from qclip_plugin.data.preflight import PreflightError, preflight_check
from qclip_plugin.registry import DATASETS, TRANSFORMS

COMMUNITY = {  # type, options, label list, count
    "LSVQ-train": ("LSVQDataset", {"split": "train"}, "LSVQ/labels_train.txt", 28056),
    "LSVQ-test": ("LSVQDataset", {"split": "test"}, "LSVQ/labels_test.txt", 7186),
    "LSVQ-1080p": ("LSVQDataset", {"split": "1080p"}, "LSVQ/labels_1080p.txt", 3573),
    "KoNViD": ("KoNViDDataset", {}, "KoNViD/labels.txt", 1200),
    "LIVE_VQC": ("LIVEVQCDataset", {}, "LIVE_VQC/labels.txt", 585),
    "YouTubeUGC": ("YouTubeUGCDataset", {}, "YouTubeUGC/labels.txt", 1147),
    "CVD2014": ("CVD2014Dataset", {}, "CVD2014/labels.txt", 234),
    "LIVE_Qualcomm": ("LIVEQualcommDataset", {}, "LIVE_Qualcomm/labels.txt", 208),
}


@pytest.fixture(autouse=True)
def _no_data_root_env(monkeypatch):
    for variable in DATA_ROOT_ENV.values():
        monkeypatch.delenv(variable, raising=False)


def test_all_datasets_are_registered():
    assert vqa_datasets.DATASET_CLASSES.keys() == DATA_ROOT_ENV.keys()
    for name in ("VQADataset", "LSVQDataset", "KoNViDDataset", "LIVEVQCDataset", "YouTubeUGCDataset",
                 "CVD2014Dataset", "LIVEQualcommDataset"):
        assert DATASETS.get(name) is getattr(vqa_datasets, name)
    assert TRANSFORMS.get("PackVQAInputs") is PackVQAInputs


@pytest.mark.parametrize("key", sorted(COMMUNITY))
def test_community_lists_build_every_dataset(shared_data, tmp_path, key):
    type_, options, rel, count = COMMUNITY[key]
    ds = DATASETS.build(dict(type=type_, ann_file=str(shared_data / "labels" / rel), data_root=str(tmp_path),
                             **options))
    assert len(ds) == count
    first = ds.get_data_info(0)
    assert first["filename"] == str(tmp_path / first["name"])
    assert isinstance(first["mos"], float)
    if type_ == "LIVEQualcommDataset":
        assert first["yuv_geometry"] == (1080, 1920)
    else:
        assert "yuv_geometry" not in first
    lo, hi = ds.metainfo["mos_range"]
    mos = np.array([ds.get_data_info(i)["mos"] for i in range(0, len(ds), max(1, len(ds) // 50))])
    assert ((mos >= lo - 0.05) & (mos <= hi + 0.05)).all()


def _community(path: Path, rows: list[tuple[str, float]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}, -1, -1, {mos}\n" for name, mos in rows))
    return path


def test_data_root_resolution_order(tmp_path, monkeypatch):
    env_root, cfg_root = tmp_path / "env", tmp_path / "cfg"
    _community(env_root / "labels.txt", [("KoNViD_1k_videos/1.mp4", 3.0), ("KoNViD_1k_videos/2.mp4", 4.0)])
    _community(cfg_root / "labels.txt", [("KoNViD_1k_videos/9.mp4", 2.0)])
    assert resolve_data_root("KoNViD") is None
    monkeypatch.setenv("QCLIP_DATA_KONVID", str(env_root))
    ds = DATASETS.build(dict(type="KoNViDDataset"))  # root from the environment, labels.txt found in it
    assert ds.video_paths == [str(env_root / "KoNViD_1k_videos/1.mp4"), str(env_root / "KoNViD_1k_videos/2.mp4")]
    ds = DATASETS.build(dict(type="KoNViDDataset", data_root=str(cfg_root)))  # the config wins
    assert ds.names == ["KoNViD_1k_videos/9.mp4"]
    assert resolve_data_root("KoNViD", cfg_root) == cfg_root
    assert resolve_data_root("LSVQ") is None  # another dataset's variable is not used
    # a relative root is the working directory's (data_root.KoNViD=data/konvid on the command line)
    monkeypatch.chdir(tmp_path)
    assert resolve_data_root("KoNViD", "cfg") == cfg_root
    ds = DATASETS.build(dict(type="KoNViDDataset", data_root="cfg"))
    assert ds.video_paths == [str(cfg_root / "KoNViD_1k_videos/9.mp4")]


def test_missing_root_and_label_file_are_explained(tmp_path, shared_data):
    with pytest.raises(FileNotFoundError, match=r"KoNViD: no label file and no data root.*\$QCLIP_DATA_KONVID"):
        DATASETS.build(dict(type="KoNViDDataset"))
    with pytest.raises(FileNotFoundError, match=r"none of labels.txt, KoNViD_1k_attributes.csv"):
        DATASETS.build(dict(type="KoNViDDataset", data_root=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match=r"video paths are relative.*\$QCLIP_DATA_LIVE_VQC"):
        DATASETS.build(dict(type="LIVEVQCDataset", ann_file=str(shared_data / "labels/LIVE_VQC/labels.txt")))


def test_absolute_paths_need_no_root(tmp_path):
    video = tmp_path / "v.mp4"
    ann = _community(tmp_path / "list.txt", [(str(video), 50.0)])
    ds = VQADataset(ann_file=str(ann))
    assert ds.video_paths == [str(video)]


def test_relative_ann_file_from_root_then_working_directory(tmp_path, monkeypatch):
    root = tmp_path / "root"
    _community(root / "meta" / "labels.txt", [("a.mp4", 1.0)])
    _community(tmp_path / "cwd" / "mine.txt", [("b.mp4", 2.0)])
    monkeypatch.chdir(tmp_path / "cwd")
    assert VQADataset(ann_file="meta/labels.txt", data_root=str(root)).names == ["a.mp4"]
    assert VQADataset(ann_file="mine.txt", data_root=str(root)).video_paths == [str(root / "b.mp4")]


def test_official_label_files_are_found_and_read(tmp_path):
    konvid = tmp_path / "konvid"
    konvid.mkdir()
    (konvid / "KoNViD_1k_attributes.csv").write_text("flickr_id,MOS\n10053703034,3.46\n4542323058,3.22\n")
    ds = DATASETS.build(dict(type="KoNViDDataset", data_root=str(konvid)))
    assert ds.names == ["KoNViD_1k_videos/10053703034.mp4", "KoNViD_1k_videos/4542323058.mp4"]

    lsvq = tmp_path / "lsvq"
    lsvq.mkdir()
    (lsvq / "labels_train_test.csv").write_text(
        "name,height,width,mos,frame_number,is_test\n"
        "yfcc-batch1/725,540,960,76.8,240,False\nyfcc-batch1/747,720,1280,67.75,300,True\n"
        "ia-batch4/12,480,640,52.5,150,False\n"
    )
    train = DATASETS.build(dict(type="LSVQDataset", split="train", data_root=str(lsvq)))
    test = DATASETS.build(dict(type="LSVQDataset", split="test", data_root=str(lsvq), test_mode=True))
    assert train.names == ["yfcc-batch1/725.mp4", "ia-batch4/12.mp4"] and test.names == ["yfcc-batch1/747.mp4"]
    item = test.get_data_info(0)
    assert (item["height"], item["width"], item["num_frames"], item["test_mode"]) == (720, 1280, 300, True)
    assert "test_mode" not in train.get_data_info(0)
    assert test.metainfo["dataset_name"] == "LSVQ_test"
    with pytest.raises(FileNotFoundError, match="labels_1080p.txt, labels_test_1080p.csv"):
        DATASETS.build(dict(type="LSVQDataset", split="1080p", data_root=str(lsvq)))
    with pytest.raises(LabelError, match="1080p set is not in this file"):
        DATASETS.build(dict(type="LSVQDataset", split="1080p", data_root=str(lsvq), ann_file="labels_train_test.csv"))
    with pytest.raises(ValueError, match="split must be one of train, test, 1080p"):
        DATASETS.build(dict(type="LSVQDataset", split="val", data_root=str(lsvq)))

    qualcomm = tmp_path / "qualcomm"
    (qualcomm / "Exposure").mkdir(parents=True)
    (qualcomm / "Exposure" / "0601_Park_S5_01.yuv").write_bytes(b"")
    savemat(qualcomm / "qualcommSubjectiveData.mat", {
        "qualcommVideoData": {"vidNames": np.array(["0601_Park_S5_01.yuv"], dtype=object).reshape(-1, 1)},
        "qualcommSubjectiveData": {"unBiasedMOS": np.array([[33.3]])},
    })
    ds = DATASETS.build(dict(type="LIVEQualcommDataset", data_root=str(qualcomm)))
    assert ds.get_data_info(0)["filename"] == str(qualcomm / "Exposure" / "0601_Park_S5_01.yuv")
    assert ds.get_data_info(0)["yuv_geometry"] == (1080, 1920)


def test_label_format_option_and_cvd2014(tmp_path):
    ratings = tmp_path / "CVD2014_ratings"
    ratings.mkdir()
    (ratings / "scores.csv").write_text("Content;File_name;Realignment MOS\nCity;Test03_City_D12;20,65\n")
    ds = DATASETS.build(dict(type="CVD2014Dataset", data_root=str(tmp_path), ann_file="CVD2014_ratings/scores.csv",
                             label_format="cvd2014"))
    assert ds.names == ["Test3/City/Test03_City_D12.avi"]
    assert ds.get_data_info(0)["mos"] == 20.65


def test_subset_by_names_or_positions(shared_data, tmp_path):
    ann = str(shared_data / "labels" / "CVD2014" / "labels.txt")
    full = DATASETS.build(dict(type="CVD2014Dataset", ann_file=ann, data_root=str(tmp_path)))
    names = full.names
    by_pos = DATASETS.build(dict(type="CVD2014Dataset", ann_file=ann, data_root=str(tmp_path), subset=[10, 2, 200]))
    assert by_pos.names == [names[2], names[10], names[200]]  # label-file order
    by_array = DATASETS.build(dict(type="CVD2014Dataset", ann_file=ann, data_root=str(tmp_path),
                                   subset=np.array([200, 2, 10])))
    assert by_array.names == by_pos.names
    by_name = DATASETS.build(dict(type="CVD2014Dataset", ann_file=ann, data_root=str(tmp_path),
                                  subset=[names[200], names[2]]))
    assert by_name.names == [names[2], names[200]]
    with pytest.raises(KeyError, match="1 subset name"):
        DATASETS.build(dict(type="CVD2014Dataset", ann_file=ann, data_root=str(tmp_path), subset=["nope.avi"]))
    with pytest.raises(IndexError, match=r"\[0, 234\)"):
        DATASETS.build(dict(type="CVD2014Dataset", ann_file=ann, data_root=str(tmp_path), subset=[234]))


def test_split_subsets_partition_a_dataset(shared_data, tmp_path):
    from qclip_plugin.data.splits import split_indices

    ann = str(shared_data / "labels" / "LIVE_VQC" / "labels.txt")
    parts = {role: DATASETS.build(dict(type="LIVEVQCDataset", ann_file=ann, data_root=str(tmp_path),
                                       subset=split_indices(585, 0.8, 4, role, val_ratio=0.1)))
             for role in ("train", "val", "test")}
    assert [len(parts[r]) for r in ("train", "val", "test")] == [421, 47, 117]
    all_names = set().union(*(set(p.names) for p in parts.values()))
    assert len(all_names) == 585


def test_pipeline_packs_inputs_and_data_samples(tmp_path):
    calls = []

    def fake_loader(results):
        calls.append(results["filename"])
        results["inputs"] = torch.full((4, 3, 8, 8), results["mos"])
        return results

    ann = _community(tmp_path / "labels.txt", [("a.mp4", 1.5), ("b.mp4", 2.5)])
    ds = VQADataset(ann_file=str(ann), data_root=str(tmp_path),
                    pipeline=[fake_loader, dict(type="PackVQAInputs", meta_keys=("filename",))])
    item = ds[1]
    assert set(item) == {"inputs", "data_samples"}
    assert item["data_samples"] == {"name": "b.mp4", "mos": 2.5, "filename": str(tmp_path / "b.mp4")}
    assert torch.equal(item["inputs"], torch.full((4, 3, 8, 8), 2.5))
    assert calls == [str(tmp_path / "b.mp4")]
    with pytest.raises(KeyError, match="put a frame-loading step"):
        VQADataset(ann_file=str(ann), data_root=str(tmp_path), pipeline=[dict(type="PackVQAInputs")])[0]


REAL_CLIPS = [("lsvq_1724.mp4", 56.09), ("konvid_10053703034.mp4", 3.46), ("carphone_distorted.mp4", 2.0)]


def test_real_videos_through_load_video_frames(videos_dir, tmp_path):
    pytest.importorskip("qclip_plugin.data.pipeline")
    ann = _community(tmp_path / "labels.txt", REAL_CLIPS)
    pipeline = [dict(type="LoadVideoFrames", num_frames=4, size=(32, 48), cache_dir=str(tmp_path / "cache")),
                dict(type="PackVQAInputs")]
    ds = VQADataset(ann_file=str(ann), data_root=str(videos_dir), pipeline=pipeline, test_mode=True)
    for i, (name, mos) in enumerate(REAL_CLIPS):
        item = ds[i]
        assert item["inputs"].shape == (4, 3, 32, 48) and item["inputs"].dtype == torch.float32
        assert item["data_samples"] == {"name": name, "mos": mos}
        assert -1.0 <= float(item["inputs"].min()) and float(item["inputs"].max()) <= 1.0  # PE normalisation
    assert torch.equal(ds[0]["inputs"], ds[0]["inputs"])  # test mode: deterministic


def test_preflight_lists_missing_empty_and_unreadable(videos_dir, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for name in ("lsvq_1724.mp4", "bikes.mp4", "empty.mp4"):
        os.symlink(videos_dir / name, root / name)
    (root / "garbage.mp4").write_bytes(b"\x00" * 4096)
    (root / "short.yuv").write_bytes(b"\x00" * 1000)
    rows = [("lsvq_1724.mp4", 1.0), ("bikes.mp4", 2.0), ("empty.mp4", 3.0), ("garbage.mp4", 4.0),
            ("short.yuv", 5.0)] + [(f"gone_{i}.mp4", 1.0) for i in range(7)]
    ds = VQADataset(ann_file=str(_community(tmp_path / "labels.txt", rows)), data_root=str(root))

    report = preflight_check(ds, strict=False)
    assert report.total == 12 and not report.ok
    assert report.missing == [str(root / f"gone_{i}.mp4") for i in range(7)]
    assert report.empty == [str(root / "empty.mp4")]
    assert [p for p, _ in report.unreadable] == [str(root / "short.yuv")]  # 1000 B is no 1920x1080 frame
    assert "not a whole number of 1920x1080 YUV420 frames" in report.unreadable[0][1]
    summary = report.summary(max_listed=3)
    assert "9 of 12 videos" in summary and "7 missing: " in summary and ", and 4 more" in summary
    assert str(root / "gone_2.mp4") in summary and str(root / "gone_3.mp4") not in summary

    with pytest.raises(PreflightError, match="9 of 12 videos") as info:
        preflight_check(ds)
    assert info.value.report.bad_paths[:2] == [str(root / "gone_0.mp4"), str(root / "gone_1.mp4")]

    deep = preflight_check(ds, deep=True, strict=False, num_workers=2)
    assert [p for p, _ in deep.unreadable] == [str(root / "short.yuv"), str(root / "garbage.mp4")]
    good = preflight_check([root / "lsvq_1724.mp4", root / "bikes.mp4"], deep=True)
    assert good.ok and good.total == 2 and "all 2 videos" in good.summary()


def test_preflight_takes_known_bad_videos_from_the_bad_list_without_opening_them(videos_dir, tmp_path, monkeypatch):
    import qclip_plugin.data.preflight as preflight

    good, garbage = tmp_path / "good.mp4", tmp_path / "garbage.mp4"
    good.write_bytes((videos_dir / "carphone_distorted.mp4").read_bytes())
    garbage.write_bytes(b"\x01" * 4096)
    size, mtime = preflight.file_stamp(garbage)
    bad_list = tmp_path / "bad.csv"
    bad_list.write_text(f"path,reason,size,mtime_ns\n{garbage},no video stream,{size},{mtime}\n")

    opened = []
    real_deep = preflight._first_frame_problem
    monkeypatch.setattr(preflight, "_first_frame_problem", lambda path, geometry, guard: opened.append(path) or real_deep(path, geometry, guard))
    report = preflight_check([good, garbage], deep=True, strict=False, bad_list=bad_list)
    assert report.unreadable == [(str(garbage), f"no video stream (listed in {bad_list})")]
    assert opened == [str(good)]  # the listed video is not decoded again

    garbage.write_bytes(b"\x01" * 4097)  # changed since it was listed: checked afresh
    opened.clear()
    report = preflight_check([good, garbage], deep=True, strict=False, bad_list=bad_list)
    assert sorted(opened) == sorted([str(good), str(garbage)])
    assert [p for p, _ in report.unreadable] == [str(garbage)] and "listed in" not in report.unreadable[0][1]


# --- one spec per dataset ------------------------------------------------------------------------


def test_every_consumer_reads_the_spec():
    from qclip_plugin.data.dataset_specs import DATASET_SPECS

    assert list(DATASET_SPECS) == ["LSVQ", "KoNViD", "LIVE_VQC", "YouTubeUGC", "CVD2014", "LIVE_Qualcomm"]
    for key, spec in DATASET_SPECS.items():
        cls = vqa_datasets.DATASET_CLASSES[key]
        assert cls.SPEC is spec and DATASETS.get(spec.dataset_class) is cls
        assert cls.DATASET_KEY == key and DATA_ROOT_ENV[key] == spec.env_var
        assert cls.METAINFO == {"dataset_name": spec.name, "mos_range": spec.mos_range}
        assert cls.YUV_GEOMETRY == spec.yuv_geometry
    # the public names users already use
    assert DATA_ROOT_ENV == {"LSVQ": "QCLIP_DATA_LSVQ", "KoNViD": "QCLIP_DATA_KONVID", "LIVE_VQC": "QCLIP_DATA_LIVE_VQC",
                             "YouTubeUGC": "QCLIP_DATA_YOUTUBE_UGC", "CVD2014": "QCLIP_DATA_CVD2014",
                             "LIVE_Qualcomm": "QCLIP_DATA_LIVE_QUALCOMM"}  # fmt: skip
    assert vqa_datasets.KoNViDDataset.DEFAULT_ANN_FILES[:2] == ("labels.txt", "KoNViD_1k_attributes.csv")
    assert vqa_datasets.LIVEQualcommDataset.YUV_GEOMETRY == (1080, 1920)


def test_dataset_names_match_in_any_spelling_with_did_you_mean(tmp_path, monkeypatch):
    from qclip_plugin.benchmark.prepare import dataset_by_name
    from qclip_plugin.data.dataset_specs import UnknownDatasetError, get_spec
    from qclip_plugin.errors import UserError

    for name in ("KoNViD", "konvid", "KONVID", "KoNViD-1k", "konvid_1k", "KoNViDDataset"):
        assert get_spec(name).key == "KoNViD"
    for name, key in (("live-vqc", "LIVE_VQC"), ("LIVE VQC", "LIVE_VQC"), ("youtube-ugc", "YouTubeUGC"),
                      ("LIVE-Qualcomm", "LIVE_Qualcomm"), ("qualcomm", "LIVE_Qualcomm"), ("lsvq", "LSVQ")):
        assert get_spec(name).key == key
    with pytest.raises(UnknownDatasetError, match=r"unknown dataset 'konvd'; did you mean KoNViD\?") as info:
        get_spec("konvd")
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)
    with pytest.raises(UnknownDatasetError, match=r"did you mean CVD2014\?"):
        get_spec("CVD2015")
    _community(tmp_path / "labels.txt", [("KoNViD_1k_videos/1.mp4", 3.0)])
    monkeypatch.setenv("QCLIP_DATA_KONVID", str(tmp_path))
    assert resolve_data_root("konvid-1k") == tmp_path  # the variable of any spelling
    ds = dataset_by_name("konvid-1k")
    assert type(ds).__name__ == "KoNViDDataset" and ds.names == ["KoNViD_1k_videos/1.mp4"]
    assert dataset_by_name("not-a-dataset") is None


def test_data_root_override_accepts_any_spelling_and_suggests():
    from qclip_plugin.benchmark.overrides import OverrideError, apply_overrides
    from qclip_plugin.benchmark.protocols import load_protocol_config

    cfg = load_protocol_config("cross-dataset")
    apply_overrides(cfg, ["data_root.konvid=/k", "data_root.live-vqc=/v", "data_root.LSVQ=/l"])
    assert cfg.protocol.test_sets["KoNViD-1k"].data_root == "/k"
    assert cfg.protocol.test_sets["LIVE-VQC"].data_root == "/v"
    assert cfg.protocol.train_sets["LSVQ_train"].data_root == "/l"
    with pytest.raises(OverrideError, match=r"data_root.konvd: unknown dataset 'konvd'; did you mean KoNViD\?"):
        apply_overrides(cfg, ["data_root.konvd=/x"])
    with pytest.raises(OverrideError, match="no dataset named 'CVD2014' in this config"):
        apply_overrides(cfg, ["data_root.CVD2014=/x"])


def test_a_label_file_of_another_dataset_is_refused(shared_data, tmp_path):
    with pytest.raises(LabelError, match=r"this is a LIVE-VQC label file \(live_vqc format\), not one of KoNViD-1k"):
        DATASETS.build(dict(type="KoNViDDataset", data_root=str(tmp_path),
                            ann_file=str(shared_data / "labels/official/LIVE_VQC/LiveVQC_data.mat")))


def test_lsvq_repackaged_file_without_is_test_says_what_to_use(shared_data, tmp_path):
    (tmp_path / "labels_train_test.csv").symlink_to(shared_data / "labels/official/LSVQ/labels_train_test.csv")
    with pytest.raises(LabelError, match=r"no column 'is_test'.*38 columns.*labels_train.txt / labels_test.txt"):
        DATASETS.build(dict(type="LSVQDataset", split="train", data_root=str(tmp_path)))


def test_missing_data_is_a_user_error(tmp_path):
    from qclip_plugin.errors import UserError

    with pytest.raises(vqa_datasets.MissingDataError) as info:
        DATASETS.build(dict(type="CVD2014Dataset", data_root=str(tmp_path)))
    assert isinstance(info.value, UserError) and isinstance(info.value, FileNotFoundError)


# --- miniatures of the six datasets (tests/miniatures.py) ----------------------------------------

MINI_CASES = [(key, split, labels) for key, sizes in {
    "LSVQ": ("train", "test", "1080p"), "KoNViD": ("",), "LIVE_VQC": ("",), "YouTubeUGC": ("",),
    "CVD2014": ("",), "LIVE_Qualcomm": ("",)}.items() for split in sizes
    for labels in ("community", "official")]  # fmt: skip
MINI_FILES = {  # the label file each dataset class finds in the miniature
    ("LSVQ", "community"): {"train": "labels_train.txt", "test": "labels_test.txt", "1080p": "labels_1080p.txt"},
    ("LSVQ", "official"): {"train": "labels_train_test.csv", "test": "labels_train_test.csv",
                           "1080p": "labels_test_1080p.csv"},
    ("KoNViD", "official"): {"": "KoNViD_1k_attributes.csv"},
    ("LIVE_VQC", "official"): {"": "data.mat"},
    ("YouTubeUGC", "official"): {"": "original_videos_MOS_for_YouTube_UGC_dataset.xlsx"},
    ("CVD2014", "official"): {"": "CVD2014_ratings/Realignment_MOS.csv"},
    ("LIVE_Qualcomm", "official"): {"": "qualcommSubjectiveData.mat"},
}  # fmt: skip


@pytest.mark.parametrize(("key", "split", "labels"), MINI_CASES, ids=lambda v: str(v) or "all")
def test_each_dataset_class_loads_its_miniature(miniature, key, split, labels):
    from miniatures import COMMUNITY_FILES, MINIATURE_SIZES, miniature_dataset

    from qclip_plugin.data.labels import detect_label_format, read_labels

    root = miniature(key, labels=labels)
    ds = miniature_dataset(key, root, split=split)
    label_file = root / MINI_FILES.get((key, labels), {"": "labels.txt"})[split]
    assert Path(ds.ann_file) == label_file
    assert detect_label_format(label_file) == ("community" if labels == "community" else ds.SPEC.label_format)
    assert len(ds) == MINIATURE_SIZES[key][split]
    # the same videos and MOS as the first rows of the real community list (official: the same videos)
    community = read_labels(_real_list(key, split))
    expected = dict(zip(community["name"], community["mos"], strict=True))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    # the official files round: KoNViD's MOS to 4 decimals, the re-hosted LSVQ train rows to 8
    tolerance = {("KoNViD", "official"): 5e-5, ("LSVQ", "official"): 1e-8}.get((key, labels), 1e-9)
    assert all(abs(info["mos"] - expected[info["name"]]) <= tolerance for info in infos)
    assert all(info["filename"] == str(root / info["name"]) and Path(info["filename"]).is_file() for info in infos)
    if labels == "community":
        assert [info["name"] for info in infos] == [n for n in read_labels(root / COMMUNITY_FILES[split])["name"]]
    report = preflight_check(ds, deep=True)
    assert report.ok and report.total == len(ds)


def _real_list(key: str, split: str) -> Path:
    from miniatures import COMMUNITY_FILES, LABELS

    return LABELS / key / COMMUNITY_FILES[split]


def test_miniatures_have_the_real_folder_layouts(miniature):
    from miniatures import MINIATURE_YUV_GEOMETRY, miniature_dataset

    lsvq = miniature("LSVQ")
    names = [n for s in ("train", "test", "1080p") for n in miniature_dataset("LSVQ", lsvq, s).names]
    assert {n.split("/")[0].rstrip("0123456789") for n in names} >= {"yfcc-batch", "ia-batch"}
    assert any("." in Path(n).stem for n in names)  # LSVQ names with dots, still <name>.mp4
    assert all(n.endswith(".mp4") for n in names)
    konvid = miniature_dataset("KoNViD", miniature("KoNViD")).names
    assert all(n.startswith("KoNViD_1k_videos/") for n in konvid)
    cvd = miniature_dataset("CVD2014", miniature("CVD2014")).names
    assert all(re.fullmatch(r"Test\d/[A-Za-z_]+/Test0\d_\w+\.avi", n) for n in cvd)
    qualcomm = miniature_dataset("LIVE_Qualcomm", miniature("LIVE_Qualcomm"))
    folders = {n.split("/")[0] for n in qualcomm.names}
    assert folders == {"Artifacts", "Color", "Exposure", "Focus", "Sharpness", "Stabilization"}
    height, width = MINIATURE_YUV_GEOMETRY
    first = qualcomm.get_data_info(0)
    assert first["yuv_geometry"] == MINIATURE_YUV_GEOMETRY
    assert Path(first["filename"]).stat().st_size == 12 * height * width * 3 // 2  # 12 raw YUV420 frames
    official = miniature("CVD2014", labels="official") / "CVD2014_ratings/Realignment_MOS.csv"
    text = official.read_text()
    assert text.startswith("Content;File_name;Original MOS;Realignment MOS") and ";;;;;;;" in text
    assert re.search(r";\d+,\d+;", text)  # decimal commas, as the real file


def test_miniature_with_real_clips_frames_load(miniature, videos_dir):
    from miniatures import miniature_dataset

    root = miniature("LIVE_VQC", n=3, clips="real")
    ds = miniature_dataset("LIVE_VQC", root, pipeline=[
        dict(type="LoadVideoFrames", num_frames=4, size=(32, 32), cache_dir=str(root / "cache")),
        dict(type="PackVQAInputs")], test_mode=True)
    assert all(Path(p).resolve().parent == videos_dir.resolve() for p in ds.video_paths)
    item = ds[0]
    assert item["inputs"].shape == (4, 3, 32, 32) and item["data_samples"]["name"] == "Video/A001.mp4"


def test_protocol_config_reaches_the_qualcomm_miniature_with_its_geometry(miniature):
    from miniatures import MINIATURE_YUV_GEOMETRY

    from qclip_plugin.benchmark.protocols import load_protocol_config

    root = miniature("LIVE_Qualcomm", labels="official")
    cfg = load_protocol_config("finetune", overrides=[f"data_root.live-qualcomm={root}",
                                                      "protocol.train_sets.LIVE-Qualcomm.yuv_geometry=(48,64)"])
    ds = DATASETS.build(dict(cfg.protocol.train_sets["LIVE-Qualcomm"]))
    assert len(ds) == 12 and ds.get_data_info(0)["yuv_geometry"] == MINIATURE_YUV_GEOMETRY
    assert ds.get_data_info(0)["width"] == 64  # the label file's geometry follows the override
    assert preflight_check(ds, deep=True).ok
    full_size = DATASETS.build(dict(type="LIVEQualcommDataset", data_root=str(root)))  # the spec's 1080x1920
    report = preflight_check(full_size, strict=False)
    assert len(report.unreadable) == 12 and "not a whole number of 1920x1080 YUV420 frames" in report.unreadable[0][1]
    with pytest.raises(PreflightError, match=r"data_root.LIVE_Qualcomm=/path/to/LIVE_Qualcomm \(or \$QCLIP_DATA_LIVE_QUALCOMM\)"):
        preflight_check(full_size)
