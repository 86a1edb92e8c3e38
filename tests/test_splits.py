"""Splits: deterministic, disjoint, covering; validation carved from the training part."""

from __future__ import annotations

import json

import pytest

from qclip_plugin.data.splits import (
    SplitError,
    SplitRule,
    group_split_indices,
    make_splits,
    split_groups,
    split_indices,
    split_positions,
    split_seeds,
)


@pytest.mark.parametrize(
    ("n", "val_ratio"), [(2, 0.0), (10, 0.0), (10, 0.25), (234, 0.1), (1200, 0.0), (1200, 0.1), (1200, 0.25)]
)
def test_roles_are_disjoint_and_cover(n, val_ratio):
    parts = {role: split_indices(n, 0.8, seed=3, role=role, val_ratio=val_ratio) for role in ("train", "val", "test")}
    sets = {role: set(p) for role, p in parts.items()}
    assert sets["train"].isdisjoint(sets["val"]) and sets["train"].isdisjoint(sets["test"])
    assert sets["val"].isdisjoint(sets["test"])
    assert sets["train"] | sets["val"] | sets["test"] == set(range(n))
    assert all(p == sorted(p) for p in parts.values())
    n_train = max(int(0.8 * n), 1)
    assert len(parts["test"]) == n - n_train
    assert len(parts["val"]) == round(val_ratio * n_train)


def test_validation_never_takes_test_videos():
    test_without_val = split_indices(500, seed=11, role="test")
    train_without_val = split_indices(500, seed=11, role="train")
    # the same seed gives the same test part whatever the validation share
    assert split_indices(500, seed=11, role="test", val_ratio=0.2) == test_without_val
    val = split_indices(500, seed=11, role="val", val_ratio=0.2)
    train = split_indices(500, seed=11, role="train", val_ratio=0.2)
    assert set(val) | set(train) == set(train_without_val)


def test_deterministic_and_seed_dependent():
    a = split_indices(1200, seed=5, role="test")
    assert a == split_indices(1200, seed=5, role="test")
    assert a != split_indices(1200, seed=6, role="test")
    assert split_indices(10, ratio=0.8, seed=0, role="test") == [1, 8]  # pinned: recorded splits stay valid
    assert len(split_indices(100, ratio=0.29, role="train")) == 29  # no float truncation to 28


def test_names_keep_their_order():
    names = [f"video_{i:03d}.mp4" for i in range(50)]
    test = split_indices(names, seed=1, role="test")
    assert test == [names[i] for i in split_indices(50, seed=1, role="test")]
    with pytest.raises(ValueError, match="unique"):
        split_indices(["a", "a", "b"], role="test")


def test_fine_tune_protocol_splits_are_recorded():
    splits = make_splits(234, num_splits=10, ratio=0.8, val_ratio=0.1, base_seed=0)
    assert [s.seed for s in splits] == split_seeds(10, 0) == list(range(10))
    assert len({s.test for s in splits}) == 10  # ten different test parts
    for s in splits:
        assert len(s.test) == 234 - 187 and len(s.train) + len(s.val) == 187
        assert list(s.test) == split_indices(234, 0.8, s.seed, "test", 0.1)
    record = json.loads(json.dumps(splits[3].to_dict()))
    assert record["seed"] == 3 and record["test"] == list(splits[3].test)


def test_bad_arguments():
    with pytest.raises(ValueError, match="role must be one of"):
        split_indices(10, role="validation")
    with pytest.raises(ValueError, match="ratio"):
        split_indices(10, ratio=1.0)
    with pytest.raises(ValueError, match="cannot split 1 video"):
        split_indices(1)
    with pytest.raises(ValueError, match="empty validation"):
        split_indices(5, val_ratio=0.05, role="val")


def _live_style(sources: int = 30, levels: int = 4) -> list[int]:
    """The demo's part A layout: each source video in ``levels`` consecutive distorted versions."""
    return [s for s in range(sources) for _ in range(levels)]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_group_split_keeps_each_source_in_one_part(seed):
    groups = _live_style()
    parts = {r: group_split_indices(groups, 0.7, seed=seed, role=r, val_ratio=0.2) for r in ("train", "val", "test")}
    sources = {r: {groups[i] for i in p} for r, p in parts.items()}
    assert sources["train"].isdisjoint(sources["val"]) and sources["train"].isdisjoint(sources["test"])
    assert sources["val"].isdisjoint(sources["test"])
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(120))
    # counted in sources: int(0.7 * 30) = 21 training sources, round(0.2 * 21) = 4 of them validate
    assert (len(sources["train"]), len(sources["val"]), len(sources["test"])) == (17, 4, 9)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (68, 16, 36)


def test_group_split_is_the_video_split_of_the_groups():
    groups = _live_style()
    for role in ("train", "val", "test"):
        chosen = set(split_indices(30, 0.7, seed=5, role=role, val_ratio=0.2))
        assert group_split_indices(groups, 0.7, seed=5, role=role, val_ratio=0.2) == [
            i for i, g in enumerate(groups) if g in chosen
        ]
    # one video per group: exactly split_indices
    assert group_split_indices(list(range(50)), 0.8, seed=2, role="test") == split_indices(50, 0.8, seed=2, role="test")


def test_group_split_does_not_depend_on_the_video_order():
    groups = [f"src{s}" for s in _live_style(10, 3)]
    shuffled = list(reversed(groups))
    test = {groups[i] for i in group_split_indices(groups, 0.6, seed=4, role="test")}
    assert test == {shuffled[i] for i in group_split_indices(shuffled, 0.6, seed=4, role="test")}


