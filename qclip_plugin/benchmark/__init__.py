"""Benchmark layer: protocols on mmengine's Runner (:mod:`qclip_plugin.engine`), leaderboards, predictions,
scoring and frame-difference preparation.

Public API (imported lazily, so the CLI starts fast)::

    from qclip_plugin.benchmark import run_protocol
    result = run_protocol("cross-dataset", preset="demo", leaderboard_dir="lb")   # synthetic demo, tiny model
    result = run_protocol("cross-dataset", ["data_root.LSVQ=/data/lsvq", "data_root.KoNViD=/data/konvid",
                                            "data_root.LIVE_VQC=/data/live-vqc"])
    print(result.summary(), result.leaderboard.markdown)

- :func:`run_protocol` (run options as keyword arguments), :func:`load_protocol_config`, :class:`ProtocolSpec`,
  :class:`RunOptions` — :mod:`qclip_plugin.benchmark.protocols`
- :func:`train_and_test` — :mod:`qclip_plugin.engine.runner`
- :func:`write_leaderboard`, :func:`load_published` — :mod:`qclip_plugin.benchmark.leaderboard`
- :func:`apply_overrides`, :func:`check_overrides`, :func:`parse_overrides` — :mod:`qclip_plugin.benchmark.overrides`
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "run_protocol": "qclip_plugin.benchmark.protocols",
    "load_protocol_config": "qclip_plugin.benchmark.protocols",
    "ProtocolError": "qclip_plugin.benchmark.protocols",
    "ProtocolResult": "qclip_plugin.benchmark.protocols",
    "ProtocolSpec": "qclip_plugin.benchmark.protocols",
    "RunOptions": "qclip_plugin.benchmark.protocols",
    "train_and_test": "qclip_plugin.engine.runner",
    "write_leaderboard": "qclip_plugin.benchmark.leaderboard",
    "load_published": "qclip_plugin.benchmark.leaderboard",
    "apply_overrides": "qclip_plugin.benchmark.overrides",
    "check_overrides": "qclip_plugin.benchmark.overrides",
    "parse_overrides": "qclip_plugin.benchmark.overrides",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qclip_plugin.benchmark' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
