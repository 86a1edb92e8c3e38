"""``key=value`` command-line overrides mapped onto an mmengine config.

Values are Python literals where they parse as one (``1``, ``1e-3``, ``[2, 4]``, ``(336, 336)``,
``True``), ``none``/``null`` is ``None``, ``true``/``false`` are booleans, anything else is a
string. Keys are dotted config paths (``optim_wrapper.optimizer.lr=3e-3``) with a few
short forms:

==========================  ===================================================================
``model.<key>=v``           ``model.qclip.<key>`` (the Q-CLIP builder's arguments: ``preset``,
                            ``pretrained``, ``checkpoint`` and its overrides), except the wrapper's
                            own ``model.type``, ``model.loss``, ``model.data_preprocessor``
``train.<key>=v``           ``train_cfg.<key>`` (also ``val.`` and ``test.``)
``data_root.<Dataset>=p``   the data root of every dataset of that name in the config (any name
                            of its spec, any case: ``KoNViD``, ``konvid``, ``KoNViD-1k``)
``sampler=S``               the frame sampler of every ``LoadVideoFrames`` step (train and test)
``train_sampler=S``         only the training pipelines' sampler (``test_sampler`` likewise)
``batch_size=n``            the training dataloader's batch size
``seed=n``                  ``randomness.seed``
``num_frames=n``            frames per video in every ``LoadVideoFrames`` step
``resize=decoder|pil``      ``model.qclip.resize``: how frames are resized (the pipelines follow the
                            model's preprocessing record, :mod:`qclip_plugin.preprocessing`)
==========================  ===================================================================

``protocol=`` and ``preset=`` choose the config file and are not applied here
(:data:`SELECTORS`).

Every override is checked against the config before any is applied (:func:`check_overrides`), so a
typo stops the run at once, with a did-you-mean: a key must name a key of the config (a new key is
accepted only in an open dict, e.g. an optimizer's arguments, and only when it is not one letter
away from an existing one), of the ``protocol`` dict's documented keys, of the Q-CLIP builder's
arguments (``model.<key>``) or of mmengine's loops and Runner; sampler, model preset and ablation
names must be registered ones. mmengine's ``Config.merge_from_dict`` then applies it (its
``DictAction`` parses ``--cfg-options`` the same way but checks nothing).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

from mmengine.config import Config, ConfigDict

from qclip_plugin.errors import UnknownNameError, UserError, check_name, closest

__all__ = ["SELECTORS", "OverrideError", "apply_overrides", "check_overrides", "parse_overrides", "parse_value"]

#: Keys that choose which config to load rather than change it.
SELECTORS: tuple[str, ...] = ("protocol", "preset")
_MODEL_OWN_KEYS = ("type", "loss", "data_preprocessor", "init_cfg", "qclip")
_LOOP_ALIASES = {"train": "train_cfg", "val": "val_cfg", "test": "test_cfg"}
_TRAIN = ("train_pipeline", "train_dataloader")
_TEST = ("test_pipeline", "val_dataloader", "test_dataloader")
#: The short forms of the module docstring's table that are whole keys.
SHORTCUTS: tuple[str, ...] = ("sampler", "train_sampler", "test_sampler", "num_frames", "resize", "batch_size", "seed")
#: The keys of a protocol config's ``protocol`` dict (:mod:`qclip_plugin.benchmark.protocols`).
PROTOCOL_KEYS: tuple[str, ...] = (
    "name", "preset", "method", "train_sets", "test_sets", "split", "heldout_test", "evaluate_untrained",
    "init_checkpoint", "init_from_protocol", "published_dir", "published_protocol", "published_methods",
    "train_overrides",
)  # fmt: skip
#: ``mmengine.runner.Runner``'s arguments (0.10; tests/test_cli.py compares them with its signature: importing
#: the Runner takes seconds, which a mistyped key should not wait for).
RUNNER_KEYS: tuple[str, ...] = (
    "model", "work_dir", "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg", "val_cfg", "test_cfg",
    "auto_scale_lr", "optim_wrapper", "param_scheduler", "val_evaluator", "test_evaluator", "default_hooks",
    "custom_hooks", "data_preprocessor", "load_from", "resume", "launcher", "env_cfg", "log_processor", "log_level",
    "visualizer", "default_scope", "randomness", "experiment_name",
)  # fmt: skip
#: Dicts whose keys are a closed set: what their consumer accepts (a new key there is a typo).
_CLOSED: dict[str, tuple[str, ...]] = {
    "protocol": PROTOCOL_KEYS,
    "protocol.split": ("ratio", "val_ratio", "seeds", "style", "group_by", "groups_file"),
    "train_cfg": ("type", "by_epoch", "max_epochs", "val_begin", "val_interval", "dynamic_intervals"),
    "val_cfg": ("type", "fp16"),
    "test_cfg": ("type", "fp16"),
    "randomness": ("seed", "deterministic", "diff_rank_seed"),
}


class OverrideError(UserError, ValueError):
    """An override that cannot be parsed or applied; the message says which and what to write."""


def parse_value(text: str) -> Any:
    """``"1e-3"`` -> 0.001, ``"[2, 4]"`` -> [2, 4], ``"none"`` -> None, ``"true"`` -> True, else the string."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(items: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}`` (a mapping is returned as a dict, values kept)."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OverrideError(f"override {item!r} is not key=value (e.g. train.max_epochs=1, model.preset=release)")
        out[key] = parse_value(value.strip())
    return out


