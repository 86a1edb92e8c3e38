"""The benchmark protocols of the paper on mmengine: intra-dataset, cross-dataset, fine-tune.

A protocol is an mmengine config under ``benchmark_configs/protocols/`` (``preset='demo'``:
``protocols/demo/``; any other config path works too, e.g. the paper experiments under
``benchmark_configs/paper/``). Besides the usual mmengine keys (model, optimizer, schedule,
dataloaders, evaluator, hooks) it has a ``protocol`` dict, read into a :class:`ProtocolSpec`::

    protocol = dict(
        name='cross-dataset',            # selects the published rows shown beside the results
        method='Q-CLIP',                 # row label
        train_sets=[dict(type='LSVQDataset', split='train', data_root=None)],   # named LSVQ_train
        split=dict(ratio=None, val_ratio=0.05, seeds=[42]),   # style='release': the release's split
        heldout_test=False,              # True: the (1 - ratio) part is a test set (fine-tune)
        test_sets=[dict(type='KoNViDDataset', data_root=None), ...],           # named KoNViD-1k
        evaluate_untrained=True,         # score the model as built too
        init_checkpoint=None,            # adapters to start from (.safetensors) or an mmengine .pth
        init_from_protocol=None,         # demo fine-tune: the selected adapters of that protocol's run
        published_dir=...,               # published rows shown beside the results, see below
    )

``train_sets`` and ``test_sets`` are lists of dataset configs, each named by its dataset spec
(:meth:`qclip_plugin.data.dataset_specs.DatasetSpec.set_name`: ``KoNViD-1k``, ``LSVQ_test``), the
names the published rows use; a dict ``{name: config}`` names them itself (the demo's sets, which
are ``DemoDataset`` parts: the dataset finds, or generates, its own files).

Published rows (:func:`qclip_plugin.benchmark.leaderboard.load_published`) of the run's test sets are
written beside the measured ones: ``published_dir`` (unset: ``leaderboard/published``; a folder,
relative to it or absolute; ``'none'``: no published rows), ``published_protocol`` (unset: the
protocol's ``name``; a name or a list; ``None``: any) and ``published_methods`` (unset or
``None``: every method; a list of method names; ``'own'``: the rows of this run's ``method``,
how each paper experiment shows the paper's row of the variant it runs).

Each training set is trained on once per split seed. The split rule
(:class:`qclip_plugin.data.splits.SplitRule`) takes ``ratio`` of the videos for training (``None``:
all of them) and carves ``val_ratio`` of those out for validation; the validation part alone
selects the epoch, the test sets score the selected checkpoint only. ``style='release'`` draws the
split as the official release does (``random.Random(seed).shuffle``, then cut): with ``ratio=0.8,
seeds=[42]`` the held-out part is the release's own test split. With ``group_by='source'`` whole
groups are split instead of videos (a column of ``groups_file``, a CSV with ``path`` and that
column; unset: the dataset's own file, as the demo has), so no source video is in two parts.
Splits are recorded in ``<work_dir>/splits.json``.

A protocol never runs another one: ``init_from_protocol='cross-dataset'`` (the demo fine-tune)
starts from the adapters that protocol's run exported into the sibling work folder
(``work_dirs/cross-dataset-demo``); without that run it stops and says to run it first, or to
pass ``init_checkpoint``.

The frames follow the model: every ``LoadVideoFrames`` step gets its ``size``, ``mean``, ``std``
and ``resize`` from the model's preprocessing record (:func:`apply_model_preprocessing`), so
``model.preset=tiny`` (112 px), ``model.backbone=ViT-B-32`` (224 px, OpenAI mean/std) or
``resize=pil`` need no pipeline override; evaluation steps draw random strategies from per-video
seeds derived from the run's ``randomness.seed``. ``train_overrides`` holds per-preset, per-training-set
settings (the release fine-tunes some datasets with its own, see ``protocols/finetune.py``), applied
to that training set's runs before the command line's own overrides.

Config overrides (``key=value``, :mod:`qclip_plugin.benchmark.overrides`) are checked against the
config before anything runs. How a run goes (where it writes, resume, pre-flight, launcher, scale)
is not config: those are :func:`run_protocol`'s keyword arguments (:class:`RunOptions`), the flags
of ``qclip-bench run``.

Before any training every dataset is pre-flight checked (:func:`qclip_plugin.data.preflight`
``.preflight_check``): missing data roots or videos stop the run with the override or
environment variable to set.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from mmengine.config import Config

from qclip_plugin.benchmark.leaderboard import (
    COLUMNS,
    PUBLISHED_DIR,
    UNTRAINED_SUFFIX,
    LeaderboardFiles,
    git_commit,
    load_published,
    protocol_predictions,
    utc_now,
    write_leaderboard,
)
from qclip_plugin.benchmark.overrides import apply_overrides, check_overrides, parse_overrides
from qclip_plugin.errors import UserError, closest
from qclip_plugin.resources import resource_dir

if TYPE_CHECKING:  # imported where used: torch and mmengine's Runner take seconds, a typo should not wait
    from qclip_plugin.data.splits import SplitRule
    from qclip_plugin.engine.runner import TrainResult

__all__ = [
    "CONFIG_ROOT",
    "PROTOCOLS",
    "PROTOCOL_PRESETS",
    "ProtocolError",
    "ProtocolResult",
    "ProtocolSpec",
    "RunOptions",
    "SplitRun",
    "apply_model_preprocessing",
    "build_metadata",
    "dataset_set_name",
    "load_protocol_config",
    "name_dataset_sets",
    "protocol_config_path",
    "run_protocol",
]

#: The benchmark configs: the checkout's ``benchmark_configs/``, or an installed package's copy.
CONFIG_ROOT = resource_dir("benchmark_configs")
PROTOCOLS: tuple[str, ...] = ("intra-dataset", "cross-dataset", "finetune")
#: Variants of the protocols (``protocols/<preset>/``); not the model presets of ``models/presets.py``.
PROTOCOL_PRESETS: tuple[str, ...] = ("demo",)


class ProtocolError(UserError, RuntimeError):
    """A protocol cannot run as configured; the message says what to set or do."""


def train_and_test(*args: Any, **kwargs: Any) -> TrainResult:
    """:func:`qclip_plugin.engine.runner.train_and_test`, imported when a run starts: mmengine's Runner
    takes ~7 s to import (~25 s on a loaded machine), which a mistyped option should not wait for."""
    from qclip_plugin.engine.runner import train_and_test as run

    return run(*args, **kwargs)


@dataclass(frozen=True)
class RunOptions:
    """How one protocol run goes, apart from its config: :func:`run_protocol`'s keyword arguments."""

    preset: str | None = None
    work_dir: str | os.PathLike | None = None
    leaderboard_dir: str | os.PathLike | None = None
    preflight: bool | str = True
    resume: bool = False
    datasets: str | Iterable[str] | None = None
    init_checkpoint: str | os.PathLike | None = None
    launcher: str | None = None
    amp: str | None = None
    frozen_dtype: str | None = None
    workers: int | None = None
    prefetch: int | None = None
    trust_pickle: bool = False


