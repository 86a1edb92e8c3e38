"""Let ``torch.load(weights_only=True)`` (the default since torch 2.6) read mmengine's checkpoints.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, and its checkpoints pickle a
few non-tensor objects: the message hub's ``HistoryBuffer`` (log history, restored on
``resume``) holding numpy arrays and scalars, and its table of statistics methods, pickled
as ``getattr(HistoryBuffer, "mean")``. Under torch >= 2.6 loading then fails with
``Unsupported global: mmengine.logging.history_buffer.HistoryBuffer`` (DESIGN.md section 6).

Instead of switching the safety check off (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), this adds
exactly those types to torch's allow-list. ``getattr`` is not allowed in general (it would
reach any attribute of any loaded object): a restricted stand-in is registered under its
name that only returns the registered statistics methods of a ``HistoryBuffer``.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = ["allow_mmengine_checkpoints", "mmengine_checkpoint_globals"]

_done = False
_STATISTICS = frozenset({"min", "max", "current", "mean"})


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as mmengine's checkpoints use it, and nothing more."""
    is_buffer = obj is HistoryBuffer or isinstance(obj, HistoryBuffer)
    # the table is filled when the first buffer is created, so name mmengine's defaults too
    if is_buffer and name in _STATISTICS | set(HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f"refusing getattr({type(obj).__name__}, {name!r}) while loading a checkpoint with "
        "weights_only=True: only HistoryBuffer statistics methods are allowed (qclip_plugin.bench.safe_loading)"
    )


def mmengine_checkpoint_globals() -> list[Any]:
    """The allow-list entries (objects, or ``(object, qualified name)`` pairs) for mmengine checkpoints."""
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    entries: list[Any] = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        # numpy 2 pickles as numpy._core.*, numpy 1 as numpy.core.*: accept both spellings
        (multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
        (multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        (multiarray.scalar, "numpy._core.multiarray.scalar"),
        (multiarray.scalar, "numpy.core.multiarray.scalar"),
        (_history_buffer_getattr, "builtins.getattr"),
    ]
    # numpy >= 1.25 may pickle dtypes by their class (numpy.dtypes.Float64DType, ...)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        entries += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return entries


def allow_mmengine_checkpoints() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's ``weights_only`` allow-list (idempotent).

    Called by :func:`qclip_plugin.bench.run_protocol` and on import of
    ``qclip_plugin.bench.hooks`` (which every benchmark config imports), so a Runner built
    from these configs can ``resume`` and ``load_from`` under torch >= 2.6.
    """
    global _done
    if not _done:
        torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
        _done = True
