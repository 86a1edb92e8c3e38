"""Benchmark layer: protocols on mmengine's Runner, leaderboards, scoring, and the ``qclip-bench`` CLI.

Public API (imported lazily, so the CLI starts fast)::

    from qclip_plugin.bench import run_protocol
    result = run_protocol("cross-dataset", preset="demo")          # synthetic demo, tiny model
    result = run_protocol("cross-dataset", ["data_root.LSVQ=/data/lsvq", "data_root.KoNViD=/data/konvid",
                                            "data_root.LIVE_VQC=/data/live-vqc"])
    print(result.summary(), result.leaderboard.markdown)

- :func:`run_protocol`, :func:`load_protocol_config` — :mod:`qclip_plugin.bench.protocols`
- :func:`train_and_test` — :mod:`qclip_plugin.bench.runner`
- :func:`write_leaderboard`, :func:`load_published` — :mod:`qclip_plugin.bench.leaderboard`
- :func:`apply_overrides`, :func:`parse_overrides` — :mod:`qclip_plugin.bench.overrides`
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "run_protocol": "qclip_plugin.bench.protocols",
    "load_protocol_config": "qclip_plugin.bench.protocols",
    "ProtocolError": "qclip_plugin.bench.protocols",
    "ProtocolResult": "qclip_plugin.bench.protocols",
    "train_and_test": "qclip_plugin.bench.runner",
    "write_leaderboard": "qclip_plugin.bench.leaderboard",
    "load_published": "qclip_plugin.bench.leaderboard",
    "apply_overrides": "qclip_plugin.bench.overrides",
    "parse_overrides": "qclip_plugin.bench.overrides",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qclip_plugin.bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
