"""The stability–plasticity learning rule: the Hebbian signal through Adam (SPEC 6; seed 001).

Seed 001 asks how a system can change its behaviour without destroying what it knows. Its
baseline is "standard fine-tuning": a per-element adaptive optimiser. Here the gradient is
the Hebbian signal of SPEC 5.2 on every edge i → j, over the slow window,

    g_ij = Ē_i·Ē_j / E_ref²

and each slow tick applies one Adam step (Kingma & Ba 2015) to the edges that are plastic
this window (the mask P; every edge in the baseline):

    m ← β1·m + (1 − β1)·g        v ← β2·v + (1 − β2)·g²        t ← t + 1     (on P only)
    ΔW = lr · m̂ / (√v̂ + ε),      m̂ = m/(1 − β1^t),  v̂ = v/(1 − β2^t)      β1 0.9, β2 0.999, ε 1e-8

then W ← clip(W + ΔW, 0, W_max) and, with ``learning.scaling``, the synaptic budget
Σ_j W_ij ≤ B (SPEC 5.2). Edges outside P are skipped entirely (their m, v, t do not move), as
an optimiser skips frozen parameters; a plastic edge with g = 0 still moves on its momentum.
Per-element scaling makes every co-active edge take nearly the same step lr whatever the
size of its signal: aggressive by design (SPEC 6).

Defense 1, ``coarse_scaling`` (seed 001's Apollo, "channel-wise scaling"): one second moment
per source node i (a channel), shared by its outgoing edges, from the mean square of the
signal over the row's plastic edges (as in Adam-mini's block-wise v):

    v_i ← β2·v_i + (1 − β2)·mean_{j: (i→j) ∈ P} g_ij²,   t_i ← t_i + 1,   ΔW_ij = lr·m̂_ij/(√v̂_i + ε)

so within a row steps are proportional to the (smoothed) signal: graded signals survive.
Defense 4, ``small_steps``, only changes ``lr`` (the caller passes lr × step_factor); ΔW is
linear in lr. Defense 2, ``frozen_context``, is the mask P (edges into response nodes).

With a mask, the budget rescales only the plastic edges of a row over budget, so frozen
edges really stay frozen: W_P ← W_P·max(0, B − Σ frozen)/Σ W_P. Without a mask it is exactly
SPEC 5.2's proportional rescaling (``weights.apply_budget``).

Everything is vectorised over edges (numpy, bincount); no Python loop over nodes or edges.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from .weights import apply_budget

BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-8


def hebbian_signal(graph: Graph, E_bar: np.ndarray, E_ref: float) -> np.ndarray:
    """g_ij = Ē_i·Ē_j/E_ref² on every stored edge (i = source, j = target)."""
    x = E_bar / E_ref
    return x[graph.edge_src] * x[graph.edge_dst]


class HebbianAdam:
    """Adam state over the edges of one graph: per element, or per source row (``coarse``).

    Attributes:
        m: first moment per edge.
        v: second moment per edge, or per source node when ``coarse``.
        t: step count per edge (for m's bias correction).
        t_v: step count of each second moment (per edge, or per source node when ``coarse``).
    """

    def __init__(self, graph: Graph, coarse: bool) -> None:
        self.graph = graph
        self.coarse = coarse
        self.m = np.zeros(graph.nnz)
        self.t = np.zeros(graph.nnz, np.int64)
        size = graph.n if coarse else graph.nnz
        self.v = np.zeros(size)
        self.t_v = np.zeros(size, np.int64)

    def second_moment(self) -> np.ndarray:
        """v̂ seen by each edge (bias-corrected; per-row values repeated along the row when coarse)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            vhat = np.where(self.t_v > 0, self.v / (1.0 - BETA2**self.t_v), 0.0)
        return vhat[self.graph.edge_src] if self.coarse else vhat

    def step(self, g: np.ndarray, lr: float, mask: np.ndarray | None = None) -> np.ndarray:
        """Advance the moments on the plastic edges and return ΔW (zero off the mask)."""
        src = self.graph.edge_src
        sel = np.ones(g.size, bool) if mask is None else mask
        gs = g[sel]
        self.m[sel] = BETA1 * self.m[sel] + (1.0 - BETA1) * gs
        self.t[sel] += 1
        mhat = self.m[sel] / (1.0 - BETA1 ** self.t[sel])
        if self.coarse:
            n = self.graph.n
            count = np.bincount(src[sel], minlength=n)
            rows = count > 0
            mean_sq = np.bincount(src[sel], weights=gs * gs, minlength=n)[rows] / count[rows]
            self.v[rows] = BETA2 * self.v[rows] + (1.0 - BETA2) * mean_sq
            self.t_v[rows] += 1
            vhat_row = np.zeros(n)
            vhat_row[rows] = self.v[rows] / (1.0 - BETA2 ** self.t_v[rows])
            vhat = vhat_row[src[sel]]
        else:
            self.v[sel] = BETA2 * self.v[sel] + (1.0 - BETA2) * gs * gs
            self.t_v[sel] += 1
            vhat = self.v[sel] / (1.0 - BETA2 ** self.t_v[sel])
        delta = np.zeros(g.size)
        delta[sel] = lr * mhat / (np.sqrt(vhat) + EPS)
        return delta


def apply_masked_budget(graph: Graph, W: np.ndarray, budget: float, mask: np.ndarray | None) -> None:
    """Synaptic budget Σ_j W_ij ≤ B per source row, rescaling only the plastic (masked) edges."""
    if mask is None:
        apply_budget(graph, W, budget)
        return
    src, n = graph.edge_src, graph.n
    out = np.bincount(src, weights=W, minlength=n)
    plastic = np.bincount(src, weights=np.where(mask, W, 0.0), minlength=n)
    over = out > budget
    room = np.maximum(0.0, budget - (out - plastic))
    scale = np.where(over & (plastic > 0), room / np.where(plastic > 0, plastic, 1.0), 1.0)
    W *= np.where(mask, scale[src], 1.0)
