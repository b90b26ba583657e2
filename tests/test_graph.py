"""The fractal substrate (SPEC 2.1) against counting arguments."""

from __future__ import annotations

import numpy as np
import pytest

from model.graph import build_graph, tree_size
from model.params import GraphParams


def test_default_tree_has_121_nodes_numbered_breadth_first() -> None:
    g = build_graph(GraphParams(), np.random.default_rng(0))
    assert g.n == 121 == tree_size(3, 4)
    assert g.max_depth == 4
    assert list(np.bincount(g.depth)) == [1, 3, 9, 27, 81]
    assert list(g.children(0)) == [1, 2, 3]
    assert list(g.children(4)) == [13, 14, 15]
    assert g.parent[13] == 4 and g.parent[0] == -1
    assert (g.scale == 4 - g.depth).all()
    assert g.is_leaf.sum() == 81


def test_chain_is_one_node_per_scale() -> None:
    g = build_graph(GraphParams(kind="chain", depth=4, lateral_k=0), np.random.default_rng(0))
    assert g.n == 5
    assert list(g.parent) == [-1, 0, 1, 2, 3]
    assert list(g.scale) == [4, 3, 2, 1, 0]
    assert g.nnz == 8  # four links, two directions each


def test_every_link_is_two_directed_edges_without_self_loops_or_duplicates() -> None:
    g = build_graph(GraphParams(depth=5), np.random.default_rng(3))
    pairs = set(zip(g.edge_src.tolist(), g.edge_dst.tolist(), strict=True))
    assert len(pairs) == g.nnz
    assert all((j, i) in pairs for i, j in pairs)
    assert not any(i == j for i, j in pairs)
    lat = g.lateral
    assert (g.depth[g.edge_src[lat]] == g.depth[g.edge_dst[lat]]).all()


def test_lateral_degree_is_lateral_k_on_average() -> None:
    # Each pair at depth d is linked with probability k/(n_d − 1): expected lateral degree k.
    g = build_graph(GraphParams(n_nodes=200_000, lateral_k=1.6), np.random.default_rng(1))
    lateral_degree = g.lateral.sum() / g.n
    assert lateral_degree == pytest.approx(1.6, rel=0.02)


def test_truncated_tree_has_exact_size() -> None:
    g = build_graph(GraphParams(n_nodes=1000), np.random.default_rng(0))
    assert g.n == 1000
    assert g.n_children.sum() == 999  # every node but the root has one parent


def test_entities_and_bridges_hand_counted() -> None:
    g = build_graph(GraphParams(depth=2, lateral_k=0), np.random.default_rng(0))
    # entity = ancestor at depth 1; the root is its own entity
    assert list(g.entity[:4]) == [0, 1, 2, 3]
    assert list(g.entity[4:7]) == [1, 1, 1]
    # root sees itself (0) and its three children (1, 2, 3); a depth-1 node sees 0 and 1
    assert g.num_entities[0] == 4
    assert g.num_entities[1] == 2
    assert g.num_entities[4] == 1
