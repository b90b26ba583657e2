"""The app's pure graph computations (analysis/graph_views.py) against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import graph_views as gv


@pytest.mark.parametrize("overrides", [{}, {"graph.n_nodes": 50}, {"graph.branching": 2, "graph.depth": 5}])
def test_radial_layout_puts_depth_on_the_radius_and_parents_between_their_children(make_world, overrides) -> None:
    g, *_ = make_world(overrides)
    x, y = gv.radial_layout(g)
    assert np.allclose(np.hypot(x, y), g.depth)
    theta = np.mod(np.arctan2(y, x) - np.pi / 2 + 1e-9, 2 * np.pi)  # the layout turns [0, 2π) by π/2
    for i in range(1, g.n):
        kids = g.children(i)
        if kids.size:
            assert theta[kids].min() - 1e-9 <= theta[i] <= theta[kids].max() + 1e-9


def test_a_full_tree_spreads_its_leaves_evenly_and_a_chain_hangs_down(make_world) -> None:
    g, *_ = make_world({"graph.depth": 3})
    x, y = gv.radial_layout(g)
    leaves = np.flatnonzero(g.n_children == 0)
    gaps = np.diff(np.sort(np.mod(np.arctan2(y[leaves], x[leaves]), 2 * np.pi)))
    assert np.allclose(gaps, 2 * np.pi / leaves.size)
    chain, *_ = make_world({"graph.kind": "chain", "graph.lateral_k": 0.0})
    cx, cy = gv.radial_layout(chain)
    assert np.allclose(cx, 0.0, atol=1e-12) and np.allclose(cy, -chain.depth)


def test_edge_segments_join_every_node_to_its_parent(make_world) -> None:
    g, *_ = make_world({})
    x, y = gv.radial_layout(g)
    ex, ey = gv.edge_segments(g, x, y)
    assert ex.size == 3 * (g.n - 1) and np.isnan(ex[2::3]).all()
    assert np.allclose(ex[0::3], x[g.parent[1:]]) and np.allclose(ey[1::3], y[1:])


@pytest.mark.parametrize("overrides", [{}, {"graph.n_nodes": 50}, {"graph.depth": 6}])
def test_icicle_cells_are_subtree_means_per_depth(make_world, overrides) -> None:
    g, *_ = make_world(overrides)
    rng = np.random.default_rng(1)
    values = rng.random(g.n)
    alive = rng.random(g.n) > 0.2
    ice = gv.Icicle.build(g, max_columns=30)
    m = ice.matrix(values, alive)
    assert m.shape == (g.max_depth + 1, ice.columns.size) and ice.columns.size <= 30
    for c, root in enumerate(ice.columns):
        sub = g.subtree(int(root))
        for d in range(g.max_depth + 1):
            if d < ice.column_depth:
                a = int(root)
                while g.depth[a] > d:
                    a = int(g.parent[a])
                want = values[a] if alive[a] else np.nan
            else:
                sel = sub[(g.depth[sub] == d) & alive[sub]]
                want = values[sel].mean() if sel.size else np.nan
            assert np.isclose(m[d, c], want, equal_nan=True)
    assert ice.counts[ice.column_depth :].sum() == g.n - g.level_start[ice.column_depth]


def test_per_scale_means_and_type_histograms_match_brute_force(make_world) -> None:
    g, *_ = make_world({})
    rng = np.random.default_rng(2)
    v = rng.random(g.n)
    means = gv.per_scale_mean(g, v)
    assert np.allclose(means, [v[g.scale == s].mean() for s in range(g.n_scales)])
    types = rng.integers(0, 5, g.n)
    edges = gv.histogram_edges(v, 10)
    counts = gv.type_histograms(v, types, 5, edges)
    for t in range(5):
        assert (counts[t] == np.histogram(v[types == t], bins=edges)[0]).all()
    assert edges[0] == 0 and edges[-1] >= v.max()


def test_sizes_colours_and_striding() -> None:
    base = np.full(4, 5.0)
    sizes = gv.marker_sizes(base, np.array([0.0, 0.01, 1.0, 100.0]), E_max=10.0)
    assert sizes[0] == 5.0 and np.all(np.diff(sizes) > 0) and sizes[-1] == pytest.approx(11.0)
    assert np.allclose(gv.ratio_colour(np.array([1.0, 2.0, 0.5, 100.0, 0.0])), [0, 1, -1, 2, -2])
    for n in (0, 5, 1500, 1501, 10_000):
        idx = gv.stride_index(n, 1500)
        assert idx.size <= 1500 and (n == 0 or idx[-1] == n - 1) and np.all(np.diff(idx) > 0)
