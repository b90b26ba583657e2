"""Free-energy estimators from switching work and equilibrium samples (SPEC 5.6).

All works and free energies are in energy units (the model's H), T is the temperature:

- Jarzynski, forward:  ΔF_F = −T·ln⟨e^{−W_F/T}⟩        reverse:  ΔF_R = T·ln⟨e^{−W_R/T}⟩
  (log-sum-exp, so a few rare low-work trajectories dominate without overflow);
- Bennett's acceptance ratio from both directions: pymbar's ``other_estimators.bar`` on the
  reduced works W_F/T and W_R/T (the field's standard implementation), times T;
- thermodynamic integration: ΔF_TI = ∫_{K_from}^{K_to} ⟨∂H/∂K⟩_K dK by Gauss–Legendre
  quadrature over equilibrium means at the rule's nodes;
- Crooks: the slope and zero of the line ln[P_F(W)/P_R(−W)] against W, fitted by logistic
  regression of the direction on the pooled works (no histogram bins; see ``crooks_fit``);
  the theorem says slope 1/T and zero (the crossing of the two histograms) at W = ΔF.

Standard errors are bootstrap standard deviations (``BOOTSTRAP`` resamples of the
trajectories, or of the TI replicas within each K node), drawn from a seeded generator so
the same run gives the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from functools import cache
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from model.mechanisms.thermo import logmeanexp

BOOTSTRAP = 200


@cache
def _pymbar_bar() -> Any:
    """pymbar's BAR, imported quietly (its import logs a JAX notice; keep the terminal clean)."""
    log = logging.getLogger("pymbar")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from pymbar import other_estimators
    finally:
        log.setLevel(level)
    return other_estimators.bar


def jarzynski_forward(w: np.ndarray, T: float) -> np.ndarray:
    """−T·ln⟨e^{−W/T}⟩ over the last axis."""
    return -T * logmeanexp(-np.asarray(w) / T)


def jarzynski_reverse(w: np.ndarray, T: float) -> np.ndarray:
    """T·ln⟨e^{−W_R/T}⟩ over the last axis (the reverse estimate of F(K_to) − F(K_from))."""
    return T * logmeanexp(-np.asarray(w) / T)


def bar(w_forward: np.ndarray, w_reverse: np.ndarray, T: float) -> float:
    """Bennett's acceptance ratio ΔF from forward and reverse works (pymbar)."""
    res = _pymbar_bar()(np.asarray(w_forward) / T, np.asarray(w_reverse) / T, compute_uncertainty=False)
    return float(res["Delta_f"]) * T


def thermodynamic_integration(means: np.ndarray, weights: np.ndarray) -> float:
    """Σ_g weight_g·⟨∂H/∂K⟩_g: the quadrature of ∫⟨∂H/∂K⟩ dK."""
    return float(np.dot(weights, means))


def crooks_fit(w_forward: np.ndarray, w_reverse: np.ndarray) -> tuple[float, float]:
    """Slope and zero crossing of ln[P_F(W)/P_R(−W)] against W, fitted without histograms.

    Crooks says ln[P_F(W)/P_R(−W)] = (W − ΔF)/T, a straight line. Pool the forward works and
    the negated reverse works and ask, for each value W, which direction it came from: the
    log-odds of "forward" are then exactly ln(n_F/n_R) + ln[P_F(W)/P_R(−W)], so a logistic
    regression of the direction on W (maximum likelihood, no bins to choose) estimates the
    line: slope b (1/T by the theorem) and crossing W* = (ln(n_F/n_R) − a)/b (ΔF by the
    theorem). Bennett's acceptance ratio is the same likelihood with the slope fixed at 1/T.
    NaN when the two samples do not overlap (the slope would be infinite).
    """
    wf, wr = np.asarray(w_forward, float), -np.asarray(w_reverse, float)
    if wf.size < 2 or wr.size < 2 or not (min(wf.max(), wr.max()) > max(wf.min(), wr.min())):
        return math.nan, math.nan
    x = np.concatenate([wf, wr])
    centre, scale = x.mean(), x.std() or 1.0
    z = (x - centre) / scale
    sign = np.concatenate([np.ones(wf.size), -np.ones(wr.size)])  # +1 forward, −1 reverse

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        u = sign * (theta[0] + theta[1] * z)
        loss = np.logaddexp(0.0, -u).sum()  # −Σ ln σ(u)
        g = -sign * expit(-u)
        return float(loss), np.array([g.sum(), (g * z).sum()])

    res = minimize(nll, np.zeros(2), jac=True, method="BFGS")
    a, b = res.x
    slope = b / scale
    intercept = a - b * centre / scale  # log-odds = intercept + slope·W
    crossing = (math.log(wf.size / wr.size) - intercept) / slope if slope != 0 else math.nan
    return float(slope), float(crossing)


