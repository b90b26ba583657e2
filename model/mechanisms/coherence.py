"""Coherence backpropagation across the scales (SPEC 5.3, seed 000).

Choices (where the spec is silent):

- **Inputs.** Every input kind (``"phase"``, ``"activation"``, a number plus noise) is clipped
  to [0.1, 0.99]. ``"activation"`` uses the window mean ``Ē = E_sum / max(window_ticks, 1)``
  (0 before any fast tick, so x = 0.1). A numeric input draws one normal per node (N draws
  per slow tick, only when ``input_noise > 0``), so the random stream does not depend on
  which nodes are alive.
- **The live tree.** Dormant nodes have C = g = λ = 0, take no part in any aggregate and
  never learn. An alive internal node whose children are all dormant becomes a leaf of the
  live tree: C = its own input x, g = 0, and its γ is not learned (it is not used). Setting
  its C to 0 instead would make a subtree's death look like incoherence to the node above.
- **Dormant root.** ``err`` is NaN, every λ is 0 and no γ changes.
- **Per scale** (returned arrays indexed by scale 0 … D): means over alive nodes (NaN for a
  scale without alive nodes). Scale-0 γ is the never-used leaf γ (``gamma0``), as in the
  seed's table. λ is averaged with its sign (every λ shares the sign of C_root − C*).

Equations (w = node weights, C* = ``coherence.target``, η = ``coherence.eta``):

    input        x_i = clip(u_i, 0.1, 0.99),  u = local phase order | Ē/(Ē + E_half) | number + σ·N(0, 1)
    forward      C_leaf = x;   g_i = Σ_{c alive} w_c·C_c / Σ_{c alive} w_c;   C_i = tanh(γ_i·g_i)   (bottom-up)
    error        err = (C_root − C*)²
    adjoint      λ_root = 2·(C_root − C*);   λ_c = λ_p·γ_p·(1 − C_p²)·w_c / Σ_{c' alive} w_c'    (top-down)
    learning     γ_i ← clip(γ_i − η·λ_i·(1 − C_i²)·g_i, 0, 10)                                    (internal)

λ_i is ∂err/∂C_i, so λ_i·(1 − C_i²)·g_i = ∂err/∂γ_i: the update is gradient descent on the
root error. Every λ is computed from the current γ before any γ changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph import Graph
from ..params import Params
from ..state import State
from .levels import scale_means, sum_over_children
from .phase import local_order

INPUT_MIN, INPUT_MAX = 0.1, 0.99
GAMMA_MIN, GAMMA_MAX = 0.0, 10.0


def leaf_input(graph: Graph, st: State, params: Params, rng: np.random.Generator) -> np.ndarray:
    """The input x of every node, clipped to [0.1, 0.99] (only nodes acting as leaves use it).

    Args:
        graph: the topology.
        st: the state (phi and W for ``"phase"``; E_sum and window_ticks for ``"activation"``).
        params: ``coherence.input``, ``coherence.input_noise``, ``coherence.E_half``.
        rng: draws the Gaussian noise of a numeric input.

    Returns:
        An array of length N.
    """
    cp = params.coherence
    if cp.input == "phase":
        x = local_order(graph, st)
    elif cp.input == "activation":  # ē/(ē + E_half), with one temporary besides x
        x = st.E_sum / max(st.window_ticks, 1)
        den = x + cp.E_half
        np.divide(x, den, out=x)
    elif cp.input_noise > 0:  # input + noise·ξ, in place (the same bits as adding the noise to a full array)
        x = rng.standard_normal(graph.n)
        x *= cp.input_noise
        x += float(cp.input)
    else:
        x = np.full(graph.n, float(cp.input))
    return np.clip(x, INPUT_MIN, INPUT_MAX, out=x)


def coherence_slow_tick(graph: Graph, st: State, params: Params, rng: np.random.Generator) -> dict[str, Any]:
    """Forward pass, root error, adjoint pass, then γ learning (SPEC 5.3); mutates C, g, lam, gamma.

    Returns:
        ``err`` (the root error before learning; NaN if the root is dormant), ``C_root``, and
        per-scale means over alive nodes as float arrays indexed by scale 0 … D:
        ``C_by_scale``, ``gamma_by_scale`` (after learning), ``lam_by_scale``.
    """
    cp = params.coherence
    x = leaf_input(graph, st, params, rng)
    live_weight = np.where(st.alive, st.w, 0.0)
    child_weight = _forward(graph, st, x, live_weight)
    _adjoint(graph, st, cp.target, live_weight, child_weight)
    learns = child_weight > 0  # alive internal nodes with alive children (dormant nodes have 0)
    step = cp.eta * st.lam * (1.0 - st.C**2) * st.g
    st.gamma[:] = np.where(learns, np.clip(st.gamma - step, GAMMA_MIN, GAMMA_MAX), st.gamma)
    return summary(graph, st, cp.target)


def summary(graph: Graph, st: State, target: float) -> dict[str, Any]:
    """What ``coherence_slow_tick`` returns, read from the state after the step (learning leaves C as it was)."""
    root_alive = bool(st.alive[0])
    _, (C_by_scale, gamma_by_scale, lam_by_scale) = scale_means(graph, st.alive, st.C, st.gamma, st.lam)
    return {
        "err": float((st.C[0] - target) ** 2) if root_alive else math.nan,
        "C_root": float(st.C[0]) if root_alive else math.nan,
        "C_by_scale": C_by_scale,
        "gamma_by_scale": gamma_by_scale,
        "lam_by_scale": lam_by_scale,
    }


def response(graph: Graph, st: State, x: np.ndarray) -> np.ndarray:
    """The hierarchy's coherence for given leaf inputs, read-only (seed 000 Test C's probe).

    The forward pass of :func:`coherence_slow_tick` with the state's γ, node weights w and
    alive flags, on private arrays: nothing of ``st`` is written, nothing random is drawn,
    nothing learns. C is a function of γ, w, alive and x only.

    Args:
        graph: the topology.
        st: the state whose γ, w and alive are read.
        x: leaf inputs, length N (one probe) or B × N (a batch); clipped to [0.1, 0.99] like
            every input. Only the entries of nodes acting as leaves matter.

    Returns:
        C of every node, the shape of ``x``.
    """
    x = np.clip(np.asarray(x, dtype=float), INPUT_MIN, INPUT_MAX)
    batch = np.atleast_2d(x)
    out = np.empty_like(batch)
    live_weight = np.where(st.alive, st.w, 0.0)
    for b, row in enumerate(batch):
        probe = _Probe(gamma=st.gamma, alive=st.alive, C=np.zeros(graph.n), g=np.zeros(graph.n))
        _forward(graph, probe, row, live_weight)  # type: ignore[arg-type]  # writes only probe.C and probe.g
        out[b] = probe.C
    return out.reshape(x.shape)


@dataclass
class _Probe:
    """The four arrays the forward pass touches; C and g are private, γ and alive only read."""

    gamma: np.ndarray
    alive: np.ndarray
    C: np.ndarray
    g: np.ndarray


def _forward(graph: Graph, st: State, x: np.ndarray, live_weight: np.ndarray) -> np.ndarray:
    """Bottom-up: g and C of every node; returns Σ w over each node's alive children (0: none)."""
    child_weight = np.zeros(graph.n)
    for d in range(graph.max_depth, -1, -1):
        nodes = graph.level(d)
        if d < graph.max_depth:
            kids = graph.level(d + 1)
            num = sum_over_children(graph, d, live_weight[kids] * st.C[kids])
            den = sum_over_children(graph, d, live_weight[kids])
        else:
            num = den = np.zeros(nodes.stop - nodes.start)
        alive = st.alive[nodes]
        den = np.where(alive, den, 0.0)
        aggregates = den > 0
        g = np.divide(num, den, out=np.zeros_like(den), where=aggregates)
        st.g[nodes] = g
        st.C[nodes] = np.where(aggregates, np.tanh(st.gamma[nodes] * g), np.where(alive, x[nodes], 0.0))
        child_weight[nodes] = den
    return child_weight


def _adjoint(graph: Graph, st: State, target: float, live_weight: np.ndarray, child_weight: np.ndarray) -> None:
    """Top-down: λ of every node from the current γ (0 for dormant nodes and below them)."""
    st.lam[:] = 0.0
    if not st.alive[0]:
        return
    st.lam[0] = 2.0 * (st.C[0] - target)
    for d in range(1, graph.max_depth + 1):
        kids = graph.level(d)
        par = graph.parent[kids]
        sent = st.lam[par] * st.gamma[par] * (1.0 - st.C[par] ** 2)
        den = child_weight[par]
        share = np.divide(live_weight[kids], den, out=np.zeros_like(den), where=den > 0)
        st.lam[kids] = sent * share
