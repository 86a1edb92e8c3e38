"""Data: the ``load_video`` pipeline and its mmengine step.

Label parsers, datasets, splits, preflight checks and the synthetic benchmark are added
here as their modules land (``labels``, ``datasets``, ``splits``, ``preflight``, ``synthetic``).
"""

from qclip_plugin.data.pipeline import (
    DEFAULT_SIZE,
    PE_MEAN,
    PE_STD,
    LoadVideoFrames,
    frames_to_tensor,
    load_frames,
    load_video,
    sample_video,
)

__all__ = [
    "DEFAULT_SIZE",
    "PE_MEAN",
    "PE_STD",
    "LoadVideoFrames",
    "frames_to_tensor",
    "load_frames",
    "load_video",
    "sample_video",
]
