"""Shared pieces of the adapters that run other authors' VQA packages (FAST-VQA, DOVER).

Those packages are not on PyPI: users clone the authors' repositories, ``pip install --no-deps -e``
them (their pinned requirements do not resolve with current torch), add the few modules they
import, and download the released weights. The adapters import them only when a metric is
created, find the weights and the repository's option file, and otherwise raise
:class:`BaselineUnavailableError` naming the missing piece and the command that installs it.

Three behaviours of the authors' code that the adapters contain here:

- their dataset modules switch decord's bridge to torch when imported (and DOVER's again on every
  call); :func:`authors_decord_bridge` runs their code under that bridge and gives the calling
  thread its own bridge back, so other decord users in the process (``qclip_plugin.video``) keep
  getting numpy-backed frames;
- their samplers draw fragment positions and frame offsets from the global numpy and torch
  generators; :func:`seeded` makes a video's sample depend only on a seed;
- their weights are pickles; :func:`load_weights` reads them with ``weights_only=True`` and an
  allow-list of numpy scalars, and unpickles anything else only with ``trust_pickle=True``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from qclip_plugin.cache import cache_dir
from qclip_plugin.errors import UserError
from qclip_plugin.metrics.contract import FILE_VIEWS
from qclip_plugin.metrics.wrapper import DeviceModule
from qclip_plugin.torch_files import UntrustedPickleError, load_torch_file

__all__ = [
    "BaselineFileError",
    "BaselineOptionError",
    "BaselineUnavailableError",
    "ExternalVideoMetric",
    "UntrustedWeightsError",
    "authors_decord_bridge",
    "baseline_dir",
    "find_file",
    "import_package",
    "load_weights",
    "option_file_weights",
    "read_options",
    "seeded",
]

#: module the authors' packages import -> the pip command that provides it
PIP_FOR_MODULE = {
    "skvideo": "pip install scikit-video",
    "clip": "pip install openai-clip   # OpenAI's CLIP (module 'clip'); not the unrelated PyPI package 'clip'",
    "cv2": "pip install opencv-python-headless",
    "decord": "pip install decord",
    "einops": "pip install einops",
    "timm": "pip install timm",
    "yaml": "pip install pyyaml",
}


class BaselineUnavailableError(UserError, ImportError):
    """A third-party baseline's package, dependency, weights or option file is missing; the message says how to get it."""


class BaselineOptionError(UserError, ValueError):
    """An option of a baseline metric has a value it does not take (the message lists those it takes)."""


class BaselineFileError(UserError, ValueError):
    """A weights or option file of a baseline cannot be read, or lacks what the adapter needs."""


class UntrustedWeightsError(UntrustedPickleError):
    """A weights file holds more than tensors and numpy scalars; unpickling it needs ``trust_pickle=True``."""


def baseline_dir(name: str) -> Path:
    """Where the weights and option files of baseline ``name`` are looked for by default."""
    return cache_dir("baselines") / name


@contextlib.contextmanager
def authors_decord_bridge() -> Iterator[None]:
    """Run the authors' code under decord's torch bridge; the calling thread's bridge is restored after.

    FAST-VQA's and DOVER's dataset modules call ``decord.bridge.set_bridge("torch")`` when imported
    (DOVER's view decomposition again per call) and index ``VideoReader`` expecting torch tensors,
    as their scripts do. decord keeps the bridge per thread; its ``use_torch()`` scope records this
    thread's bridge and sets it back on exit, whatever their code set inside.
    """
    import decord

    with decord.bridge.use_torch():
        yield


