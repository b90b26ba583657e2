"""Consolidation: which nodes decay slower this tick, and by how much (SPEC 4.5).

Triggers (each factor is 1 when absent):
    retrieval  c_ret                          if retrieved for a goal within ``window`` ticks
    affect     c_aff = clip(1 − κ·affect, 0.5, 1)   if affect > affect_threshold
    goal       c_goal                         if related to an unresolved goal
    c_total = min(c_ret, c_aff, c_goal), then per-type caps
    (c ≥ cap_memory for memory, ≥ cap_task for task, ≥ cap_other otherwise).

At most ``budget`` nodes are consolidated per tick: the lowest c_total first, ties by index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..node_types import NODE_TYPES
from ..params import ConsolidationParams
from ..state import State

_MEMORY, _TASK = NODE_TYPES.index("memory"), NODE_TYPES.index("task")


@dataclass
class Consolidation:
    """The outcome of one tick's selection."""

    chosen: np.ndarray  # node indices consolidated this tick
    candidates: int  # nodes with at least one trigger
    by_trigger: dict[str, int]  # chosen nodes per trigger kind
    mean_factor: float  # mean c over chosen nodes (1 when none)
    budget_exhausted: bool


def select(st: State, cp: ConsolidationParams, tick: float) -> Consolidation:
    """Compute factors into ``st.c_cons`` and choose the consolidated nodes."""
    st.c_cons[:] = 1.0
    retrieved = (tick - st.last_success) <= cp.window
    affective = st.affect > cp.affect_threshold
    goal = st.goal_related & st.goal_unresolved
    cand = np.flatnonzero(retrieved | affective | goal)
    if cand.size == 0:
        return Consolidation(cand, 0, {"retrieval_based": 0, "high_affect": 0, "unresolved_goal": 0}, 1.0, False)
    c = np.ones(cand.size)
    c = np.where(retrieved[cand], np.minimum(c, cp.c_ret), c)
    c_aff = np.clip(1.0 - cp.kappa * st.affect[cand], 0.5, 1.0)
    c = np.where(affective[cand], np.minimum(c, c_aff), c)
    c = np.where(goal[cand], np.minimum(c, cp.c_goal), c)
    t = st.node_type[cand]
    cap = np.where(t == _MEMORY, cp.cap_memory, np.where(t == _TASK, cp.cap_task, cp.cap_other))
    c = np.maximum(c, cap)
    protected = c < 1.0
    cand, c = cand[protected], c[protected]
    exhausted = cand.size > cp.budget
    if exhausted:
        keep = np.lexsort((cand, c))[: cp.budget]  # lowest c first, ties by node index
        keep.sort()
        cand, c = cand[keep], c[keep]
    st.c_cons[cand] = c
    by = {
        "retrieval_based": int(retrieved[cand].sum()),
        "high_affect": int(affective[cand].sum()),
        "unresolved_goal": int(goal[cand].sum()),
    }
    return Consolidation(cand, int(protected.size), by, float(c.mean()) if c.size else 1.0, bool(exhausted))
