"""The files that ship with the package: benchmark configs and published leaderboard rows.

In a checkout (an editable install, or the repository on ``PYTHONPATH``) they are the repository's
top-level ``benchmark_configs/`` and ``leaderboard/published/``, the folders users edit. A wheel
carries copies of them inside the package, under ``qclip_plugin/.mim/`` (``setup.py`` copies them
there at build time, as mmaction2 ships its configs), so an installed package reads its own copy.
:func:`resource_dir` is the one place that decides which; nothing else builds these paths.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PACKAGE_DIR", "RESOURCES", "SHIPPED_DIR", "resource_dir"]

PACKAGE_DIR = Path(__file__).resolve().parent
#: Where a wheel keeps its copies (the folder name mmaction2 and OpenMMLab's ``mim`` use).
SHIPPED_DIR = PACKAGE_DIR / ".mim"
#: The shipped folders, as paths relative to the repository root (and to :data:`SHIPPED_DIR`).
RESOURCES: tuple[str, ...] = ("benchmark_configs", "leaderboard/published")


def resource_dir(name: str) -> Path:
    """The folder ``name`` (one of :data:`RESOURCES`): the installed package's copy, else the
    checkout's (the repository holding this package). When neither exists (a broken install) the
    installed location is returned, so that whoever reads it names where it should have been."""
    if name not in RESOURCES:
        raise ValueError(f"unknown package resource {name!r}; one of {', '.join(RESOURCES)}")
    shipped = SHIPPED_DIR / name
    if shipped.is_dir():
        return shipped
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / name).is_dir():
        return checkout / name
    return shipped
