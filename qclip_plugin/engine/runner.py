"""Train and test Q-CLIP with mmengine's ``Runner``: untrained baseline, training with model
selection on the validation part, and the final test of the selected checkpoint.

mmengine owns the loop (AdamW on trainable parameters only, warm-up + per-iteration cosine,
checkpoints, logging with ETA, ``resume``); this module adds what a benchmark protocol needs
around it: several named test sets evaluated with one Runner, the same model scored before
training (the untrained baseline), the epoch the validation part selected, and the selected
adapters exported as a safetensors file that ``build_qclip(..., checkpoint=...)`` loads.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner, TestLoop

from qclip_plugin.engine.safe_loading import allow_mmengine_checkpoints

__all__ = ["EvalResult", "TrainResult", "build_runner", "evaluate", "fit_schedule", "train_and_test"]

log = logging.getLogger(__name__)
_run_ids = itertools.count()


@dataclass
class EvalResult:
    """Scores of one model on one test set."""

    test_set: str
    metrics: dict[str, float]  # SROCC, PLCC, KROCC, RMSE
    mapping: str
    n_videos: int
    predictions: pd.DataFrame  # name, mos, pred, num_clips


@dataclass
class TrainResult:
    """What :func:`train_and_test` measured and where it left its files."""

    work_dir: Path
    trained: dict[str, EvalResult]
    untrained: dict[str, EvalResult] = field(default_factory=dict)
    selected_epoch: int | None = None
    selected_score: float | None = None  # validation score of the selected epoch
    selected_checkpoint: Path | None = None  # mmengine .pth (trainable tensors only)
    exported: Path | None = None  # safetensors of the selected model (adapters; + backbone if random-init)
    max_epochs: int | None = None
    train_seconds: float = 0.0


def fit_schedule(cfg: Config) -> Config:
    """Make the LR schedule end with training after ``train_cfg.max_epochs`` was changed.

    The schedules of ``benchmark_configs/_base_/schedules`` are a warm-up ``LinearLR`` over the
    first epoch and a ``CosineAnnealingLR`` from there to the last epoch (both converted to
    per-iteration updates). Schedulers whose ``end`` lies beyond the last epoch are cut there
    (the cosine's ``T_max`` with them) and schedulers starting at or after it are dropped, so
    ``train.max_epochs=1`` trains one warm-up epoch instead of failing or never annealing.
    """
    max_epochs = cfg.train_cfg.get("max_epochs")
    schedulers = cfg.get("param_scheduler")
    if not max_epochs or not schedulers:
        return cfg
    fitted = []
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        scheduler = copy.deepcopy(scheduler)
        if not scheduler.get("by_epoch", True):
            fitted.append(scheduler)
            continue
        begin, end = scheduler.get("begin", 0), scheduler.get("end", math.inf)
        if begin >= max_epochs:
            continue
        if end != max_epochs and (end > max_epochs or scheduler.get("until_end", False)):
            scheduler["end"] = max_epochs
            if "T_max" in scheduler or scheduler.get("type") == "CosineAnnealingLR":
                scheduler["T_max"] = max_epochs - begin
        scheduler.pop("until_end", None)
        fitted.append(scheduler)
    cfg.param_scheduler = fitted
    return cfg


def _dataset(dataset: Any) -> Any:
    """A built dataset from a config (datasets are passed to mmengine built, see :func:`_for_log`)."""
    if not isinstance(dataset, Mapping):
        return dataset
    import qclip_plugin.data.datasets  # noqa: F401  (registers the datasets)
    from qclip_plugin.registry import DATASETS

    return DATASETS.build(copy.deepcopy(dict(dataset)))


def _for_log(dataset: Any) -> Any:
    """The dataset's config as the Runner logs it and stores it in checkpoints: a split's
    ``subset`` (thousands of positions for LSVQ) shortened to its size, which also keeps
    mmengine's config formatting fast. The positions are in the protocol's ``splits.json``."""
    if not isinstance(dataset, Mapping):
        return f"<{type(dataset).__name__} of {len(dataset)} videos>"
    out = copy.deepcopy(dict(dataset))
    if isinstance(out.get("subset"), (list, tuple)):
        out["subset"] = f"<{len(out['subset'])} videos of the split, positions in splits.json>"
    return out


def build_runner(
    cfg: Config,
    work_dir: str | os.PathLike,
    train_dataset: Any,
    val_dataset: Any | None,
    *,
    resume: bool = False,
    load_from: str | os.PathLike | None = None,
    name: str = "run",
) -> Runner:
    """An mmengine ``Runner`` for ``cfg`` with the given training and validation datasets
    (configs or built datasets), as ``Runner.from_cfg`` would build it."""
    allow_mmengine_checkpoints()
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    cfg.resume = bool(resume)
    cfg.load_from = str(load_from) if load_from else None
    # unique per Runner: mmengine keys its logger and message hub by this name
    cfg.experiment_name = f"{name}_{os.getpid()}_{next(_run_ids)}"
    if val_dataset is None:
        for key in ("val_dataloader", "val_cfg", "val_evaluator"):
            cfg.pop(key, None)
        cfg.default_hooks.checkpoint.pop("save_best", None)
    fit_schedule(cfg)
    logged = copy.deepcopy(cfg)
    logged.train_dataloader.dataset = _for_log(train_dataset)
    train_loader = dict(copy.deepcopy(cfg.train_dataloader), dataset=_dataset(train_dataset))
    val_loader = None
    if val_dataset is not None:
        logged.val_dataloader.dataset = _for_log(val_dataset)
        val_loader = dict(copy.deepcopy(cfg.val_dataloader), dataset=_dataset(val_dataset))
    return Runner(
        model=cfg["model"],
        work_dir=cfg["work_dir"],
        train_dataloader=train_loader,
        val_dataloader=val_loader,
        train_cfg=cfg.get("train_cfg"),
        val_cfg=cfg.get("val_cfg") if val_loader else None,
        auto_scale_lr=cfg.get("auto_scale_lr"),
        optim_wrapper=cfg.get("optim_wrapper"),
        param_scheduler=cfg.get("param_scheduler"),
        val_evaluator=cfg.get("val_evaluator") if val_loader else None,
        default_hooks=cfg.get("default_hooks"),
        custom_hooks=cfg.get("custom_hooks"),
        data_preprocessor=cfg.get("data_preprocessor"),
        load_from=cfg.get("load_from"),
        resume=cfg.get("resume", False),
        launcher=cfg.get("launcher", "none"),
        env_cfg=cfg.get("env_cfg", dict(dist_cfg=dict(backend="nccl"))),
        log_processor=cfg.get("log_processor"),
        log_level=cfg.get("log_level", "INFO"),
        visualizer=cfg.get("visualizer"),
        default_scope=cfg.get("default_scope", "qclip_plugin"),
        randomness=cfg.get("randomness", dict(seed=None)),
        experiment_name=cfg.get("experiment_name"),
        cfg=logged,
    )


def evaluate(
    runner: Runner,
    cfg: Config,
    test_set: str,
    dataset: Mapping[str, Any],
) -> EvalResult:
    """Score ``runner``'s current model on one test set with the config's test dataloader and evaluator."""
    dataloader = dict(copy.deepcopy(cfg.test_dataloader), dataset=_dataset(dataset))
    loop = TestLoop(runner, dataloader, copy.deepcopy(cfg.test_evaluator))
    # hooks (timer, logger) read the runner's test loop: make it this one
    runner._test_loop = loop
    metrics = loop.run()
    metric = loop.evaluator.metrics[0]
    table = metric.last_predictions if metric.last_predictions is not None else pd.DataFrame()
    prefix = f"{metric.prefix}/" if metric.prefix else ""
    scores = {k: float(metrics[f"{prefix}{k}"]) for k in ("SROCC", "PLCC", "KROCC", "RMSE")}
    return EvalResult(test_set, scores, str(metric.last_mapping or metric.mapping), len(table), table)


def _best_checkpoint(runner: Runner) -> tuple[Path | None, float | None, int | None]:
    from mmengine.dist import barrier

    barrier()  # rank 0 may still be writing the checkpoint the others are about to load
    hub = runner.message_hub
    path = hub.get_info("best_ckpt")
    if not path or not Path(path).is_file():
        return None, None, None
    from qclip_plugin.engine.safe_loading import load_checkpoint_file

    meta = load_checkpoint_file(path).get("meta", {})
    return Path(path), hub.get_info("best_score"), meta.get("epoch")


#: Where :func:`train_and_test` records the untrained baseline's scores, for ``resume``.
UNTRAINED_RECORD = "untrained.json"


def _save_untrained(path: Path, results: Mapping[str, EvalResult]) -> None:
    from mmengine.dist import is_main_process

    from qclip_plugin.atomic_files import atomic_write_text

    if is_main_process():
        atomic_write_text(path, json.dumps({
            name: {"metrics": r.metrics, "mapping": r.mapping, "n_videos": r.n_videos,
                   "predictions": r.predictions.to_dict(orient="list")}
            for name, r in results.items()
        }))  # fmt: skip


def _load_untrained(path: Path, test_sets: Mapping[str, Any]) -> dict[str, EvalResult] | None:
    """The untrained scores an interrupted run recorded, if they cover ``test_sets``."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        results = {name: EvalResult(name, {k: float(v) for k, v in r["metrics"].items()}, r["mapping"],
                                    int(r["n_videos"]), pd.DataFrame(r["predictions"]))
                   for name, r in saved.items()}  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # absent or cut by the interruption: evaluate again
    return results if set(results) == set(test_sets) else None


