"""qclip_plugin: Q-CLIP video quality assessment for VQA benchmark toolkits.

Public entry points (imported lazily, so ``import qclip_plugin`` stays cheap):

- :func:`create_metric` / :func:`list_metrics` — pyiqa-style metrics (``"qclip"``, the zero-shot
  baselines, anything declared in the ``qclip_plugin.metrics`` entry-point group) that score
  video files, decoded arrays or frame tensors.
- :func:`load_video` — a video file to a normalised ``(T, 3, H, W)`` frames tensor
  with any of the paper's frame-sampling strategies.
- :class:`VideoReadError` — the one exception raised for unreadable videos.
- :func:`build_qclip` — the Q-CLIP model from a preset (``paper``, ``release``, ``tiny``).

``pyiqa.create_metric("qclip")`` works in any interpreter where the package is installed (a
start-up file installs an import hook, :mod:`qclip_plugin.integrations.pyiqa_hook`), and after
``import qclip_plugin`` wherever the package comes from.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from qclip_plugin.integrations.pyiqa_hook import install as _install_pyiqa_hook

__version__ = "0.1.0"

_LAZY = {
    "load_video": "qclip_plugin.data.pipeline",
    "VideoReadError": "qclip_plugin.video.errors",
    "create_metric": "qclip_plugin.metrics",
    "list_metrics": "qclip_plugin.metrics",
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


# pyiqa.create_metric("qclip") in any import order (the start-up file does this before any import;
# see qclip_plugin.integrations.pyiqa_hook). Imports nothing but sys.
_install_pyiqa_hook()
