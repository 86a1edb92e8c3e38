"""qclip_plugin: Q-CLIP video quality assessment for VQA benchmark toolkits.

Public entry points (imported lazily, so ``import qclip_plugin`` stays cheap):

- :func:`create_metric` / :func:`list_metrics` — pyiqa-style metrics (``"qclip"``, the zero-shot
  baselines, anything declared in the ``qclip_plugin.metrics`` entry-point group) that score
  video files, decoded arrays or frame tensors.
- :func:`load_video` — a video file to a normalised ``(T, 3, H, W)`` frames tensor
  with any of the paper's frame-sampling strategies.
- :class:`VideoReadError` — the one exception raised for unreadable videos.
- :func:`build_qclip` — the Q-CLIP model from a preset (``paper``, ``release``, ``tiny``).

Importing the package also makes ``pyiqa.create_metric("qclip")`` work: pyiqa checks its
``DEFAULT_CONFIGS`` table before loading plugins, so the entry is added the moment pyiqa defines
that table (an import hook; nothing is imported until pyiqa is).
"""

from __future__ import annotations

import importlib
import importlib.abc
import logging
import sys
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_video": "qclip_plugin.data.pipeline",
    "VideoReadError": "qclip_plugin.video.errors",
    "create_metric": "qclip_plugin.api",
    "list_metrics": "qclip_plugin.api",
    "build_qclip": "qclip_plugin.models",
}

# open_clip imports transformers, which imports bitsandbytes; on CPUs with AVX512-BF16 that logs a
# warning about an optional kernel package nothing here uses
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qclip_plugin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


# pyiqa module -> what to do with it once it has run (see qclip_plugin.pyiqa_bridge)
_PYIQA_TARGETS = {
    "pyiqa.default_model_configs": lambda module, bridge: bridge.add_default_configs(module.DEFAULT_CONFIGS),
    "pyiqa.utils.registry": lambda module, bridge: bridge.add_arch(module.ARCH_REGISTRY),
}


class _AfterExecLoader(importlib.abc.Loader):
    """Runs the wrapped loader, then ``after(module)``; everything else is the wrapped loader's."""

    def __init__(self, loader: Any, after: Any) -> None:
        self._loader, self._after = loader, after

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        self._after(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... for tracebacks
        return getattr(self._loader, name)


class _PyiqaHook(importlib.abc.MetaPathFinder):
    """Adds Q-CLIP to pyiqa's tables right after pyiqa creates them."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        action = _PYIQA_TARGETS.get(fullname)
        if action is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _AfterExecLoader(spec.loader, lambda module: _run(action, module))
                return spec
        return None


def _run(action: Any, module: Any) -> None:
    from qclip_plugin import pyiqa_bridge

    action(module, pyiqa_bridge)


def _install_pyiqa_hook() -> None:
    if any(isinstance(finder, _PyiqaHook) for finder in sys.meta_path):
        return
    loaded = [name for name in _PYIQA_TARGETS if name in sys.modules]
    if loaded:  # pyiqa came first: add the entries now
        for name in loaded:
            _run(_PYIQA_TARGETS[name], sys.modules[name])
    if len(loaded) < len(_PYIQA_TARGETS):
        sys.meta_path.insert(0, _PyiqaHook())


_install_pyiqa_hook()
