"""Correlation metrics of VQA benchmarks and the mappings applied before PLCC/RMSE.

SROCC and KROCC are rank statistics and are computed on the raw predictions. PLCC and
RMSE depend on the scale of the predictions, so every benchmark maps predictions onto
the MOS scale first and must name the mapping it used (DESIGN.md §5):

- ``none``: raw predictions.
- ``linear``: predictions rescaled to the MOS mean and standard deviation (DOVER,
  FAST-VQA and the official Q-CLIP code). PLCC equals the raw Pearson coefficient.
- ``logistic4``: the VQEG 4-parameter logistic
  ``(b1 - b2) / (1 + exp(-(x - b3) / b4)) + b2``, fitted by least squares from pyiqa's
  initial guess (``calculate_plcc(fit_scale='logistic_4params')``).
- ``logistic5``: the VQEG 5-parameter logistic
  ``b1 * (1/2 - 1 / (1 + exp(b2 (x - b3)))) + b4 x + b5`` (SimpleVQA, VIDEVAL),
  fitted on standardised predictions from an initial guess derived from the data.

When a logistic fit fails (no convergence, non-finite parameters) the mapping falls
back to the least-squares line, warns, and says so in :attr:`FittedMapping.fallback`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

MAPPINGS: tuple[str, ...] = ("none", "linear", "logistic4", "logistic5")
DEFAULT_MAPPING = "linear"
METRIC_NAMES: tuple[str, ...] = ("SROCC", "PLCC", "KROCC", "RMSE")

#: Function evaluations allowed to a logistic fit (scipy's default is 200 * (n + 1)).
MAX_FEV = 20_000


def _as_pair(pred: ArrayLike, mos: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(pred, dtype=np.float64).reshape(-1)
    y = np.asarray(mos, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"predictions and MOS differ in length: {x.size} predictions for {y.size} MOS values")
    if x.size < 2:
        raise ValueError(f"correlation needs at least 2 videos, got {x.size}")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} of {x.size} prediction/MOS pairs are not finite (first at index "
            f"{int(np.flatnonzero(bad)[0])}); drop or fix them before evaluating"
        )
    return x, y


def _check_mapping(mapping: str) -> str:
    if mapping not in MAPPINGS:
        raise ValueError(f"unknown mapping {mapping!r}; choose one of {', '.join(MAPPINGS)}")
    return mapping


def _constant(a: np.ndarray) -> bool:
    return bool(np.ptp(a) == 0)


def srocc(pred: ArrayLike, mos: ArrayLike) -> float:
    """Spearman rank-order correlation (``scipy.stats.spearmanr``); NaN for constant input."""
    x, y = _as_pair(pred, mos)
    if _constant(x) or _constant(y):
        return float("nan")
    return float(stats.spearmanr(x, y)[0])


def krocc(pred: ArrayLike, mos: ArrayLike) -> float:
    """Kendall rank-order correlation, tau-b (``scipy.stats.kendalltau``); NaN for constant input."""
    x, y = _as_pair(pred, mos)
    if _constant(x) or _constant(y):
        return float("nan")
    return float(stats.kendalltau(x, y)[0])


def _pearson(mapped: np.ndarray, y: np.ndarray) -> float:
    if _constant(mapped) or _constant(y):
        return float("nan")
    return float(stats.pearsonr(mapped, y)[0])


def _rmse(mapped: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((mapped - y) ** 2)))


def plcc(pred: ArrayLike, mos: ArrayLike, mapping: str = "none") -> float:
    """Pearson linear correlation (``scipy.stats.pearsonr``) after ``mapping``; NaN for constant input."""
    x, y = _as_pair(pred, mos)
    return _pearson(fit_mapping(x, y, mapping)(x), y)


def rmse(pred: ArrayLike, mos: ArrayLike, mapping: str = "none") -> float:
    """Root mean squared error between the mapped predictions and the MOS."""
    x, y = _as_pair(pred, mos)
    return _rmse(fit_mapping(x, y, mapping)(x), y)


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """VQEG 4-parameter logistic: ``(b1 - b2) / (1 + exp(-(x - b3) / b4)) + b2``."""
    with np.errstate(over="ignore"):
        return (b1 - b2) / (1.0 + np.exp(-(x - b3) / b4)) + b2


def logistic5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """VQEG 5-parameter logistic: ``b1 * (1/2 - 1 / (1 + exp(b2 (x - b3)))) + b4 x + b5``."""
    with np.errstate(over="ignore"):
        return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


@dataclass(frozen=True)
class FittedMapping:
    """A fitted prediction -> MOS mapping, callable on new predictions.

    Attributes:
        name: the mapping requested (one of :data:`MAPPINGS`).
        params: the fitted parameters, by name.
        fallback: ``None`` when the requested mapping was fitted, else why the
            least-squares line was used instead.
    """

    name: str
    params: dict[str, float] = field(default_factory=dict)
    fallback: str | None = None
    _fn: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __call__(self, pred: ArrayLike) -> np.ndarray:
        x = np.asarray(pred, dtype=np.float64)
        return x.copy() if self._fn is None else self._fn(x)


def _least_squares_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if _constant(x):
        return 0.0, float(y.mean())
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _line_mapping(name: str, x: np.ndarray, y: np.ndarray, reason: str) -> FittedMapping:
    warnings.warn(
        f"{name} mapping: {reason}; using the least-squares line instead", RuntimeWarning, stacklevel=3
    )
    a, b = _least_squares_line(x, y)
    return FittedMapping(name, {"slope": a, "intercept": b}, reason, lambda v: a * v + b)


def _curve_fit(fn: Callable, x: np.ndarray, y: np.ndarray, p0: list[float]) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            params, _ = optimize.curve_fit(fn, x, y, p0=p0, maxfev=MAX_FEV)
    except (RuntimeError, ValueError, FloatingPointError):
        return None
    if not np.all(np.isfinite(params)) or not np.all(np.isfinite(fn(x, *params))):
        return None
    return params


def _fit_logistic4(x: np.ndarray, y: np.ndarray) -> FittedMapping:
    names = ("b1", "b2", "b3", "b4")
    if _constant(x):
        return _line_mapping("logistic4", x, y, "the predictions are constant")
    # pyiqa's initial guess on the raw predictions, so results match pyiqa's fit.
    params = _curve_fit(logistic4, x, y, [np.max(y), np.min(y), np.mean(x), np.std(x) / 4.0])
    if params is None:
        # Retry on standardised predictions, which conditions the problem for any scale.
        mu, sd = float(np.mean(x)), float(np.std(x))
        z = _curve_fit(logistic4, (x - mu) / sd, y, [np.max(y), np.min(y), 0.0, 0.25])
        if z is not None:
            params = np.array([z[0], z[1], mu + sd * z[2], sd * z[3]])
    if params is None:
        return _line_mapping("logistic4", x, y, f"the fit did not converge in {MAX_FEV} evaluations")
    p = tuple(float(v) for v in params)
    return FittedMapping("logistic4", dict(zip(names, p, strict=True)), None, lambda v: logistic4(v, *p))


def _fit_logistic5(x: np.ndarray, y: np.ndarray) -> FittedMapping:
    names = ("b1", "b2", "b3", "b4", "b5")
    if _constant(x):
        return _line_mapping("logistic5", x, y, "the predictions are constant")
    if x.size < 6:
        return _line_mapping("logistic5", x, y, f"{x.size} points cannot determine 5 parameters")
    # Fit on standardised predictions: the initial guess then does not depend on their scale.
    mu, sd = float(np.mean(x)), float(np.std(x))
    z = (x - mu) / sd
    sign = 1.0 if np.corrcoef(z, y)[0, 1] >= 0 else -1.0
    # logistic part spans (-1/2, 1/2): b1 ~ MOS range, slope ~ 1 per std, centred, no linear term.
    p0 = [float(np.ptp(y)), sign, 0.0, 0.0, float(np.mean(y))]
    zp = _curve_fit(logistic5, z, y, p0)
    if zp is None:
        return _line_mapping("logistic5", x, y, f"the fit did not converge in {MAX_FEV} evaluations")
    # Back to raw predictions: z = (x - mu) / sd.
    b1, b2, b3, b4, b5 = (float(v) for v in zp)
    p = (b1, b2 / sd, mu + sd * b3, b4 / sd, b5 - b4 * mu / sd)
    return FittedMapping("logistic5", dict(zip(names, p, strict=True)), None, lambda v: logistic5(v, *p))


def fit_mapping(pred: ArrayLike, mos: ArrayLike, mapping: str = DEFAULT_MAPPING) -> FittedMapping:
    """Fit ``mapping`` (one of :data:`MAPPINGS`) from predictions to MOS.

    The returned :class:`FittedMapping` is callable on any predictions, which is how the
    leaderboard scatter plots draw the fitted curve.
    """
    _check_mapping(mapping)
    x, y = _as_pair(pred, mos)
    if mapping == "none":
        return FittedMapping("none")
    if mapping == "linear":
        # Rescale to the MOS mean and std (population std, as numpy/DOVER); constant
        # predictions map to the MOS mean.
        mx, sx, my, sy = float(x.mean()), float(x.std()), float(y.mean()), float(y.std())
        scale = sy / sx if sx > 0 else 0.0
        params = {"pred_mean": mx, "pred_std": sx, "mos_mean": my, "mos_std": sy}
        return FittedMapping("linear", params, None, lambda v: (v - mx) * scale + my)
    if mapping == "logistic4":
        return _fit_logistic4(x, y)
    return _fit_logistic5(x, y)


def evaluate_predictions(pred: ArrayLike, mos: ArrayLike, mapping: str = DEFAULT_MAPPING) -> dict:
    """SROCC, PLCC, KROCC and RMSE of per-video predictions against MOS.

    SROCC and KROCC use the raw predictions; PLCC and RMSE the predictions after
    ``mapping`` (:data:`MAPPINGS`; ``linear`` by default, the convention of the published
    tables). Correlations of constant input are NaN.

    Returns:
        ``{"SROCC": float, "PLCC": float, "KROCC": float, "RMSE": float, "mapping": str}``;
        ``"mapping"`` names the mapping used, with ``"->line"`` appended when a logistic
        fit failed and the least-squares line was used instead.
    """
    x, y = _as_pair(pred, mos)
    fitted = fit_mapping(x, y, mapping)
    mapped = fitted(x)  # fitted once for both PLCC and RMSE
    return {
        "SROCC": srocc(x, y),
        "PLCC": _pearson(mapped, y),
        "KROCC": krocc(x, y),
        "RMSE": _rmse(mapped, y),
        "mapping": fitted.name if fitted.fallback is None else f"{fitted.name}->line",
    }