def test_group_split_errors_count_groups():
    with pytest.raises(ValueError, match="splitting 1 groups"):
        group_split_indices(["a", "a", "a"], 0.5, seed=0, role="test")
    with pytest.raises(ValueError, match="role"):
        group_split_indices(["a", "b"], 0.5, seed=0, role="holdout")


@pytest.mark.parametrize("dataset", ["CVD2014", "KoNViD", "LIVE_Qualcomm", "LIVE_VQC", "YouTubeUGC"])
def test_release_style_is_the_official_split(shared_data, dataset):
    """The release's split, written from its code: records in label-file order,
    ``random.Random(42).shuffle``, the first ``int(len * 0.8)`` train, the rest its test part."""
    import random

    lines = [ln for ln in (shared_data / "labels" / dataset / "labels.txt").read_text().splitlines() if ln.strip()]
    names = [ln.split(",")[0].strip() for ln in lines]
    shuffled = list(names)
    random.Random(42).shuffle(shuffled)
    cut = int(len(shuffled) * 0.8)
    train, test = split_indices(names, 0.8, 42, "train", style="release"), split_indices(names, 0.8, 42, "test", style="release")
    assert set(train) == set(shuffled[:cut]) and set(test) == set(shuffled[cut:])
    assert train == [n for n in names if n in set(train)]  # in label-file order, as every split here
    # the default style with the same seed is another split altogether
    assert set(split_indices(names, 0.8, 42, "test")) != set(test)
    # validation is carved from the release's training part, never from its test part
    parts = {r: split_indices(len(names), 0.8, 42, r, val_ratio=0.1, style="release") for r in ("train", "val", "test")}
    assert {names[i] for i in parts["test"]} == set(test) and len(parts["val"]) == round(0.1 * cut)


def test_release_style_in_protocols_and_recorded_splits():
    parts = split_positions(234, dict(ratio=0.8, val_ratio=0.0, style="release"), 42)
    assert parts["test"] == split_indices(234, 0.8, 42, "test", style="release") and len(parts["test"]) == 47
    assert make_splits(234, 1, base_seed=42, style="release")[0].to_dict()["style"] == "release"
    with pytest.raises(SplitError, match="style must be one of numpy, release"):
        split_indices(10, style="sklearn")


# --- a protocol's split rule (protocol.split) ---------------------------------------------------


def test_splits_keep_validation_inside_training() -> None:
    parts = split_positions(100, {"ratio": 0.8, "val_ratio": 0.1}, seed=3)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (72, 8, 20)
    assert not set(parts["val"]) & set(parts["test"]) and not set(parts["train"]) & set(parts["val"])
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(100))
    assert parts == split_positions(100, {"ratio": 0.8, "val_ratio": 0.1}, seed=3)
    assert parts != split_positions(100, {"ratio": 0.8, "val_ratio": 0.1}, seed=4)
    whole = split_positions(100, {"ratio": None, "val_ratio": 0.05}, seed=42)
    assert (len(whole["train"]), len(whole["val"]), whole["test"]) == (95, 5, [])


def test_group_by_split_keeps_sources_apart(tmp_path) -> None:
    # LIVE-style: 12 sources x 4 distortion levels, listed in the label file's order
    names = [f"A/a{3 * i:03d}.mp4" for i in range(48)]
    table = tmp_path / "metadata.csv"
    table.write_text("path,source,mos\n" + "".join(f"{n},{i // 4},3.0\n" for i, n in enumerate(reversed(names))))
    split = {"ratio": 0.75, "val_ratio": 0.25, "group_by": "source", "groups_file": str(table)}
    groups = split_groups(names, split)
    assert groups == [str(11 - i // 4) for i in range(48)]
    parts = split_positions(48, split, seed=0, groups=groups)
    owners = {role: {groups[i] for i in p} for role, p in parts.items()}
    # int(0.75 * 12) = 9 training sources, round(0.25 * 9) = 2 of them validate; 3 test sources
    assert [len(owners[r]) for r in ("train", "val", "test")] == [7, 2, 3]
    assert not owners["train"] & owners["test"] and not owners["val"] & owners["test"]
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(48))
    assert split_groups(names, {"ratio": 0.8}) is None
    with pytest.raises(SplitError, match="groups_file"):
        split_groups(names, {"group_by": "source"})
    with pytest.raises(SplitError, match="no 'source' for 1 video"):
        split_groups([*names, "A/extra.mp4"], split)
    with pytest.raises(SplitError, match="needs split.ratio"):
        split_positions(48, {"ratio": None, "val_ratio": 0.1}, seed=0, groups=groups)


def test_split_rule_reads_the_protocol_dict_and_groups_from_the_dataset(tmp_path) -> None:
    rule = SplitRule.from_config({"ratio": 0.7, "val_ratio": 0.2, "seeds": [0, 1], "group_by": "source"})
    assert rule == SplitRule(ratio=0.7, val_ratio=0.2, seeds=(0, 1), group_by="source")
    assert SplitRule.from_config(None) == SplitRule(ratio=None, val_ratio=0.0, seeds=(0,), style="numpy")
    assert rule.record(1) == {"seed": 1, "ratio": 0.7, "val_ratio": 0.2, "style": "numpy", "group_by": "source"}
    # no groups_file in the rule: the dataset's own (the demo's metadata CSV) is read
    table = tmp_path / "metadata.csv"
    table.write_text("path,source\na.mp4,s1\nb.mp4,s2\n")
    assert split_groups(["b.mp4", "a.mp4"], rule, groups_file=table) == ["s2", "s1"]
    plain = SplitRule(ratio=0.7, val_ratio=0.2)
    assert split_positions(10, plain, seed=3) == split_positions(10, {"ratio": 0.7, "val_ratio": 0.2}, seed=3)
