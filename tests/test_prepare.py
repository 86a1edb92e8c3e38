"""``prepare_profiles`` / ``qclip-bench prepare``: profiles into the samplers' cache with 2 processes,
resuming without decoding, the bad list written once and reused, a fixed video leaving it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

import qclip_plugin.benchmark.prepare as prepare_module
from qclip_plugin.benchmark.prepare import prepare_profiles, read_bad_videos, without_bad_videos
from qclip_plugin.cli.main import main
from qclip_plugin.sampling import cache_path, cached_profile, frame_difference_profile

CLIPS = ("carphone_distorted.mp4", "carphone_pristine.mp4", "bikes.mp4")


@pytest.fixture()
def folder(tmp_path, videos_dir):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in CLIPS:
        shutil.copy(videos_dir / name, videos / name)
    shutil.copy(videos_dir / "empty.mp4", videos / "broken.mp4")
    return videos


def _no_decoding(*args, **kwargs):
    raise AssertionError("a video was decoded again")


def test_prepare_resumes_and_reports_bad_videos_once(folder, tmp_path, monkeypatch):
    cache, bad_list = tmp_path / "cache", tmp_path / "bad.csv"
    paths = [str(folder / name) for name in (*CLIPS, "broken.mp4")]
    first = prepare_profiles(paths, num_workers=2, cache_dir=cache, bad_list=bad_list, progress=False)
    assert (first.total, first.computed, first.cached, list(first.bad)) == (4, 3, 0, [paths[3]])
    assert "empty" in first.bad[paths[3]]
    for path in paths[:3]:  # exactly what the samplers would compute, where they look for it
        np.testing.assert_array_equal(cached_profile(path, (112, 112), cache_dir=cache),
                                      frame_difference_profile(path, cache_dir=False))
    rows = list(csv.DictReader(bad_list.open(newline="")))
    assert [(r["path"], r["size"]) for r in rows] == [(paths[3], "0")]
    assert without_bad_videos(paths, bad_list) == paths[:3]

    # resumed: nothing decoded, the bad video reported from the list
    monkeypatch.setattr(prepare_module, "profile_one", _no_decoding)
    again = prepare_profiles(paths, cache_dir=cache, bad_list=bad_list, progress=False)
    assert (again.computed, again.cached, again.bad, list(again.known_bad)) == (0, 3, {}, [paths[3]])
    assert "3 already cached, 1 bad, 1 of them already known" in again.summary()
    monkeypatch.undo()

    # one lost cache entry is recomputed; the repaired video is retried and leaves the list
    cache_path(paths[1], (112, 112), cache).unlink()
    shutil.copy(folder / CLIPS[0], folder / "broken.mp4")
    third = prepare_profiles(paths, cache_dir=cache, bad_list=bad_list, progress=False)
    assert (third.computed, third.cached, third.num_bad) == (2, 2, 0)
    assert read_bad_videos(bad_list) == {}


def test_cli_prepare_folder(folder, tmp_path, capsys):
    cache, bad_list = tmp_path / "cache", tmp_path / "bad.csv"
    argv = ["prepare", str(folder), "--workers", "1", "--cache-dir", str(cache), "--bad-list", str(bad_list), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"bad: {folder / 'broken.mp4'}" in out and "3 profiles computed" in out
    assert main(argv) == 0
    assert "0 profiles computed, 3 already cached, 1 bad, 1 of them already known" in capsys.readouterr().out
    assert list(read_bad_videos(bad_list)) == [str(folder / "broken.mp4")]


def test_video_items_names_a_dataset_for_people_and_for_files():
    """Preflight and prepare read a dataset's videos through one function: ``source`` names it in
    reports (its name or label file), ``key`` names its bad list (its key)."""
    from qclip_plugin.data.preflight import video_items

    class Dataset:
        DATASET_KEY = "KoNViD"
        metainfo = {"dataset_name": "KoNViD-1k"}
        ann_file = "/labels/konvid.csv"
        SPEC = "spec"

        def __len__(self):
            return 2

        def get_data_info(self, i):
            return {"filename": f"/v/{i}.yuv", "yuv_geometry": (4, 6)} if i else {"filename": "/v/0.mp4"}

    listing = video_items(Dataset())
    assert listing == (([("/v/0.mp4", None), ("/v/1.yuv", (4, 6))]), "KoNViD-1k", "KoNViD", "spec")
    Dataset.DATASET_KEY, Dataset.metainfo = None, {}
    assert video_items(Dataset())[1:3] == ("/labels/konvid.csv", "Dataset")
    assert video_items([Path("a.mp4"), "b.mp4"]) == ([("a.mp4", None), ("b.mp4", None)], "", "videos", None)
