"""Pure computations behind the app's views of the graph (no plotting library in here).

- :func:`radial_layout`: every node's position in a radial tree drawing, computed once per
  graph with numpy (radius = depth, each subtree gets an angular wedge proportional to its
  number of leaves, so truncated trees are drawn correctly too).
- :class:`Icicle`: an aggregate view per subtree and scale for graphs too large to draw node by
  node. Columns are the subtrees rooted at one depth (at most ``max_columns`` of them); each
  row is a depth. Rows above the column depth show the ancestor's own value across all the
  columns it covers (the icicle), rows below show the mean over the subtree's nodes at that
  depth. Its cost per update is one ``bincount`` over the nodes.
- Per-scale means, per-type histograms, marker sizes and colour transforms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.graph import Graph


def leaf_counts(graph: Graph) -> np.ndarray:
    """Number of leaves in each node's subtree (a leaf counts itself)."""
    leaves = (graph.n_children == 0).astype(np.float64)
    for d in range(int(graph.max_depth), 0, -1):
        lvl = graph.level(d)
        leaves += np.bincount(graph.parent[lvl], weights=leaves[lvl], minlength=graph.n)
    return leaves


def radial_layout(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) per node: the root at the centre, depth d on the circle of radius d.

    Each node owns an angular wedge proportional to its leaf count, split among its children
    in order; a node sits in the middle of its wedge. Breadth-first numbering keeps siblings
    contiguous, so every level is a handful of vectorised operations. A chain is drawn
    downwards from the root.
    """
    n = graph.n
    leaves = leaf_counts(graph)
    start = np.zeros(n)
    width = np.zeros(n)
    width[0] = 2 * np.pi
    for d in range(1, int(graph.max_depth) + 1):
        lvl = graph.level(d)
        lo = lvl.start
        idx = np.arange(lvl.start, lvl.stop)
        par = graph.parent[idx]
        before = np.cumsum(leaves[idx]) - leaves[idx]  # leaves of the earlier nodes of this level
        first = graph.first_child[par] - lo  # the first sibling of each node
        offset = before - before[first]
        frac = width[par] / leaves[par]
        start[idx] = start[par] + offset * frac
        width[idx] = leaves[idx] * frac
    angle = start + width / 2 + np.pi / 2
    r = graph.depth.astype(np.float64)
    return r * np.cos(angle), r * np.sin(angle)


def edge_segments(graph: Graph, x: np.ndarray, y: np.ndarray, lateral: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (x, y with NaN separators) for the tree links, or for the lateral links."""
    if lateral:
        keep = graph.lateral & (graph.edge_src < graph.edge_dst)
        a, b = graph.edge_src[keep], graph.edge_dst[keep]
    else:
        b = np.arange(1, graph.n)
        a = graph.parent[b]
    gap = np.full(a.size, np.nan)
    return np.column_stack([x[a], x[b], gap]).ravel(), np.column_stack([y[a], y[b], gap]).ravel()


def base_marker_sizes(graph: Graph, radius_px: float) -> np.ndarray:
    """A marker size per node (pixels) for E = 0: 0.45 of the spacing of its ring in the radial layout.

    :func:`marker_sizes` grows it up to 2.2×, so even the fullest node about touches its neighbours.
    """
    counts = np.diff(graph.level_start).astype(np.float64)
    depth = graph.depth
    max_r = max(float(graph.max_depth), 1.0)
    ring_px = 2 * np.pi * np.maximum(depth, 0.5) / max_r * radius_px / counts[depth]
    radial_px = radius_px / max_r
    return np.clip(0.45 * np.minimum(ring_px, radial_px), 2.5, 10.0)


def marker_sizes(base: np.ndarray, E: np.ndarray, E_max: float, E_min: float = 1e-3) -> np.ndarray:
    """Marker size grows with log E, from the base size at E ≤ E_min to 2.2× at E ≥ E_max."""
    span = np.log10(max(E_max, E_min * 10) / E_min)
    grow = np.clip(np.log10(np.maximum(E, E_min) / E_min) / span, 0.0, 1.0)
    return base * (1.0 + 1.2 * grow)


def ratio_colour(R: np.ndarray, limit: float = 2.0) -> np.ndarray:
    """log2(R) clipped to ±limit: a diverging value centred at R = 1 (R = ½ and R = 2 equally far)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log2(np.maximum(R, 2.0**-limit))
    return np.clip(np.nan_to_num(v, nan=0.0), -limit, limit)


def per_scale_mean(graph: Graph, values: np.ndarray, alive: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` over the (alive) nodes of each scale; NaN for a scale with none."""
    w = np.ones(graph.n) if alive is None else alive.astype(np.float64)
    n = np.bincount(graph.scale, weights=w, minlength=graph.n_scales)
    s = np.bincount(graph.scale, weights=values * w, minlength=graph.n_scales)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def type_histograms(values: np.ndarray, types: np.ndarray, n_types: int, edges: np.ndarray) -> np.ndarray:
    """Counts per (type, bin), shape (n_types, len(edges) − 1), in one bincount; outliers go to the end bins."""
    nb = edges.size - 1
    b = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, nb - 1)
    return np.bincount(types.astype(np.int64) * nb + b, minlength=n_types * nb).reshape(n_types, nb)


