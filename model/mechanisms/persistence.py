"""The fractal persistence law (SPEC 5.4, seed 002).

Choices (where the spec is silent):

- **EMA start.** Income Ẽ and baseline B start at their first measurement: on the first slow
  tick (``slow_tick_index ≤ 1``), or whenever the baseline is still identically 0 (nothing
  measured yet, e.g. persistence switched on mid-run). So both start equal and energy_in
  starts at 1 + s instead of ramping up from an EMA of 0.
- **Zero baseline.** Where B_i = 0 (no peer has earned anything yet) energy_in = 1 + s.
- **Top-down pass** uses the parent's *new* R and pressure, computed earlier in the same pass;
  the root's parent is the environment: R = 1, pressure 0.
- **Dormant nodes** keep their last q, D_KL, Ẽ, B, R, pressure and θ, and are left out of
  every mean (children's R, children's q, the scale baseline, the returned statistics). An
  alive node whose parent is dormant faces the environment directly (R_parent = 1, no
  inherited pressure), like the root, so a death does not by itself cascade down a healthy
  subtree. An alive internal node whose children are all dormant keeps its last q (its window
  on reality closed) and uses R̄_children = 1, like a leaf.
- **Sampling noise** (``environment.samples`` = S > 0): each alive leaf draws S outcomes from
  its exact q; its observed q is (counts + ε)/(S + M·ε) with ε = 1e-3 (never an exact zero).
- **Reality shifts.** ``redraw_reality`` redraws z for the leaves under the given root(s) and
  refreshes the exact q at once (no sampling noise) so that readers between the shift and the
  next slow tick see the new world.
- **D_KL** = Σ_m q_m·(ln q_m − ln max(p_m, ε)) over q_m > 0, ε = 1e-12, floored at 0 (it is
  ≥ 0 in exact arithmetic): 0·ln 0 = 0 and a p that underflowed to 0 costs a large, finite
  penalty.
- **Survival.** Consecutive slow ticks with R < 1 are counted only after the grace period
  (``slow_tick_index > grace``); a count that reaches ``patience`` makes the node dormant, so
  a node failing from the start goes dormant at slow tick ``grace + patience``, never before.
  With survival off the counts stay 0.
- **Statistics** are over the nodes alive after the survival step (as in scales.csv).

Equations (slow tick, in this order):

    reality      q_leaf = softmax(z/τ)  [or sampled];   q_i = Σ_{c alive} w_c·q_c / Σ_{c alive} w_c   (bottom-up)
    prediction   p_i = softmax(θ_i);   D_KL,i = KL(q_i ‖ p_i)
    income       r_i = received_sum_i / window_ticks;   Ẽ_i ← (1 − a)·Ẽ_i + a·r_i,   a = income_ema
    baseline     B_i ← (1 − b)·B_i + b·u_i,   b = baseline_ema,
                 u_i = mean_{alive j: scale_j = scale_i} Ẽ_j  ("scale")  or  Ẽ_i  ("self")
    energy_in    = (1 + s)·Ẽ_i / B_i
    bottom-up    R̄_i = mean_{c alive} R_c  (previous R; 1 without alive children)
    top-down     neighbor_R_i = (R_parent(i)·R̄_i)^{ν/2};   R_i = energy_in_i·neighbor_R_i / (1 + D_KL,i)
    pressure     pressure_i = max(0, 1 − R_i) + β·pressure_parent(i)
    learning     θ_i ← θ_i − η_p·(1 + κ_p·pressure_i)·(p_i − q_i)
    loss         persistence_loss = mean_i relu(1 − R_i)²
    survival     below_i ← below_i + 1 if R_i < 1 else 0;   below_i ≥ patience → alive_i = false, E_i = 0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..graph import Graph
from ..params import Params
from ..state import State
from .levels import scale_mean, scale_means, sum_over_children

KL_EPS = 1e-12
COUNT_EPS = 1e-3
BAND = (0.5, 2.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (n, M) array (stable: the row maximum is subtracted first)."""
    e = np.exp(logits - _row_max(logits)[..., None])
    e /= (e @ np.ones(e.shape[-1]))[..., None]  # a matrix–vector sum: much faster than sum(axis=-1) for small M
    return e


