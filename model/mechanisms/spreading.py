"""Injection and spreading (SPEC 4.1–4.2).

    4.1  E_i ← E_i + inject_i                 (stimuli due now)
    4.2  E   ← E + α·Wᵀ·E   over alive nodes  (un-normalised weights: learning changes the gain)

Both add to ``received`` (the energy each node took in this tick), which the slow tick
turns into a persistence income (SPEC 4.7, 5.4).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..state import State


def inject(st: State) -> float:
    """Apply queued stimuli; return the total injected."""
    total = float(st.inject.sum())
    if total:
        st.E += st.inject
        st.received_sum += st.inject
        st.inject[:] = 0.0
    return total


def spread(st: State, Wt: sp.csr_matrix, alpha: float, all_alive: bool) -> None:
    """E ← E + α·Wᵀ·E; dormant nodes neither send nor receive."""
    if alpha == 0.0:
        return
    if all_alive:
        gain = Wt @ st.E
    else:
        gain = Wt @ np.where(st.alive, st.E, 0.0)
        gain[~st.alive] = 0.0
    gain *= alpha
    st.E += gain
    st.received_sum += gain