def _untrained(runner: Runner, cfg: Config, test_sets: Mapping[str, Any], work_dir: Path, *, resume: bool,
               load_from: str | os.PathLike | None) -> dict[str, EvalResult]:
    """Score the model as built (before ``train()`` loads or resumes anything), or, resuming, read
    the scores the interrupted run recorded, so the resumed report has the same baseline rows."""
    record = work_dir / UNTRAINED_RECORD
    if resume and (saved := _load_untrained(record, test_sets)) is not None:
        log.info("%s: untrained scores read from %s (recorded before the interruption)", work_dir, record)
        return saved
    if load_from:
        runner.load_checkpoint(str(load_from))
    results = {n: evaluate(runner, cfg, n, ds) for n, ds in test_sets.items()}
    _save_untrained(record, results)
    return results


def _export(runner: Runner, path: Path, metadata: Mapping[str, Any]) -> Path | None:
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    qclip = getattr(model, "qclip", None)
    if qclip is None or not hasattr(qclip, "adapter_state_dict"):
        return None
    from mmengine.dist import is_main_process

    from qclip_plugin.models import save_checkpoint

    if not is_main_process():  # every rank holds the same weights; rank 0 writes them
        return path
    # a random-initialised backbone (the demo's tiny model) cannot be rebuilt from a weights tag:
    # its weights travel with the adapters, or they would be loaded onto another random backbone
    random_backbone = getattr(qclip, "pretrained", "") in (None, "")
    return save_checkpoint(qclip, path, include_backbone=random_backbone, metadata=dict(metadata))


