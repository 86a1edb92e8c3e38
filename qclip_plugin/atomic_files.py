"""Write files atomically: a temporary file in the same folder, then ``os.replace``; one writer per file.

A reader (or a crash) then sees either the old file or the new one, never half of one:
leaderboards are read while long runs rewrite them, and caches (frame-difference profiles,
the demo set) are shared by processes. The one writer every floor of the package uses.

A file that a run keeps updating (a scores file, a list of bad videos) is also locked for the
whole run (:class:`WriterLock`, an exclusive ``filelock`` next to it, which works on Windows
too): two runs updating one file would each rewrite it from their own view and lose rows.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from qclip_plugin.errors import UserError

__all__ = ["FileBusyError", "WriterLock", "atomic_write", "atomic_write_bytes", "atomic_write_text"]


class FileBusyError(UserError, RuntimeError):
    """Another process is writing the file."""


class WriterLock:
    """Exclusive right to write ``path`` for as long as it is held: ``<path>.lock`` (``filelock``).

    ``timeout``: seconds to wait for another holder (``0``: refuse at once, ``None``: no limit);
    then :class:`FileBusyError` (or ``error``, a subclass) naming the file, with ``advice``.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float | None = 0.0, advice: str = "let it finish",
                 error: type[FileBusyError] = FileBusyError) -> None:
        from filelock import FileLock

        self.path, self.timeout, self.advice, self.error = Path(path), timeout, advice, error
        self.lock = FileLock(f"{self.path}.lock")

    def __enter__(self) -> WriterLock:
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire(timeout=-1 if self.timeout is None else self.timeout)
        except Timeout:
            waited = f" after waiting {self.timeout:g} s" if self.timeout else ""
            raise self.error(
                f"another run is writing {self.path} (it holds {self.lock.lock_file}){waited}; {self.advice}"
            ) from None
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], mode: str = "w") -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then move it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"newline": "", "encoding": "utf-8"} if "b" not in mode else {})) as handle:
            write(handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda handle: handle.write(data), mode="wb")
