"""Phase dynamics (SPEC 4.3) and the coherence free energy F_coh (SPEC 5.3).

Choices (where the spec is silent):

- **Symmetrised weights.** Stored entry k holds ``W_ij`` (source i, target j); its reverse
  entry holds ``W_ji`` (every link is stored in both directions, SPEC 2.1). The permutation
  k → reverse(k) is computed once per graph and cached on it. ``W̄`` of both entries is
  ``(W_ij + W_ji)/2``.
- **Dormant nodes** (``alive`` false) neither couple nor are coupled: every entry touching a
  dormant node has ``W̄ = 0``. Their phase is frozen, and they are left out of E_phase,
  S_phase, the order parameter and every per-scale figure.
- **Per scale** (k = 0 … D): the nodes at scale k and the links with *both* ends at scale k
  (the lateral links of that depth; tree links always join two scales). A scale with no
  such link carrying weight has ``E_phase = NaN`` and so ``F_coh = NaN``; a scale with no
  alive node has NaN everywhere.
- **Local order** (the ``"phase"`` coherence input): the self term ``j = i`` of
  ``N(i) ∪ {i}`` weighs ``mean_j W̄_ij`` over i's alive neighbours, so a node counts like a
  typical neighbour and the measure is invariant to rescaling W. A node without weighted
  alive neighbours is alone with itself: its local order is 1.
- ``1 − cos Δ`` is evaluated as ``2 sin²(Δ/2)`` (no cancellation near lock).
- The histogram of S_phase uses ``phase.bins`` equal bins on (−π, π].

Equations:

    φ_i ← wrap(φ_i + dt·(ω_i + K·Σ_j W̄_ij·sin(φ_j − φ_i)) + sqrt(2·T·dt)·ξ_i),   ξ_i ~ N(0, 1)
    wrap(x) ∈ (−π, π]
    E_phase = Σ_ij W̄_ij·(1 − cos(φ_i − φ_j)) / Σ_ij W̄_ij         (the graph's ⟨|∇φ|²⟩)
    S_phase = −Σ_b P_b·ln P_b                                      (``phase.bins``-bin histogram of φ)
    F_coh   = E_phase − T·S_phase
    order   = |mean_i e^{iφ_i}|
    local order r_i = |Σ_{j∈N(i)∪{i}} W̄_ij·e^{iφ_j}| / Σ_{j∈N(i)∪{i}} W̄_ij

The drift is the gradient descent of E_phase, so with the noise the dynamics lower
F = E − T·S (SPEC 4.3). The coupling sum is two sparse products:
``Σ_j W̄_ij sin(φ_j − φ_i) = cos φ_i·(W̄ sin φ)_i − sin φ_i·(W̄ cos φ)_i``.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import Graph
from ..params import Params
from ..state import State

_REVERSE_CACHE = "_reverse_entry_cache"


def reverse_entry(graph: Graph) -> np.ndarray:
    """For every stored entry (edge i → j), the index of the stored entry of its reverse j → i.

    Computed once per graph (the topology never changes) and cached on the graph object.

    Raises:
        ValueError: if some directed edge has no reverse (the graph would not be undirected).
    """
    cached = graph.__dict__.get(_REVERSE_CACHE)
    if cached is not None:
        return cached
    # transposing a matrix whose data are the entry numbers puts, at every stored position
    # (j, i), the number of the entry stored at (i, j): O(nnz) in scipy's compiled code
    numbered = graph.matrix(np.arange(graph.nnz, dtype=np.float64)).T.tocsr()
    rev = numbered.data.astype(np.int64)
    same_structure = np.array_equal(numbered.indptr, graph.indptr) and np.array_equal(numbered.indices, graph.indices)
    if not same_structure or not (
        np.array_equal(graph.edge_src[rev], graph.edge_dst) and np.array_equal(graph.edge_dst[rev], graph.edge_src)
    ):
        raise ValueError("every link must be stored in both directions (SPEC 2.1)")
    graph.__dict__[_REVERSE_CACHE] = rev
    return rev


def coupling_weights(graph: Graph, st: State) -> np.ndarray:
    """W̄ per stored entry, (W_ij + W_ji)/2, and 0 on every entry that touches a dormant node."""
    wbar = 0.5 * (st.W + st.W[reverse_entry(graph)])
    if not st.alive.all():
        wbar *= st.alive[graph.edge_src] & st.alive[graph.edge_dst]
    return wbar


def wrap(phi: np.ndarray) -> np.ndarray:
    """Angles wrapped to (−π, π] (π stays π, −π becomes π)."""
    out = np.pi - np.mod(np.pi - phi, 2.0 * np.pi)
    return np.where(out <= -np.pi, out + 2.0 * np.pi, out)


def phase_step(graph: Graph, st: State, params: Params, rng: np.random.Generator, dt: float) -> None:
    """One Euler–Maruyama step of the noisy Kuramoto/XY dynamics (SPEC 4.3), in place on ``st.phi``.

    Args:
        graph: the topology.
        st: the state; reads W, omega, alive; writes phi (alive nodes only).
        params: uses ``phase.K`` and ``phase.T``.
        rng: the noise stream (N normals per step when T > 0, none when T = 0).
        dt: the step (the fast clock's period).
    """
    pp = params.phase
    Wbar = graph.matrix(coupling_weights(graph, st))
    cos, sin = np.cos(st.phi), np.sin(st.phi)
    drive = cos * (Wbar @ sin) - sin * (Wbar @ cos)  # Σ_j W̄_ij sin(φ_j − φ_i)
    new = st.phi + dt * (st.omega + pp.K * drive)
    if pp.T > 0:
        new += math.sqrt(2.0 * pp.T * dt) * rng.standard_normal(graph.n)
    st.phi[:] = np.where(st.alive, wrap(new), st.phi)


def local_order(graph: Graph, st: State) -> np.ndarray:
    """Per node |Σ_{j∈N(i)∪{i}} W̄_ij e^{iφ_j}| / Σ_{j∈N(i)∪{i}} W̄_ij ∈ [0, 1] (SPEC 5.3).

    The self weight W̄_ii is the mean W̄ of i's alive neighbours; a node without weighted
    alive neighbours gets 1.
    """
    Wbar = graph.matrix(coupling_weights(graph, st))
    cos, sin = np.cos(st.phi), np.sin(st.phi)
    strength = Wbar @ np.ones(graph.n)
    if st.alive.all():
        n_neighbours = graph.degree.astype(float)
    else:
        coupled = st.alive[graph.edge_src] & st.alive[graph.edge_dst]
        n_neighbours = np.bincount(graph.edge_dst, weights=coupled.astype(float), minlength=graph.n)
    alone = (strength <= 0) | (n_neighbours == 0)
    self_weight = np.where(alone, 1.0, strength / np.maximum(n_neighbours, 1.0))
    re = Wbar @ cos + self_weight * cos
    im = Wbar @ sin + self_weight * sin
    return np.minimum(np.hypot(re, im) / (strength + self_weight), 1.0)


def phase_free_energy(graph: Graph, st: State, params: Params) -> dict[str, float | np.ndarray]:
    """E_phase, S_phase, F_coh and the order parameter over alive nodes, globally and per scale.

    Returns:
        ``E_phase``, ``S_phase``, ``F_coh``, ``order`` (floats; NaN when undefined) and
        ``E_phase_by_scale``, ``S_phase_by_scale``, ``F_coh_by_scale``, ``order_by_scale``
        (float arrays indexed by scale 0 … D; NaN where undefined, see the module's Choices).
    """
    T, bins, n_scales = params.phase.T, params.phase.bins, graph.n_scales
    alive = st.alive
    wbar = coupling_weights(graph, st)
    tension = 2.0 * np.sin(0.5 * (st.phi[graph.edge_src] - st.phi[graph.edge_dst])) ** 2  # 1 − cos
    total = wbar.sum()
    e_phase = float((wbar * tension).sum() / total) if total > 0 else math.nan

    same = graph.scale[graph.edge_src] == graph.scale[graph.edge_dst]
    edge_scale = graph.scale[graph.edge_dst][same]
    num = np.bincount(edge_scale, weights=(wbar * tension)[same], minlength=n_scales)
    den = np.bincount(edge_scale, weights=wbar[same], minlength=n_scales)
    e_by_scale = np.divide(num, den, out=np.full(n_scales, np.nan), where=den > 0)

    # S_phase: bins of equal width on (−π, π]; the top edge π falls into the last bin
    b = np.clip(np.floor((st.phi[alive] + np.pi) * (bins / (2.0 * np.pi))).astype(np.int64), 0, bins - 1)
    scale_alive = graph.scale[alive]
    counts = np.bincount(scale_alive * bins + b, minlength=n_scales * bins).reshape(n_scales, bins)
    s_phase = _entropy(counts.sum(axis=0))
    s_by_scale = np.array([_entropy(row) for row in counts]) if n_scales else np.empty(0)

    n_alive = np.bincount(scale_alive, minlength=n_scales).astype(float)
    re = np.bincount(scale_alive, weights=np.cos(st.phi[alive]), minlength=n_scales)
    im = np.bincount(scale_alive, weights=np.sin(st.phi[alive]), minlength=n_scales)
    order_by_scale = np.divide(np.hypot(re, im), n_alive, out=np.full(n_scales, np.nan), where=n_alive > 0)
    n_total = n_alive.sum()
    order = float(np.hypot(re.sum(), im.sum()) / n_total) if n_total > 0 else math.nan
    return {
        "E_phase": e_phase,
        "S_phase": s_phase,
        "F_coh": e_phase - T * s_phase,
        "order": order,
        "E_phase_by_scale": e_by_scale,
        "S_phase_by_scale": s_by_scale,
        "F_coh_by_scale": e_by_scale - T * s_by_scale,
        "order_by_scale": order_by_scale,
    }


def _entropy(counts: np.ndarray) -> float:
    """−Σ P ln P of a histogram (0·ln 0 = 0); NaN for an empty histogram."""
    total = counts.sum()
    if total <= 0:
        return math.nan
    P = counts[counts > 0] / total
    return float(-(P * np.log(P)).sum())
