"""Half-life fitting against the analytic value, quietly on the shortest curves."""

from __future__ import annotations

import math
import warnings

import numpy as np

from analysis.fitting import fit_half_life


def test_exact_samples_give_the_analytic_half_life() -> None:
    """Samples of 2^(-t/20) fit exactly: ln2/k = 20."""
    t = np.arange(5.0)
    assert math.isclose(fit_half_life(t, 2.0 ** (-t / 20.0)), 20.0, rel_tol=1e-6)


def test_a_flat_curve_never_decays_and_warns_nothing() -> None:
    """No decay: the half-life is (practically) infinite, and scipy's covariance warning stays quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_half_life(np.arange(4.0), np.full(4, 5.0)) > 1e6


def test_fewer_than_three_positive_samples_give_nan() -> None:
    assert math.isnan(fit_half_life(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.0, 0.0])))
