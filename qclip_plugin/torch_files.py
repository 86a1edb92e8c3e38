"""Reading torch (pickle) files under one rule: tensors only, unless the user trusts the file.

A ``.pth`` file is a pickle: unpickling it can run any code its author put in it (a
``__reduce__`` payload). So every file this package reads with ``torch.load`` is read with
``weights_only=True``: tensors, containers of them, and the few types an allow-list names
(``torch.serialization.add_safe_globals``; mmengine's checkpoints need a handful, see
:mod:`qclip_plugin.engine.safe_loading`). Anything else is refused with a message naming the file
and the flag that allows it (``--trust-pickle`` on the command line, ``trust_pickle=True`` in
Python); with it, the file is unpickled in full. ``tests/test_safe_loading.py`` checks the whole
package for ``torch.load``/``pickle.load`` calls that do not follow this rule.

The lowest floor (imports only torch, lazily): models, baselines and the benchmark layer use it.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qclip_plugin.errors import UserError

__all__ = ["TorchFileError", "UntrustedPickleError", "load_torch_file"]


class UntrustedPickleError(UserError, pickle.UnpicklingError, ValueError):
    """A torch file holds Python objects beyond tensors and the user did not say it is trusted
    (also a ``ValueError``, as the refusal of a bad file has always been)."""


class TorchFileError(UserError, ValueError):
    """A file that ``torch.load`` cannot read at all (not a torch file, cut short, damaged)."""


def load_torch_file(
    path: str | os.PathLike,
    *,
    trust_pickle: bool = False,
    map_location: Any = "cpu",
    what: str = "torch file",
    flag: str = "--trust-pickle (trust_pickle=True)",
    allow: Sequence[Any] = (),
) -> Any:
    """``torch.load(path)`` with ``weights_only=True``, or in full when ``trust_pickle``.

    Args:
        path: the ``.pth``/``.pt`` file.
        trust_pickle: unpickle any object (runs code the file names): only for files from a
            source you trust.
        map_location: as in ``torch.load``.
        what: how messages name the file (``"official Q-CLIP checkpoint"``, ``"DOVER weights"``).
        flag: how messages name the option that trusts it, in the words of the interface used.
        allow: allow-list entries (as ``torch.serialization.add_safe_globals`` takes them) for this
            read only, e.g. the numpy scalars the authors' checkpoints of other models hold.

    Raises:
        FileNotFoundError: no such file.
        UntrustedPickleError: the file holds other objects and ``trust_pickle`` is false; the
            message names the file, what it holds, and ``flag``.
        TorchFileError: not a torch file, or a damaged one.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    # torch's safe_globals context removes on exit what it was given: give it only what is not allowed
    # already, or it would take back entries others rely on (mmengine's checkpoints: engine.safe_loading)
    allowed = torch.serialization.get_safe_globals()
    missing = [entry for entry in allow if entry not in allowed]
    try:
        with torch.serialization.safe_globals(missing):
            return torch.load(path, map_location=map_location, weights_only=not trust_pickle)
    except pickle.UnpicklingError as error:
        if trust_pickle:
            raise
        detail = next((line.strip() for line in str(error).splitlines() if "Unsupported global" in line), "")
        raise UntrustedPickleError(
            f"{path}: refusing to unpickle this {what}: it holds Python objects besides tensors"
            f"{f' ({detail})' if detail else ''}, and unpickling runs code the file names. If you trust "
            f"its source, pass {flag}"
        ) from None
    except (RuntimeError, EOFError, OSError) as error:  # torch's "failed finding central directory", ...
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TorchFileError(f"{path} cannot be read as a {what} ({message[:300]}); is it complete?") from None
