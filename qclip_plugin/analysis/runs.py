"""Measured runs on disk: protocol work dirs and leaderboard folders, with the model each one trained.

A protocol run (:func:`qclip_plugin.benchmark.protocols.run_protocol`) leaves ``<work_dir>/result.json``
naming its leaderboard and its exported adapters (``selected.safetensors``, whose metadata
records the model's full Q-CLIP config). That is what the efficiency and ablation figures need:
the measured rows, the trainable parameter count (the checkpoint holds exactly the trained
tensors) and the number of E-SCMA layers. A bare ``leaderboard.csv`` works too; then the
layer count comes from the folder or method name (``escma_4_layers``, ``layers=4``) and the
parameter count from a ``trainable_params`` column or from building the row's preset.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "MeasuredRun",
    "checkpoint_trainable_parameters",
    "encoder_layer_count",
    "find_runs",
    "layers_from_name",
    "preset_trainable_parameters",
]

_LAYER_PATTERNS = (
    re.compile(r"e[-_]?scma[-_ ]?(\d+)[-_ ]?layers?", re.IGNORECASE),
    re.compile(r"(\d+)[-_ ]?e[-_]?scma[-_ ]?layers?", re.IGNORECASE),
    re.compile(r"\blayers?[=_ -]?(\d+)\b", re.IGNORECASE),
    re.compile(r"\b(\d+)[-_ ]layers?\b", re.IGNORECASE),
)


@dataclass
class MeasuredRun:
    """One measured run: its trained leaderboard rows and what is known of its model.

    ``rows``: the ``measured`` rows of the trained model (not the ``, untrained`` ones), one per
    test set (the ``mean±std`` row where there are several splits). ``config``: the Q-CLIP config
    recorded in its exported checkpoint (empty without one).
    """

    name: str
    source: Path
    rows: pd.DataFrame
    checkpoint: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    trainable_params: int | None = None
    params_source: str = ""

    @property
    def encoder_layers(self) -> int | None:
        """E-SCMA layers per tower: from the checkpoint's config, else from the run's names."""
        if self.config:
            return encoder_layer_count(self.config)
        for text in (self.name, self.source.parent.name, *self.rows.get("method", [])):
            found = layers_from_name(str(text))
            if found is not None:
                return found
        return None


def encoder_layer_count(config: dict[str, Any]) -> int:
    """E-SCMA layers of a recorded Q-CLIP config (``layers``: a count or block indices)."""
    if not config.get("encoder_adapters", True):
        return 0
    layers = config.get("layers", 6)
    return len(layers) if isinstance(layers, (list, tuple)) else int(layers)


def layers_from_name(text: str) -> int | None:
    """The E-SCMA layer count a run or config name states (``escma_4_layers``, ``layers=4``), or None."""
    for pattern in _LAYER_PATTERNS:
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def checkpoint_trainable_parameters(path: str | os.PathLike) -> int:
    """Trainable parameters of a Q-CLIP checkpoint: the elements of its non-backbone tensors
    (read from the safetensors header only; an adapter checkpoint holds exactly the trained tensors)."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), framework="pt") as handle:
        for key in handle.keys():
            if not key.startswith("backbone."):
                count = 1
                for size in handle.get_slice(key).get_shape():
                    count *= int(size)
                total += count
    return total


@lru_cache(maxsize=16)
def preset_trainable_parameters(preset: str, overrides: tuple[tuple[str, Any], ...] = ()) -> int:
    """Trainable parameters of ``build_qclip(preset, pretrained=None, **overrides)`` (builds the model:
    seconds and ~3 GB of memory for the PE-Core-L presets)."""
    from qclip_plugin.models import build_qclip, parameter_report

    return parameter_report(build_qclip(preset, pretrained=None, **dict(overrides))).trainable


def _trained_rows(csv: Path) -> pd.DataFrame:
    table = pd.read_csv(csv, dtype={"split": str, "seed": str, "table": str, "note": str})
    if "kind" not in table or "method" not in table:
        raise ValueError(f"{csv} is not a leaderboard.csv of qclip-bench (no 'kind'/'method' columns)")
    table["split"] = table["split"].fillna("") if "split" in table else ""
    rows = table[(table["kind"] == "measured") & ~table["method"].astype(str).str.endswith(", untrained")]
    summary = rows[rows["split"].isin(["", "mean±std"])]
    return summary.reset_index(drop=True)


def _locate(recorded: str, result: Path) -> Path | None:
    """A path ``result.json`` recorded, found again: as written, or (relative paths are relative to where
    the run was started) below an ancestor of the work dir, or as a tail of it below the work dir."""
    path = Path(recorded).expanduser()
    if path.exists():
        return path
    if not path.is_absolute():
        for ancestor in result.parent.resolve().parents:
            if (ancestor / path).exists():
                return ancestor / path
    for k in range(1, len(path.parts)):
        candidate = result.parent.joinpath(*path.parts[k:])
        if candidate.exists():
            return candidate
    return None


def _from_result(result: Path) -> MeasuredRun | None:
    record = json.loads(result.read_text())
    board = _locate(record["leaderboard"], result) if record.get("leaderboard") else None
    csv = board.with_name("leaderboard.csv") if board else None
    if csv is None or not csv.is_file():
        warnings.warn(f"{result}: its leaderboard {record.get('leaderboard')!r} is not found; pass the "
                      "leaderboard folder as well (or run from the folder the protocol ran in)", stacklevel=3)
        return None
    run = MeasuredRun(name=result.parent.name, source=csv, rows=_trained_rows(csv))
    exported = [found for p in record.get("exported", []) if (found := _locate(p, result)) is not None]
    if exported:
        from qclip_plugin.models import read_checkpoint_metadata

        meta = read_checkpoint_metadata(exported[0])
        run.checkpoint = exported[0]
        run.config = dict(meta.get("config") or {})
        run.preset = meta.get("preset")
        run.trainable_params = checkpoint_trainable_parameters(exported[0])
        run.params_source = f"counted in {exported[0]}"
    return run


def _from_leaderboard(csv: Path) -> MeasuredRun:
    rows = _trained_rows(csv)
    run = MeasuredRun(name=csv.parent.name, source=csv, rows=rows)
    if "trainable_params" in rows and rows["trainable_params"].notna().any():
        run.trainable_params = int(rows["trainable_params"].dropna().iloc[0])
        run.params_source = f"trainable_params column of {csv}"
    presets = [str(p) for p in rows.get("preset", []) if str(p) not in ("", "nan")]
    run.preset = presets[0] if presets else None
    return run


def find_runs(paths: Iterable[str | os.PathLike]) -> list[MeasuredRun]:
    """Every measured run under ``paths`` (work dirs with ``result.json``, leaderboard folders or
    ``leaderboard.csv`` files, searched recursively); a leaderboard named by a ``result.json`` is
    read once, with its checkpoint."""
    results: list[Path] = []
    boards: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; pass protocol work dirs or leaderboard folders")
        if path.is_file():
            (results if path.name == "result.json" else boards).append(path)
        else:
            results += sorted(path.rglob("result.json"))
            boards += sorted(path.rglob("leaderboard.csv"))
    runs: list[MeasuredRun] = []
    seen: set[Path] = set()
    for result in dict.fromkeys(results):
        run = _from_result(result)
        if run is not None and run.source.resolve() not in seen:
            seen.add(run.source.resolve())
            runs.append(run)
    for csv in dict.fromkeys(boards):
        if csv.resolve() not in seen:
            seen.add(csv.resolve())
            run = _from_leaderboard(csv)
            if len(run.rows):
                runs.append(run)
    return runs
