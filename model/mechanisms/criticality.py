"""Criticality: the spectral radius of the real propagation operator, and the δ_E controller (SPEC 4.6).

    A  = diag(ret)·(I + α·Wᵀ)        on alive nodes (non-negative, not symmetric)
    ρ̂  = ‖A v‖₂ / ‖v‖₂               power iteration, warm-started from the previous v
    δ_E ← clip(δ_E + k_p·(ρ − ρ*) + k_i·I + k_d·Δρ, δ_min, δ_max),  I clamped to ±1

Bands relative to ρ*: subcritical < ρ* − 0.05 ≤ critical ≤ ρ* + 0.05 < supercritical,
runaway > ρ* + 0.2. Cheap proxies logged beside ρ (they never drive the controller):
branching ratio σ = ΣE(t+1)/(ΣE(t) + injected(t+1)) and participation ratio (ΣE)²/ΣE².
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..params import ControllerParams
from ..state import State

BANDS = ("subcritical", "critical", "supercritical", "runaway")


def power_iterate(st: State, Wt: sp.csr_matrix, alpha: float, ret: np.ndarray, iterations: int) -> float:
    """Advance the warm-started power iteration; store v and return ρ̂ (0 when nothing is alive)."""
    alive = st.alive
    v = st.power_v
    rho = 0.0
    for _ in range(iterations):
        if not alive.all():
            v = np.where(alive, v, 0.0)
        norm = np.linalg.norm(v)
        if norm == 0.0:
            if not alive.any():
                st.power_v = v
                return 0.0
            v = alive / np.sqrt(alive.sum())
            norm = 1.0
        av = v + alpha * (Wt @ v) if alpha else v.copy()
        av *= ret
        if not alive.all():
            av[~alive] = 0.0
        rho = float(np.linalg.norm(av) / norm)
        n_av = np.linalg.norm(av)
        v = av / n_av if n_av > 0 else av
    st.power_v = v
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


def participation_ratio(E: np.ndarray) -> float:
    """(ΣE)²/ΣE²: how many nodes carry the energy (0 when there is none)."""
    s2 = float(np.dot(E, E))
    return float(E.sum()) ** 2 / s2 if s2 > 0 else 0.0
