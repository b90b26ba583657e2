"""Coherence backpropagation across the scales (SPEC 5.3, seed 000).

Input of each leaf x (``coherence.input``): ``"phase"`` (local phase order), ``"activation"``
(Ē/(Ē + E_half)) or a number plus Gaussian noise, clipped to [0.1, 0.99].

    forward (bottom-up):  C_leaf = x;   g_i = Σ_c w_c·C_c / Σ_c w_c (alive children);   C_i = tanh(γ_i·g_i)
    error:                err = (C_root − C*)²
    adjoint (top-down):   λ_root = 2(C_root − C*);   λ_c = λ_p·γ_p·(1 − C_p²)·w_c/Σw
    learning:             γ_i ← clip(γ_i − η·λ_i·(1 − C_i²)·g_i, 0, 10)   (internal nodes)

λ_i(1 − C_i²)g_i is exactly ∂err/∂γ_i; every λ is computed from the current γ before any γ
changes. Everything is vectorised per depth level (children of a level are contiguous).

Choices: an internal node whose children are all dormant has g = 0 (so C = 0) and learns
nothing; dormant nodes carry C = 0 and λ = 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..graph import Graph
from ..params import Params
from ..state import State
from .phase import local_order


def leaf_input(graph: Graph, st: State, p: Params, rng: np.random.Generator) -> np.ndarray:
    """The input x of every node (only leaves use it)."""
    cp = p.coherence
    if cp.input == "phase":
        x = local_order(graph, st)
    elif cp.input == "activation":
        e_bar = st.E_sum / st.window_ticks if st.window_ticks else st.E
        x = e_bar / (e_bar + cp.E_half)
    else:
        x = np.full(graph.n, float(cp.input))
        if cp.input_noise > 0:
            x = x + cp.input_noise * rng.standard_normal(graph.n)
    return np.clip(x, 0.1, 0.99)


def forward(graph: Graph, st: State, x: np.ndarray) -> None:
    """Bottom-up: C and g for every node."""
    w = np.where(st.alive, st.w, 0.0)
    st.g[:] = 0.0
    st.C[:] = np.where(graph.is_leaf, x, 0.0)
    for d in range(graph.max_depth - 1, -1, -1):
        kids = graph.level(d + 1)
        par = graph.parent[kids]
        num = np.bincount(par, weights=w[kids] * st.C[kids], minlength=graph.n)
        den = np.bincount(par, weights=w[kids], minlength=graph.n)
        nodes = graph.level(d)
        internal = graph.n_children[nodes] > 0
        g = np.divide(num[nodes], den[nodes], out=np.zeros(nodes.stop - nodes.start), where=den[nodes] > 0)
        st.g[nodes] = np.where(internal, g, st.g[nodes])
        st.C[nodes] = np.where(internal, np.tanh(st.gamma[nodes] * g), st.C[nodes])
    st.C[~st.alive] = 0.0


def adjoint(graph: Graph, st: State, target: float) -> None:
    """Top-down: λ of every node from the current γ."""
    w = np.where(st.alive, st.w, 0.0)
    st.lam[:] = 0.0
    st.lam[0] = 2.0 * (st.C[0] - target)
    den = np.bincount(graph.parent[1:], weights=w[1:], minlength=graph.n)
    for d in range(1, graph.max_depth + 1):
        kids = graph.level(d)
        par = graph.parent[kids]
        factor = st.lam[par] * st.gamma[par] * (1.0 - st.C[par] ** 2)
        share = np.divide(w[kids], den[par], out=np.zeros(kids.stop - kids.start), where=den[par] > 0)
        st.lam[kids] = factor * share


def learn(graph: Graph, st: State, eta: float) -> None:
    """γ ← clip(γ − η·λ·(1 − C²)·g, 0, 10) on alive internal nodes."""
    internal = (graph.n_children > 0) & st.alive
    grad = st.lam * (1.0 - st.C**2) * st.g
    st.gamma[:] = np.where(internal, np.clip(st.gamma - eta * grad, 0.0, 10.0), st.gamma)


def coherence_slow_tick(graph: Graph, st: State, p: Params, rng: np.random.Generator) -> dict[str, Any]:
    """Forward, error, adjoint, then learning; return the error and per-scale means."""
    x = leaf_input(graph, st, p, rng)
    forward(graph, st, x)
    err = float((st.C[0] - p.coherence.target) ** 2)
    adjoint(graph, st, p.coherence.target)
    out = {"err": err, "C_root": float(st.C[0])}
    learn(graph, st, p.coherence.eta)
    out["gamma_by_scale"] = _by_scale(graph, st, st.gamma)
    out["lam_by_scale"] = _by_scale(graph, st, np.abs(st.lam))
    out["C_by_scale"] = _by_scale(graph, st, st.C)
    return out


def root_error(graph: Graph, st: State, x: np.ndarray, target: float) -> float:
    """(C_root − C*)² for the given input (used to check gradients)."""
    forward(graph, st, x)
    return float((st.C[0] - target) ** 2)


def _by_scale(graph: Graph, st: State, v: np.ndarray) -> list[float]:
    alive = st.alive
    num = np.bincount(graph.scale, weights=v * alive, minlength=graph.n_scales)
    den = np.bincount(graph.scale, weights=alive.astype(float), minlength=graph.n_scales)
    return [float(a / b) if b else float("nan") for a, b in zip(num, den, strict=True)]
