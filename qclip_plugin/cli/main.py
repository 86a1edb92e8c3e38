"""``qclip-bench``: a thin command line over the library (see ``qclip_plugin.cli.commands``).

Errors a user causes (:class:`qclip_plugin.errors.UserError`: a bad file, option, missing data or
weights) are printed as one message on stderr, exit code 2, no traceback (``--debug`` shows it).
Ctrl-C stops with the message the interrupted work gives (what it kept, how to resume), exit
code 130. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from qclip_plugin.cli import commands

#: Exit codes: a user error (as argparse's), an interrupt (128 + SIGINT, as shells report it).
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qclip-bench",
        description="Q-CLIP video quality assessment: benchmarks, scoring, tools.",
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


def main(argv: Sequence[str] | None = None) -> int:
    from qclip_plugin.errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        if args.debug:
            raise
        _say(f"qclip-bench {args.command}: {error}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt as interrupt:
        if args.debug:
            raise
        _say(f"qclip-bench {args.command}: {interrupt or 'interrupted'}")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
