"""Subcommands of ``qclip-bench``, one module each.

A module here defines ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed namespace, returning an exit code). Modules are
discovered, so adding a command means adding a module. Commands only parse
arguments and call the library.
"""
