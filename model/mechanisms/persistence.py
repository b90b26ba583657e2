"""The fractal persistence law (SPEC 5.4, seed 002).

Reality: each leaf observes q_i = softmax(z_i/τ), z ~ N(0, 1) (optionally estimated from
``environment.samples`` draws); an internal node's reality is the w-weighted mean of its alive
children's. Prediction p_i = softmax(θ_i); D_KL,i = KL(q_i ‖ p_i) (ε-safe).

    income      Ẽ_i ← (1 − a)·Ẽ_i + a·(energy received per tick in the window),  a = income_ema
    baseline    B_i ← slow EMA (baseline_ema) of the mean Ẽ of alive peers at the same scale
                (``"scale"``) or of the node's own Ẽ (``"self"``)
    energy_in   = (1 + s)·Ẽ_i / B_i
    bottom-up   R̄_children = mean R over alive children (previous values; leaves: 1)
    top-down    neighbor_R_i = (R_parent · R̄_children)^{ν/2}   (root's parent: the environment, R = 1)
                R_i = energy_in_i · neighbor_R_i / (1 + D_KL,i)
    pressure    pressure_i = max(0, 1 − R_i) + β·pressure_parent
    learning    θ_i ← θ_i − η_p·(1 + κ_p·pressure_i)·(p_i − q_i)
    loss        persistence_loss = mean relu(1 − R_i)²   (a stated assumption)
    survival    after ``grace`` slow ticks, R < 1 for ``patience`` consecutive slow ticks → dormant

Choices: both EMAs start at the first measurement (so energy_in starts at 1 + s); a zero
baseline gives energy_in = 1 + s; the top-down pass uses the parent's *new* R; dormant
nodes keep their last values and are left out of every mean; the children of a dormant
parent face the environment directly (R_parent = 1, no inherited pressure), so dormancy does
not cascade down a healthy subtree by itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..graph import Graph
from ..params import Params
from ..state import State

EPS = 1e-12


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def kl(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """KL(q ‖ p) per row; 0·log 0 = 0 and p is floored at ε, so never inf or NaN."""
    q = np.clip(q, 0.0, None)
    ratio = np.log(np.maximum(q, EPS)) - np.log(np.maximum(p, EPS))
    return np.where(q > 0, q * ratio, 0.0).sum(axis=1)


def init_reality(graph: Graph, st: State, p: Params, rng: np.random.Generator) -> None:
    """Draw every leaf's reality logits z ~ N(0, 1)."""
    st.z[:] = rng.standard_normal(st.z.shape)
    st.z[~graph.is_leaf] = 0.0


def redraw_reality(graph: Graph, st: State, rng: np.random.Generator, nodes: np.ndarray) -> None:
    """An environment shift: new reality logits for the given nodes' leaves."""
    leaves = nodes[graph.is_leaf[nodes]]
    st.z[leaves] = rng.standard_normal((leaves.size, st.z.shape[1]))


def observe(graph: Graph, st: State, p: Params, rng: np.random.Generator) -> None:
    """q for leaves (exact or sampled), then w-weighted means of alive children, bottom-up."""
    ep = p.environment
    q_leaf = softmax(st.z / ep.tau)
    if ep.samples > 0:
        counts = np.stack([rng.multinomial(ep.samples, row) for row in q_leaf[graph.is_leaf]])
        q_leaf[graph.is_leaf] = (counts + 1e-3) / (ep.samples + 1e-3 * counts.shape[1])
    st.q[graph.is_leaf] = q_leaf[graph.is_leaf]
    w = np.where(st.alive, st.w, 0.0)
    for d in range(graph.max_depth - 1, -1, -1):
        kids = graph.level(d + 1)
        par = graph.parent[kids] - graph.level_start[d]
        nodes = graph.level(d)
        m = nodes.stop - nodes.start
        num = np.zeros((m, st.q.shape[1]))
        np.add.at(num, par, w[kids, None] * st.q[kids])
        den = np.bincount(par, weights=w[kids], minlength=m)
        has = (graph.n_children[nodes] > 0) & (den > 0)
        st.q[nodes.start + np.flatnonzero(has)] = num[has] / den[has, None]


