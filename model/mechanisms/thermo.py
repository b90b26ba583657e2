"""Switching the phase coupling K: work, exact free energies, equilibrium starts (SPEC 5.6).

The phase system of SPEC 4.3 has the energy (each link once, ω = 0)

    H(φ; K) = K·h(φ),        h(φ) = −Σ_links W̄_ij·cos(φ_i − φ_j),        ∂H/∂K = h(φ)

and its Boltzmann density ∝ exp(−H/T). On a tree without lateral links the link differences
are independent, so

    Z(K) = (2π)^N · Π_links I₀(K·W̄/T)
    ΔF = F(K_to) − F(K_from) = −T·Σ_links [ln I₀(K_to·W̄/T) − ln I₀(K_from·W̄/T)]

(ln I₀(x) = ln i0e(x) + |x|, no overflow), and an exact equilibrium sample is: the root
uniform on (−π, π], each child's phase its parent's plus a von Mises angle of concentration
κ = K·W̄/T (``sample_tree``).

Protocol (SPEC 5.6): K goes from K_from to K_to in S = ``thermo.switch_ticks`` equal steps,
one per fast tick. At each step K changes first and the work increment is taken at the
current phases, then the phases move under the new K (SPEC 4.3):

    W = Σ_{s=1..S} [H(φ_{s−1}; K_s) − H(φ_{s−1}; K_{s−1})] = Σ_s (K_s − K_{s−1})·h(φ_{s−1})

A reverse trajectory starts in equilibrium at K_to and switches back to K_from. Jarzynski:
⟨e^{−W_F/T}⟩ = e^{−ΔF/T}; Crooks: P_F(W)/P_R(−W) = e^{(W − ΔF)/T}.

Everything here works on a *batch*: phases of shape (N, M), one column per trajectory, so
that a tick is a handful of sparse products over all trajectories at once.
"""

from __future__ import annotations

import numpy as np
from scipy.special import i0e

from ..graph import Graph


def links(graph: Graph, wbar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each link once (the stored entry with source < target): its two ends and W̄."""
    once = graph.edge_src < graph.edge_dst
    return graph.edge_src[once], graph.edge_dst[once], wbar[once]


def link_energy(phi: np.ndarray, src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> np.ndarray:
    """h(φ) = −Σ_links W̄·cos(φ_i − φ_j) = ∂H/∂K; one value per column of a batch (N, M)."""
    return -(w @ np.cos(phi[src] - phi[dst]))


def log_i0(x: np.ndarray | float) -> np.ndarray:
    """ln I₀(x) without overflow: ln i0e(x) + |x|."""
    x = np.abs(np.asarray(x, dtype=float))
    return np.log(i0e(x)) + x


def tree_free_energy(w: np.ndarray, K: float, T: float) -> float:
    """F(K) − F(0) = −T·Σ_links ln I₀(K·W̄/T) on a lateral-free tree (T > 0)."""
    return float(-T * log_i0(K * w / T).sum())


def exact_delta_F(w: np.ndarray, K_from: float, K_to: float, T: float) -> float:
    """ΔF = F(K_to) − F(K_from) of a lateral-free tree with link weights ``w`` (SPEC 5.6)."""
    return tree_free_energy(w, K_to, T) - tree_free_energy(w, K_from, T)


def is_lateral_free(graph: Graph, wbar: np.ndarray) -> bool:
    """True when no lateral link carries weight: the coupled graph is a forest, Z factorises."""
    return not bool((wbar[graph.lateral] > 0).any())


def parent_weights(graph: Graph, wbar: np.ndarray) -> np.ndarray:
    """W̄ of the link from each node to its parent (0 at the root)."""
    out = np.zeros(graph.n)
    up = ~graph.lateral & (graph.edge_dst == graph.parent[graph.edge_src])
    out[graph.edge_src[up]] = wbar[up]
    return out


def sample_tree(graph: Graph, w_parent: np.ndarray, K: np.ndarray, T: float, rng: np.random.Generator) -> np.ndarray:
    """Exact equilibrium phases of the tree part, one column per entry of ``K`` (shape (N, M)).

    The root is uniform; depth by depth (a loop over depths, numpy inside), each child's
    phase is its parent's plus a von Mises angle with κ = K·W̄/T (κ = ∞ at T = 0: locked).
    """
    K = np.asarray(K, dtype=float)
    phi = np.empty((graph.n, K.size))
    phi[graph.level(0)] = rng.uniform(-np.pi, np.pi, (graph.level_start[1], K.size))
    for d in range(1, graph.max_depth + 1):
        lv = graph.level(d)
        if T > 0:
            kappa = w_parent[lv, None] * K[None, :] / T
            step = rng.vonmises(0.0, kappa)
        else:
            step = np.zeros((lv.stop - lv.start, K.size))
        phi[lv] = phi[graph.parent[lv]] + step
    return np.pi - np.mod(np.pi - phi, 2.0 * np.pi)


def schedule(K_from: float, K_to: float, steps: int) -> np.ndarray:
    """K_0 … K_S of the protocol: S equal steps from K_from to K_to (exact end points)."""
    K = K_from + (K_to - K_from) * np.arange(steps + 1) / steps
    K[-1] = K_to
    return K


def gauss_legendre(a: float, b: float, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``points``-point Gauss–Legendre rule on [a, b] (signed when b < a)."""
    x, wts = np.polynomial.legendre.leggauss(points)
    return 0.5 * (b - a) * x + 0.5 * (a + b), 0.5 * (b - a) * wts


def logmeanexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """ln mean e^x along ``axis``, stable."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.mean(np.exp(x - m), axis=axis))
