"""The progress bar of the long runs over videos (scoring, profile preparation): one tqdm bar on stderr."""

from __future__ import annotations

import sys
from typing import Any


def video_progress(total: int, enabled: bool) -> Any:
    """A tqdm bar counting ``total`` videos on stderr; silent when not ``enabled`` or nothing to do."""
    from tqdm import tqdm  # imported when a run starts, not with the package

    return tqdm(total=total, unit="video", disable=not enabled or total == 0, file=sys.stderr, dynamic_ncols=True)