def estimates(
    w_forward: np.ndarray,
    w_reverse: np.ndarray,
    ti_samples: np.ndarray,
    ti_weights: np.ndarray,
    T: float,
    delta_F_exact: float | None,
    rng: np.random.Generator,
    bootstrap: int = BOOTSTRAP,
) -> dict[str, Any]:
    """Every SPEC 5.6 estimate with its bootstrap standard error, as the summary's ``thermo.*`` keys.

    Args:
        w_forward, w_reverse: the works of the forward and reverse trajectories.
        ti_samples: (K nodes × replicas) time-mean ⟨∂H/∂K⟩ of each equilibrium replica.
        ti_weights: the quadrature weights of the K nodes.
        T: the temperature.
        delta_F_exact: the exact ΔF, or None where there is none (graphs with loops).
        rng: the bootstrap's generator.
        bootstrap: resamples per standard error.
    """
    wf, wr = np.asarray(w_forward, float), np.asarray(w_reverse, float)
    nf, nr = wf.size, wr.size
    idx_f = rng.integers(0, nf, (bootstrap, nf))
    idx_r = rng.integers(0, nr, (bootstrap, nr))
    ti = np.asarray(ti_samples, float)
    n_rep = ti.shape[1]
    idx_ti = rng.integers(0, n_rep, (bootstrap, ti.shape[0], n_rep))
    ti_boot = np.take_along_axis(np.broadcast_to(ti, idx_ti.shape), idx_ti, axis=2).mean(axis=2) @ ti_weights
    boot_bar = [bar(wf[i], wr[j], T) for i, j in zip(idx_f, idx_r, strict=True)]
    ref = delta_F_exact
    out = {
        "delta_F_exact": delta_F_exact,
        "delta_F_jarzynski_forward": float(jarzynski_forward(wf, T)),
        "delta_F_jarzynski_forward_se": float(np.std(jarzynski_forward(wf[idx_f], T), ddof=1)),
        "delta_F_jarzynski_reverse": float(jarzynski_reverse(wr, T)),
        "delta_F_jarzynski_reverse_se": float(np.std(jarzynski_reverse(wr[idx_r], T), ddof=1)),
        "delta_F_bar": bar(wf, wr, T),
        "delta_F_bar_se": float(np.std(boot_bar, ddof=1)),
        "delta_F_ti": thermodynamic_integration(ti.mean(axis=1), ti_weights),
        "delta_F_ti_se": float(np.std(ti_boot, ddof=1)) if n_rep > 1 else math.nan,
        "mean_work_forward": float(wf.mean()),
        "mean_work_reverse": float(wr.mean()),
    }
    best = ref if ref is not None else out["delta_F_bar"]
    out["dissipated_work"] = out["mean_work_forward"] - best
    out["crooks_slope"], out["crooks_crossing"] = crooks_fit(wf, wr)
    return out


def running_estimates(w_forward: np.ndarray, w_reverse: np.ndarray, T: float, points: int = 24) -> dict[str, Any]:
    """Jarzynski (both ways) and BAR from the first n trajectories, n on a log-spaced grid from 2 to all."""
    m = min(len(w_forward), len(w_reverse))
    ns = np.unique(np.geomspace(2, m, points).astype(int)) if m >= 2 else np.array([], int)
    return {
        "n": ns.tolist(),
        "jarzynski_forward": [float(jarzynski_forward(w_forward[:n], T)) for n in ns],
        "jarzynski_reverse": [float(jarzynski_reverse(w_reverse[:n], T)) for n in ns],
        "bar": [bar(w_forward[:n], w_reverse[:n], T) for n in ns],
    }