#: Run options once accepted among the ``key=value`` overrides; still read there, with a note.
RUN_OPTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunOptions))


@dataclass(frozen=True)
class ProtocolSpec:
    """One protocol run as data: its config file and what it trains, tests and shows (the config's
    ``protocol`` dict, with the run's options applied)."""

    name: str  # protocol.name: cross-dataset, ... (selects the published rows)
    experiment: str  # cross-dataset-demo, paper_table1_sampling_mixed: names the folders
    config: Path
    preset: str | None  # the protocol preset (demo), not the model's
    method: str  # the measured rows' label, with the model preset: "Q-CLIP (tiny)"
    train_sets: dict[str, Any]
    test_sets: dict[str, Any]
    split: SplitRule
    heldout_test: bool
    evaluate_untrained: bool
    init_checkpoint: str | None
    init_from_protocol: str | None

    @classmethod
    def from_config(cls, cfg: Config, path: Path, name: str, options: RunOptions) -> ProtocolSpec:
        from qclip_plugin.data.splits import SplitRule

        protocol = cfg.protocol
        init = options.init_checkpoint or protocol.get("init_checkpoint")
        return cls(
            name=str(protocol.name),
            experiment=_experiment_name(name, options.preset),
            config=path,
            preset=options.preset,
            method=f"{protocol.get('method', 'Q-CLIP')} ({cfg.model.qclip.get('preset', 'paper')})",
            train_sets=_selected(dict(protocol.train_sets), options.datasets),
            test_sets=dict(protocol.get("test_sets") or {}),
            split=SplitRule.from_config(protocol.get("split")),
            heldout_test=bool(protocol.get("heldout_test")),
            evaluate_untrained=bool(protocol.get("evaluate_untrained", False)),
            init_checkpoint=None if not init else str(init),
            init_from_protocol=protocol.get("init_from_protocol"),
        )


