"""The seven frame-sampling strategies of the paper (table 1, DESIGN.md §3), as registered
samplers in :data:`qclip_plugin.registry.SAMPLERS`.

Every sampler is called as ``sampler(num_total_frames, num_frames, *, profile=None, rng=None)``
and returns ``numpy.int64`` indices, sorted, in ``[0, num_total_frames)``, of length
``num_frames``. ``profile`` is the frame-difference profile (eq. 13) as an array, or a
zero-argument callable returning it, so it is computed only when a strategy needs it
(``sampler.needs_profile`` says whether one may). ``rng`` is a seed or a
``numpy.random.Generator``: a given seed always gives the same indices.

Videos shorter than ``num_frames`` repeat frames: ``UNISampl`` through its rounding, the
others by spreading the ``T`` frames evenly over the ``N`` slots (each frame ⌊N/T⌋ or
⌈N/T⌉ times).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from qclip_plugin.registry import SAMPLERS

ProfileLike = np.ndarray | Sequence[float] | Callable[[], np.ndarray] | None
RNGLike = np.random.Generator | int | None


def video_seed(seed: int | None, key: str) -> int:
    """The seed of one video's draws outside training: a stable hash (BLAKE2b, not Python's salted
    ``hash``) of the run's ``seed`` (``None`` counts as 0) and the video's ``key`` (its name in the
    label list), so random strategies pick the same frames of a video in every run, process and
    epoch, and different frames in different videos."""
    text = f"{0 if seed is None else int(seed)}:{key}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def uniform_indices(num_total_frames: int, num_frames: int) -> np.ndarray:
    """``linspace(0, T−1, N)`` rounded (half to even, as ``numpy.round``): the official release's sampling."""
    return np.round(np.linspace(0, num_total_frames - 1, num_frames)).astype(np.int64)


def repeat_indices(num_total_frames: int, num_frames: int) -> np.ndarray:
    """All ``T`` frames spread over ``N ≥ T`` slots: ``⌊k·T/N⌋`` for ``k < N``."""
    return np.arange(num_frames, dtype=np.int64) * num_total_frames // num_frames


def segment_edges(num_total_frames: int, num_segments: int) -> np.ndarray:
    """``N+1`` edges of ``N`` near-equal, non-empty segments of ``[0, T)`` (``T ≥ N``)."""
    return np.arange(num_segments + 1, dtype=np.int64) * num_total_frames // num_segments


class FrameSampler:
    """Base class: checks arguments, handles short videos, resolves the profile lazily.

    Attributes:
        needs_profile: whether the strategy may read the frame-difference profile.
        test_mode: evaluation behaviour; only :class:`Mixed` changes with it.
    """

    needs_profile: bool = False
    #: Short videos (T < N) use :func:`repeat_indices` unless the strategy handles them itself.
    repeats_short_videos: bool = True

    def __init__(self, test_mode: bool = False) -> None:
        self.test_mode = bool(test_mode)

    @property
    def name(self) -> str:
        return type(self).__name__

    def __call__(self, num_total_frames: int, num_frames: int, *, profile: ProfileLike = None,
                 rng: RNGLike = None) -> np.ndarray:
        total, n = int(num_total_frames), int(num_frames)
        if total <= 0:
            raise ValueError(f"{self.name}: the video has no frames (num_total_frames={num_total_frames})")
        if n <= 0:
            raise ValueError(f"{self.name}: num_frames must be positive, got {num_frames}")
        if total < n and self.repeats_short_videos:
            return repeat_indices(total, n)
        get_profile = (lambda: _check_profile(profile, total, self.name)) if self.needs_profile else None
        idx = np.asarray(self._sample(total, n, get_profile, np.random.default_rng(rng)), np.int64)
        assert idx.shape == (n,) and idx[0] >= 0 and idx[-1] < total and np.all(np.diff(idx) >= 0), idx
        return idx

    def resolve(self, rng: RNGLike = None) -> tuple[FrameSampler, RNGLike]:
        """The strategy that will actually run with ``rng``, and the generator to run it with.

        Itself for every strategy but :class:`Mixed`, which draws here; callers use it to learn
        before decoding whether this call needs the profile.
        """
        return self, rng

    def _sample(self, total: int, n: int, get_profile: Callable[[], np.ndarray] | None,
                rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name}(test_mode={self.test_mode})"


def _check_profile(profile: ProfileLike, total: int, name: str) -> np.ndarray:
    if profile is None:
        raise ValueError(f"{name} needs the frame-difference profile: pass profile= "
                         "(qclip_plugin.sampling.frame_difference_profile(path)) or use load_video")
    m = np.asarray(profile() if callable(profile) else profile, dtype=np.float64)
    if m.shape != (total,):
        raise ValueError(f"{name}: the profile has shape {m.shape} but the video has {total} frames; "
                         "was it computed for another file or reader?")
    return m


@SAMPLERS.register_module()
class RandSampl(FrameSampler):
    """``N`` distinct frames drawn uniformly at random, returned in time order."""

    def _sample(self, total, n, get_profile, rng):
        return np.sort(rng.choice(total, size=n, replace=False))


@SAMPLERS.register_module()
class UNISampl(FrameSampler):
    """Uniform: ``round(linspace(0, T−1, N))``, first and last frame included (official release)."""

    repeats_short_videos = False  # rounding repeats frames by itself, as the release does

    def _sample(self, total, n, get_profile, rng):
        return uniform_indices(total, n)


