"""Frame-difference profile (paper eq. 13).

``m_t = ½ (MSE(v_t, v_{t+1}) + MSE(v_t, v_{t-1}))`` with
``MSE(a, b) = 1/(H·W·3) Σ_p (a_p − b_p)²`` over RGB values in [0, 255]; the first and
last frames have one neighbour, so their ``m_t`` is the MSE to it (the printed eq. 13
misplaces its parenthesis; the text and DESIGN.md §3 give the mean of the two terms).

Computing the profile decodes every frame, so it runs at a reduced size (default 112×112, decoded
at that size by the reader); :mod:`qclip_plugin.sampling.profile_cache` caches it per video and
decides when a video is decoded for it.
"""

from __future__ import annotations

import numpy as np

from qclip_plugin.video import VideoReader

#: Decoding size for the profile: motion shows at 112 px and the decode stays cheap.
PROFILE_SIZE = (112, 112)


def consecutive_mse(frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """``MSE(v_t, v_{t+1})`` for consecutive ``uint8 (n, H, W, 3)`` frames (exact integer sums).

    With ``previous`` (the frame before ``frames[0]``), the first value compares it with ``frames[0]``.
    """
    if previous is not None:
        frames = np.concatenate([previous[None], frames])
    if len(frames) < 2:
        return np.empty(0, np.float64)
    flat = frames.reshape(len(frames), -1)
    # One pass to int16 differences; squares summed in int64 (255² · H·W·3 overflows int32).
    diff = np.subtract(flat[1:], flat[:-1], dtype=np.int16)
    sse = np.einsum("ij,ij->i", diff, diff, dtype=np.int64)
    return sse / diff.shape[1]


def profile_from_differences(d: np.ndarray) -> np.ndarray:
    """Eq. 13 from the ``T−1`` consecutive MSEs ``d_t = MSE(v_t, v_{t+1})``: ``T`` values ``m_t``."""
    d = np.asarray(d, np.float64)
    if d.size == 0:
        return np.zeros(1, np.float64)
    m = np.empty(d.size + 1, np.float64)
    m[0], m[-1] = d[0], d[-1]
    m[1:-1] = 0.5 * (d[:-1] + d[1:])
    return m


class ProfileAccumulator:
    """Eq. 13 over a video's frames given a chunk at a time, in order (bounded memory)."""

    def __init__(self) -> None:
        self.count = 0
        self._diffs: list[np.ndarray] = []
        self._last: np.ndarray | None = None

    def add(self, chunk: np.ndarray) -> None:
        """The next ``uint8 (n, H, W, 3)`` frames (``chunk`` may be reused by the caller after this)."""
        self._diffs.append(consecutive_mse(chunk, self._last))
        self._last = chunk[-1].copy()
        self.count += len(chunk)

    def profile(self) -> np.ndarray:
        """``m_t`` of the frames added so far, ``float64 (max(count, 1),)``."""
        m = profile_from_differences(np.concatenate(self._diffs) if self._diffs else np.empty(0))
        assert m.size == max(self.count, 1)
        return m


def compute_profile(reader: VideoReader) -> np.ndarray:
    """Eq. 13 over every frame ``reader`` yields (at the reader's size), uncached."""
    profile = ProfileAccumulator()
    for chunk in reader.iter_chunks():
        profile.add(chunk)
    return profile.profile()
