"""``python -m qclip_plugin.cli``: the same as ``qclip-bench``."""

import sys

from qclip_plugin.cli.main import main

sys.exit(main())
