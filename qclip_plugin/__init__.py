"""qclip_plugin: Q-CLIP video quality assessment for VQA benchmark toolkits.

Public entry points (imported lazily, so ``import qclip_plugin`` stays cheap):

- :func:`load_video` — a video file to a normalised ``(T, 3, H, W)`` frames tensor
  with any of the paper's frame-sampling strategies.
- :class:`VideoReadError` — the one exception raised for unreadable videos.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_video": "qclip_plugin.data.pipeline",
    "VideoReadError": "qclip_plugin.video.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qclip_plugin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
