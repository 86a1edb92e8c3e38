"""Frame sampling: the frame-difference profile (eq. 13, cached) and the seven strategies;
:func:`sample_frames` picks a video's frames with one of them.

>>> from qclip_plugin.sampling import build_sampler, frame_difference_profile
>>> sampler = build_sampler("SegMSEMean")                              # doctest: +SKIP
>>> idx = sampler(243, 8, profile=frame_difference_profile("clip.mp4"))  # doctest: +SKIP
"""

from qclip_plugin.sampling.frame_difference import (
    PROFILE_SIZE,
    ProfileAccumulator,
    compute_profile,
    consecutive_mse,
    profile_from_differences,
)
from qclip_plugin.sampling.frames import DEFAULT_RETAIN_BYTES, sample_frames
from qclip_plugin.sampling.profile_cache import (
    cache_path,
    cached_profile,
    frame_difference_profile,
    profile_single_pass,
    store_profile,
)
from qclip_plugin.sampling.strategies import (
    MIXED_DEFAULT,
    FrameSampler,
    Mixed,
    MSESortedUNI,
    RandSampl,
    SegMSEMean,
    SegMSEMedian,
    UNIRandStart,
    UNISampl,
    build_sampler,
    repeat_indices,
    segment_edges,
    uniform_indices,
    video_seed,
)

#: The seven strategies of the paper, in table 1's order.
STRATEGIES = ("RandSampl", "UNISampl", "UNIRandStart", "MSESortedUNI", "SegMSEMean", "SegMSEMedian", "Mixed")

__all__ = [
    "DEFAULT_RETAIN_BYTES",
    "MIXED_DEFAULT",
    "PROFILE_SIZE",
    "ProfileAccumulator",
    "STRATEGIES",
    "FrameSampler",
    "MSESortedUNI",
    "Mixed",
    "RandSampl",
    "SegMSEMean",
    "SegMSEMedian",
    "UNIRandStart",
    "UNISampl",
    "build_sampler",
    "cache_path",
    "cached_profile",
    "compute_profile",
    "consecutive_mse",
    "frame_difference_profile",
    "profile_from_differences",
    "profile_single_pass",
    "repeat_indices",
    "sample_frames",
    "segment_edges",
    "store_profile",
    "uniform_indices",
    "video_seed",
]
