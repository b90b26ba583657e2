"""Injection and spreading (SPEC 4.1–4.2).

    4.1  E_i ← E_i + inject_i                 (stimuli due now)
    4.2  E   ← E + α·Wᵀ·E   over alive nodes  (un-normalised weights: learning changes the gain)

Both add to ``received`` (the energy each node took in this tick), which the slow tick
turns into a persistence income (SPEC 4.7, 5.4).
"""

from __future__ import annotations

import numpy as np

from ..state import State


def inject(st: State) -> float:
    """Apply queued stimuli; return the total injected."""
    total = float(st.inject.sum())
    if total:
        st.E += st.inject
        st.received_sum += st.inject
        st.inject[:] = 0.0
    return total


def spread(st: State, gain: np.ndarray | None, alpha: float, all_alive: bool) -> None:
    """E ← E + α·(Wᵀ·E), given ``gain`` = Wᵀ·E over alive senders; dormant nodes receive nothing."""
    if gain is None or alpha == 0.0:
        return
    gain *= alpha
    if not all_alive:
        gain[~st.alive] = 0.0
    st.E += gain
    st.received_sum += gain


def senders(st: State, all_alive: bool) -> np.ndarray:
    """The energy that may spread: E of alive nodes."""
    return st.E if all_alive else np.where(st.alive, st.E, 0.0)
