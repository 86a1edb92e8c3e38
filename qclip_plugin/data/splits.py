"""Random train / validation / test splits of a dataset, deterministic from a seed.

The test part is ``1 - ratio`` of the videos; the validation part is carved from the
training part, never from the test part, so model selection never sees test videos
(DESIGN.md §5). The fine-tune protocol uses :func:`make_splits`: 10 random 80/20 splits,
each with its seed recorded.

Datasets made of several distorted versions of each source video (LIVE-style: the demo's
part A has 40 sources x 4 levels) split by source with :func:`group_split_indices`, so that
no source is seen in training and in test (a random split of clips would test on the
contents it trained on).

Two styles of drawing the split (``style``):

- ``"numpy"`` (default): ``numpy.random.default_rng(seed).permutation``;
- ``"release"``: the official release's own split, exactly: ``random.Random(seed).shuffle`` of
  the videos in label-file order, then the first ``int(n * ratio)`` train and the rest test. The
  release makes one such split, seed 42, ratio 0.8, and reports its test part; with
  ``style="release", seed=42`` the test part here is the same videos, so results compare with it.

>>> split_indices(10, ratio=0.8, seed=0, role="test")
[1, 8]
>>> split_indices(10, ratio=0.8, seed=42, role="test", style="release")
[0, 1]
>>> group_split_indices(["s0", "s0", "s1", "s1", "s2", "s2"], ratio=0.7, seed=0, role="test")
[2, 3]
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from qclip_plugin.errors import UserError

ROLES: tuple[str, ...] = ("train", "val", "test")
STYLES: tuple[str, ...] = ("numpy", "release")
# The release's seed. Its split is style="release" with this seed; with the default numpy style
# seed 42 is just another split.
DEFAULT_SEED = 42


class SplitError(UserError, ValueError):
    """Split options that cannot work (ratios, styles, too few videos)."""


def _order(n: int, seed: int, style: str) -> np.ndarray:
    if style == "release":
        order = list(range(n))
        random.Random(seed).shuffle(order)  # the shuffle depends on n and the seed only, not on the items
        return np.asarray(order, np.int64)
    if style == "numpy":
        return np.random.default_rng(seed).permutation(n)
    raise SplitError(f"split style must be one of {', '.join(STYLES)}, got {style!r}")


def _n_train(n: int, ratio: float, style: str) -> int:
    if style == "release":
        return int(n * ratio)  # the release's own formula, no rounding guard
    # int(), as the VQA codebases do (int(0.8 * n) training videos); + 1e-9: 0.29 * 100 is 28.999...
    return int(ratio * n + 1e-9)


def _parts(n: int, ratio: float, seed: int, val_ratio: float, style: str = "numpy") -> dict[str, list[int]]:
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio (the training share) must be in (0, 1), got {ratio}")
    if not 0.0 <= val_ratio < 1.0:
        raise ValueError(f"val_ratio (the share of the training part held out) must be in [0, 1), got {val_ratio}")
    if n < 2:
        raise ValueError(f"cannot split {n} video(s) into training and test parts")
    order = _order(n, seed, style)
    n_train = min(max(_n_train(n, ratio, style), 1), n - 1)  # both parts non-empty
    n_val = int(round(val_ratio * n_train))
    if val_ratio > 0 and not 0 < n_val < n_train:
        raise ValueError(
            f"val_ratio={val_ratio} of {n_train} training videos leaves an empty validation or training part"
        )
    train_all = order[:n_train]
    return {
        "train": sorted(int(i) for i in train_all[: n_train - n_val]),
        "val": sorted(int(i) for i in train_all[n_train - n_val :]),
        "test": sorted(int(i) for i in order[n_train:]),
    }


def split_indices(
    items: int | Sequence[str],
    ratio: float = 0.8,
    seed: int = DEFAULT_SEED,
    role: str = "train",
    val_ratio: float = 0.0,
    style: str = "numpy",
) -> list[int] | list[str]:
    """One part of a random split of ``items``.

    Args:
        items: the number of videos, or their names.
        ratio: share of the videos in the training part (validation included); the rest is test.
        seed: the split's seed; the same seed gives the same split.
        role: ``"train"``, ``"val"`` or ``"test"``.
        val_ratio: share of the training part held out for validation (model selection); it is
            the end of the training part in the drawn order (the release has no validation part).
        style: ``"numpy"`` or ``"release"`` (see the module docstring).

    Returns:
        Positions (when ``items`` is a count) or names, in their original order. The three
        roles of one ``(n, ratio, seed, val_ratio)`` are disjoint and cover every item.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if isinstance(items, int):
        return _parts(items, ratio, seed, val_ratio, style)[role]
    names = list(items)
    if len(set(names)) != len(names):
        raise ValueError("split_indices: video names must be unique")
    return [names[i] for i in _parts(len(names), ratio, seed, val_ratio, style)[role]]


