"""Phase dynamics and the coherence free energy (SPEC 4.3, 5.3).

Noisy Kuramoto/XY Langevin dynamics at temperature T:

    φ_i ← φ_i + dt·(ω_i + K·Σ_j W̄_ij·sin(φ_j − φ_i)) + sqrt(2·T·dt)·ξ_i,   ξ ~ N(0, 1)

with W̄ = (W + Wᵀ)/2 the symmetrised weights, φ wrapped to (−π, π]. This is gradient descent
on E_phase with thermal noise, so it lowers F = E − T·S.

    E_phase = Σ W̄_ij (1 − cos(φ_i − φ_j)) / Σ W̄_ij        (the graph's ⟨|∇φ|²⟩)
    S_phase = −Σ_b P_b ln P_b                              (``phase.bins``-bin histogram of φ)
    F_coh   = E_phase − T·S_phase
    order   = |mean_i e^{iφ_i}|

Choices: dormant nodes neither couple nor are coupled and keep their phase; the local order
of a node (the ``"phase"`` coherence input) weighs itself by the mean W̄ of its incident
edges, so a node counts like a typical neighbour.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..graph import Graph
from ..params import Params
from ..state import State


def symmetric_weights(graph: Graph, W: np.ndarray) -> sp.csr_matrix:
    """W̄ on the CSR structure (rows = targets): (W_ij + W_ji)/2 for every stored entry."""
    Wt = graph.matrix(W)
    return ((Wt + Wt.T) * 0.5).tocsr()


def wrap(phi: np.ndarray) -> np.ndarray:
    """Wrap angles to (−π, π]."""
    out = np.mod(phi + np.pi, 2 * np.pi) - np.pi
    out[out == -np.pi] = np.pi
    return out


def phase_step(graph: Graph, st: State, p: Params, rng: np.random.Generator, dt: float) -> None:
    """One Langevin step of the phases (alive nodes only)."""
    Wb = symmetric_weights(graph, st.W)
    alive = st.alive
    c, s = np.cos(st.phi) * alive, np.sin(st.phi) * alive
    # Σ_j W̄_ij sin(φ_j − φ_i) = cos φ_i·(W̄ sin φ)_i − sin φ_i·(W̄ cos φ)_i
    drive = np.cos(st.phi) * (Wb @ s) - np.sin(st.phi) * (Wb @ c)
    noise = np.sqrt(2.0 * p.phase.T * dt) * rng.standard_normal(graph.n) if p.phase.T > 0 else 0.0
    new = st.phi + dt * (st.omega + p.phase.K * drive) + noise
    st.phi[:] = np.where(alive, wrap(new), st.phi)


def local_order(graph: Graph, st: State) -> np.ndarray:
    """|Σ_{j∈N(i)∪{i}} W̄_ij e^{iφ_j}| / Σ W̄_ij per node (self weight: mean incident W̄)."""
    Wb = symmetric_weights(graph, np.where(st.alive[graph.edge_src], st.W, 0.0))
    deg_w = np.asarray(Wb.sum(axis=1)).ravel()
    n_nb = np.maximum(np.diff(Wb.indptr), 1)
    self_w = np.where(deg_w > 0, deg_w / n_nb, 1.0)
    re = Wb @ np.cos(st.phi) + self_w * np.cos(st.phi)
    im = Wb @ np.sin(st.phi) + self_w * np.sin(st.phi)
    return np.hypot(re, im) / (deg_w + self_w)


def _energy(Wb: sp.csr_matrix, phi: np.ndarray, mask: np.ndarray | None = None) -> float:
    coo = Wb.tocoo()
    keep = np.ones(coo.nnz, bool) if mask is None else mask[coo.row] & mask[coo.col]
    w = coo.data[keep]
    total = w.sum()
    if total <= 0:
        return float("nan")
    return float((w * (1 - np.cos(phi[coo.row[keep]] - phi[coo.col[keep]]))).sum() / total)


def _entropy(phi: np.ndarray, bins: int) -> float:
    if phi.size == 0:
        return float("nan")
    counts, _ = np.histogram(phi, bins=bins, range=(-np.pi, np.pi))
    P = counts[counts > 0] / phi.size
    return float(-(P * np.log(P)).sum())


def phase_free_energy(graph: Graph, st: State, p: Params) -> dict[str, object]:
    """E_phase, S_phase, F_coh and the order parameter, globally and per scale (alive nodes)."""
    Wb = symmetric_weights(graph, st.W)
    alive = st.alive
    phi = st.phi[alive]
    e = _energy(Wb, st.phi, alive)
    s = _entropy(phi, p.phase.bins)
    out: dict[str, object] = {
        "E_phase": e,
        "S_phase": s,
        "F_coh": e - p.phase.T * s,
        "order": float(np.abs(np.exp(1j * phi).mean())) if phi.size else float("nan"),
    }
    per_scale = []
    for k in range(graph.n_scales):
        m = alive & (graph.scale == k)
        ek, sk = _energy(Wb, st.phi, m), _entropy(st.phi[m], p.phase.bins)
        per_scale.append({"scale": k, "E_phase": ek, "S_phase": sk, "F_coh": ek - p.phase.T * sk})
    out["by_scale"] = per_scale
    return out
