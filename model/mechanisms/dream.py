"""Defense 6, the dream loop: new scenarios from memory collisions, filtered, replayed (SPEC 6).

Seed 001 (scale 6, "generative space"): the memory graph is a latent space, random walks on
it sample scenarios where memories collide, a training-signal agent scores them, and the
good ones are replayed ("filtered behavioural cloning"); the brain's analogue is dream
recombination during sleep.

Here, at every sleep (a SimPy process wakes every ``dream.every`` ticks; the sleep starts at
the next trial boundary):
- stored episodes are the patterns presented so far; the *memory graph* is the graph
  restricted to their nodes (the memory nodes);
- a *collision* node is a memory node that belongs to, or is linked to, nodes of at least
  two different stored episodes;
- a dream is a random walk on the memory graph from a uniformly chosen collision node,
  stepping along the learned weights (next node ∝ W of the edge followed), recording first
  visits until ``patterns.size`` nodes; a walk that gets stuck, or whose nodes do not touch
  two different episodes, is rejected, and up to ``dream.attempts`` walks are tried per
  requested dream; ``dream.count`` dreams are requested (generated = the accepted walks);
- each dream is split like a pattern (first half cue, rest response) and scored by its
  recall F1 in the current weights (the read-only test of ``recall``);
- dreams scoring above ``dream.threshold`` are kept and each is replayed once as a learning
  trial; the others are discarded. A ``dream.cycle`` event reports generated, kept,
  replayed and the mean score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..graph import Graph
from .patterns import neighbour_mask, walk_set


def membership(graph: Graph, episodes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(in_count, touch_count): episodes each node belongs to, and episodes it belongs or is linked to."""
    in_count = np.zeros(graph.n, np.int64)
    touch = np.zeros(graph.n, np.int64)
    for nodes in episodes:  # a loop over episodes, numpy inside
        inside = np.zeros(graph.n, bool)
        inside[nodes] = True
        in_count += inside
        touch += inside | neighbour_mask(graph, inside)
    return in_count, touch


def collision_nodes(graph: Graph, episodes: Sequence[np.ndarray]) -> np.ndarray:
    """Memory nodes that belong to, or are linked to, at least two different episodes."""
    in_count, touch = membership(graph, episodes)
    return np.flatnonzero((in_count > 0) & (touch >= 2))


def generate(
    graph: Graph,
    rng: np.random.Generator,
    episodes: Sequence[np.ndarray],
    W: np.ndarray,
    rev: np.ndarray,
    size: int,
    count: int,
    attempts: int,
) -> list[np.ndarray]:
    """Up to ``count`` dreams (node arrays in walk order) joining two stored episodes."""
    if len(episodes) < 2:
        return []
    member = np.zeros(graph.n, bool)
    for nodes in episodes:
        member[nodes] = True
    starts = collision_nodes(graph, episodes)
    if starts.size == 0:
        return []
    which = [set(map(int, nodes)) for nodes in episodes]
    dreams: list[np.ndarray] = []
    for _ in range(count * attempts):
        if len(dreams) == count:
            break
        first = int(starts[rng.integers(starts.size)])
        walk = walk_set(graph, rng, size, member, weights=W, rev=rev, start=first)
        if walk is None:
            continue
        nodes = set(walk.tolist())
        if sum(1 for ep in which if not ep.isdisjoint(nodes)) >= 2:
            dreams.append(walk)
    return dreams