def histogram_edges(values: np.ndarray, bins: int, floor: float = 1e-9) -> np.ndarray:
    """Equal-width bin edges from 0 to a rounded maximum of ``values`` (at least ``floor``)."""
    top = float(values.max(initial=0.0))
    top = max(top, floor)
    mag = 10 ** np.floor(np.log10(top))
    top = np.ceil(top / mag * 2) / 2 * mag  # round up to a half decade step
    return np.linspace(0.0, top, bins + 1)


def stride_index(n: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced samples of a series of length n, the last one included."""
    if n <= max_points:
        return np.arange(n)
    step = int(np.ceil(n / max_points))
    idx = np.arange(n - 1, -1, -step)[::-1]
    return idx


@dataclass
class Icicle:
    """An aggregate view per subtree and scale: rows = depths (root first), columns = subtrees.

    Built once per graph; :meth:`matrix` then costs one ``bincount`` over the nodes.
    """

    graph: Graph
    column_depth: int
    columns: np.ndarray  # node ids of the subtree roots (depth = column_depth)
    column_of: np.ndarray  # per node: its column (−1 above column_depth)
    ancestors: list[np.ndarray]  # for depth d < column_depth: the ancestor at d of every column
    counts: np.ndarray  # (depths, columns): nodes aggregated in each cell

    @classmethod
    def build(cls, graph: Graph, max_columns: int = 243) -> Icicle:
        sizes = np.diff(graph.level_start)
        k = 0
        last = int(graph.max_depth)
        for d in range(last + 1):
            partial = d == last and d > 0 and sizes[d] < graph.branching * sizes[d - 1]
            if sizes[d] <= max_columns and not partial:  # a partial last level would hide its uncles
                k = d
        lvl = graph.level(k)
        columns = np.arange(lvl.start, lvl.stop)
        column_of = np.full(graph.n, -1, dtype=np.int64)
        column_of[lvl] = np.arange(columns.size)
        for d in range(k + 1, int(graph.max_depth) + 1):
            sub = graph.level(d)
            column_of[sub] = column_of[graph.parent[sub]]
        ancestors: list[np.ndarray] = [columns]
        for _ in range(k):
            ancestors.insert(0, graph.parent[ancestors[0]])
        ones = np.ones(graph.n)
        ice = cls(graph, k, columns, column_of, ancestors, np.zeros(0))
        ice.counts = ice._cells(ones, sum_only=True)
        return ice

    @property
    def n_rows(self) -> int:
        return int(self.graph.max_depth) + 1

    def _cells(self, values: np.ndarray, sum_only: bool = False, alive: np.ndarray | None = None) -> np.ndarray:
        g, k, nc = self.graph, self.column_depth, self.columns.size
        out = np.full((self.n_rows, nc), np.nan)
        w = np.ones(g.n) if alive is None else alive.astype(np.float64)
        for d in range(k):
            a = self.ancestors[d]
            out[d] = w[a] if sum_only else np.where(w[a] > 0, values[a], np.nan)
        deep = g.level_start[k]
        sel = slice(int(deep), g.n)
        code = (g.depth[sel] - k) * nc + self.column_of[sel]
        size = (self.n_rows - k) * nc
        s = np.bincount(code, weights=(values[sel] * w[sel]) if not sum_only else w[sel], minlength=size)
        if sum_only:
            out[k:] = s.reshape(-1, nc)
            return out
        c = np.bincount(code, weights=w[sel], minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k:] = np.where(c > 0, s / np.maximum(c, 1), np.nan).reshape(-1, nc)
        return out

    def matrix(self, values: np.ndarray, alive: np.ndarray | None = None) -> np.ndarray:
        """Mean of ``values`` per (depth, column) over alive nodes; NaN where a cell has none."""
        return self._cells(np.asarray(values, dtype=np.float64), alive=alive)


def node_link_weight(graph: Graph, W: np.ndarray) -> np.ndarray:
    """Mean weight of the links into each node (0 for a node without links): a per-node view of W."""
    n_in = np.bincount(graph.edge_dst, minlength=graph.n)
    total = np.bincount(graph.edge_dst, weights=W, minlength=graph.n)
    return total / np.maximum(n_in, 1)