def _selected(train_sets: dict[str, Any], datasets: str | Iterable[str] | None) -> dict[str, Any]:
    """The training sets ``datasets`` keeps (a comma list or names; None: all)."""
    if datasets is None:
        return train_sets
    items = datasets.split(",") if isinstance(datasets, str) else list(datasets)
    wanted = [d.strip() for d in items if d.strip()]
    unknown = [d for d in wanted if d not in train_sets]
    if unknown:
        raise ProtocolError(f"datasets={','.join(unknown)}: not in this protocol; choose from {', '.join(train_sets)}")
    return {k: v for k, v in train_sets.items() if k in wanted}


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


# --- finding and loading the config ------------------------------------------------------------


def known_configs(root: Path | None = None) -> list[str]:
    """Every config name ``protocol=`` takes: the protocols and the paper experiments' paths."""
    base = Path(root) if root else CONFIG_ROOT
    paper = sorted(p.relative_to(base).with_suffix("").as_posix() for p in (base / "paper").rglob("*.py"))
    return [*PROTOCOLS, *paper]


def protocol_config_path(name: str, preset: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """The config file of a protocol: ``protocols/<name>.py``, ``protocols/<preset>/<name>.py``, or
    any config given by path (absolute, or relative to ``benchmark_configs/``, ``.py`` optional)."""
    base = Path(root) if root else CONFIG_ROOT
    candidates = []
    if preset:
        if preset not in PROTOCOL_PRESETS:
            suggestion = closest(preset, PROTOCOL_PRESETS)
            hint = f"did you mean {suggestion[0]!r}? " if suggestion else ""
            raise ProtocolError(f"unknown preset {preset!r}; {hint}choose one of {', '.join(PROTOCOL_PRESETS)} "
                                "(or leave it out; the model's preset is model.preset=)")
        candidates.append(base / "protocols" / preset / f"{name}.py")
    else:
        candidates.append(base / "protocols" / f"{name}.py")
    stem = name if name.endswith(".py") else f"{name}.py"
    candidates += [Path(stem), base / stem]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    suggestion = closest(name.removesuffix(".py"), known_configs(base))
    hint = f"did you mean {suggestion[0]!r}? " if suggestion else ""
    raise ProtocolError(
        f"no config for protocol {name!r}{f' with preset {preset!r}' if preset else ''} (looked for "
        f"{', '.join(str(c) for c in candidates[:2])}); {hint}protocols: {', '.join(PROTOCOLS)}, or a config path "
        "such as paper/table1_sampling/segmsemean"
    )


def load_protocol_config(
    name: str,
    preset: str | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
) -> Config:
    """Load a protocol's config and apply ``key=value`` overrides (:mod:`qclip_plugin.benchmark.overrides`),
    each checked against the config first; run options among them are left to :func:`run_protocol`."""
    from mmengine.utils import import_modules_from_strings

    path = protocol_config_path(name, preset)
    # the config's custom_imports (the model, datasets, hooks: seconds of mmengine and torch) come
    # after the overrides are checked, so that a typo stops the run at once
    cfg = Config.fromfile(str(path), import_custom_modules=False)
    if "protocol" not in cfg:
        raise ProtocolError(f"{path} has no `protocol` dict; it is not a benchmark protocol config")
    name_dataset_sets(cfg.protocol, path)
    options = {k: v for k, v in parse_overrides(overrides).items() if k not in RUN_OPTIONS}
    check_overrides(cfg, options)
    if cfg.get("custom_imports"):
        import_modules_from_strings(**cfg.custom_imports)
    apply_overrides(cfg, options)
    apply_model_preprocessing(cfg)
    _check_model(cfg)
    return cfg


def _check_model(cfg: Config) -> None:
    """The Q-CLIP model the config builds can be built: ``model.layers`` within the backbone's depth."""
    from qclip_plugin.models import backbone_depth, resolve_config

    qclip = cfg.get("model", {}).get("qclip")
    if not isinstance(qclip, Mapping) or "checkpoint" in qclip:
        return
    config = resolve_config(**dict(qclip))
    depth, layers = backbone_depth(config.backbone), config.layers
    if depth is None:
        return
    if layers > depth if isinstance(layers, int) else any(not -depth <= i < depth for i in layers):
        raise ProtocolError(f"model.layers={layers!r}: the {config.backbone} backbone has {depth} blocks; "
                            f"give at most {depth} (or block indices below {depth})")


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


# --- the protocol ----------------------------------------------------------------------------


def run_protocol(
    name: str,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    *,
    preset: str | None = None,
    work_dir: str | os.PathLike | None = None,
    leaderboard_dir: str | os.PathLike | None = None,
    preflight: bool | str = True,
    resume: bool = False,
    datasets: str | Iterable[str] | None = None,
    init_checkpoint: str | os.PathLike | None = None,
    launcher: str | None = None,
    amp: str | None = None,
    frozen_dtype: str | None = None,
    workers: int | None = None,
    prefetch: int | None = None,
    trust_pickle: bool = False,
    log: Callable[[str], None] = print,
) -> ProtocolResult:
    """Run a benchmark protocol end to end and write its leaderboard.

    Args:
        name: ``intra-dataset``, ``cross-dataset``, ``finetune``, or a config path (e.g.
            ``paper/table1_sampling/segmsemean``).
        overrides: config overrides, ``key=value`` strings or a mapping
            (:mod:`qclip_plugin.benchmark.overrides`), e.g. ``["model.preset=release",
            "data_root.KoNViD=/data/konvid", "train.max_epochs=1"]``; every key is checked against
            the config before anything runs.
        preset: the protocol preset: ``demo`` for the synthetic demo variant (``tiny`` model,
            generated data). Not the model's preset (``model.preset=`` among the overrides).
        work_dir: checkpoints and logs (default ``work_dirs/<protocol>[-<preset>]``).
        leaderboard_dir: the leaderboard folder, where the results go (default
            ``leaderboard/<protocol>[-<preset>]``, both relative to the current directory).
        preflight: check every dataset's videos before training (``"deep"``: also decode).
        resume: continue interrupted runs from their last epoch checkpoint; the untrained
            baseline's scores recorded by the interrupted run are reused (the leaderboard is the
            uninterrupted run's).
        datasets: the training sets to keep (names or a comma list; default all).
        init_checkpoint: adapters to start from (``.safetensors``) or an mmengine ``.pth``.
        launcher: ``none``, ``pytorch`` (torchrun), ``slurm`` or ``mpi``
            (:func:`qclip_plugin.engine.distributed.configure_launcher`).
        amp, frozen_dtype: ``bf16`` or ``fp16`` (:mod:`qclip_plugin.engine.precision`).
        workers, prefetch: data loader processes and batches each prefetches.
        trust_pickle: unpickle mmengine checkpoints (``init_checkpoint``, resumed ones) in full,
            not only the types they normally hold; only for files from a source you trust.
        log: where progress lines go (mmengine logs training itself, with its ETA).

    The run options were once accepted among the overrides (``resume=true``); they still are,
    with a note, and win over the keyword arguments.

    Returns:
        A :class:`ProtocolResult` (measured rows, the leaderboard files, each run's result).

    Interrupted (Ctrl-C), it raises ``KeyboardInterrupt`` saying where the checkpoints are and how
    to resume.
    """
    options = RunOptions(preset, work_dir, leaderboard_dir, preflight, resume, datasets, init_checkpoint, launcher,
                         amp, frozen_dtype, workers, prefetch, trust_pickle)
    name, config_overrides, options = _take_run_options(name, parse_overrides(overrides), options, log)
    if not options.trust_pickle:  # the default: nothing to widen (and torch is not imported before the checks)
        return _run(name, config_overrides, options, log)
    from qclip_plugin.engine.safe_loading import trusting_pickles

    with trusting_pickles(True):
        return _run(name, config_overrides, options, log)


def _take_run_options(
    name: str, overrides: dict[str, Any], options: RunOptions, log: Callable[[str], None]
) -> tuple[str, dict[str, Any], RunOptions]:
    """Split the selectors (``protocol=``, ``preset=``) and the run options given the old way,
    as ``key=value``, from the config overrides."""
    name = str(overrides.pop("protocol", name))
    given = {key: overrides.pop(key) for key in RUN_OPTIONS if key in overrides}
    old_style = sorted(set(given) - {"preset"})
    if old_style:
        log(f"note: run options given as key=value ({', '.join(f'{k}=' for k in old_style)}): pass them as "
            "run_protocol's keyword arguments (qclip-bench run: as flags, see --help)")
    return name, overrides, dataclasses.replace(options, **given)


def _run(name: str, overrides: dict[str, Any], options: RunOptions, log: Callable[[str], None]) -> ProtocolResult:
    """:func:`run_protocol` once the options are sorted: config, data, pre-flight, runs, leaderboard."""
    start = time.perf_counter()
    cfg = load_protocol_config(name, options.preset, overrides)
    main_rank = _apply_scale_options(cfg, options)
    spec = ProtocolSpec.from_config(cfg, protocol_config_path(name, options.preset), name, options)
    _published_query(cfg.protocol)  # a wrong published_* setting fails here, not after training
    work_root = Path(options.work_dir or Path("work_dirs") / spec.experiment)
    board = Path(options.leaderboard_dir or Path("leaderboard") / spec.experiment)
    init = _apply_init(cfg, spec, work_root, log)  # a missing start fails here, before any data is read
    built = _build_datasets({**spec.train_sets, **spec.test_sets}, main_rank, log)
    if options.preflight:
        _preflight(built, deep=options.preflight == "deep", log=log)
    runs, recorded, own_settings = _train_all(cfg, spec, built, overrides, options, init, work_root, log)
    if not main_rank:  # the leaderboard and the run records are rank 0's to write
        _barrier()
        return ProtocolResult(spec.experiment, spec.preset, cfg, work_root, pd.DataFrame(), runs, None,
                              _demo_metadata(built), time.perf_counter() - start)
    metadata = build_metadata(cfg, spec, runs, own_settings, init, extra=_demo_metadata(built))
    result = _write_results(cfg, spec, runs, recorded, metadata, work_root, board, start)
    log(result.summary())
    _barrier()
    return result


# --- datasets --------------------------------------------------------------------------------


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


def _build_datasets(configs: Mapping[str, Any], main_rank: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Every dataset of the run, without pipeline (for the pre-flight and the splits). Rank 0 builds
    them first: a dataset that makes its files (the demo) makes them once; the others wait."""
    if not main_rank:
        _barrier()
    built = {}
    for name, dataset_cfg in configs.items():
        start = time.perf_counter()
        built[name] = _build_dataset(name, dataset_cfg)
        if hasattr(built[name], "demo_root"):
            log(f"{name}: demo benchmark (seed {built[name].demo_seed}) at {built[name].demo_root} "
                f"({time.perf_counter() - start:.1f} s)")
    if main_rank:
        _barrier()
    return built


def _demo_metadata(built: Mapping[str, Any]) -> dict[str, Any]:
    """The demo's root and seed, for the leaderboard (its data is generated, so say which)."""
    demo = next((d for d in built.values() if hasattr(d, "demo_root")), None)
    return {} if demo is None else {"demo_root": str(demo.demo_root), "demo_seed": demo.demo_seed}


def _dataset_config(dataset_cfg: Mapping[str, Any], pipeline: Any, subset: list[int] | None, test_mode: bool) -> dict:
    """A copy of a dataset config with its pipeline, mode and subset (a split's positions) set."""
    out = copy.deepcopy(dict(dataset_cfg))
    out["pipeline"] = copy.deepcopy(list(pipeline))
    out["test_mode"] = test_mode
    if subset is not None:
        out["subset"] = subset
    return out


# --- training --------------------------------------------------------------------------------


def _apply_init(cfg: Config, spec: ProtocolSpec, work_root: Path, log: Callable[[str], None]) -> Path | None:
    """Set where the model starts: adapters (``.safetensors``) go into the model config (the
    pipelines follow their backbone). Returns the start (an mmengine ``.pth`` is ``load_from``)."""
    init = _resolve_init(spec, work_root, log)
    if init is not None and init.suffix == ".safetensors":
        before = model_preprocessing(cfg)
        cfg.model.qclip.checkpoint = str(init)
        apply_model_preprocessing(cfg, previous=before)  # the checkpoint may fix another backbone
    return init


def _resolve_init(spec: ProtocolSpec, work_root: Path, log: Callable[[str], None]) -> Path | None:
    if spec.init_checkpoint:
        path = Path(spec.init_checkpoint).expanduser()
        if not path.is_file():
            raise ProtocolError(f"init_checkpoint {path} does not exist; pass the adapters to start from "
                                "(selected.safetensors of a pre-training run, or a converted official checkpoint)")
        return path
    dependency = spec.init_from_protocol
    if not dependency:
        if spec.name == "finetune":
            raise ProtocolError(
                "the fine-tune protocol starts from the LSVQ-trained model: pass init_checkpoint=PATH "
                "(selected.safetensors of `qclip-bench run protocol=cross-dataset`, or a checkpoint converted "
                "with `qclip-bench convert-official`)"
            )
        return None
    dep_work = work_root.parent / _experiment_name(dependency, spec.preset)
    record = dep_work / "result.json"
    exported = json.loads(record.read_text()).get("exported", []) if record.is_file() else []
    if not exported or not Path(exported[0]).is_file():
        preset = f" preset={spec.preset}" if spec.preset else ""
        raise ProtocolError(
            f"{spec.experiment} starts from the adapters of a {dependency} run, and {dep_work} has none: run "
            f"`qclip-bench run protocol={dependency}{preset}` first (with the same work_dir parent), or pass "
            "init_checkpoint=PATH"
        )
    log(f"starting from {exported[0]} ({dependency} run found in {dep_work})")
    return Path(exported[0])


def _train_all(
    cfg: Config, spec: ProtocolSpec, built: Mapping[str, Any], overrides: Mapping[str, Any], options: RunOptions,
    init: Path | None, work_root: Path, log: Callable[[str], None],
) -> tuple[list[SplitRun], dict[str, list[dict]], dict[str, dict[str, Any]]]:
    """Train each training set once per split seed: the runs, the recorded splits, the per-set settings."""
    from qclip_plugin.data.splits import split_groups, split_positions

    load_from = init if init is not None and init.suffix != ".safetensors" else None
    runs: list[SplitRun] = []
    recorded: dict[str, list[dict]] = {}
    own_settings: dict[str, dict[str, Any]] = {}
    seeds = spec.split.seeds
    for train_name in spec.train_sets:
        run_cfg, settings = _run_config(cfg, cfg.protocol, train_name, overrides, log)
        dataset = built[train_name]
        names = [dataset.get_data_info(i)["name"] for i in range(len(dataset))]
        groups = split_groups(names, spec.split, getattr(dataset, "groups_file", None))
        for index, seed in enumerate(seeds):
            parts = split_positions(len(names), spec.split, seed, groups)
            recorded.setdefault(train_name, []).append({**spec.split.record(seed), **parts})
            result = _train_split(run_cfg, spec, train_name, seed, parts, f"({index + 1}/{len(seeds)})",
                                  options.resume, load_from, work_root, log)
            sizes = {role: len(v) for role, v in parts.items()}
            runs.append(SplitRun(train_name, seed, index if len(seeds) > 1 else None, sizes, result))
        if settings:
            own_settings[train_name] = settings
    return runs, recorded, own_settings


def _train_split(
    run_cfg: Config, spec: ProtocolSpec, train_name: str, seed: int, parts: dict[str, list[int]], counter: str,
    resume: bool, load_from: Path | None, work_root: Path, log: Callable[[str], None],
) -> TrainResult:
    """One training set, one split: train on its train part, select on val, test the test sets."""
    train_cfg = spec.train_sets[train_name]
    tests = {t: _dataset_config(c, run_cfg.test_pipeline, None, True) for t, c in spec.test_sets.items()}
    if spec.heldout_test:
        if not parts["test"]:
            raise ProtocolError(f"{train_name}: heldout_test needs split.ratio < 1")
        label = train_name if not spec.test_sets else f"{train_name} (held-out)"
        tests = {label: _dataset_config(train_cfg, run_cfg.test_pipeline, parts["test"], True), **tests}
    val = _dataset_config(train_cfg, run_cfg.test_pipeline, parts["val"], True) if parts["val"] else None
    run_dir = work_root / train_name / f"seed{seed}"
    log(f"[{spec.experiment}] {train_name}, split seed {seed} {counter}: "
        f"{len(parts['train'])} train / {len(parts['val'])} val / {len(parts['test'])} held-out videos")
    try:
        return train_and_test(
            run_cfg, run_dir, _dataset_config(train_cfg, run_cfg.train_pipeline, parts["train"], False), val, tests,
            evaluate_untrained=spec.evaluate_untrained, resume=resume, load_from=load_from,
            name=f"{spec.experiment}_{train_name}_seed{seed}",
            export_metadata={"protocol": spec.experiment, "train_set": train_name, "split_seed": seed},
        )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"interrupted: {run_dir} keeps the checkpoints of the finished epochs (and the runs before it "
            f"under {work_root}); run the same command with resume=True to continue from them"
        ) from None


# --- the leaderboard ---------------------------------------------------------------------------


def build_metadata(
    cfg: Config, spec: ProtocolSpec, runs: list[SplitRun], own_settings: Mapping[str, Mapping[str, Any]],
    init: Path | None, extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The leaderboard's header: what was run (config, model, frames, schedule, splits, start,
    per-set settings), when and at which commit; ``extra`` last (e.g. the demo's root and seed)."""
    from qclip_plugin.models import describe_qclip

    epochs = sorted({r.result.selected_epoch for r in runs if r.result.selected_epoch is not None})
    frames = {str(s.get("num_frames")) for s in cfg.train_pipeline if "num_frames" in s}
    return {
        "protocol": spec.name,
        "config": _shown_path(spec.config),
        "model": describe_qclip(**cfg.model.qclip),
        "backbone": _backbone(cfg),
        "preset": cfg.model.qclip.get("preset", "paper"),
        "protocol preset": spec.preset or "",
        "sampler": _samplers(cfg),
        "frames": ", ".join(sorted(frames)),
        "frame preprocessing": _preprocessing_note(cfg),
        "epochs": cfg.train_cfg.get("max_epochs"),
        "batch size": cfg.train_dataloader.get("batch_size"),
        "lr": cfg.optim_wrapper.optimizer.get("lr"),
        "selected epoch": ", ".join(str(e) for e in epochs) + " (best validation SROCC; validation carved from training)",
        "split seeds": ", ".join(str(s) for s in spec.split.seeds),
        "split style": spec.split.style,
        "training seed": cfg.get("randomness", {}).get("seed"),
        "init": str(init) if init else "",
        "per-dataset settings": "; ".join(
            f"{name}: " + ", ".join(f"{k}={v}" for k, v in s.items()) for name, s in own_settings.items()
        ),
        "train_set": ", ".join(spec.train_sets),
        "commit": git_commit(),
        "date": utc_now(),
        **(extra or {}),
    }


def _write_results(
    cfg: Config, spec: ProtocolSpec, runs: list[SplitRun], recorded: Mapping[str, Any], metadata: dict[str, Any],
    work_root: Path, board: Path, start: float,
) -> ProtocolResult:
    """Write the leaderboard, ``splits.json`` and ``result.json``; return the run's result."""
    multi = len(spec.split.seeds) > 1
    rows = pd.DataFrame([row for run in runs for row in _rows(run, spec.method, multi)])
    predictions = protocol_predictions(runs, spec.method)
    published = _published(cfg.protocol, list(dict.fromkeys(rows["test_set"])))
    files = write_leaderboard(board, spec.name, rows, metadata, predictions, mapping=str(rows["mapping"].iloc[0]),
                              published=published, title=f"Leaderboard: {spec.experiment}")
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
    return ProtocolResult(spec.experiment, spec.preset, cfg, work_root, measured, runs, files, metadata, wall)


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
        (f"{method}{UNTRAINED_SUFFIX}", run.result.untrained, ""),
    ):
        for test_set, res in results.items():
            note = f"selected epoch {epoch} of {run.result.max_epochs} on validation" if epoch != "" else "as built"
            rows.append({"method": label, "test_set": test_set, "n_videos": res.n_videos, **res.metrics,
                         "mapping": res.mapping, "selected_epoch": epoch, "note": note, **common})
    return rows



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


def _apply_scale_options(cfg: Config, options: RunOptions) -> bool:
    """The launcher (``pytorch``: torchrun, ``slurm``, ``mpi``), ``amp``, ``frozen_dtype``, ``workers`` and
    ``prefetch`` (see :mod:`qclip_plugin.engine.distributed`, ``precision``, ``loader_options``);
    return whether this process is rank 0."""
    import torch.distributed as dist

    from qclip_plugin.engine.distributed import configure_launcher, dist_info
    from qclip_plugin.engine.loader_options import set_loader_workers
    from qclip_plugin.engine.precision import apply_amp

    # a protocol started inside a distributed run stays distributed
    default = "pytorch" if dist.is_available() and dist.is_initialized() else cfg.get("launcher", "none")
    configure_launcher(cfg, str(options.launcher or default))
    if options.amp or options.frozen_dtype:
        apply_amp(cfg, options.amp, options.frozen_dtype)
    if options.workers is not None:
        set_loader_workers(cfg, int(options.workers), prefetch_factor=options.prefetch)
    elif options.prefetch is not None:
        raise ProtocolError("prefetch=N needs workers=N (only worker processes prefetch)")
    return dist_info().is_main


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()

