"""The benchmark protocols of the paper on mmengine: intra-dataset, cross-dataset, fine-tune.

A protocol is an mmengine config under ``benchmark_configs/protocols/`` (``preset=demo``:
``protocols/demo/``; any other config path works too, e.g. the paper experiments under
``benchmark_configs/paper/``). Besides the usual mmengine keys (model, optimizer, schedule,
dataloaders, evaluator, hooks) it has a ``protocol`` dict::

    protocol = dict(
        name='cross-dataset',            # selects the published rows shown beside the results
        method='Q-CLIP',                 # row label
        train_sets=[dict(type='LSVQDataset', split='train', data_root=None)],   # named LSVQ_train
        split=dict(ratio=None, val_ratio=0.05, seeds=[42]),   # style='release': the release's split
        heldout_test=False,              # True: the (1 - ratio) part is a test set (fine-tune)
        test_sets=[dict(type='KoNViDDataset', data_root=None), ...],           # named KoNViD-1k
        evaluate_untrained=True,         # score the model as built too
        init_checkpoint=None,            # adapters to start from (.safetensors) or an mmengine .pth
        init_from_protocol=None,         # demo fine-tune: that protocol's selected adapters
        published_dir=...,               # published rows shown beside the results, see below
    )

``train_sets`` and ``test_sets`` are lists of dataset configs, each named by its dataset spec
(:meth:`qclip_plugin.data.dataset_specs.DatasetSpec.set_name`: ``KoNViD-1k``, ``LSVQ_test``), the
names the published rows use; a dict ``{name: config}`` names them itself (the demo's sets).

Published rows (:func:`qclip_plugin.benchmark.leaderboard.load_published`) of the run's test sets are
written beside the measured ones: ``published_dir`` (unset: ``leaderboard/published``; a folder,
relative to it or absolute; ``'none'``: no published rows), ``published_protocol`` (unset: the
protocol's ``name``; a name or a list; ``None``: any) and ``published_methods`` (unset or
``None``: every method; a list of method names; ``'own'``: the rows of this run's ``method``,
how each paper experiment shows the paper's row of the variant it runs).

Each training set is trained on once per split seed. The split (:mod:`qclip_plugin.data.splits`)
takes ``ratio`` of the videos for training (``None``: all of them) and carves ``val_ratio`` of
those out for validation; the validation part alone selects the epoch, the test sets score
the selected checkpoint only. ``style='release'`` draws the split as the official release does
(``random.Random(seed).shuffle``, then cut): with ``ratio=0.8, seeds=[42]`` the held-out part is
the release's own test split. With ``group_by='source'`` and ``groups_file`` (a CSV with
``path`` and that column, e.g. the demo's ``'{demo.metadata}'``) whole groups are split instead
of videos, so no source video is in two parts. Splits are recorded in ``<work_dir>/splits.json``.

The frames follow the model: every ``LoadVideoFrames`` step gets its ``size``, ``mean``, ``std``
and ``resize`` from the model's preprocessing record (:func:`apply_model_preprocessing`), so
``model.preset=tiny`` (112 px), ``model.backbone=ViT-B-32`` (224 px, OpenAI mean/std) or
``resize=pil`` need no pipeline override; evaluation steps draw random strategies from per-video
seeds derived from the run's ``randomness.seed``. ``train_overrides`` holds per-preset, per-training-set
settings (the release fine-tunes some datasets with its own, see ``protocols/finetune.py``), applied
to that training set's runs before the command line's own overrides.

Before any training every dataset is pre-flight checked (:func:`qclip_plugin.data.preflight`
``.preflight_check``): missing data roots or videos stop the run with the override or
environment variable to set.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mmengine.config import Config

from qclip_plugin.benchmark.leaderboard import (
    COLUMNS,
    PUBLISHED_DIR,
    LeaderboardFiles,
    git_commit,
    load_published,
    protocol_predictions,
    utc_now,
    write_leaderboard,
)
from qclip_plugin.benchmark.overrides import apply_overrides, parse_overrides
from qclip_plugin.engine.runner import TrainResult, train_and_test
from qclip_plugin.errors import UserError
from qclip_plugin.models import describe_qclip
from qclip_plugin.resources import resource_dir

__all__ = [
    "CONFIG_ROOT",
    "apply_model_preprocessing",
    "dataset_set_name",
    "name_dataset_sets",
    "PROTOCOLS",
    "ProtocolError",
    "ProtocolResult",
    "SplitRun",
    "load_protocol_config",
    "protocol_config_path",
    "run_protocol",
]

#: The benchmark configs: the checkout's ``benchmark_configs/``, or an installed package's copy.
CONFIG_ROOT = resource_dir("benchmark_configs")
PROTOCOLS: tuple[str, ...] = ("intra-dataset", "cross-dataset", "finetune")
PRESETS: tuple[str, ...] = ("demo",)
#: Run options accepted among the ``key=value`` overrides (not config keys).
RUN_OPTIONS: tuple[str, ...] = (
    "protocol", "preset", "work_dir", "leaderboard_dir", "resume", "preflight", "datasets", "init_checkpoint",
    "launcher", "amp", "frozen_dtype", "workers", "prefetch", "trust_pickle",
)  # fmt: skip


class ProtocolError(UserError, RuntimeError):
    """A protocol cannot run as configured; the message says what to set or do."""


@dataclass
class SplitRun:
    """One training run of a protocol: a training set and a split seed."""

    train_set: str
    seed: int
    split_index: int | None
    sizes: dict[str, int]
    result: TrainResult


@dataclass
class ProtocolResult:
    """Everything a protocol run produced."""

    name: str
    preset: str | None
    config: Config
    work_dir: Path
    rows: pd.DataFrame  # measured rows, as in leaderboard.csv
    runs: list[SplitRun]
    leaderboard: LeaderboardFiles
    metadata: dict[str, Any]
    wall_seconds: float = 0.0

    def summary(self) -> str:
        """A few lines for people: each test set's SROCC/PLCC, trained and untrained."""
        lines = [f"{self.name}{f' (preset {self.preset})' if self.preset else ''}: {self.wall_seconds:.0f} s"]
        shown = self.rows[self.rows["split"].isin(["", "mean±std"]) | self.rows["split"].isna()]
        for _, row in shown.iterrows():
            std = f" ± {row['SROCC_std']:.4f}" if isinstance(row.get("SROCC_std"), float) and row["SROCC_std"] == row["SROCC_std"] else ""
            epoch = str(row.get("selected_epoch", ""))
            epoch = f", epoch {epoch.removesuffix('.0')}" if epoch not in ("", "nan") else ""
            lines.append(
                f"  {row['test_set']:<20} {row['method']:<28} SROCC {row['SROCC']:.4f}{std}  PLCC {row['PLCC']:.4f}"
                f"  KROCC {row['KROCC']:.4f}  RMSE {row['RMSE']:.4f}{epoch}"
            )
        lines.append(f"  leaderboard: {self.leaderboard.markdown}")
        return "\n".join(lines)


