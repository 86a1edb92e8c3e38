"""Shared pieces of the adapters that run other authors' VQA packages (FAST-VQA, DOVER).

Those packages are not on PyPI: users clone the authors' repositories, ``pip install -e`` them, and
download the released weights. The adapters import them only when a metric is created, find the
weights and the repository's option file, and otherwise raise :class:`BaselineUnavailableError`
with the exact commands to run.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from qclip_plugin.cache import cache_dir
from qclip_plugin.errors import UserError

__all__ = ["BaselineUnavailableError", "ExternalVideoMetric", "baseline_dir", "find_file", "import_package"]


class BaselineUnavailableError(UserError, ImportError):
    """A third-party baseline's package, weights or option file is missing; the message says how to get it."""


def baseline_dir(name: str) -> Path:
    """Where the weights and option files of baseline ``name`` are looked for by default."""
    return cache_dir("baselines") / name


def import_package(module: str, install: str) -> ModuleType:
    """Import ``module`` or raise :class:`BaselineUnavailableError` with the ``install`` instructions."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise BaselineUnavailableError(
            f"the Python package {module!r} is not installed ({error}).\n{install}"
        ) from error


def find_file(given: str | os.PathLike | None, candidates: Sequence[Path], what: str, install: str) -> Path:
    """``given`` if it exists, else the first existing candidate; else a :class:`BaselineUnavailableError`."""
    if given is not None:
        path = Path(given).expanduser()
        if path.is_file():
            return path
        raise BaselineUnavailableError(f"{what} {path} does not exist.\n{install}")
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise BaselineUnavailableError(f"no {what} found (looked at {looked}).\n{install}")


class ExternalVideoMetric(torch.nn.Module):
    """A metric that runs another package's model on video files, with pyiqa's attributes.

    Such models sample their own views (fragments, clips) from the file, so this metric takes paths
    (one or a list) and returns ``(B,)``; frame tensors are refused with an explanation. It works
    with :func:`qclip_plugin.bench.scoring.score_videos` through :meth:`load` / :meth:`collate` /
    :meth:`score_frames`. Subclasses implement :meth:`load` (a file -> the model's input) and
    :meth:`score_one` (that input -> a score).
    """

    metric_mode = "NR"
    lower_better = False

    def __init__(self, name: str, score_range: str, device: str | torch.device | None, as_loss: bool) -> None:
        super().__init__()
        if as_loss:
            raise ValueError(f"{name} runs on video files through its authors' code; it cannot be a loss")
        from qclip_plugin.api import default_device

        self.metric_name = name
        self.score_range = score_range
        self.device = torch.device(device) if device is not None else default_device()
        self.as_loss = False
        self.weights = ""  # subclasses: the weights and option files used

    def describe(self) -> dict[str, Any]:
        """What determines the scores (see ``VideoQualityMetric.describe``)."""
        return {"name": self.metric_name, "weights": self.weights, "score_range": self.score_range}

    def load(self, path: str | os.PathLike) -> Any:
        raise NotImplementedError

    def score_one(self, views: Any) -> float:
        raise NotImplementedError

    def collate(self, items: list[Any]) -> list[Any]:
        return items

    def score_frames(self, batch: list[Any]) -> torch.Tensor:
        with torch.no_grad():
            return torch.tensor([self.score_one(views) for views in batch], dtype=torch.float32)

    def forward(self, x: str | os.PathLike | Sequence[str | os.PathLike]) -> torch.Tensor:
        paths = [x] if isinstance(x, (str, os.PathLike)) else list(x)
        if not paths or not all(isinstance(p, (str, os.PathLike)) for p in paths):
            raise TypeError(
                f"{self.metric_name} samples its own views from the video file: pass a path or a list of paths"
            )
        return self.score_frames([self.load(p) for p in paths])
