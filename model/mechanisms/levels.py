"""Per-depth-level helpers shared by the tree passes (coherence SPEC 5.3, persistence SPEC 5.4).

Nodes are numbered breadth-first (SPEC 2.1), so the nodes of one depth are a contiguous range
and the children of consecutive nodes are consecutive: a sum over every node's children is
one ``np.add.reduceat`` over the next level, and a pass over the tree is a loop over depths
with numpy work inside, never a loop over nodes.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
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
    return scale_means(graph, mask, values)[1][0]


def scale_means(graph: Graph, mask: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Nodes selected by ``mask`` per scale, and the mean of each of ``values`` over them per scale.

    The compiled path (used when the core is built: no temporaries, on the threads) sums blocks of
    4,096 nodes and then the blocks in order, so its bits do not depend on the thread count; they
    differ from ``np.bincount``'s node-order sums (the fallback) only by rounding.

    Returns:
        (counts, means): float counts indexed by scale, and one array of means per input (NaN for
        a scale without selected nodes).
    """
    compiled = kernels.available() and mask.dtype == np.bool_ and mask.flags.c_contiguous
    if compiled and all(v.dtype == np.float64 and v.flags.c_contiguous for v in values):
        sums = np.empty((graph.n_scales, len(values) + 1))
        kernels.level_sums(graph.level_start, mask.view(np.uint8), sums, *values)
        sums = sums[::-1]  # depth d is scale D − d
        counts, totals = sums[:, 0].copy(), sums[:, 1:].T
    else:
        counts = np.bincount(graph.scale, weights=mask.astype(float), minlength=graph.n_scales)
        totals = [np.bincount(graph.scale, weights=np.where(mask, v, 0.0), minlength=graph.n_scales) for v in values]
    means = [np.divide(t, counts, out=np.full(graph.n_scales, np.nan), where=counts > 0) for t in totals]
    return counts, means