def protocol_config_path(name: str, preset: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """The config file of a protocol: ``protocols/<name>.py``, ``protocols/<preset>/<name>.py``, or
    any config given by path (absolute, or relative to ``benchmark_configs/``, ``.py`` optional)."""
    base = Path(root) if root else CONFIG_ROOT
    candidates = []
    if preset:
        if preset not in PRESETS:
            raise ProtocolError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)} (or leave it out)")
        candidates.append(base / "protocols" / preset / f"{name}.py")
    else:
        candidates.append(base / "protocols" / f"{name}.py")
    stem = name if name.endswith(".py") else f"{name}.py"
    candidates += [Path(stem), base / stem]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = ", ".join(PROTOCOLS)
    raise ProtocolError(
        f"no config for protocol {name!r}{f' with preset {preset!r}' if preset else ''} (looked for "
        f"{', '.join(str(c) for c in candidates[:2])}); protocols: {known}, or a config path "
        "such as paper/table1_sampling/segmsemean"
    )


def load_protocol_config(
    name: str,
    preset: str | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
) -> Config:
    """Load a protocol's config and apply ``key=value`` overrides (:mod:`qclip_plugin.benchmark.overrides`)."""
    path = protocol_config_path(name, preset)
    cfg = Config.fromfile(str(path))
    if "protocol" not in cfg:
        raise ProtocolError(f"{path} has no `protocol` dict; it is not a benchmark protocol config")
    name_dataset_sets(cfg.protocol, path)
    options = {k: v for k, v in parse_overrides(overrides).items() if k not in RUN_OPTIONS}
    apply_overrides(cfg, options)
    apply_model_preprocessing(cfg)
    return cfg


# --- the names of the datasets --------------------------------------------------------------


def dataset_set_name(dataset_cfg: Mapping[str, Any]) -> str | None:
    """The name a dataset config's results go by, from its dataset spec (``KoNViD-1k``,
    ``LSVQ_test``), or None for a dataset without a spec (e.g. a generic ``VQADataset``)."""
    from qclip_plugin.data.dataset_specs import find_spec

    spec = find_spec(str(dataset_cfg.get("type", "")))
    if spec is None:
        return None
    split = dataset_cfg.get("split")
    if spec.splits and split is None:
        raise ProtocolError(f"{spec.dataset_class} needs split= (one of {', '.join(spec.splits)})")
    return spec.set_name(split)


