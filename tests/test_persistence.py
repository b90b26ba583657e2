"""The persistence law (SPEC 5.4) against hand computation and the scenario's row of SPEC 7."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.runner import run_scenario
from model import CoherenceModel
from model.mechanisms.persistence import kl, persistence_slow_tick, softmax


def test_kl_is_q_against_p_zero_when_equal_and_finite_with_zeros() -> None:
    q = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert kl(q, q) == pytest.approx([0.0, 0.0], abs=1e-12)
    p = np.array([[0.25, 0.25, 0.5], [0.5, 0.5, 0.0]])
    d = kl(q, p)
    assert d[0] == pytest.approx(0.5 * math.log(2) * 2)  # Σ q ln(q/p) = 2·0.5·ln 2
    assert np.isfinite(d).all() and d[1] > 10  # p = 0 where q > 0: large, never inf
    # direction: KL(q‖p) ≠ KL(p‖q)
    assert kl(q[:1], p[:1])[0] != pytest.approx(kl(p[:1], q[:1])[0])


def _three_nodes() -> CoherenceModel:
    """A root with two leaves (b = 2, depth 1), no energy dynamics."""
    params = {
        "graph.branching": 2,
        "graph.depth": 1,
        "graph.lateral_k": 0.0,
        "persistence.enabled": True,
        "spread.alpha": 0.0,
        "controller.enabled": False,
        "learning.enabled": False,
        "environment.categories": 2,
    }
    return CoherenceModel(params=params, seed=0)


def test_three_node_example_by_hand() -> None:
    m = _three_nodes()
    g, st, p = m.graph, m.state, m.params
    st.z[1], st.z[2] = [1.0, 0.0], [0.0, 0.0]
    st.received_sum[:] = [2.0, 1.0, 3.0]
    st.window_ticks = 1
    st.R[:] = [1.0, 0.8, 1.2]  # previous values (the root's children mean uses them)
    st.w[:] = [1.0, 1.0, 3.0]
    # first slow tick: income = received, baseline = scale means (root: 2; leaves: 2)
    persistence_slow_tick(g, st, p, np.random.default_rng(0), slow_tick=1)
    q1 = softmax(np.array([[1.0, 0.0]]))[0]
    q2 = np.array([0.5, 0.5])
    q0 = (1 * q1 + 3 * q2) / 4
    assert st.q[0] == pytest.approx(q0)
    uniform = np.array([0.5, 0.5])
    dkl = [float((q * np.log(q / uniform)).sum()) for q in (q0, q1, q2)]
    assert st.dkl == pytest.approx(dkl)
    s, nu, beta = 0.1, 0.5, 0.5
    ein = [(1 + s) * 2 / 2, (1 + s) * 1 / 2, (1 + s) * 3 / 2]
    r_children_root = (0.8 + 1.2) / 2
    R0 = ein[0] * (1.0 * r_children_root) ** (nu / 2) / (1 + dkl[0])
    R1 = ein[1] * (R0 * 1.0) ** (nu / 2) / (1 + dkl[1])
    R2 = ein[2] * (R0 * 1.0) ** (nu / 2) / (1 + dkl[2])
    assert pytest.approx([R0, R1, R2]) == st.R
    P0 = max(0, 1 - R0)
    assert st.pressure == pytest.approx([P0, max(0, 1 - R1) + beta * P0, max(0, 1 - R2) + beta * P0])
    # learning: θ ← θ − η(1 + κ·pressure)(p − q), from θ = 0 (p uniform)
    assert st.theta[1] == pytest.approx(-0.1 * (1 + 4 * st.pressure[1]) * (uniform - q1))


def test_survival_waits_for_grace_and_patience() -> None:
    m = _three_nodes()
    p = m.params.model_copy(
        update={"persistence": m.params.persistence.model_copy(update={"survival": True, "grace": 5, "patience": 3})}
    )
    st, g = m.state, m.graph
    st.z[1] = [8.0, -8.0]  # leaf 1 sees a world it cannot have learned yet
    for tick in range(1, 9):
        st.received_sum[:] = 1.0
        st.window_ticks = 1
        st.theta[1] = 0.0  # it never learns: its D_KL stays high, R < 1
        res = persistence_slow_tick(g, st, p, np.random.default_rng(0), slow_tick=tick)
        if tick <= 5:
            assert st.alive.all()
    assert not st.alive[1] and st.alive[0] and st.alive[2]
    assert st.E[1] == 0.0
    assert res["R_mean"] == pytest.approx(st.R[[0, 2]].mean())


@pytest.fixture(scope="module")
def persistence_run():
    return run_scenario("persistence", seed=0)


def test_steady_state_band_before_any_shift(persistence_run) -> None:
    ss = persistence_run.summary["persistence"]["steady_state"]
    assert 0.8 <= ss["R_median"] <= 1.5
    assert ss["R_frac_in_0.5_2"] >= 0.8


def test_shift_hurts_the_shifted_subtree_only_then_it_recovers(persistence_run) -> None:
    s = persistence_run.summary["persistence"]["shifted"]
    assert s["dkl_at"] > 5 * s["dkl_before"]
    assert s["R_before"] >= 1 > s["R_at"]
    assert s["R_final"] >= 1 and s["recovery_ticks"] is not None
    assert persistence_run.summary["persistence"]["calm"]["R_mean_final"] >= 1


def test_right_after_the_shift_low_R_and_pressure_sit_in_the_shifted_subtree() -> None:
    m = CoherenceModel("persistence", seed=1)
    m.run(1000)  # the slow tick at t = 1000 sees the new world of node 4's subtree
    g, st = m.graph, m.state
    inside = np.zeros(g.n, bool)
    inside[g.subtree(4)] = True
    volatile = np.zeros(g.n, bool)
    volatile[g.subtree(12)] = True
    calm = ~inside & ~volatile
    assert (st.R[inside] < 1).mean() >= 0.7
    assert (st.R[calm] < 1).mean() < 0.2
    # pressure flows down: the children of node 4 inherit half of its pressure
    kids = g.children(4)
    assert (st.pressure[kids] >= 0.5 * st.pressure[4] - 1e-12).all()


def test_pressure_speeds_recovery() -> None:
    fast = run_scenario("persistence", seed=2).summary["persistence"]["shifted"]["recovery_ticks"]
    slow = run_scenario("persistence", seed=2, overrides={"persistence.kappa": 0.0}).summary["persistence"]
    assert fast is not None and slow["shifted"]["recovery_ticks"] is not None
    assert fast < slow["shifted"]["recovery_ticks"]


def test_with_survival_the_volatile_subtree_goes_dormant_and_the_rest_persists() -> None:
    r = run_scenario("persistence", seed=0, overrides={"persistence.survival": True})
    s = r.summary["persistence"]
    assert s["volatile"]["alive_final"] <= 0.25 * s["volatile"]["nodes"]
    g, st = r.model.graph, r.model.state
    rest = np.ones(g.n, bool)
    rest[g.subtree(12)] = False
    assert st.alive[rest].mean() >= 0.99
    assert r.model.events.of("persistence.death")
    # dormant nodes take no part: no energy
    assert (st.E[~st.alive] == 0).all()


@pytest.mark.parametrize(
    ("key", "value"),
    [("phase.T", -1.0), ("coherence.eta", -0.1), ("environment.categories", 0), ("environment.tau", 0.0)],
)
def test_bad_coherence_and_persistence_parameters_are_refused(key: str, value: float) -> None:
    from model import ParameterError

    with pytest.raises(ParameterError, match=key.replace(".", r"\.")):
        CoherenceModel("persistence", seed=0, params={key: value})
