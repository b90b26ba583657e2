"""The slow (weight) clock's mechanisms: weight decay and Hebbian reinforcement (SPEC 5.1–5.2).

    5.1  W_ij ← W_ij·exp(−δ_W·m_W[type_i]·Δt),  w_i ← w_i·exp(−δ_W·m_W[type_i]·Δt),  Δt = dt_slow
    5.2  W_ij += η_W·Ē_i·Ē_j/E_ref²  (existing edges),  w_i += η_w·Ē_i/E_ref
         W ∈ [0, W_max], w ∈ [1e-3, W_max];  then each row scaled so Σ_j W_ij ≤ B

Δt is the slow clock's elapsed time, never one fast tick (the reference engine's 60× bug),
and δ_W is fixed: weight decay is never tied to the criticality controller.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from ..params import Params
from ..state import State


def weight_decay(graph: Graph, st: State, p: Params, dt: float) -> float:
    """Decay W (by the source's type) and w over ``dt`` ticks; return the weight removed."""
    factor = np.exp(-p.decay.delta_W * st.m_W * dt)
    before = float(st.W.sum() + st.w.sum())
    st.W *= factor[graph.edge_src]
    st.w *= factor
    return before - float(st.W.sum() + st.w.sum())


def window_mean(st: State) -> np.ndarray:
    """Ē per node over the slow window (zeros before any fast tick)."""
    return st.E_sum / st.window_ticks if st.window_ticks else np.zeros_like(st.E_sum)


def hebbian(graph: Graph, st: State, p: Params, E_bar: np.ndarray) -> None:
    """Hebbian reinforcement of existing edges and node weights, then synaptic scaling."""
    lp = p.learning
    x = E_bar / lp.E_ref
    st.W += lp.eta_W * x[graph.edge_src] * x[graph.edge_dst]
    np.clip(st.W, 0.0, lp.W_max, out=st.W)
    st.w += lp.eta_w * x
    np.clip(st.w, 1e-3, lp.W_max, out=st.w)
    if lp.scaling:
        apply_budget(graph, st.W, lp.budget)


def apply_budget(graph: Graph, W: np.ndarray, budget: float) -> None:
    """Scale each source's outgoing weights proportionally so that Σ_j W_ij ≤ budget."""
    out = np.bincount(graph.edge_src, weights=W, minlength=graph.n)
    scale = np.where(out > budget, budget / np.where(out > 0, out, 1.0), 1.0)
    W *= scale[graph.edge_src]
