"""Pure computations behind the app's graph views: a radial tree layout and per-subtree aggregates.

The layout is computed once per graph (it never changes); the aggregate view summarises a large
graph by scale × top-level subtree, so its size does not grow with N.
"""

from __future__ import annotations

import numpy as np

from model.graph import Graph


def radial_layout(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) per node: radius = depth, angle = position within its depth level.

    Breadth-first numbering keeps each parent's children contiguous and in parent order, so
    evenly spread angles per level place children beneath their parent.
    """
    counts = np.diff(graph.level_start)[graph.depth]
    pos = np.arange(graph.n) - graph.level_start[graph.depth]
    angle = 2 * np.pi * (pos + 0.5) / counts
    r = graph.depth.astype(float)
    return r * np.cos(angle), r * np.sin(angle)


def top_subtree(graph: Graph) -> np.ndarray:
    """Index of each node's ancestor at depth 1 (the root maps to itself)."""
    anc = np.arange(graph.n)
    for _ in range(int(graph.max_depth) - 1):
        anc = np.where(graph.depth[anc] > 1, graph.parent[anc], anc)
    return anc


def aggregate_by_scale_and_subtree(
    graph: Graph, values: np.ndarray, alive: np.ndarray | None = None
) -> tuple[np.ndarray, list[int], list[int]]:
    """Mean of ``values`` per (scale, depth-1 subtree): a matrix, its scale rows and subtree columns."""
    sub = top_subtree(graph)
    cols = sorted(set(sub[graph.depth >= 1].tolist())) or [0]
    col_of = np.full(graph.n, -1)
    col_of[cols] = np.arange(len(cols))
    c = np.where(graph.depth >= 1, col_of[sub], 0)
    mask = np.ones(graph.n, bool) if alive is None else alive
    rows = graph.n_scales
    total = np.zeros((rows, len(cols)))
    count = np.zeros((rows, len(cols)))
    np.add.at(total, (graph.scale[mask], c[mask]), values[mask])
    np.add.at(count, (graph.scale[mask], c[mask]), 1)
    with np.errstate(invalid="ignore"):
        return total / count, list(range(rows)), cols
