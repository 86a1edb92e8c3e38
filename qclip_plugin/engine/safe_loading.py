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

mmengine's loader of local files (``load_from``, ``resume``) is replaced by one that passes
``weights_only=True`` explicitly (:func:`load_checkpoint_file`, the package's one rule,
:mod:`qclip_plugin.torch_files`): mmengine leaves it out, and torch then honours
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, which would unpickle anything. A checkpoint holding other
objects is refused, naming the file and the run option ``trust_pickle=true``
(:func:`trusting_pickles` while a protocol runs with it).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = ["allow_mmengine_checkpoints", "load_checkpoint_file", "mmengine_checkpoint_globals", "trusting_pickles"]

_done = False
_trust = False  # set by trusting_pickles()
_STATISTICS = frozenset({"min", "max", "current", "mean"})


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as mmengine's checkpoints use it, and nothing more."""
    is_buffer = obj is HistoryBuffer or isinstance(obj, HistoryBuffer)
    # the table is filled when the first buffer is created, so name mmengine's defaults too
    if is_buffer and name in _STATISTICS | set(HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f"refusing getattr({type(obj).__name__}, {name!r}) while loading a checkpoint with "
        "weights_only=True: only HistoryBuffer statistics methods are allowed (qclip_plugin.engine.safe_loading)"
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

    Called by :func:`qclip_plugin.benchmark.run_protocol` and on import of
    ``qclip_plugin.engine.hooks`` (which every benchmark config imports), so a Runner built
    from these configs can ``resume`` and ``load_from`` under torch >= 2.6.
    """
    global _done
    if not _done:
        from mmengine.runner.checkpoint import CheckpointLoader

        torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
        CheckpointLoader.register_scheme(prefixes="", loader=_load_local, force=True)
        _done = True


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = "cpu", *, trust_pickle: bool = False) -> Any:
    """``torch.load`` of an mmengine checkpoint: tensors and :func:`mmengine_checkpoint_globals` only,
    unless ``trust_pickle`` (or :func:`trusting_pickles`); see :func:`qclip_plugin.torch_files.load_torch_file`."""
    from qclip_plugin.torch_files import load_torch_file

    allow_mmengine_checkpoints()
    return load_torch_file(os.path.expanduser(path), trust_pickle=trust_pickle or _trust, map_location=map_location,
                           what="checkpoint", flag="trust_pickle=true (a run option; trust_pickle=True in Python)")


def _load_local(filename: str, map_location: Any = None) -> Any:
    # mmengine's own load_from_local, with weights_only passed explicitly
    return load_checkpoint_file(filename, map_location)


@contextlib.contextmanager
def trusting_pickles(trust: bool = True) -> Iterator[None]:
    """Within the block, mmengine checkpoints are unpickled in full when ``trust`` (the user said so)."""
    global _trust
    previous, _trust = _trust, bool(trust) or _trust
    try:
        yield
    finally:
        _trust = previous
