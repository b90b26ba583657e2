"""Half-life fitting (scipy): fit y(t) = A·exp(−k·t) and report ln2/k."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit


def fit_half_life(t: np.ndarray, y: np.ndarray) -> float:
    """Half-life of an exponential decay fitted to the positive samples of y(t).

    A log-linear least-squares fit gives the starting point; ``curve_fit`` refines it on
    the linear scale. Returns NaN when fewer than three positive samples exist.
    """
    t, y = np.asarray(t, float), np.asarray(y, float)
    ok = np.isfinite(y) & (y > 0)
    t, y = t[ok], y[ok]
    if t.size < 3:
        return math.nan
    slope, intercept = np.polyfit(t - t[0], np.log(y), 1)
    k0 = max(-slope, 1e-12)
    with warnings.catch_warnings():
        # only the covariance (unused here) cannot be estimated from a short, exact curve
        warnings.simplefilter("ignore", OptimizeWarning)
        (_a, k), _ = curve_fit(
            lambda x, a, k: a * np.exp(-k * x), t - t[0], y, p0=(math.exp(intercept), k0), maxfev=10_000
        )
    return math.log(2) / k if k > 0 else math.inf