def train_and_test(
    cfg: Config,
    work_dir: str | os.PathLike,
    train_dataset: Any,
    val_dataset: Any | None,
    test_sets: Mapping[str, Any],
    *,
    evaluate_untrained: bool = True,
    resume: bool = False,
    load_from: str | os.PathLike | None = None,
    extra_hooks: Sequence[Hook] = (),
    export_metadata: Mapping[str, Any] | None = None,
    name: str = "run",
) -> TrainResult:
    """Train on ``train_dataset``, select the epoch on ``val_dataset``, test on every test set.

    Args:
        cfg: a benchmark config (model, optimizer, schedule, loops, dataloader templates).
        work_dir: checkpoints, logs and the exported adapters go here.
        train_dataset, val_dataset: dataset configs (the validation part is carved from the
            training videos; ``None``: no model selection, the last epoch is tested).
        test_sets: display name -> dataset config.
        evaluate_untrained: score the model as built, before training (same initialisation);
            recorded in ``work_dir/untrained.json``.
        resume: continue from the last checkpoint in ``work_dir`` (``Runner(resume=True)``); the
            untrained scores come from ``untrained.json`` (evaluated now if it is missing).
        load_from: an mmengine checkpoint to start from (e.g. a pre-trained run's).
        extra_hooks: hooks registered on the Runner in addition to the config's.
        export_metadata: extra metadata stored in ``selected.safetensors``.

    The selected checkpoint is the validation part's best SROCC epoch (mmengine's
    ``CheckpointHook(save_best=...)``); the test sets never take part in the choice.
    """
    work_dir = Path(work_dir)
    runner = build_runner(cfg, work_dir, train_dataset, val_dataset, resume=resume, load_from=load_from, name=name)
    for hook in extra_hooks:
        runner.register_hook(hook)
    untrained = {}
    # hooks prepare in before_run (e.g. the logger's file paths), which train() calls only later
    runner.call_hook("before_run")
    if evaluate_untrained:
        untrained = _untrained(runner, cfg, test_sets, work_dir, resume=resume, load_from=load_from)
    start = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - start
    best, score, epoch = _best_checkpoint(runner)
    if best is not None:
        runner.load_checkpoint(str(best))
    else:
        epoch = runner.epoch
        log.warning("%s: no validation score improved (or no validation part); testing the last epoch (%s)",
                    work_dir, epoch)
    trained = {n: evaluate(runner, cfg, n, ds) for n, ds in test_sets.items()}
    meta = {"selected_epoch": epoch, "selected_val_score": score, **(export_metadata or {})}
    exported = _export(runner, work_dir / "selected.safetensors", meta)
    return TrainResult(
        work_dir=work_dir,
        trained=trained,
        untrained=untrained,
        selected_epoch=epoch,
        selected_score=None if score is None else float(score),
        selected_checkpoint=best,
        exported=exported,
        max_epochs=runner.max_epochs,
        train_seconds=seconds,
    )
