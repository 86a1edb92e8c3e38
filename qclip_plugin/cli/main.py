"""``qclip-bench``: a thin command line over the library (see ``qclip_plugin.cli.commands``).

Exit codes, the same for every command:

- ``0``: done. A command over many videos (``score``, ``prepare``) also exits 0 when some of them
  failed and at least one succeeded; it prints each failure and their count (``--strict`` stops at
  the first instead).
- ``1``: nothing succeeded (every video failed; a ``score --shard`` part exits 0, its failures recorded
  for ``merge``).
- ``2``: a user error (:class:`qclip_plugin.errors.UserError`: a mistyped flag, key or name, a bad
  file, missing data or weights), printed as one message on stderr, no traceback (``--debug``
  shows it). It is raised before any work where it can be: overrides, names and files are
  checked first.
- ``130``: interrupted (Ctrl-C); the message says what the interrupted work kept and how to resume.

Anything else is a bug and keeps its traceback. The library's messages name its parameters
(``pretrained=False``); each command translates them into its flags (``--untrained``) with its
``FLAGS`` table.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from collections.abc import Mapping, Sequence

from qclip_plugin.cli import commands

#: Exit codes: nothing succeeded, a user error (as argparse's), an interrupt (128 + SIGINT, as shells report it).
EXIT_NOTHING_SUCCEEDED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qclip-bench",
        description="Q-CLIP video quality assessment: benchmarks, scoring, tools.",
        epilog="exit codes: 0 done (some videos may have failed, counted), 1 nothing succeeded, 2 user error, "
        "130 interrupted",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of errors (for bug reports)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def _say(text: str) -> None:
    """Print to stderr whatever the text holds (file names that are not UTF-8 come out escaped)."""
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding), file=sys.stderr)


def in_cli_words(message: str, flags: Mapping[str, str]) -> str:
    """A library message with its parameter words (``pretrained=False``, ``ann_file=``) replaced by
    the command's flags (``--untrained``, ``--ann-file``); a dotted config key is left alone."""
    for word, flag in flags.items():
        # "pass ann_file= (a list)" -> "pass --ann-file (a list)"; "init_checkpoint=PATH" -> "--init-checkpoint PATH"
        pattern = rf"(?<![\w.-]){re.escape(word)}(?=(\w|/|\$)?)"
        spaced = f"{flag} " if word.endswith("=") else flag
        message = re.sub(pattern, lambda m, f=flag, s=spaced: s if m.group(1) else f, message)
        # messages that name both spellings ("--trust-pickle (trust_pickle=True)") keep the flag once
        message = message.replace(f"{flag} ({flag})", flag)
    return message


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; ``key=value`` items after a flag go to the command's ``overrides`` (argparse takes a
    positional list only once)."""
    args, extra = parser.parse_known_args(argv)
    overrides = getattr(args, "overrides", None)
    stray = [item for item in extra if item.startswith("-") or "=" not in item or overrides is None]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*overrides, *extra]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from qclip_plugin.errors import UserError

    parser = build_parser()
    args = _parse(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        if args.debug:
            raise
        _say(f"qclip-bench {args.command}: {in_cli_words(str(error), getattr(args, 'flags', {}))}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt as interrupt:
        if args.debug:
            raise
        message = in_cli_words(str(interrupt) or "interrupted", getattr(args, "flags", {}))
        _say(f"qclip-bench {args.command}: {message}")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