def name_dataset_sets(spec: Any, source: Any = "the config") -> None:
    """Turn the lists ``spec.train_sets`` / ``spec.test_sets`` into ``{name: config}`` dicts named by
    :func:`dataset_set_name` (in place); dicts keep the names they give."""
    for key in ("train_sets", "test_sets"):
        sets = spec.get(key)
        if not isinstance(sets, (list, tuple)):
            continue
        named: dict[str, Any] = {}
        for dataset_cfg in sets:
            name = dataset_set_name(dataset_cfg)
            if name is None:
                kind = dataset_cfg.get("type")
                raise ProtocolError(f"{source}: protocol.{key} lists a {kind!r} dataset, which has no dataset spec "
                                    f"to name it; give {key} as a dict {{name: dataset config}}")
            if name in named:
                raise ProtocolError(f"{source}: protocol.{key} lists {name} twice")
            named[name] = dataset_cfg
        spec[key] = named


# --- frames follow the model -----------------------------------------------------------------

_PIPELINES = {"train_pipeline": False, "train_dataloader": False, "test_pipeline": True,
              "val_dataloader": True, "test_dataloader": True}  # key -> evaluation (test mode)


def _frame_steps(cfg: Config) -> list[tuple[dict, bool]]:
    """Every ``LoadVideoFrames`` step of the config's pipelines, with whether it evaluates."""
    steps, seen = [], set()

    def walk(node: Any, evaluates: bool) -> None:
        if isinstance(node, dict):
            if node.get("type") == "LoadVideoFrames" and id(node) not in seen:
                seen.add(id(node))
                steps.append((node, evaluates or bool(node.get("test_mode"))))
            for value in node.values():
                walk(value, evaluates)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value, evaluates)

    for key, evaluates in _PIPELINES.items():
        walk(cfg.get(key), evaluates)
    return steps


def model_preprocessing(cfg: Config):
    """The preprocessing record of the model ``cfg.model`` builds (``None`` when it is not Q-CLIP)."""
    qclip = cfg.get("model", {}).get("qclip")
    if not isinstance(qclip, Mapping):
        return None
    from qclip_plugin.models import resolve_preprocessing

    return resolve_preprocessing(**dict(qclip))


def apply_model_preprocessing(cfg: Config, previous: Any = None) -> Any:
    """Give every ``LoadVideoFrames`` step the model's frame size, mean/std and resize mode (the
    record :func:`qclip_plugin.models.resolve_preprocessing` gives for ``cfg.model.qclip``), and
    evaluation steps the run's seed (``randomness.seed``) for their per-video draws. Values a step
    states itself are kept, except those equal to ``previous`` (the record applied before, when the
    model changed since, e.g. an ``init_checkpoint`` of another backbone). Returns the record."""
    record = model_preprocessing(cfg)
    if record is None:
        return None
    wanted = {"size": tuple(record.image_size), "mean": tuple(record.mean), "std": tuple(record.std),
              "resize": record.resize}
    before = {} if previous is None else {"size": tuple(previous.image_size), "mean": tuple(previous.mean),
                                          "std": tuple(previous.std), "resize": previous.resize}
    seed = cfg.get("randomness", {}).get("seed")
    for step, evaluates in _frame_steps(cfg):
        for key, value in wanted.items():
            current = step.get(key)
            if key not in step or (key in before and _same(current, before[key])):
                step[key] = value
        if evaluates and step.get("seed") is None and seed is not None:
            step["seed"] = int(seed)
    return record


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _train_overrides(spec: Any, cfg: Config, train_name: str) -> dict[str, Any]:
    """``protocol.train_overrides[<model preset>][<training set>]``: config overrides for that set's runs."""
    preset = cfg.model.get("qclip", {}).get("preset", "paper")
    by_set = (spec.get("train_overrides") or {}).get(preset) or {}
    return dict(by_set.get(train_name) or {})


# --- datasets --------------------------------------------------------------------------------


