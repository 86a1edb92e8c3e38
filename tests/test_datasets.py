"""Registered VQA datasets (community and official labels, data roots, subsets, pipeline) and preflight."""

from __future__ import annotations

import os
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
    assert test.metainfo["dataset_name"] == "LSVQ-test"
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
    real_deep = preflight._deep
    monkeypatch.setattr(preflight, "_deep", lambda path, geometry, guard: opened.append(path) or real_deep(path, geometry, guard))
    report = preflight_check([good, garbage], deep=True, strict=False, bad_list=bad_list)
    assert report.unreadable == [(str(garbage), f"no video stream (listed in {bad_list})")]
    assert opened == [str(good)]  # the listed video is not decoded again

    garbage.write_bytes(b"\x01" * 4097)  # changed since it was listed: checked afresh
    opened.clear()
    report = preflight_check([good, garbage], deep=True, strict=False, bad_list=bad_list)
    assert sorted(opened) == sorted([str(good), str(garbage)])
    assert [p for p, _ in report.unreadable] == [str(garbage)] and "listed in" not in report.unreadable[0][1]
