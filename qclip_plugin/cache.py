"""Where qclip_plugin keeps what it computes or downloads once (frame-difference
profiles, trained weights).

Resolution order: an explicit argument, then ``$QCLIP_CACHE_DIR``, then
``$XDG_CACHE_HOME/qclip_plugin``, then ``~/.cache/qclip_plugin``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "QCLIP_CACHE_DIR"


def cache_dir(subdir: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """Return (without creating) the cache directory, or one of its subdirectories."""
    if root is not None:
        base = Path(root)
    elif os.environ.get(ENV_VAR):
        base = Path(os.environ[ENV_VAR])
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "qclip_plugin"
    base = base.expanduser()
    return base / subdir if subdir else base