def _walk(node: Any) -> Iterable[dict]:
    """Every dict in a config tree, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _walk(value)


def _pipeline_steps(cfg: Config, loaders: Iterable[str]) -> list[dict]:
    steps = []
    for loader in loaders:
        # protocols keep their pipelines beside the dataloaders (``train_pipeline``, ``test_pipeline``)
        for node in _walk(cfg.get(loader)):
            if node.get("type") == "LoadVideoFrames":
                steps.append(node)
    return steps


def _set_all(cfg: Config, loaders: Iterable[str], key: str, value: Any, what: str) -> None:
    steps = _pipeline_steps(cfg, loaders)
    if not steps:
        raise OverrideError(f"{what}: this config has no LoadVideoFrames step in {', '.join(loaders)}")
    for step in steps:
        step[key] = value


def _names_dataset(node: dict, dataset: str) -> bool:
    """Whether the dataset config ``node`` answers to ``dataset``: its type (``KoNViDDataset``,
    ``KoNViD``), ``metainfo.dataset_name``, or any name of its class's spec (key, display name,
    alias; case-insensitive: ``konvid``, ``KoNViD-1k``; :mod:`qclip_plugin.data.dataset_specs`)."""
    from qclip_plugin.data.dataset_specs import find_spec

    kind = str(node.get("type", ""))
    meta = node.get("metainfo")
    names = {kind, kind.removesuffix("Dataset")}
    if isinstance(meta, dict) and meta.get("dataset_name"):
        names.add(str(meta["dataset_name"]))
    if dataset in names - {""}:
        return True
    spec = find_spec(kind) if kind else None
    return spec is not None and spec.matches(dataset)


def _set_data_root(cfg: Config, dataset: str, root: Any) -> None:
    from qclip_plugin.data.dataset_specs import find_spec, get_spec

    found = 0
    for node in _walk(cfg._cfg_dict):
        if "data_root" in node and _names_dataset(node, dataset):
            node["data_root"] = root
            found += 1
    roots = cfg.get("data_roots")
    if isinstance(roots, dict):
        roots[dataset] = root
        found += 1
    if not found:
        if find_spec(dataset) is None:
            try:
                get_spec(dataset)
            except ValueError as error:  # the did-you-mean of an unknown name
                raise OverrideError(f"data_root.{dataset}: {error}") from None
        raise OverrideError(
            f"data_root.{dataset}: no dataset named {dataset!r} in this config; "
            "use the name of a dataset the protocol uses (e.g. data_root.KoNViD=/data/konvid)"
        )


# --- checking keys and names before anything is applied -----------------------------------------


def _qclip_keys() -> list[str]:
    """What ``model.<key>=`` may name: :func:`qclip_plugin.models.build_qclip`'s arguments."""
    from dataclasses import fields

    from qclip_plugin.models import QCLIPConfig

    return ["preset", "ablation", "checkpoint", "pretrained", *(f.name for f in fields(QCLIPConfig))]


def _top_level_keys(cfg: Config) -> list[str]:
    """The keys a config may get at its top: its own, mmengine Runner's arguments, the short forms."""
    return [*cfg.keys(), *RUNNER_KEYS, *SHORTCUTS, *_LOOP_ALIASES, "data_root", *SELECTORS]


def _typo(shown: str, part: str, choices: Iterable[str], where: str) -> OverrideError:
    """``train.max_epoch: train_cfg has no key 'max_epoch'; did you mean train.max_epochs?``"""
    parts = shown.split(".")
    suggestions = closest(part, choices)
    index = max(i for i, p in enumerate(parts) if p == part) if part in parts else None
    fixed = [".".join([*parts[:index], s, *parts[index + 1:]]) if index is not None else s for s in suggestions]
    hint = f"; did you mean {' or '.join(fixed)}?" if fixed else f"; known keys there: {', '.join(sorted(choices))}"
    return OverrideError(f"{shown}=: {where} has no key {part!r}{hint}")