def persistence_slow_tick(
    graph: Graph, st: State, p: Params, rng: np.random.Generator, slow_tick: int
) -> dict[str, Any]:
    """One slow tick of the persistence law; returns statistics and the newly dormant nodes."""
    pp = p.persistence
    alive = st.alive
    observe(graph, st, p, rng)
    pred = softmax(st.theta)
    st.dkl[:] = kl(st.q, pred)

    received = st.received_sum / st.window_ticks if st.window_ticks else np.zeros(graph.n)
    first = slow_tick <= 1 or not st.income.any()
    st.income[:] = received if first else (1 - pp.income_ema) * st.income + pp.income_ema * received
    if pp.baseline == "scale":
        num = np.bincount(graph.scale, weights=st.income * alive, minlength=graph.n_scales)
        den = np.bincount(graph.scale, weights=alive.astype(float), minlength=graph.n_scales)
        target = np.divide(num, den, out=np.zeros_like(num), where=den > 0)[graph.scale]
    else:
        target = st.income
    st.baseline[:] = target if first else (1 - pp.baseline_ema) * st.baseline + pp.baseline_ema * target
    energy_in = np.where(st.baseline > 0, (1 + pp.surplus) * st.income / np.maximum(st.baseline, EPS), 1 + pp.surplus)

    # bottom-up: mean previous R of alive children
    kids = np.arange(1, graph.n)
    alive_k = alive[kids].astype(float)
    r_sum = np.bincount(graph.parent[kids], weights=st.R[kids] * alive_k, minlength=graph.n)
    r_cnt = np.bincount(graph.parent[kids], weights=alive_k, minlength=graph.n)
    r_children = np.where(r_cnt > 0, r_sum / np.maximum(r_cnt, 1), 1.0)

    # top-down: R and pressure
    nu, R, pressure = pp.coupling, st.R, st.pressure
    for d in range(graph.max_depth + 1):
        nodes = graph.level(d)
        if d == 0:
            r_parent, p_parent = np.ones(nodes.stop - nodes.start), np.zeros(nodes.stop - nodes.start)
        else:  # a dormant parent no longer couples: its children face the environment (R = 1)
            par = graph.parent[nodes]
            r_parent = np.where(alive[par], R[par], 1.0)
            p_parent = np.where(alive[par], pressure[par], 0.0)
        neighbor = (r_parent * r_children[nodes]) ** (nu / 2)
        new_r = energy_in[nodes] * neighbor / (1 + st.dkl[nodes])
        R[nodes] = np.where(alive[nodes], new_r, R[nodes])
        pressure[nodes] = np.where(alive[nodes], np.maximum(0.0, 1 - R[nodes]) + pp.beta * p_parent, pressure[nodes])

    # learning as survival
    step = pp.eta * (1 + pp.kappa * pressure)[:, None] * (pred - st.q)
    st.theta[alive] -= step[alive]

    died = np.empty(0, np.int64)
    if pp.survival:
        st.below_count[:] = np.where(alive & (R < 1), st.below_count + 1, 0)
        if slow_tick > pp.grace:
            died = np.flatnonzero(alive & (st.below_count >= pp.patience))
            st.alive[died] = False
            st.E[died] = 0.0

    a = st.alive
    loss = float((np.maximum(0.0, 1 - R[a]) ** 2).mean()) if a.any() else float("nan")
    return {
        "R_mean": float(R[a].mean()) if a.any() else float("nan"),
        "R_frac_ge1": float((R[a] >= 1).mean()) if a.any() else float("nan"),
        "R_median": float(np.median(R[a])) if a.any() else float("nan"),
        "R_frac_in_band": float(((R[a] >= 0.5) & (R[a] <= 2)).mean()) if a.any() else float("nan"),
        "persistence_loss": loss,
        "died": died,
    }
