"""A video's frames as a strategy picks them: :func:`sample_frames`, what the data pipeline calls.

Strategies that need the frame-difference profile get it through
:mod:`qclip_plugin.sampling.profile_cache` (cached, or computed in the same decode that keeps the
frames); the others only open a reader.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qclip_plugin.sampling.frame_difference import PROFILE_SIZE
from qclip_plugin.sampling.profile_cache import CacheDir, profile_before_sampling, profile_for_reader
from qclip_plugin.sampling.strategies import FrameSampler, RNGLike
from qclip_plugin.video import as_size, open_video
from qclip_plugin.video.open import YUV_SUFFIXES
from qclip_plugin.video.single_pass import DEFAULT_RETAIN_BYTES


def sample_frames(
    path: str | os.PathLike,
    strategy: FrameSampler,
    num_frames: int,
    *,
    rng: RNGLike = None,
    size: int | Sequence[int] | None = None,
    profile_size: int | Sequence[int] = PROFILE_SIZE,
    cache_dir: CacheDir | bool = None,
    retain_bytes: int = DEFAULT_RETAIN_BYTES,
    **reader_options: Any,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(frames, indices, total)``: the ``uint8 (N, H, W, 3)`` frames ``strategy`` picks (at ``size``),
    their indices and the video's frame count.

    Args:
        strategy: a resolved sampler (``FrameSampler.resolve``: ``Mixed`` has drawn its strategy).
        rng: the sampler's seed or generator.
        profile_size, cache_dir: the profile's decoding size and cache (``None`` or ``True``: the
            user cache; ``False``: none), see :mod:`qclip_plugin.sampling.profile_cache`.
        retain_bytes: decoded frames kept while a profile is computed, so the sampled ones need no
            second decode; ``0`` decodes them again.
        reader_options: for :func:`qclip_plugin.video.open_video`.
    """
    path = Path(path)
    if not strategy.needs_profile:
        with open_video(path, size=size, **reader_options) as reader:
            indices = strategy(reader.num_frames, num_frames, rng=rng)
            return reader.get_batch(indices), indices, reader.num_frames
    profile_size = as_size(profile_size)
    single_pass = (
        reader_options.get("backend", "auto") in ("auto", "pyav")
        and retain_bytes > 0
        and path.suffix.lower() not in YUV_SUFFIXES
    )
    profile, kept = profile_before_sampling(path, size=profile_size, keep_size=as_size(size), cache_dir=cache_dir,
                                            retain_bytes=retain_bytes, single_pass=single_pass, **reader_options)
    if kept is not None:  # first pass: one PyAV decode gave the profile and the frames
        indices = strategy(len(profile), num_frames, profile=profile, rng=rng)
        return kept.get_batch(indices), indices, len(profile)
    with open_video(path, size=size, **reader_options) as reader:
        profile = profile_for_reader(reader, profile, size=profile_size, cache_dir=cache_dir, **reader_options)
        indices = strategy(reader.num_frames, num_frames, profile=profile, rng=rng)
        return reader.get_batch(indices), indices, reader.num_frames
