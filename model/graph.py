"""The fractal substrate (SPEC 2.1): a breadth-first numbered tree plus lateral links.

Nodes are numbered breadth-first, so every depth is a contiguous range of indices and the
children of node i are the contiguous range ``b·i + 1 … b·i + b``. Every per-scale pass
(coherence, persistence) is therefore a loop over depths with numpy work inside, never a
loop over nodes.

Edges are stored once, in CSR form with *targets as rows*: ``Wt[j, i] = W_ij`` (the weight
of the directed edge i → j). That is the layout spreading needs (``Wᵀ·E`` is one sparse
matrix–vector product); per-source operations (weight decay by the source's type, the
synaptic budget on a source's outgoing row) use ``edge_src``, the source of every stored
entry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .params import GraphParams, ParameterError, Params


@dataclass
class Graph:
    """Topology of the fractal graph; never changes after the build (weights live in State).

    Attributes:
        n: number of nodes.
        branching: b (1 for a chain).
        max_depth: D, the depth of the deepest node; scale = D − depth.
        parent: parent index per node, −1 at the root.
        depth: depth per node (0 at the root).
        scale: D − depth (0 = finest).
        level_start: node range of depth d is ``level_start[d]:level_start[d + 1]``.
        first_child / n_children: children of i are ``first_child[i] … + n_children[i]``.
        entity: ancestor at ``entity_depth`` (the node itself if shallower).
        indptr / indices: CSR structure of Wt (rows = targets, columns = sources).
        edge_src / edge_dst: source and target of every stored entry (len = nnz); edge_src is
            ``indices`` itself (one array, not two).
        lateral: bool per stored entry, True for a lateral (same-depth) link.
        degree: number of neighbours (undirected) per node.
        num_entities: distinct entities among a node and its neighbours.
    """

    n: int
    branching: int
    max_depth: int
    parent: np.ndarray
    depth: np.ndarray
    scale: np.ndarray
    level_start: np.ndarray
    first_child: np.ndarray
    n_children: np.ndarray
    entity: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    edge_src: np.ndarray
    edge_dst: np.ndarray
    lateral: np.ndarray
    degree: np.ndarray
    num_entities: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    @property
    def n_scales(self) -> int:
        return self.max_depth + 1

    @property
    def is_leaf(self) -> np.ndarray:
        return self.n_children == 0

    def level(self, d: int) -> slice:
        """Index range of the nodes at depth d."""
        return slice(int(self.level_start[d]), int(self.level_start[d + 1]))

    def children(self, i: int) -> np.ndarray:
        return np.arange(self.first_child[i], self.first_child[i] + self.n_children[i])

    def neighbours(self, i: int) -> np.ndarray:
        """Sources of the edges into i (the same set as the targets of edges out of i)."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def subtree(self, i: int) -> np.ndarray:
        """All descendants of i, i included, in breadth-first order."""
        out, frontier = [np.array([i])], np.array([i])
        while frontier.size:
            lo, hi = self.first_child[frontier[0]], self.first_child[frontier[-1]] + self.n_children[frontier[-1]]
            frontier = np.arange(lo, hi)
            if frontier.size:
                out.append(frontier)
        return np.concatenate(out)

    def matrix(self, data: np.ndarray) -> sp.csr_matrix:
        """A CSR matrix (rows = targets) over this structure with the given edge data."""
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))


def tree_size(branching: int, depth: int) -> int:
    """Nodes of a complete tree of the given branching and depth."""
    return depth + 1 if branching == 1 else (branching ** (depth + 1) - 1) // (branching - 1)