def _row_max(a: np.ndarray) -> np.ndarray:
    """Maximum of each row, one category (column) at a time: ~2× faster than max(axis=-1) for small M."""
    out = a[..., 0].copy()
    for m in range(1, a.shape[-1]):
        np.maximum(out, a[..., m], out=out)
    return out


def kl_divergence(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """KL(q ‖ p) = Σ_m q_m ln(q_m / p_m) per row, ε-safe: 0·ln 0 = 0, p floored at 1e-12, result ≥ 0."""
    positive = q > 0
    log_ratio = np.log(np.where(positive, q, 1.0)) - np.log(np.maximum(p, KL_EPS))
    terms = np.where(positive, q * log_ratio, 0.0)
    return np.maximum(terms @ np.ones(terms.shape[-1]), 0.0)


def init_reality(graph: Graph, st: State, params: Params, rng: np.random.Generator) -> None:
    """Draw every leaf's reality logits z ~ N(0, 1) (internal nodes: 0) and set the exact q."""
    leaves = graph.is_leaf
    st.z[:] = 0.0
    st.z[leaves] = rng.standard_normal((int(leaves.sum()), st.z.shape[1]))
    observe_reality(graph, st, params, None)


def redraw_reality(
    graph: Graph, st: State, params: Params, rng: np.random.Generator, root: int | np.ndarray
) -> np.ndarray:
    """An environment shift: new z ~ N(0, 1) for every leaf in the subtree(s) of ``root``.

    Args:
        graph: the tree.
        st: the state; z and q change.
        params: ``environment.tau`` (the exact q is refreshed at once).
        rng: draws the new logits.
        root: one node, or several nodes (the union of their subtrees is redrawn).

    Returns:
        The indices of the leaves whose reality was redrawn.
    """
    inside = np.zeros(graph.n, bool)
    inside[np.atleast_1d(np.asarray(root, dtype=np.int64))] = True
    for d in range(1, graph.max_depth + 1):
        nodes = graph.level(d)
        inside[nodes] |= inside[graph.parent[nodes]]
    leaves = np.flatnonzero(inside & graph.is_leaf)
    st.z[leaves] = rng.standard_normal((leaves.size, st.z.shape[1]))
    observe_reality(graph, st, params, None)
    return leaves


def observe_reality(graph: Graph, st: State, params: Params, rng: np.random.Generator | None) -> None:
    """Set q: leaves observe softmax(z/τ) (sampled when ``environment.samples`` > 0 and rng is given),
    internal nodes the w-weighted mean of their alive children's q, bottom-up. Dormant nodes keep q."""
    observe_leaves(graph, st, params, rng)
    alive = st.alive
    live_weight = np.where(alive, st.w, 0.0)
    for d in range(graph.max_depth - 1, -1, -1):
        nodes, kids = graph.level(d), graph.level(d + 1)
        den = sum_over_children(graph, d, live_weight[kids])
        num = sum_over_children(graph, d, live_weight[kids, None] * st.q[kids])
        sees = (den > 0) & alive[nodes]
        st.q[nodes.start + np.flatnonzero(sees)] = num[sees] / den[sees, None]


def observe_leaves(graph: Graph, st: State, params: Params, rng: np.random.Generator | None) -> None:
    """Alive leaves observe q = softmax(z/τ), or its sample when ``environment.samples`` > 0 and rng is given."""
    ep = params.environment
    observers = np.flatnonzero(graph.is_leaf & st.alive)
    q_obs = softmax(st.z[observers] / ep.tau)
    if ep.samples > 0 and rng is not None and observers.size:
        counts = rng.multinomial(ep.samples, q_obs)
        q_obs = (counts + COUNT_EPS) / (ep.samples + COUNT_EPS * q_obs.shape[1])
    st.q[observers] = q_obs


def persistence_slow_tick(
    graph: Graph, st: State, params: Params, rng: np.random.Generator, slow_tick_index: int
) -> dict[str, Any]:
    """One slow tick of the persistence law (SPEC 5.4); mutates q, dkl, income, baseline, R,
    pressure, theta, below_count, alive and E.

    Args:
        graph: the tree.
        st: the state (reads received_sum and window_ticks of the closing window).
        params: ``environment.*`` and ``persistence.*``.
        rng: sampling noise of the observations (used only when ``environment.samples`` > 0).
        slow_tick_index: 1 on the first slow tick, 2 on the second, … (grace and EMA start).

    Returns:
        Floats ``R_mean``, ``R_median``, ``R_frac_ge1``, ``R_frac_in_band`` (R in [0.5, 2]),
        ``persistence_loss``, ``dkl_mean``, ``pressure_mean`` and int ``alive`` over the nodes
        alive after the survival step; arrays indexed by scale ``R_by_scale``, ``dkl_by_scale``,
        ``pressure_by_scale`` (means, NaN where no node is alive) and ``alive_by_scale``
        (counts); and ``died``, the indices of the nodes made dormant this tick.
    """
    pp = params.persistence
    alive = st.alive.copy()

    observe_reality(graph, st, params, rng)
    pred = softmax(st.theta)
    st.dkl[:] = np.where(alive, kl_divergence(st.q, pred), st.dkl)

    energy_in = _energy_in(graph, st, params, alive, slow_tick_index)

    # bottom-up: mean previous R over alive children (1 without alive children)
    kids = np.arange(1, graph.n)
    kid_alive = alive[1:].astype(float)
    r_sum = np.bincount(graph.parent[kids], weights=st.R[1:] * kid_alive, minlength=graph.n)
    r_cnt = np.bincount(graph.parent[kids], weights=kid_alive, minlength=graph.n)
    r_children = np.divide(r_sum, r_cnt, out=np.ones(graph.n), where=r_cnt > 0)

    # top-down: R and pressure, from the root (parent = the environment: R = 1, pressure 0)
    half_nu = 0.5 * pp.coupling
    for d in range(graph.max_depth + 1):
        nodes = graph.level(d)
        if d == 0:
            r_parent, p_parent = np.ones(1), np.zeros(1)
        else:
            par = graph.parent[nodes]
            r_parent = np.where(alive[par], st.R[par], 1.0)
            p_parent = np.where(alive[par], st.pressure[par], 0.0)
        r_new = energy_in[nodes] * (r_parent * r_children[nodes]) ** half_nu / (1.0 + st.dkl[nodes])
        live = alive[nodes]
        st.R[nodes] = np.where(live, r_new, st.R[nodes])
        st.pressure[nodes] = np.where(live, np.maximum(0.0, 1.0 - r_new) + pp.beta * p_parent, st.pressure[nodes])

    # learning as survival: the KL gradient w.r.t. the logits, boosted by pressure
    rate = np.where(alive, pp.eta * (1.0 + pp.kappa * st.pressure), 0.0)
    st.theta -= rate[:, None] * (pred - st.q)

    died = survival(st, params, alive, slow_tick_index)
    return statistics(graph, st, died)


def _energy_in(graph: Graph, st: State, params: Params, alive: np.ndarray, slow_tick_index: int) -> np.ndarray:
    """Update the income and baseline EMAs of alive nodes; return (1 + s)·Ẽ/B (1 + s where B = 0)."""
    pp = params.persistence
    received = st.received_sum / max(st.window_ticks, 1)
    first = first_measurement(st, alive, slow_tick_index)
    income = received if first else (1.0 - pp.income_ema) * st.income + pp.income_ema * received
    st.income[:] = np.where(alive, income, st.income)
    if pp.baseline == "scale":
        peers = scale_mean(graph, st.income, alive)
        measured = np.nan_to_num(peers, nan=0.0)[graph.scale]
    else:
        measured = st.income
    baseline = measured if first else (1.0 - pp.baseline_ema) * st.baseline + pp.baseline_ema * measured
    st.baseline[:] = np.where(alive, baseline, st.baseline)
    surplus = 1.0 + pp.surplus
    ratio = np.divide(st.income, st.baseline, out=np.ones(graph.n), where=st.baseline > 0)
    return surplus * ratio


def first_measurement(st: State, alive: np.ndarray, slow_tick_index: int) -> bool:
    """True when the income and baseline EMAs start at their measurement (first slow tick, or no baseline yet)."""
    if slow_tick_index <= 1:
        return True
    return not (st.baseline.any() if alive.all() else st.baseline[alive].any())


def survival(st: State, params: Params, alive: np.ndarray, slow_tick_index: int) -> np.ndarray:
    """Count consecutive slow ticks with R < 1 after the grace period; make nodes dormant at ``patience``.

    ``alive`` is the state's alive mask before this step (it may be ``st.alive`` itself).
    """
    pp = params.persistence
    if not pp.survival or slow_tick_index <= pp.grace:
        st.below_count[:] = 0
        return np.empty(0, np.int64)
    failing = alive & (st.R < 1.0)
    st.below_count[:] = np.where(failing, st.below_count + 1, 0)
    died = np.flatnonzero(failing & (st.below_count >= pp.patience))
    st.alive[died] = False
    st.E[died] = 0.0
    return died


def statistics(
    graph: Graph,
    st: State,
    died: np.ndarray,
    median: Callable[[np.ndarray, np.ndarray], float | None] | None = None,
    shortfall: Callable[[np.ndarray, np.ndarray, float, float], tuple[int, int, float] | None] | None = None,
) -> dict[str, Any]:
    """The returned statistics of ``persistence_slow_tick``, over the nodes alive now.

    The compiled engine passes faster equivalents, each answering None to leave it to numpy:
    ``median(R, alive)``, the median of R over alive nodes; ``shortfall(R, alive, lo, hi)``, the
    alive counts with R < 1 and with R in [lo, hi], and Σ relu(1 − R)² over them.
    """
    alive = st.alive
    counts, (R_by_scale, dkl_by_scale, pressure_by_scale) = scale_means(graph, alive, st.R, st.dkl, st.pressure)
    n_alive = int(counts.sum())
    any_alive = n_alive > 0

    def alive_R() -> np.ndarray:  # a copy only when some node is dormant, and only for numpy's formulas
        return st.R if n_alive == graph.n else st.R[alive]

    def mean(by_scale: np.ndarray) -> float:  # over all alive nodes, from the per-scale means
        return float(np.nansum(by_scale * counts) / n_alive) if any_alive else math.nan

    def fraction(count: int) -> float:
        return count / n_alive if any_alive else math.nan

    fast = shortfall(st.R, alive.view(np.uint8), *BAND) if shortfall is not None else None
    n_short, in_band, squares = fast if fast is not None else _shortfall(alive_R())
    loss = squares / n_alive if any_alive else math.nan
    return {
        "R_mean": mean(R_by_scale),
        "R_median": _median(st, median, alive_R) if any_alive else math.nan,
        "R_frac_ge1": fraction(n_alive - n_short),
        "R_frac_in_band": fraction(in_band),
        "persistence_loss": loss,
        "dkl_mean": mean(dkl_by_scale),
        "pressure_mean": mean(pressure_by_scale),
        "alive": n_alive,
        "R_by_scale": R_by_scale,
        "dkl_by_scale": dkl_by_scale,
        "pressure_by_scale": pressure_by_scale,
        "alive_by_scale": counts.astype(np.int64),
        "died": died,
    }


def _shortfall(r: np.ndarray) -> tuple[int, int, float]:
    """(items with r < 1, items with r in BAND, Σ max(0, 1 − r)²) of the alive R values ``r``."""
    short = np.subtract(1.0, r)  # max(0, 1 − R), in place: one N-item temporary
    np.maximum(short, 0.0, out=short)
    n_short = int(np.count_nonzero(short))
    in_band = int(np.count_nonzero(r >= BAND[0])) - int(np.count_nonzero(r > BAND[1]))
    # Σ short² without BLAS: numpy's ddot wakes OpenBLAS threads that then busy-wait beside the model's
    return n_short, in_band, float(np.square(short, out=short).sum())


def _median(
    st: State, fast: Callable[[np.ndarray, np.ndarray], float | None] | None, alive_R: Callable[[], np.ndarray]
) -> float:
    """np.median of R over the alive nodes, from ``fast`` where it answers."""
    got = fast(st.R, st.alive.view(np.uint8)) if fast is not None else None
    return float(np.median(alive_R())) if got is None else got
