"""Per-depth-level helpers shared by the tree passes (coherence SPEC 5.3, persistence SPEC 5.4).

Nodes are numbered breadth-first (SPEC 2.1), so the nodes of one depth are a contiguous range
and the children of consecutive nodes are consecutive: a sum over every node's children is
one ``np.add.reduceat`` over the next level, and a pass over the tree is a loop over depths
with numpy work inside, never a loop over nodes.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph


def sum_over_children(graph: Graph, depth: int, child_values: np.ndarray) -> np.ndarray:
    """Sum of ``child_values`` over the children of every node at ``depth``.

    Args:
        graph: the tree.
        depth: the depth of the parents.
        child_values: one value (or row) per node at ``depth + 1``, in node order.

    Returns:
        One value (or row) per node at ``depth``; 0 for nodes without children.
    """
    nodes = graph.level(depth)
    out = np.zeros((nodes.stop - nodes.start, *child_values.shape[1:]))
    if depth >= graph.max_depth:
        return out
    has_children = graph.n_children[nodes] > 0
    starts = graph.first_child[nodes][has_children] - graph.level_start[depth + 1]
    if starts.size:
        out[has_children] = np.add.reduceat(child_values, starts, axis=0)
    return out


def scale_mean(graph: Graph, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the nodes selected by ``mask``, per scale (NaN for a scale with none)."""
    counts = np.bincount(graph.scale, weights=mask.astype(float), minlength=graph.n_scales)
    totals = np.bincount(graph.scale, weights=np.where(mask, values, 0.0), minlength=graph.n_scales)
    return np.divide(totals, counts, out=np.full(graph.n_scales, np.nan), where=counts > 0)


def scale_count(graph: Graph, mask: np.ndarray) -> np.ndarray:
    """Number of nodes selected by ``mask`` per scale (integers)."""
    return np.bincount(graph.scale[mask], minlength=graph.n_scales)
