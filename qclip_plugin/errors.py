"""The base class of every error that a user, not a bug, causes (the lowest floor: imports nothing).

A bad input file, a mistyped option, a missing dataset or missing weights raise a subclass of
:class:`UserError` whose message names the file (and the line) and what to do. The command line
prints that message alone and exits 2; any other exception is a bug and keeps its traceback.
Subclasses also derive from the builtin that describes them (``ValueError``, ``FileNotFoundError``,
...) so that library callers can catch either.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """An error in what the user gave (file, option, environment); the message says what to do."""
