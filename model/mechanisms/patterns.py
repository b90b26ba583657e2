"""Patterns of the stability–plasticity experiment (SPEC 6; seed 001's "behavioral patterns").

A pattern is a connected set of ``size`` nodes grown by a seeded random walk on the graph:
the walk starts at a uniformly chosen allowed node, steps to a uniformly chosen allowed
neighbour (revisits allowed), and records each node the first time it is visited, until
``size`` distinct nodes are collected. Every recorded node is adjacent to an earlier one, so
the set is connected and the recording order is the walk order. The first ``size // 2``
nodes are the *cue* (seed 001's context), the rest the *response* (its decision).

``count`` patterns form task A, then ``count`` form task B. Patterns of the same task may
share nodes. How B may relate to A is ``patterns.overlap``:

    free        B's walks go anywhere (shared nodes happen by chance: interference)
    disjoint    B's walks avoid A's nodes
    separated   B's walks avoid A's nodes and every neighbour of them (no link joins A and B)

The walks are loops over walk steps (a few × size), never over the graph's nodes or edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph

MAX_STEPS_PER_NODE = 50
MAX_STARTS = 200


@dataclass(frozen=True)
class Pattern:
    """One learned pattern: its nodes in walk order, split into cue and response halves."""

    label: str  # "A1", "B3", …
    task: str  # "A" or "B"
    nodes: np.ndarray
    cue: np.ndarray
    response: np.ndarray


class PatternError(ValueError):
    """The patterns cannot be placed on this graph (too small for size, count and overlap)."""


def split(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cue, response): the first half of the walk order and the rest."""
    half = nodes.size // 2
    return nodes[:half], nodes[half:]


def walk_set(
    graph: Graph,
    rng: np.random.Generator,
    size: int,
    allowed: np.ndarray,
    weights: np.ndarray | None = None,
    rev: np.ndarray | None = None,
    start: int | None = None,
) -> np.ndarray | None:
    """``size`` distinct allowed nodes in first-visit order of one random walk, or None if it got stuck.

    ``weights`` (optional, per stored entry, i.e. ``W``) makes the walk choose the next node
    with probability ∝ the weight of the edge it follows (uniform when they are all 0);
    ``rev`` is :func:`reverse_entries` of the graph (computed when not given). ``start`` fixes
    the first node (default: a uniformly chosen allowed node).
    """
    if start is None:
        starts = np.flatnonzero(allowed)
        if starts.size == 0:
            return None
        start = int(starts[rng.integers(starts.size)])
    cur = int(start)
    order, seen = [cur], {cur}
    if weights is not None and rev is None:
        rev = reverse_entries(graph)
    for _ in range(MAX_STEPS_PER_NODE * size):
        if len(order) >= size:
            break
        lo, hi = graph.indptr[cur], graph.indptr[cur + 1]
        nb = graph.indices[lo:hi]
        ok = allowed[nb]
        if not ok.any():
            return None
        nb = nb[ok]
        if weights is not None:
            w = weights[rev[lo:hi][ok]]  # weight of cur → nb
            total = float(w.sum())
            cur = int(nb[rng.choice(nb.size, p=w / total)]) if total > 0 else int(nb[rng.integers(nb.size)])
        else:
            cur = int(nb[rng.integers(nb.size)])
        if cur not in seen:
            seen.add(cur)
            order.append(cur)
    return np.asarray(order, dtype=np.int64) if len(order) >= size else None


def grow_patterns(graph: Graph, rng: np.random.Generator, size: int, count: int, overlap: str) -> list[Pattern]:
    """``count`` patterns of task A, then ``count`` of task B placed according to ``overlap``."""
    if size > graph.n:
        raise PatternError(f"patterns.size ({size}) exceeds the number of nodes ({graph.n})")
    out: list[Pattern] = []
    everywhere = np.ones(graph.n, bool)
    for k in range(count):
        out.append(_grow(graph, rng, size, everywhere, f"A{k + 1}", "A"))
    in_a = np.zeros(graph.n, bool)
    for pat in out:
        in_a[pat.nodes] = True
    if overlap == "free":
        allowed = everywhere
    elif overlap == "disjoint":
        allowed = ~in_a
    else:
        allowed = ~(in_a | neighbour_mask(graph, in_a))
    for k in range(count):
        out.append(_grow(graph, rng, size, allowed, f"B{k + 1}", "B"))
    return out


def neighbour_mask(graph: Graph, mask: np.ndarray) -> np.ndarray:
    """Nodes with an edge to or from a node of ``mask`` (the structure is symmetric)."""
    out = np.zeros(graph.n, bool)
    out[graph.edge_src[mask[graph.edge_dst]]] = True
    return out


def _grow(graph: Graph, rng: np.random.Generator, size: int, allowed: np.ndarray, label: str, task: str) -> Pattern:
    for _ in range(MAX_STARTS):
        nodes = walk_set(graph, rng, size, allowed)
        if nodes is not None:
            cue, response = split(nodes)
            return Pattern(label, task, nodes, cue, response)
    raise PatternError(
        f"cannot place pattern {label}: no connected set of {size} allowed nodes found in {MAX_STARTS} walks "
        f"({int(allowed.sum())} of {graph.n} nodes allowed); use a bigger graph, a smaller patterns.size or "
        "patterns.count, or a looser patterns.overlap"
    )


def reverse_entries(graph: Graph) -> np.ndarray:
    """For every stored entry (i → j), the position of the entry (j → i) (every link is two edges)."""
    n = np.int64(graph.n)
    key = graph.edge_dst.astype(np.int64) * n + graph.edge_src  # sorted: CSR is ordered by (dst, src)
    return np.searchsorted(key, graph.edge_src.astype(np.int64) * n + graph.edge_dst)
