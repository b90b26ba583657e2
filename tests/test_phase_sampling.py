"""The phase integration samples exp(−H/T) at the default dt_fast = 1 (SPEC 4.3), checked against the
exact link alignment of a lateral-free tree, I₁(K·W̄/T)/I₀(K·W̄/T), computed here with scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import i0e, i1e

from model import CoherenceModel
from model.graph import build_graph
from model.keys import resolve
from model.mechanisms.phase import Integrator, phase_step, substeps_for
from model.state import initial_state
from scenarios import load_scenario


def exact_alignment(coupling: float, T: float) -> float:
    """⟨cos(φ_i − φ_j)⟩ of one link of a tree: I₁(κ)/I₀(κ), κ = K·W̄/T."""
    return float(i1e(coupling / T) / i0e(coupling / T))


def batch_alignment(T: float, w: float, K: float = 1.0, batch: int = 64, ticks: int = 700, burn: int = 100):
    """Mean link alignment and its standard error over a batch of independent trees (one column each)."""
    p = resolve(
        {"graph.lateral_k": 0.0, "graph.w0": w, "phase.enabled": True, "phase.T": T, "phase.K": K},
    )
    rng = np.random.default_rng(7)
    g = build_graph(p.graph, rng)
    st = initial_state(g, p, rng)
    st.phi = rng.uniform(-np.pi, np.pi, (g.n, batch))  # independent trees, advanced together
    means = []
    integ = Integrator(st.phi.shape, rng)
    for t in range(ticks):
        phase_step(g, st, p, rng, 1.0, integ)
        if t >= burn:
            means.append(np.cos(st.phi[g.edge_src] - st.phi[g.edge_dst]).mean(axis=0))
    per_tree = np.mean(means, axis=0)
    return float(per_tree.mean()), float(per_tree.std(ddof=1) / math.sqrt(batch))


@pytest.mark.parametrize("T", [0.05, 0.1, 0.2, 0.5, 1.0])
def test_link_alignment_matches_the_exact_tree_value(T: float) -> None:
    measured, se = batch_alignment(T, w=0.25)
    exact = exact_alignment(0.25, T)
    assert se < 0.004 * exact  # the statistical error is well below the 2 % being tested
    assert measured == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize("T", [0.1, 0.5])
def test_link_alignment_on_a_stiffer_tree(T: float) -> None:
    # W̄ = 1: every node's total coupling is 4, so the stiffness sets the sub-steps
    measured, se = batch_alignment(T, w=1.0, batch=32, ticks=400)
    exact = exact_alignment(1.0, T)
    assert se < 0.004 * exact
    assert measured == pytest.approx(exact, rel=0.02)


def test_substeps_rule() -> None:
    assert substeps_for(1.0, 1.0, 1.0, 0.1) == 2  # h·K·max strength ≤ 0.5
    assert substeps_for(1.0, 1.0, 1.0, 1.0) == 7  # h·T ≤ 0.15
    assert substeps_for(0.1, 0.7, 3.0, 0.0) == 1
    assert substeps_for(1.0, 1.0, 1.0, 1.0, override=3) == 3


def test_the_issue_run_now_samples_the_temperature_set() -> None:
    # the issue's reproduction: temperature_sweep on a lateral-free tree at T = 0.5 gave 0.126 for 0.243
    overrides = {"graph.lateral_k": 0.0, "phase.T": 0.5}
    m = CoherenceModel(load_scenario("temperature_sweep"), seed=1, params=overrides, engine="numpy")
    g = m.graph
    samples = []
    for t in range(1500):
        m.step()
        if t >= 100:
            samples.append(np.cos(m.state.phi[g.edge_src] - m.state.phi[g.edge_dst]).mean())
    assert np.mean(samples) == pytest.approx(exact_alignment(0.25, 0.5), rel=0.05)