def group_split_indices(
    groups: Sequence[object],
    ratio: float = 0.8,
    seed: int = DEFAULT_SEED,
    role: str = "train",
    val_ratio: float = 0.0,
    style: str = "numpy",
) -> list[int]:
    """One part of a random split of the *groups* of ``groups`` (e.g. source videos).

    The distinct groups are split exactly as :func:`split_indices` splits videos (same
    ``ratio``, ``seed`` and ``val_ratio`` semantics, counted in groups); every video goes to
    its group's part, so the parts share no group.

    Args:
        groups: the group of each video (any hashable value, e.g. the source id).
        ratio, seed, role, val_ratio, style: as in :func:`split_indices`, over groups.

    Returns:
        Positions of the videos in that part, ascending.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    labels = list(groups)
    try:  # a fixed order, independent of the videos' order
        distinct = sorted(set(labels))
    except TypeError:  # mixed types
        distinct = sorted(set(labels), key=repr)
    try:
        chosen = set(_parts(len(distinct), ratio, seed, val_ratio, style)[role])
    except SplitError:
        raise
    except ValueError as error:
        raise ValueError(f"splitting {len(distinct)} groups: {error}") from error
    index = {g: i for i, g in enumerate(distinct)}
    return [i for i, g in enumerate(labels) if index[g] in chosen]


@dataclass(frozen=True)
class Split:
    """One recorded split: its seed and the positions of each part."""

    seed: int
    ratio: float
    val_ratio: float
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    style: str = "numpy"

    def to_dict(self) -> dict:
        """A JSON-ready record (lists of positions)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def split_seeds(num_splits: int = 10, base_seed: int = 0) -> list[int]:
    """The seeds of ``num_splits`` splits: ``base_seed, base_seed + 1, ...``."""
    if num_splits < 1:
        raise ValueError(f"num_splits must be at least 1, got {num_splits}")
    return [base_seed + i for i in range(num_splits)]


def make_splits(
    n: int,
    num_splits: int = 10,
    ratio: float = 0.8,
    val_ratio: float = 0.0,
    base_seed: int = 0,
    style: str = "numpy",
) -> list[Split]:
    """``num_splits`` random splits of ``n`` videos (fine-tune protocol: 10 × 80/20)."""
    splits = []
    for seed in split_seeds(num_splits, base_seed):
        parts = _parts(n, ratio, seed, val_ratio, style)
        splits.append(Split(seed, ratio, val_ratio, *(tuple(parts[r]) for r in ROLES), style=style))
    return splits


# --- a protocol's split rule ------------------------------------------------------------------


@dataclass(frozen=True)
class SplitRule:
    """How a protocol splits each training set (its config's ``protocol.split`` dict).

    ``ratio``: the training share (``None``: every video trains); ``val_ratio``: the share of the
    training part carved out for validation; ``seeds``: one run per seed; ``style``: ``numpy`` or
    ``release``; ``group_by``: a column of ``groups_file`` (a CSV with ``path`` and that column)
    whose groups are split whole (unset ``groups_file``: the dataset's own, e.g. the demo's).
    """

    ratio: float | None = None
    val_ratio: float = 0.0
    seeds: tuple[int, ...] = (0,)
    style: str = "numpy"
    group_by: str | None = None
    groups_file: str | None = None

    @classmethod
    def from_config(cls, split: Mapping[str, Any] | None) -> SplitRule:
        split = dict(split or {})
        ratio = split.get("ratio")
        return cls(
            ratio=None if ratio is None else float(ratio),
            val_ratio=float(split.get("val_ratio", 0.0)),
            seeds=tuple(int(s) for s in split.get("seeds", [0])),
            style=str(split.get("style", "numpy")),
            group_by=split.get("group_by"),
            groups_file=None if split.get("groups_file") is None else str(split["groups_file"]),
        )

    def record(self, seed: int) -> dict[str, Any]:
        """What ``splits.json`` records of this rule for one seed (the positions follow)."""
        return {"seed": seed, "ratio": self.ratio, "val_ratio": self.val_ratio, "style": self.style,
                "group_by": self.group_by}


def _rule(split: SplitRule | Mapping[str, Any]) -> SplitRule:
    return split if isinstance(split, SplitRule) else SplitRule.from_config(split)


def split_groups(
    names: Sequence[str], split: SplitRule | Mapping[str, Any], groups_file: str | os.PathLike | None = None
) -> list[str] | None:
    """The group of each video for ``split.group_by`` (a column of ``split.groups_file``, else of
    ``groups_file``: a CSV with a ``path`` column naming the videos as the label list does), or None."""
    rule = _rule(split)
    column = rule.group_by
    if not column:
        return None
    table_path = rule.groups_file or groups_file
    if not table_path:
        raise SplitError(f"split.group_by={column!r} needs split.groups_file (a CSV with 'path' and {column!r})")
    table = pd.read_csv(table_path, dtype=str)
    if "path" not in table or column not in table:
        raise SplitError(f"{table_path}: split.group_by needs the columns 'path' and {column!r}")
    group_of = dict(zip(table["path"], table[column], strict=True))
    missing = [n for n in names if n not in group_of]
    if missing:
        raise SplitError(f"{table_path}: no {column!r} for {len(missing)} video(s), e.g. {missing[:3]}")
    return [group_of[n] for n in names]


def split_positions(
    n: int, split: SplitRule | Mapping[str, Any], seed: int, groups: Sequence[str] | None = None
) -> dict[str, list[int]]:
    """The train / val / test positions of ``n`` videos under a split rule and one of its seeds
    (``groups``: each video's group, from :func:`split_groups`, split whole)."""
    rule = _rule(split)
    ratio, val_ratio, style = rule.ratio, rule.val_ratio, rule.style
    if ratio is None:
        if groups is not None:
            raise SplitError("split.group_by needs split.ratio (the training share of the groups)")
        # every video trains; the validation carve is the "test" side of a (1 - val_ratio) split
        if val_ratio <= 0:
            return {"train": list(range(n)), "val": [], "test": []}
        return {
            "train": split_indices(n, ratio=1.0 - val_ratio, seed=seed, role="train", style=style),
            "val": split_indices(n, ratio=1.0 - val_ratio, seed=seed, role="test", style=style),
            "test": [],
        }
    if groups is not None:  # whole groups (e.g. all versions of a source video) per part
        return {role: group_split_indices(groups, ratio=ratio, seed=seed, role=role, val_ratio=val_ratio, style=style)
                for role in ROLES}
    return {role: split_indices(n, ratio=ratio, seed=seed, role=role, val_ratio=val_ratio, style=style)
            for role in ROLES}
