"""Activation decay with consolidation floor, energy floor and clamp (SPEC 4.4).

    ret0_i = exp(−δ_E · m_E[type_i] · dt_fast / r_i)
    ret_i  = min(ret0_i^{c_i}, max(ret0_i, max_retention))   for consolidated nodes
    ret_i  = ret0_i                                            otherwise
    E_i   ← E_i · ret_i;  E_i < energy_floor → 0;  E_i ≤ E_max (count the clamped)

Consolidation slows decay by at most the factor c, never keeps more than
``max_retention`` per tick, and never makes a node decay faster at a given δ_E.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..node_types import M_E, NODE_TYPES
from ..params import Params
from ..state import State

M_E_BY_TYPE = np.array([M_E[t] for t in NODE_TYPES])  # st.m_E is this table indexed by node type


def base_retention(st: State, delta_E: float, dt: float, resistance_on: bool) -> np.ndarray:
    """ret0 per node at the current δ_E."""
    if resistance_on:
        return np.exp(-delta_E * dt * st.m_E / st.r_res)
    # without resistance ret0 depends on the type alone: one exponential per type, then a gather
    # (the same bits as exp per node; an N-node exp pass was a fifth of the fast tick at N = 10⁶)
    return type_table(delta_E, dt)[st.node_type]


def type_table(delta_E: float, dt: float) -> np.ndarray:
    """ret0 of each node type (index as in ``NODE_TYPES``) at δ_E, without resistance."""
    return np.exp(-delta_E * dt * M_E_BY_TYPE)


@dataclass(frozen=True)
class TypeRetention:
    """ret0 when it depends on the node type alone (no resistance, no consolidated node this tick):
    one value per type. ``np.asarray`` gives the per-node array (the same bits as ``base_retention``);
    the compiled engine reads the table and never makes it."""

    table: np.ndarray  # ret0 per type index
    node_type: np.ndarray

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        per_node = self.table[self.node_type]
        return per_node if dtype is None else per_node.astype(dtype, copy=False)


def type_retention(st: State, p: Params, chosen: np.ndarray | None) -> TypeRetention | None:
    """The retention of this tick as a table per type, or None when some node has its own
    (resistance on, or nodes consolidated this tick): then use ``retention``."""
    if p.resistance.enabled or (chosen is not None and chosen.size):
        return None
    return TypeRetention(type_table(st.delta_E, p.clock.dt_fast), st.node_type)


def consolidated_retention(ret0: np.ndarray, c: np.ndarray, max_retention: float) -> np.ndarray:
    """min(ret0^c, max(ret0, max_retention)): slower by at most c, capped, never faster."""
    return np.minimum(ret0**c, np.maximum(ret0, max_retention))


def retention(st: State, p: Params, chosen: np.ndarray | None) -> np.ndarray:
    """Per-node retention this tick; ``chosen`` are the consolidated nodes (factors in st.c_cons)."""
    ret = base_retention(st, st.delta_E, p.clock.dt_fast, p.resistance.enabled)
    if chosen is not None and chosen.size:
        ret[chosen] = consolidated_retention(ret[chosen], st.c_cons[chosen], p.consolidation.max_retention)
    return ret


def decay(st: State, ret: np.ndarray, p: Params) -> tuple[float, int]:
    """Apply retention, the energy floor and the clamp; return (energy removed, saturated count)."""
    before = float(st.E.sum())
    st.E *= ret
    st.E[p.decay.energy_floor > st.E] = 0.0
    saturated = p.decay.E_max <= st.E
    n_sat = int(np.count_nonzero(saturated))
    if n_sat:
        st.E[saturated] = p.decay.E_max
    return before - float(st.E.sum()), n_sat