def _fill_demo(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return re.sub(r"\{(demo\.[\w.]+)\}", lambda m: values.get(m.group(1), m.group(0)), node)
    if isinstance(node, dict):
        for key in list(node):
            node[key] = _fill_demo(node[key], values)
        return node
    if isinstance(node, list):
        return [_fill_demo(v, values) for v in node]
    return node


def _prepare_demo(cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    from qclip_plugin.data.synthetic import generate_demo_benchmark

    seed = int(cfg.protocol.get("demo_seed", 0))
    start = time.perf_counter()
    bench = generate_demo_benchmark(seed=seed)
    log(f"demo benchmark (seed {seed}) at {bench.root} ({time.perf_counter() - start:.1f} s)")
    values = {"demo.root": str(bench.root), "demo.metadata": str(bench.metadata),
              **{f"demo.labels.{k}": str(v) for k, v in bench.labels.items()}}
    _fill_demo(cfg.protocol._cfg_dict if hasattr(cfg.protocol, "_cfg_dict") else cfg.protocol, values)
    return {"demo_root": str(bench.root), "demo_seed": seed}


def _missing_data_message(name: str, dataset_cfg: Mapping[str, Any], error: Exception) -> str:
    from qclip_plugin.data.dataset_specs import find_spec

    spec = find_spec(str(dataset_cfg.get("type", "")))
    hint = (f"set {spec.root_hint()}" if spec is not None
            else "set the dataset's data_root and ann_file in the config")
    return f"dataset {name!r} cannot be loaded: {error}\n  -> {hint}"


def _build_dataset(name: str, dataset_cfg: Mapping[str, Any]):
    import qclip_plugin.data.datasets  # noqa: F401  (registers the datasets)
    from qclip_plugin.registry import DATASETS

    try:
        return DATASETS.build(dict(copy.deepcopy(dataset_cfg), pipeline=[]))
    except (FileNotFoundError, ValueError, OSError) as error:
        raise ProtocolError(_missing_data_message(name, dataset_cfg, error)) from error


def _preflight(datasets: Mapping[str, Any], deep: bool, log: Callable[[str], None]) -> None:
    from qclip_plugin.benchmark.prepare import default_bad_list
    from qclip_plugin.data.preflight import PreflightError, preflight_check

    for name, dataset in datasets.items():
        # videos `qclip-bench prepare` found unreadable are reported from its list, not decoded again
        key = getattr(dataset, "DATASET_KEY", None)
        bad_list = default_bad_list(key) if key else None
        try:
            report = preflight_check(
                dataset, deep=deep, strict=True, bad_list=bad_list if bad_list and bad_list.is_file() else None
            )
        except PreflightError as error:
            raise ProtocolError(f"pre-flight check of {name!r} failed:\n{error}") from error
        log(f"{name}: {report.summary()}")


def _split_groups(names: list[str], split: Mapping[str, Any]) -> list[str] | None:
    """The group of each video for ``split.group_by`` (a column of ``split.groups_file``, a CSV
    with a ``path`` column naming the videos as the label list does), or None."""
    column = split.get("group_by")
    if not column:
        return None
    table_path = split.get("groups_file")
    if not table_path:
        raise ProtocolError(f"split.group_by={column!r} needs split.groups_file (a CSV with 'path' and {column!r})")
    table = pd.read_csv(table_path, dtype=str)
    if "path" not in table or column not in table:
        raise ProtocolError(f"{table_path}: split.group_by needs the columns 'path' and {column!r}")
    group_of = dict(zip(table["path"], table[column], strict=True))
    missing = [n for n in names if n not in group_of]
    if missing:
        raise ProtocolError(f"{table_path}: no {column!r} for {len(missing)} video(s), e.g. {missing[:3]}")
    return [group_of[n] for n in names]


def _split_positions(n: int, split: Mapping[str, Any], seed: int,
                     groups: list[str] | None = None) -> dict[str, list[int]]:
    from qclip_plugin.data.splits import group_split_indices, split_indices

    ratio, val_ratio = split.get("ratio"), float(split.get("val_ratio", 0.0))
    style = str(split.get("style", "numpy"))
    if ratio is None:
        if groups is not None:
            raise ProtocolError("split.group_by needs split.ratio (the training share of the groups)")
        # every video trains; the validation carve is the "test" side of a (1 - val_ratio) split
        if val_ratio <= 0:
            return {"train": list(range(n)), "val": [], "test": []}
        return {
            "train": split_indices(n, ratio=1.0 - val_ratio, seed=seed, role="train", style=style),
            "val": split_indices(n, ratio=1.0 - val_ratio, seed=seed, role="test", style=style),
            "test": [],
        }
    if groups is not None:  # whole groups (e.g. all versions of a source video) per part
        return {role: group_split_indices(groups, ratio=float(ratio), seed=seed, role=role, val_ratio=val_ratio,
                                          style=style)
                for role in ("train", "val", "test")}
    return {role: split_indices(n, ratio=float(ratio), seed=seed, role=role, val_ratio=val_ratio, style=style)
            for role in ("train", "val", "test")}


def _with(dataset_cfg: Mapping[str, Any], pipeline: Any, subset: list[int] | None, test_mode: bool) -> dict:
    out = copy.deepcopy(dict(dataset_cfg))
    out["pipeline"] = copy.deepcopy(list(pipeline))
    out["test_mode"] = test_mode
    if subset is not None:
        out["subset"] = subset
    return out


# --- metadata --------------------------------------------------------------------------------


def _samplers(cfg: Config) -> str:
    def names(pipeline: Any) -> set[str]:
        return {str(step.get("sampler")) for step in pipeline if step.get("type") == "LoadVideoFrames"}

    train, test = names(cfg.get("train_pipeline", [])), names(cfg.get("test_pipeline", []))
    if train == test:
        return ", ".join(sorted(train))
    return f"train {', '.join(sorted(train))}; test {', '.join(sorted(test))}"


def _backbone(cfg: Config) -> str:
    qclip = cfg.model.get("qclip", {})
    if "backbone" in qclip:
        return str(qclip["backbone"])
    try:
        from qclip_plugin.models import get_preset

        preset = get_preset(qclip.get("preset", "paper"))
        pretrained = qclip.get("pretrained", preset.get("pretrained"))
        return f"{preset['backbone']} ({'no pretrained weights' if pretrained is None else pretrained})"
    except (ImportError, ValueError):
        return "unknown"


def _preprocessing_note(cfg: Config) -> str:
    steps = {(tuple(s.get("size") or ()), s.get("resize", "decoder"), tuple(s.get("mean") or ()), tuple(s.get("std") or ()))
             for s, _ in _frame_steps(cfg)}
    return "; ".join(
        f"{'x'.join(map(str, size))} px, resize={resize}, mean {'/'.join(f'{v:g}' for v in mean)}, "
        f"std {'/'.join(f'{v:g}' for v in std)}"
        for size, resize, mean, std in sorted(steps, key=str)
    )


def _shown_path(path: Path) -> str:
    """A config path relative to the package's configs (``benchmark_configs/...``) when it is one of them."""
    try:
        return str(path.resolve().relative_to(CONFIG_ROOT.parent))
    except ValueError:
        return str(path)


def _experiment_name(name: str, preset: str | None) -> str:
    stem = Path(name).with_suffix("").as_posix().replace("/", "_") if name.endswith(".py") or "/" in name else name
    return f"{stem}-{preset}" if preset else stem


def _rows(run: SplitRun, method: str, multi_split: bool) -> list[dict]:
    rows = []
    common = {
        "train_set": run.train_set,
        "split": str(run.split_index) if multi_split else "",
        "seed": run.seed,
    }
    for label, results, epoch in (
        (method, run.result.trained, run.result.selected_epoch),
        (f"{method}, untrained", run.result.untrained, ""),
    ):
        for test_set, res in results.items():
            note = f"selected epoch {epoch} of {run.result.max_epochs} on validation" if epoch != "" else "as built"
            rows.append({"method": label, "test_set": test_set, "n_videos": res.n_videos, **res.metrics,
                         "mapping": res.mapping, "selected_epoch": epoch, "note": note, **common})
    return rows


# --- the protocol ----------------------------------------------------------------------------


def _published_query(spec: Any) -> tuple[Any, Path | None, list[str] | None] | None:
    """``(protocol, folder, methods)`` for :func:`load_published` from a protocol's ``published_dir``,
    ``published_protocol`` and ``published_methods`` (module docstring), or None: no published rows.
    An unset ``published_dir`` reads ``leaderboard/published``; only the string ``'none'`` turns them off."""
    folder = spec.get("published_dir")
    if isinstance(folder, str) and folder.lower() == "none":
        return None
    directory = None if folder is None else (Path(folder) if Path(folder).is_absolute() else PUBLISHED_DIR / folder)
    # the package ships PUBLISHED_DIR (a wheel too): a missing folder is a misspelt setting or a broken install
    if directory is not None and not directory.is_dir():
        raise ProtocolError(f"protocol.published_dir={folder!r}: no folder {directory}")
    if directory is None and not PUBLISHED_DIR.is_dir():
        raise ProtocolError(f"no published rows: {PUBLISHED_DIR} does not exist; reinstall qclip-plugin")
    protocol = spec["published_protocol"] if "published_protocol" in spec else spec.name  # None: any
    methods = spec.get("published_methods")
    if methods == "own":
        methods = [spec.get("method", "Q-CLIP")]
    elif isinstance(methods, str):
        raise ProtocolError(f"protocol.published_methods={methods!r}: give a list of method names, 'own' or None")
    return protocol, directory, None if methods is None else list(methods)


def _published(spec: Any, test_sets: list[str]) -> pd.DataFrame:
    """The published rows shown beside a run's test sets (:func:`_published_query`)."""
    query = _published_query(spec)
    if query is None:
        return pd.DataFrame(columns=list(COLUMNS))
    protocol, directory, methods = query
    return load_published(protocol, test_sets, directory, methods)


def _resolve_init(
    cfg: Config, preset: str | None, work_dir: Path, leaderboard_dir: Path, log: Callable[[str], None],
    preflight: bool | str,
) -> Path | None:
    init = cfg.protocol.get("init_checkpoint")
    if init:
        path = Path(str(init)).expanduser()
        if not path.is_file():
            raise ProtocolError(f"init_checkpoint {path} does not exist; pass the adapters to start from "
                                "(selected.safetensors of a pre-training run, or a converted official checkpoint)")
        return path
    dependency = cfg.protocol.get("init_from_protocol")
    if not dependency:
        if cfg.protocol.name == "finetune":
            raise ProtocolError(
                "the fine-tune protocol starts from the LSVQ-trained model: pass init_checkpoint=PATH "
                "(selected.safetensors of `qclip-bench run protocol=cross-dataset`, or a checkpoint converted "
                "with `qclip-bench convert-official`)"
            )
        return None
    dep_name = _experiment_name(dependency, preset)
    dep_work = work_dir.parent / dep_name
    record = dep_work / "result.json"
    if record.is_file():
        exported = json.loads(record.read_text()).get("exported", [])
        if exported and Path(exported[0]).is_file():
            log(f"starting from {exported[0]} ({dependency} run found in {dep_work})")
            return Path(exported[0])
    log(f"no {dependency} run in {dep_work}: running it first to get the pre-trained adapters")
    result = run_protocol(dependency, preset=preset, work_dir=dep_work, leaderboard_dir=leaderboard_dir.parent / dep_name,
                          preflight=preflight, log=log)
    exported = [r.result.exported for r in result.runs if r.result.exported]
    if not exported:
        raise ProtocolError(f"the {dependency} run in {dep_work} exported no adapters to start from")
    return Path(exported[0])


def run_protocol(
    name: str,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    *,
    preset: str | None = None,
    work_dir: str | os.PathLike | None = None,
    leaderboard_dir: str | os.PathLike | None = None,
    preflight: bool | str = True,
    resume: bool = False,
    trust_pickle: bool = False,
    log: Callable[[str], None] = print,
) -> ProtocolResult:
    """Run a benchmark protocol end to end and write its leaderboard.

    Args:
        name: ``intra-dataset``, ``cross-dataset``, ``finetune``, or a config path (e.g.
            ``paper/table1_sampling/segmsemean``).
        overrides: ``key=value`` strings or a mapping (:mod:`qclip_plugin.benchmark.overrides`), e.g.
            ``["model.preset=release", "data_root.KoNViD=/data/konvid", "train.max_epochs=1"]``.
            The run options ``protocol``, ``preset``, ``work_dir``, ``leaderboard_dir``, ``resume``,
            ``preflight`` (``true``/``false``/``deep``), ``datasets`` (a comma list of training
            sets to keep) and ``init_checkpoint`` may be given there too.
        preset: ``demo`` for the synthetic demo variant (``tiny`` model, generated data).
        work_dir: checkpoints and logs (default ``work_dirs/<protocol>[-<preset>]``).
        leaderboard_dir: the leaderboard folder (default ``leaderboard/<protocol>[-<preset>]``,
            both relative to the current directory).
        preflight: check every dataset's videos before training (``"deep"``: also decode).
        resume: continue interrupted runs from their last epoch checkpoint; the untrained
            baseline's scores recorded by the interrupted run are reused (the leaderboard is the
            uninterrupted run's).
        trust_pickle: unpickle mmengine checkpoints (``init_checkpoint``, resumed ones) in full,
            not only the types they normally hold; only for files from a source you trust.
        log: where progress lines go (mmengine logs training itself, with its ETA).

    Returns:
        A :class:`ProtocolResult` (measured rows, the leaderboard files, each run's result).

    Interrupted (Ctrl-C), it raises ``KeyboardInterrupt`` saying where the checkpoints are and how
    to resume.
    """
    from qclip_plugin.engine.safe_loading import trusting_pickles

    options = parse_overrides(overrides)
    with trusting_pickles(bool(options.get("trust_pickle", trust_pickle))):
        return _run_protocol(name, options, preset, work_dir, leaderboard_dir, preflight, resume, log)


def _run_protocol(name: str, options: dict[str, Any], preset: str | None, work_dir, leaderboard_dir,
                  preflight: bool | str, resume: bool, log: Callable[[str], None]) -> ProtocolResult:
    """:func:`run_protocol` once its options are parsed. Long: it reads top to bottom as the protocol runs."""
    start = time.perf_counter()
    name = str(options.get("protocol", name))
    preset = options.get("preset", preset)
    cfg = load_protocol_config(name, preset, options)
    main_rank = _apply_scale_options(cfg, options)
    spec = cfg.protocol
    experiment = _experiment_name(name, preset)
    work_root = Path(options.get("work_dir") or work_dir or Path("work_dirs") / experiment)
    board = Path(options.get("leaderboard_dir") or leaderboard_dir or Path("leaderboard") / experiment)
    resume = bool(options.get("resume", resume))
    preflight = options.get("preflight", preflight)
    if "init_checkpoint" in options:
        spec.init_checkpoint = options["init_checkpoint"]
    metadata: dict[str, Any] = {}
    if preset == "demo" or spec.get("preset") == "demo":
        # rank 0 generates the demo data; the others wait and then find it in the cache
        if main_rank:
            metadata.update(_prepare_demo(cfg, log))
        _barrier()
        if not main_rank:
            metadata.update(_prepare_demo(cfg, log))

    train_sets = dict(spec.train_sets)
    if "datasets" in options:
        wanted = [d.strip() for d in str(options["datasets"]).split(",") if d.strip()]
        unknown = [d for d in wanted if d not in train_sets]
        if unknown:
            raise ProtocolError(f"datasets={','.join(unknown)}: not in this protocol; choose from {', '.join(train_sets)}")
        train_sets = {k: v for k, v in train_sets.items() if k in wanted}
    test_sets = dict(spec.get("test_sets") or {})
    _published_query(spec)  # a wrong published_* setting fails here, not after training
    built = {n: _build_dataset(n, c) for n, c in {**train_sets, **test_sets}.items()}
    if preflight:
        _preflight(built, deep=preflight == "deep", log=log)

    init = _resolve_init(cfg, preset, work_root, board, log, preflight)
    if init is not None and init.suffix == ".safetensors":
        before = model_preprocessing(cfg)
        cfg.model.qclip.checkpoint = str(init)
        apply_model_preprocessing(cfg, previous=before)  # the checkpoint may fix another backbone
        load_from = None
    else:
        load_from = init

    split = spec.get("split", {}) or {}
    seeds = [int(s) for s in split.get("seeds", [0])]
    multi = len(seeds) > 1
    method = f"{spec.get('method', 'Q-CLIP')} ({cfg.model.qclip.get('preset', 'paper')})"
    runs: list[SplitRun] = []
    recorded: dict[str, Any] = {}
    own_settings: dict[str, dict[str, Any]] = {}
    user_options = {k: v for k, v in options.items() if k not in RUN_OPTIONS}
    for train_name, train_cfg in train_sets.items():
        run_cfg, settings = _run_config(cfg, spec, train_name, user_options, log)
        n = len(built[train_name])
        groups = _split_groups([built[train_name].get_data_info(i)["name"] for i in range(n)], split)
        for index, seed in enumerate(seeds):
            parts = _split_positions(n, split, seed, groups)
            recorded.setdefault(train_name, []).append({"seed": seed, "ratio": split.get("ratio"),
                                                        "val_ratio": split.get("val_ratio", 0.0),
                                                        "style": split.get("style", "numpy"),
                                                        "group_by": split.get("group_by"), **parts})
            tests = {t: _with(c, run_cfg.test_pipeline, None, True) for t, c in test_sets.items()}
            if spec.get("heldout_test"):
                if not parts["test"]:
                    raise ProtocolError(f"{train_name}: heldout_test needs split.ratio < 1")
                label = train_name if not test_sets else f"{train_name} (held-out)"
                tests = {label: _with(train_cfg, run_cfg.test_pipeline, parts["test"], True), **tests}
            val = _with(train_cfg, run_cfg.test_pipeline, parts["val"], True) if parts["val"] else None
            run_dir = work_root / train_name / f"seed{seed}"
            log(f"[{experiment}] {train_name}, split seed {seed} ({index + 1}/{len(seeds)}): "
                f"{len(parts['train'])} train / {len(parts['val'])} val / {len(parts['test'])} held-out videos")
            try:
                result = train_and_test(
                    run_cfg, run_dir, _with(train_cfg, run_cfg.train_pipeline, parts["train"], False), val, tests,
                    evaluate_untrained=bool(spec.get("evaluate_untrained", False)), resume=resume,
                    load_from=load_from, name=f"{experiment}_{train_name}_seed{seed}",
                    export_metadata={"protocol": experiment, "train_set": train_name, "split_seed": seed},
                )
            except KeyboardInterrupt:
                raise KeyboardInterrupt(
                    f"interrupted: {run_dir} keeps the checkpoints of the finished epochs (and the runs before it "
                    f"under {work_root}); run the same command with resume=true to continue from them"
                ) from None
            sizes = {role: len(v) for role, v in parts.items()}
            runs.append(SplitRun(train_name, seed, index if multi else None, sizes, result))
        if settings:
            own_settings[train_name] = settings

    if not main_rank:  # the leaderboard and the run records are rank 0's to write
        _barrier()
        return ProtocolResult(experiment, preset, cfg, work_root, pd.DataFrame(), runs, None, metadata,
                              time.perf_counter() - start)
    rows = pd.DataFrame([row for run in runs for row in _rows(run, method, multi)])
    epochs = sorted({r.result.selected_epoch for r in runs if r.result.selected_epoch is not None})
    metadata = {
        "protocol": spec.name,
        "config": _shown_path(protocol_config_path(name, preset)),
        "model": describe_qclip(**cfg.model.qclip),
        "backbone": _backbone(cfg),
        "preset": cfg.model.qclip.get("preset", "paper"),
        "protocol preset": preset or "",
        "sampler": _samplers(cfg),
        "frames": ", ".join(sorted({str(s.get("num_frames")) for s in cfg.train_pipeline if "num_frames" in s})),
        "frame preprocessing": _preprocessing_note(cfg),
        "epochs": cfg.train_cfg.get("max_epochs"),
        "batch size": cfg.train_dataloader.get("batch_size"),
        "lr": cfg.optim_wrapper.optimizer.get("lr"),
        "selected epoch": ", ".join(str(e) for e in epochs) + " (best validation SROCC; validation carved from training)",
        "split seeds": ", ".join(str(s) for s in seeds),
        "split style": split.get("style", "numpy"),
        "training seed": cfg.get("randomness", {}).get("seed"),
        "init": str(init) if init else "",
        "per-dataset settings": "; ".join(
            f"{name}: " + ", ".join(f"{k}={v}" for k, v in s.items()) for name, s in own_settings.items()
        ),
        "train_set": ", ".join(train_sets),
        "commit": git_commit(),
        "date": utc_now(),
        **metadata,
    }
    predictions = protocol_predictions(runs, method)
    published = _published(spec, list(dict.fromkeys(rows["test_set"])))
    title = f"Leaderboard: {experiment}"
    files = write_leaderboard(board, spec.name, rows, metadata, predictions,
                              mapping=str(rows["mapping"].iloc[0]), published=published, title=title)
    wall = time.perf_counter() - start
    work_root.mkdir(parents=True, exist_ok=True)
    (work_root / "splits.json").write_text(json.dumps(recorded, indent=1))
    (work_root / "result.json").write_text(json.dumps({
        "exported": [str(r.result.exported) for r in runs if r.result.exported],
        "leaderboard": str(files.markdown),
        "wall_seconds": wall,
    }, indent=1))
    measured = pd.read_csv(files.csv, dtype={"split": str, "seed": str})
    measured = measured[measured["kind"] == "measured"].fillna({"split": ""}).reset_index(drop=True)
    result = ProtocolResult(experiment, preset, cfg, work_root, measured, runs, files, metadata, wall)
    log(result.summary())
    _barrier()
    return result


def _run_config(
    cfg: Config, spec: Any, train_name: str, user_options: Mapping[str, Any], log: Callable[[str], None]
) -> tuple[Config, dict[str, Any]]:
    """The config of one training set's runs: ``cfg`` with the protocol's ``train_overrides`` for the
    model's preset and that set, then the command line's overrides again (they win)."""
    settings = _train_overrides(spec, cfg, train_name)
    if not settings:
        return cfg, {}
    run_cfg = copy.deepcopy(cfg)
    apply_overrides(run_cfg, settings)
    apply_overrides(run_cfg, user_options)
    log(f"{train_name}: the {cfg.model.qclip.get('preset')} preset's own settings for it: "
        + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return run_cfg, settings


def _apply_scale_options(cfg: Config, options: Mapping[str, Any]) -> bool:
    """``launcher=pytorch`` (torchrun), ``amp=bf16|fp16``, ``frozen_dtype=bf16|fp16``, ``workers=N``,
    ``prefetch=N`` (see :mod:`qclip_plugin.engine.distributed`, ``precision``, ``loader_options``);
    return whether this process is rank 0."""
    import torch.distributed as dist

    from qclip_plugin.engine.distributed import configure_launcher, dist_info
    from qclip_plugin.engine.loader_options import set_loader_workers
    from qclip_plugin.engine.precision import apply_amp

    # a protocol started inside a distributed run (fine-tune's dependency) stays distributed
    default = "pytorch" if dist.is_available() and dist.is_initialized() else cfg.get("launcher", "none")
    configure_launcher(cfg, str(options.get("launcher", default)))
    if options.get("amp") or options.get("frozen_dtype"):
        apply_amp(cfg, options.get("amp"), options.get("frozen_dtype"))
    if "workers" in options:
        set_loader_workers(cfg, int(options["workers"]), prefetch_factor=options.get("prefetch"))
    elif "prefetch" in options:
        raise ProtocolError("prefetch=N needs workers=N (only worker processes prefetch)")
    return dist_info().is_main


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()