def build_graph(gp: GraphParams, rng: np.random.Generator) -> Graph:
    """Build the tree (or chain) and sample its lateral links with ``rng``."""
    b = 1 if gp.kind == "chain" else gp.branching
    full = tree_size(b, gp.depth)
    n = gp.n_nodes if gp.n_nodes > 0 else full
    if gp.n_nodes > 0 and b == 1:
        n = gp.n_nodes
    # depth ranges: level d holds b**d nodes (truncated at n)
    starts = [0]
    while starts[-1] < n:
        d = len(starts) - 1
        starts.append(min(n, starts[-1] + b**d))
    level_start = np.asarray(starts, dtype=np.int64)
    max_depth = len(starts) - 2
    idx = np.arange(n, dtype=np.int64)
    depth = np.repeat(np.arange(max_depth + 1, dtype=np.int64), np.diff(level_start))
    parent = np.where(idx > 0, (idx - 1) // b, -1)
    first_child = np.minimum(b * idx + 1, n)
    n_children = np.clip(n - first_child, 0, b).astype(np.int64)
    scale = max_depth - depth

    entity = _ancestor_at(parent, depth, gp.entity_depth)

    # undirected links: tree (child, parent) and lateral pairs at the same depth
    child = idx[1:]
    tree_u, tree_v = child, parent[1:]
    lat_u, lat_v = _lateral_pairs(level_start, gp.lateral_k, rng)
    u = np.concatenate([tree_u, lat_u])
    v = np.concatenate([tree_v, lat_v])
    is_lat = np.concatenate([np.zeros(tree_u.size, bool), np.ones(lat_u.size, bool)])
    # both directions; rows = targets
    dst = np.concatenate([u, v])
    src = np.concatenate([v, u])
    lat = np.concatenate([is_lat, is_lat])
    order = np.lexsort((src, dst))
    dst, src, lat = dst[order], src[order], lat[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=n), out=indptr[1:])
    indices = src.astype(np.int32 if n < 2**31 else np.int64)
    degree = np.diff(indptr)

    # distinct entities among a node and its neighbours (a sort, not a hash: ~10x faster at 10⁷ nodes)
    codes = np.concatenate([dst * n + entity[src], idx * n + entity])
    codes.sort()
    first = np.empty(codes.size, bool)
    first[0], first[1:] = True, codes[1:] != codes[:-1]
    num_entities = np.bincount(codes[first] // n, minlength=n)
    del codes, first
    edge_dst = dst.astype(indices.dtype)  # the sources are the CSR column indices themselves
    del src, dst

    return Graph(
        n=n,
        branching=b,
        max_depth=max_depth,
        parent=parent,
        depth=depth,
        scale=scale,
        level_start=level_start,
        first_child=first_child,
        n_children=n_children,
        entity=entity,
        indptr=indptr,
        indices=indices,
        edge_src=indices,
        edge_dst=edge_dst,
        lateral=lat,
        degree=degree,
        num_entities=num_entities,
    )


def _ancestor_at(parent: np.ndarray, depth: np.ndarray, d: int) -> np.ndarray:
    """Index of each node's ancestor at depth d (the node itself when it is shallower)."""
    anc = np.arange(parent.size, dtype=np.int64)
    for _ in range(int(depth.max(initial=0)) - d):
        deeper = depth[anc] > d
        anc = np.where(deeper, parent[anc], anc)
    return anc


def _lateral_pairs(level_start: np.ndarray, k: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample G(n_d, k/(n_d − 1)) links within every depth in O(links) time (SPEC 2.1)."""
    us, vs = [], []
    for d in range(level_start.size - 1):
        lo, n_d = int(level_start[d]), int(level_start[d + 1] - level_start[d])
        if n_d < 2 or k <= 0:
            continue
        pairs = n_d * (n_d - 1) // 2
        p = min(1.0, k / (n_d - 1))
        m = int(rng.binomial(pairs, p))
        if m == 0:
            continue
        code = rng.choice(pairs, size=m, replace=False) if m < pairs else np.arange(pairs)
        code = np.sort(code)
        # pair code → (i < j): j is the largest with j(j−1)/2 ≤ code
        j = np.floor((1 + np.sqrt(1 + 8 * code.astype(np.float64))) / 2).astype(np.int64)
        j -= (j * (j - 1) // 2 > code).astype(np.int64)
        j += ((j + 1) * j // 2 <= code).astype(np.int64)
        i = code - j * (j - 1) // 2
        us.append(lo + i)
        vs.append(lo + j)
    if not us:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(us), np.concatenate(vs)


# ----------------------------------------------------------------------------- memory, before building


def node_count(gp: GraphParams) -> int:
    """Nodes the graph will have (exact, from branching, depth and n_nodes; nothing is built)."""
    b = 1 if gp.kind == "chain" else gp.branching
    return gp.n_nodes if gp.n_nodes > 0 else tree_size(b, gp.depth)


# what the build and the first ticks allocate beyond the final arrays (edge sorting, the fast tick's
# work buffers), measured with `/usr/bin/time -v` on 10^5- and 10^6-node runs: peak ≈ 2.1–2.2× the arrays
PEAK_FACTOR = 2.2


def array_bytes(params: Params) -> tuple[float, float]:
    """Bytes per node and per directed edge of the graph's and the state's arrays at these parameters.

    Read off a small model built with the same parameters (every array of length N or nnz
    counts, whatever its dtype and width, e.g. the N×M reality arrays), so the figure follows
    the arrays as they are, not a hand-kept list.
    """
    from .state import initial_state

    small = params.graph.model_copy(update={"kind": "tree", "branching": 3, "depth": 3, "n_nodes": 0})
    g = build_graph(small, np.random.default_rng(0))
    st = initial_state(g, params.model_copy(update={"graph": small}), np.random.default_rng(0))
    per_node = per_edge = 0.0
    for obj in (g, st):
        for a in vars(obj).values():
            if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == g.n:
                per_node += a.nbytes / g.n
            elif isinstance(a, np.ndarray) and a.ndim and a.shape[0] == g.nnz:
                per_edge += a.nbytes / g.nnz
    return per_node, per_edge


def estimated_bytes(params: Params) -> int:
    """Peak memory of building and running a model with these parameters, estimated before building."""
    gp = params.graph
    n = node_count(gp)
    edges = 2 * (n - 1) + gp.lateral_k * n  # directed entries: tree links both ways, ~lateral_k per node
    per_node, per_edge = array_bytes(params)
    return int(PEAK_FACTOR * (n * per_node + edges * per_edge))


def available_bytes() -> int | None:
    """Memory the system can give a new process now (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(params: Params) -> None:
    """Refuse, before anything is allocated, a graph that cannot fit in the memory available now.

    Raises:
        ParameterError: naming the node count, the estimate and what is available.
    """
    need = estimated_bytes(params)
    have = available_bytes()
    if have is not None and need > have:
        gp = params.graph
        shape = f"n_nodes = {gp.n_nodes:,}" if gp.n_nodes else f"branching {gp.branching}, depth {gp.depth}"
        if gp.kind == "chain" and not gp.n_nodes:
            shape = f"a chain of depth {gp.depth}"
        raise ParameterError(
            f"the graph ({shape}: {node_count(gp):,} nodes) needs about {_size(need)} of memory and "
            f"{_size(have)} is available; choose a smaller graph.depth, graph.branching or graph.n_nodes"
        )


def _size(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if b < 1024 or unit == "EiB":
            return f"{b:.3g} {unit}"
        b /= 1024
    return f"{b:.3g} EiB"