@SAMPLERS.register_module()
class UNIRandStart(FrameSampler):
    """Uniform stride ``T/N`` from a random start ``s ∈ [0, T/N)``: ``⌊s + k·T/N⌋``.

    Covers the whole video like ``UNISampl`` but shifts the grid at random each call.
    """

    def _sample(self, total, n, get_profile, rng):
        stride = total / n
        start = rng.uniform(0.0, stride)
        return np.minimum(np.floor(start + stride * np.arange(n)), total - 1)


@SAMPLERS.register_module()
class MSESortedUNI(FrameSampler):
    """Sort frames by ``m_t`` (ascending, ties by time), take ``N`` evenly spaced ranks
    (``round(linspace(0, T−1, N))``), return them in time order: low- to high-motion frames."""

    needs_profile = True

    def _sample(self, total, n, get_profile, rng):
        order = np.argsort(get_profile(), kind="stable")
        return np.sort(order[uniform_indices(total, n)])


class _SegmentMSE(FrameSampler):
    """``N`` equal segments; in each, the frame whose ``m_t`` is closest to the segment's statistic."""

    needs_profile = True
    statistic: Callable[[np.ndarray], float]

    def _sample(self, total, n, get_profile, rng):
        m = get_profile()
        edges = segment_edges(total, n)
        out = np.empty(n, np.int64)
        for k in range(n):
            seg = m[edges[k]:edges[k + 1]]
            out[k] = edges[k] + int(np.argmin(np.abs(seg - type(self).statistic(seg))))  # ties: earliest
        return out


@SAMPLERS.register_module()
class SegMSEMean(_SegmentMSE):
    """Per segment, the frame with ``m_t`` closest to the segment's mean ``m_t``."""

    statistic = staticmethod(np.mean)


@SAMPLERS.register_module()
class SegMSEMedian(_SegmentMSE):
    """Per segment, the frame with ``m_t`` closest to the segment's median ``m_t``."""

    statistic = staticmethod(np.median)


MIXED_DEFAULT = ("RandSampl", "UNISampl", "UNIRandStart", "MSESortedUNI", "SegMSEMean", "SegMSEMedian")


@SAMPLERS.register_module()
class Mixed(FrameSampler):
    """Training: a strategy drawn uniformly from ``strategies`` for every call (every sample).

    Evaluation (``test_mode=True``): always ``test_strategy`` (default ``UNISampl``, the
    deterministic strategy the paper fine-tunes and ablates with), so scores are reproducible
    and no profile is needed. The draw uses ``rng`` first, so a seed fixes both the strategy
    and its indices.
    """

    repeats_short_videos = False  # the chosen strategy decides

    def __init__(self, strategies: Sequence[str | Mapping | FrameSampler] = MIXED_DEFAULT,
                 test_strategy: str | Mapping | FrameSampler = "UNISampl", test_mode: bool = False) -> None:
        super().__init__(test_mode)
        self.strategies = [build_sampler(s) for s in strategies]
        if not self.strategies or any(isinstance(s, Mixed) for s in self.strategies):
            raise ValueError("Mixed needs at least one strategy, and none of them may be Mixed")
        self.test_strategy = build_sampler(test_strategy)
        self.last_choice: str | None = None  # which strategy the last call used (for logs and tests)

    @property
    def needs_profile(self) -> bool:  # type: ignore[override]
        if self.test_mode:
            return self.test_strategy.needs_profile
        return any(s.needs_profile for s in self.strategies)

    def resolve(self, rng: RNGLike = None) -> tuple[FrameSampler, RNGLike]:
        if self.test_mode:
            chosen = self.test_strategy
        else:
            rng = np.random.default_rng(rng)
            chosen = self.strategies[int(rng.integers(len(self.strategies)))]
        self.last_choice = chosen.name
        return chosen, rng

    def __call__(self, num_total_frames, num_frames, *, profile=None, rng=None):
        chosen, rng = self.resolve(rng)
        return chosen(num_total_frames, num_frames, profile=profile, rng=rng)

    def __repr__(self) -> str:
        names = [s.name for s in self.strategies]
        return f"Mixed(strategies={names}, test_strategy={self.test_strategy.name!r}, test_mode={self.test_mode})"


def build_sampler(spec: str | Mapping | FrameSampler, **overrides) -> FrameSampler:
    """A sampler from its registered name, a config dict (``dict(type='Mixed', test_mode=True)``)
    or an instance (returned as is unless ``overrides`` are given)."""
    if isinstance(spec, FrameSampler):
        if not overrides:
            return spec
        sampler = copy.copy(spec)  # keep its configuration (e.g. Mixed's strategies)
        for key, value in overrides.items():
            if not hasattr(sampler, key):
                raise TypeError(f"{sampler.name} has no option {key!r}")
            setattr(sampler, key, value)
        return sampler
    cfg = {"type": spec} if isinstance(spec, str) else dict(spec)
    cfg.update(overrides)
    name = cfg.pop("type", None)
    # Our own entries directly: Registry.get/build would import torch through mmengine (seconds).
    cls = SAMPLERS.module_dict.get(name.split(".")[-1] if isinstance(name, str) else name)
    if cls is None:
        raise KeyError(f"unknown frame sampler {name!r}; registered: {', '.join(sorted(SAMPLERS.module_dict))}")
    return cls(**cfg)
