"""The base class of every error that a user, not a bug, causes (the lowest floor: imports only the standard library).

A bad input file, a mistyped option, a missing dataset or missing weights raise a subclass of
:class:`UserError` whose message names the file (and the line) and what to do. The command line
prints that message alone and exits 2; any other exception is a bug and keeps its traceback.
Subclasses also derive from the builtin that describes them (``ValueError``, ``FileNotFoundError``,
...) so that library callers can catch either.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["UnknownNameError", "UsageError", "UserError", "check_name", "closest"]


class UserError(Exception):
    """An error in what the user gave (file, option, environment); the message says what to do."""


class UnknownNameError(UserError, ValueError):
    """A name (protocol, preset, sampler, metric, config key) that is not one of the known ones."""


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The choices closest to a mistyped ``name`` (difflib), best first; case-insensitive."""
    import difflib

    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(str(choice).lower(), str(choice))
    return [by_lower[m] for m in difflib.get_close_matches(str(name).lower(), list(by_lower), n=n, cutoff=0.75)]


def check_name(kind: str, name: str, choices: Iterable[str], *, show_all: bool = True) -> str:
    """Return ``name`` if it is one of ``choices``, else raise :class:`UnknownNameError` saying
    ``unknown <kind> 'x'; did you mean 'y'?`` and, with ``show_all``, every choice."""
    choices = list(choices)
    if name in choices:
        return name
    suggestions = closest(name, choices)
    message = f"unknown {kind} {name!r}"
    if suggestions:
        message += "; did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
    if show_all:
        message += f" (choose from {', '.join(sorted(choices, key=str.lower))})"
    raise UnknownNameError(message)


class UsageError(UserError, ValueError):
    """Options that do not go together (``--shard`` under torchrun, ``--weights-dtype`` without ``--amp``)."""
