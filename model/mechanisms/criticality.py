"""Criticality: the spectral radius of the real propagation operator, and the δ_E controller (SPEC 4.6).

    A  = diag(ret)·(I + α·Wᵀ)        on alive nodes (non-negative, not symmetric)
    ρ̂  = ‖A v‖₂ / ‖v‖₂               power iteration, warm-started from the previous v
     solved (build, a live change of the operator, nodes that died): the Perron root and vector
       directly, A v = ρ v to 1e-10 (ARPACK's Arnoldi warm-started from v; dense below 300 nodes)
     re-convergence (slow tick): up to K = 50 steps, stopping once (K − k)·|ρ̂_k − ρ̂_{k−1}| < 5e-5·ρ̂_k
    δ_E ← clip(δ_E + k_p·(ρ − ρ*) + k_i·I + k_d·Δρ, δ_min, δ_max),  I clamped to ±1

Bands relative to ρ*: subcritical < ρ* − 0.05 ≤ critical ≤ ρ* + 0.05 < supercritical,
runaway > ρ* + 0.2. Cheap proxies logged beside ρ (they never drive the controller):
branching ratio σ = ΣE(t+1)/(ΣE(t) + injected(t+1)) and participation ratio (ΣE)²/ΣE².
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

from ..params import ControllerParams
from ..state import State

BANDS = ("subcritical", "critical", "supercritical", "runaway")
# Re-convergence (build, slow tick) may stop before its 50 steps, as long as ρ̂ stays within 1e-4
# of what all 50 give (SPEC 4.6). The gap |λ₂|/ρ is often above 0.99 (three eigenvalues within
# 0.3 % on the default tree), so ρ̂ creeps by a near-constant step and a "changed by < 1e-7" rule
# never fires; but a step that shrinks cannot move ρ̂ by more than (steps left)·|last change|.
# So the iteration stops once that bound is below RECONVERGE_TOL·ρ̂, half the 1e-4 allowed (the
# other half is margin for changes that do not shrink monotonically). It includes the 1e-7 rule.
RECONVERGE_TOL = 5e-5
# Why solve at all: from the uniform start vector, or after the operator jumped, 50 power steps
# stop ~6e-4 short of the Perron root at N = 10⁶ (|λ₂|/ρ ≈ 0.998), and every later slow tick
# then spends 20–40 steps chasing that slow mode. From the solved vector the weights' small
# jumps at a slow tick settle in the 2 steps the rule needs (measured over 1,000 ticks, within
# 3e-5 of 50 steps), so the slow tick's re-convergence costs 2 sparse products instead of ~25.
PERRON_TOL = 1e-10  # ARPACK's relative residual ‖Av − ρv‖ ≤ tol·ρ
PERRON_NCV = 16  # Arnoldi vectors kept between restarts (measured: 12–20 need the fewest products)
DENSE_MAX = 300  # below this many nodes a dense eigen-decomposition is cheaper than ARPACK's set-up


def converged(rho: float, previous: float, steps_left: int, tol: float) -> bool:
    """True when ``steps_left`` more steps of the last change could not move ρ̂ by ``tol`` relative.

    Never true when ``tol`` is 0 (the fast tick's fixed number of steps).
    """
    return steps_left * abs(rho - previous) < tol * rho


def power_step(Wt: sp.csr_matrix, v: np.ndarray, ret: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """(A·v, ‖A·v‖₂) with A = diag(ret)·(I + α·Wᵀ); ret is 0 on dormant nodes."""
    av = Wt @ v
    av *= alpha
    av += v
    av *= ret
    return av, float(np.sqrt(np.dot(av, av)))


def start_vector(st: State, out: np.ndarray | None = None) -> np.ndarray:
    """The warm-start vector, restricted to alive nodes and normalised (zeros if none is alive);
    written into ``out`` when given (no N-item temporary: at 10⁷ nodes each costs page faults)."""
    alive = st.alive
    v = st.power_v if alive.all() else np.where(alive, st.power_v, 0.0)
    norm = np.linalg.norm(v)
    if norm == 0.0:
        n_alive = int(alive.sum())
        start = alive / np.sqrt(n_alive) if n_alive else np.zeros_like(v)
        if out is None:
            return start
        out[:] = start
        return out
    return np.divide(v, norm, out=out)


def power_iterate(
    st: State,
    Wt: sp.csr_matrix,
    alpha: float,
    ret: np.ndarray,
    iterations: int,
    first: tuple[np.ndarray, float] | None = None,
    tol: float = 0.0,
) -> float:
    """Advance the warm-started power iteration; store v and return ρ̂ (0 when nothing is alive).

    ``first`` optionally gives (A·v, ‖A·v‖) for the first iteration, already computed. With
    ``tol`` > 0 (``RECONVERGE_TOL`` for the re-convergence) it stops early, after at least two
    steps, once the steps left could not move ρ̂ by ``tol`` relative (see ``converged``).
    """
    ret = np.asarray(ret, dtype=np.float64)  # per node, even when given by type
    ret_alive = ret if st.alive.all() else np.where(st.alive, ret, 0.0)
    v = start_vector(st)
    rho = 0.0
    for it in range(iterations):
        if not v.any():
            break
        previous = rho
        av, rho = first if (first is not None and it == 0) else power_step(Wt, v, ret_alive, alpha)
        v = av / rho if rho > 0 else av
        if it > 0 and converged(rho, previous, iterations - it - 1, tol):
            break
    st.power_v = v
    return rho  # ‖A·v‖/‖v‖ with ‖v‖ = 1


def perron(
    st: State,
    Wt: sp.csr_matrix,
    alpha: float,
    ret: np.ndarray,
    matvec: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """Solve for the Perron root ρ of A and its unit vector (stored as the power vector); return ρ.

    ARPACK's implicitly restarted Arnoldi (``scipy.sparse.linalg.eigs``, never ``eigsh``: A is not
    symmetric), warm-started from the current vector, to a residual of ``PERRON_TOL``; a dense
    eigen-decomposition below ``DENSE_MAX`` nodes. ``matvec`` is the engine's v ↦ A·v (the numpy
    product by default). Should ARPACK not converge, 50 power steps stand in (as before solving).
    0 when no node is alive.
    """
    ret = np.asarray(ret, dtype=np.float64)  # a retention by type becomes per node here (a rare solve)
    n = ret.size
    ret_alive = ret if st.alive.all() else np.where(st.alive, ret, 0.0)
    if not ret_alive.any():
        st.power_v = np.zeros(n)
        return 0.0
    if n <= DENSE_MAX:
        A = ret_alive[:, None] * (np.eye(n) + alpha * Wt.toarray())
        values, vectors = np.linalg.eig(A)
        top = int(np.argmax(np.abs(values)))
        rho, v = float(abs(values[top])), vectors[:, top].real
    else:
        product = matvec or (lambda x: power_step(Wt, x, ret_alive, alpha)[0])
        op = LinearOperator((n, n), matvec=lambda x: product(np.ascontiguousarray(x.ravel())), dtype=np.float64)
        try:
            values, vectors = eigs(op, k=1, which="LM", v0=start_vector(st), tol=PERRON_TOL, ncv=PERRON_NCV)
        except ArpackNoConvergence:
            return power_iterate(st, Wt, alpha, ret, 50)
        rho, v = float(abs(values[0])), vectors[:, 0].real
    v = v if v.sum() >= 0 else -v  # the Perron vector is non-negative; eig returns it up to sign
    st.power_v = v / np.linalg.norm(v)
    return rho


def control(st: State, cp: ControllerParams, rho: float) -> None:
    """One controller update of δ_E from the measured ρ."""
    err = rho - cp.rho_target
    if cp.k_i:
        st.integral = float(np.clip(st.integral + err, -1.0, 1.0))
    d_rho = rho - st.rho_prev if st.rho_prev else 0.0
    st.delta_E = float(
        np.clip(st.delta_E + cp.k_p * err + cp.k_i * st.integral + cp.k_d * d_rho, cp.delta_min, cp.delta_max)
    )


def band(rho: float, target: float) -> str:
    """The criticality band of ρ relative to ρ*."""
    if rho > target + 0.2:
        return "runaway"
    if rho > target + 0.05:
        return "supercritical"
    if rho < target - 0.05:
        return "subcritical"
    return "critical"


def participation_ratio(total: float, squares: float) -> float:
    """(ΣE)²/ΣE² from ΣE and ΣE²: how many nodes carry the energy (0 when there is none)."""
    return total**2 / squares if squares > 0 else 0.0
