"""``qclip-bench``: the command line. :mod:`.main` builds the parser from one module per command in
:mod:`.commands`; each command parses its arguments and calls the library."""