def _check_path(cfg: Config, path: str, shown: str) -> None:
    """Every part of the dotted ``path`` names a key (or list position) of ``cfg``, or a new key that
    may be added there (see the module docstring)."""
    node: Any = cfg._cfg_dict
    parts = path.split(".")
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the config"
        if isinstance(node, (list, tuple)):
            if part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            raise OverrideError(f"{shown}=: {where} is a list of {len(node)}; give a position 0-{len(node) - 1}")
        if not isinstance(node, dict):
            raise OverrideError(f"{shown}=: {where} is {node!r}, not a dict: it has no key {part!r}")
        if part in node:
            node = node[part]
            continue
        if depth == 0:
            if part in _top_level_keys(cfg):
                return  # a Runner argument the config leaves at its default
            raise _typo(shown, part, _top_level_keys(cfg), "the config")
        closed = _CLOSED.get(".".join(parts[:depth]))
        if closed is not None:
            if part in closed:
                return
            raise _typo(shown, part, {*node, *closed}, where)
        if depth < len(parts) - 1 or closest(part, node):
            raise _typo(shown, part, node, where)
        return  # a new argument of an open dict (e.g. optim_wrapper.optimizer.betas)


def _check_name_value(shown: str, kind: str, value: Any, choices: Iterable[str]) -> None:
    try:
        check_name(kind, str(value), choices)
    except UnknownNameError as error:
        raise OverrideError(f"{shown}={value}: {error}") from None


def _check_one(cfg: Config, key: str, value: Any) -> None:
    head, _, rest = key.partition(".")
    if key in ("sampler", "train_sampler", "test_sampler"):
        import qclip_plugin.sampling  # noqa: F401  (registers the samplers)
        from qclip_plugin.registry import SAMPLERS

        _check_name_value(key, "frame sampler", value, SAMPLERS.module_dict)
    elif key == "resize":
        _check_name_value(key, "resize mode", value, ("decoder", "pil"))
    elif key in SHORTCUTS or key in SELECTORS or (head == "data_root" and rest):
        return  # data_root.<name> is checked as it is applied, against the config's datasets
    elif head == "model" and rest and rest.split(".")[0] not in _MODEL_OWN_KEYS:
        first = rest.split(".")[0]
        if first not in _qclip_keys():
            raise _typo(key, first, _qclip_keys(), "the Q-CLIP model (model.<key>: build_qclip's arguments)")
        if first in ("preset", "ablation"):
            from qclip_plugin.models import list_ablations, list_presets

            names = list_presets() if first == "preset" else list_ablations()
            _check_name_value(key, f"Q-CLIP {first}", value, names)
    elif head in _LOOP_ALIASES and rest:
        _check_path(cfg, f"{_LOOP_ALIASES[head]}.{rest}", key)
    else:
        _check_path(cfg, key, key)


def check_overrides(cfg: Config, overrides: Iterable[str] | Mapping[str, Any] | None) -> None:
    """Raise :class:`OverrideError` (with a did-you-mean) for the first override whose key is not in
    ``cfg`` or whose sampler, preset or ablation name is unknown; change nothing."""
    for key, value in parse_overrides(overrides).items():
        _check_one(cfg, key, value)


def apply_overrides(cfg: Config, overrides: Iterable[str] | Mapping[str, Any] | None) -> Config:
    """Check every override (:func:`check_overrides`), then apply them (``key=value`` strings or a
    mapping) to ``cfg`` in place and return it."""
    check_overrides(cfg, overrides)
    for key, value in parse_overrides(overrides).items():
        if key in SELECTORS:
            continue
        head, _, rest = key.partition(".")
        if key == "sampler":
            _set_all(cfg, _TRAIN + _TEST, "sampler", value, key)
        elif key == "train_sampler":
            _set_all(cfg, _TRAIN, "sampler", value, key)
        elif key == "test_sampler":
            _set_all(cfg, _TEST, "sampler", value, key)
        elif key == "num_frames":
            _set_all(cfg, _TRAIN + _TEST, "num_frames", value, key)
        elif key == "resize":
            cfg.merge_from_dict({"model.qclip.resize": value})
        elif key == "batch_size":
            cfg.merge_from_dict({"train_dataloader.batch_size": value})
        elif key == "seed":
            cfg.merge_from_dict({"randomness.seed": value})
        elif head == "data_root" and rest:
            _set_data_root(cfg, rest, value)
        elif head == "model" and rest and rest.split(".")[0] not in _MODEL_OWN_KEYS:
            cfg.merge_from_dict({f"model.qclip.{rest}": value})
        elif head in _LOOP_ALIASES and rest:
            cfg.merge_from_dict({f"{_LOOP_ALIASES[head]}.{rest}": value})
        else:
            if isinstance(value, dict):
                value = ConfigDict(value)
            cfg.merge_from_dict({key: value})
    return cfg