def import_package(module: str, install: str) -> ModuleType:
    """Import the authors' ``module`` (under :func:`authors_decord_bridge`), or explain what is missing.

    The package itself missing gives the ``install`` instructions; a module it imports missing
    (scikit-video, OpenAI's CLIP, ...) gives that module's own pip command.
    """
    package = module.split(".")[0]
    try:
        with authors_decord_bridge():
            return importlib.import_module(module)
    except ImportError as error:
        missing = getattr(error, "name", None) or ""
        if not missing or missing.split(".")[0] == package:
            raise BaselineUnavailableError(
                f"the Python package {module!r} is not installed ({error}).\n{install}"
            ) from error
        top = missing.split(".")[0]
        command = PIP_FOR_MODULE.get(top, f"pip install {top}")
        raise BaselineUnavailableError(
            f"{module!r} is installed but imports the module {top!r}, which is missing ({error}). Install it:\n"
            f"  {command}"
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


def read_options(path: Path, needs: Sequence[str] = ("model", "data")) -> dict[str, Any]:
    """The authors' YAML option file, checked for the sections the adapters read."""
    import yaml

    try:
        opt = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise BaselineFileError(f"cannot read the option file {path}: {error}") from error
    missing = [key for key in needs if not isinstance(opt, dict) or key not in opt]
    if missing:
        raise BaselineFileError(
            f"the option file {path} has no {', '.join(missing)} section: pass one of the authors' YAML files"
        )
    return opt


def option_file_weights(options_path: Path, opt: Mapping[str, Any], repo_root: Path) -> list[Path]:
    """Where the option file's ``test_load_path`` points, relative to the repository root.

    The authors' YAMLs name some weights with a literal ``*`` (``FAST_VQA_B_1*4.pth``) while the
    release asset is ``FAST_VQA_B_1_4.pth``; both spellings are candidates.
    """
    if not opt.get("test_load_path"):
        return []
    path = repo_root / str(opt["test_load_path"])
    return [path] + ([path.with_name(path.name.replace("*", "_"))] if "*" in path.name else [])


def _numpy_scalar_globals() -> list[Any]:
    """The allow-list for the authors' training checkpoints: they store numpy scalars (validation
    results) beside the state dict, pickled as numpy 1's ``numpy.core`` or numpy 2's ``numpy._core``."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1
        from numpy.core.multiarray import scalar
    return [
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
        np.dtype,
        *(getattr(np.dtypes, name) for name in ("Float64DType", "Float32DType") if hasattr(np, "dtypes")),
    ]


def load_weights(path: Path, what: str, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (a bare one, or under ``'state_dict'`` as the training scripts save).

    Read by :func:`qclip_plugin.torch_files.load_torch_file` (the package's one rule) with
    ``weights_only=True`` and the numpy scalars allowed; ``trust_pickle=True`` unpickles anything,
    for files from a source the user trusts.
    """
    try:
        obj = load_torch_file(path, trust_pickle=trust_pickle, what=what, allow=_numpy_scalar_globals())
    except UntrustedPickleError as error:
        raise UntrustedWeightsError(str(error)) from None
    except Exception as error:
        raise BaselineFileError(f"cannot read the {what} {path}: {type(error).__name__}: {str(error)[:300]}") from error
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, Mapping) or not state:
        raise BaselineFileError(f"the {what} {path} holds no state dict (found {type(state).__name__})")
    return dict(state)


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed the global torch, numpy and ``random`` generators that the authors' samplers draw from,
    and restore their states after; ``None`` leaves them alone (the authors' scripts' behaviour)."""
    if seed is None:
        yield
        return
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


class ExternalVideoMetric(DeviceModule):
    """A metric that runs another package's model on video files, with pyiqa's attributes.

    Such models sample their own views (fragments, clips) from the file, so this metric takes paths
    (one or a list) and returns ``(B,)``; frame tensors are refused with an explanation. It works
    with :func:`qclip_plugin.benchmark.scoring.score_videos` through :meth:`load` and :meth:`score_frames`,
    as its ``metric_input`` (``FILE_VIEWS``) declares: the scorer passes a list of :meth:`load`'s views.
    Subclasses implement :meth:`load` (a file -> the model's input) and :meth:`score_one` (that input ->
    a score).
    """

    metric_mode = "NR"
    lower_better = False
    metric_input = FILE_VIEWS

    def __init__(self, name: str, score_range: str, device: str | torch.device | None, as_loss: bool) -> None:
        super().__init__(device)  # ``device`` follows .to() / .cuda()
        if as_loss:
            raise ValueError(f"{name} runs on video files through its authors' code; it cannot be a loss")
        self.metric_name = name
        self.score_range = score_range
        self.as_loss = False
        self.weights = ""  # subclasses: the weights and option files used

    def describe(self) -> dict[str, Any]:
        """What determines the scores (see ``VideoQualityMetric.describe``)."""
        return {"name": self.metric_name, "weights": self.weights, "score_range": self.score_range}

    def load(self, path: str | os.PathLike) -> Any:
        raise NotImplementedError

    def score_one(self, views: Any) -> float:
        raise NotImplementedError

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
