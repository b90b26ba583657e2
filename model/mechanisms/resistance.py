"""Structural decay resistance r ∈ [1, 1.5] (SPEC 4.5, seed 003 §2.4).

    r_deg    = 1 + 0.1·tanh(degree/20)
    r_bridge = 1 + 0.15·min(1, (num_entities − 1)/5)
    r        = min(1.5, r_deg·r_bridge·r_type),  and r ≤ 1.1 for task nodes

Recomputed every ``resistance.interval`` ticks; the decay divides its exponent by r.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from ..node_types import NODE_TYPES
from ..state import State, r_type_lookup

_TASK = NODE_TYPES.index("task")


def resistance(graph: Graph, node_type: np.ndarray) -> np.ndarray:
    """The resistance factor of every node."""
    r_deg = 1.0 + 0.1 * np.tanh(graph.degree / 20.0)
    r_bridge = 1.0 + 0.15 * np.minimum(1.0, (graph.num_entities - 1) / 5.0)
    r = np.minimum(1.5, r_deg * r_bridge * r_type_lookup(node_type))
    return np.where(node_type == _TASK, np.minimum(r, 1.1), r)


def update(graph: Graph, st: State) -> None:
    """Recompute ``st.r_res`` in place."""
    st.r_res[:] = resistance(graph, st.node_type)
