"""The persistence law (SPEC 5.4) against hand computation, a scalar recursion and the survival rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.runner import run_scenario
from model import CoherenceModel
from model.mechanisms.persistence import (
    init_reality,
    kl_divergence,
    persistence_slow_tick,
    redraw_reality,
    softmax,
)
from scenarios import load_scenario

THREE = {"graph.branching": 2, "graph.depth": 1, "graph.lateral_k": 0.0, "environment.categories": 2}


def with_section(params, section: str, **kw):
    return params.model_copy(update={section: getattr(params, section).model_copy(update=kw)})


def softmax_py(z: list[float]) -> list[float]:
    e = [math.exp(v) for v in z]
    return [v / sum(e) for v in e]


def kl_py(q: list[float], p: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(q, p, strict=True) if a > 0)


# ----------------------------------------------------------------------------- D_KL


def test_kl_is_zero_when_p_equals_q() -> None:
    q = softmax(np.random.default_rng(0).normal(size=(50, 6)))
    q[0] = [0.5, 0.5, 0, 0, 0, 0]
    assert (kl_divergence(q, q) == 0.0).all()


def test_kl_by_hand_and_its_direction() -> None:
    q = np.array([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])
    p = np.array([[0.25, 0.25, 0.5], [0.5, 0.5, 0.0]])
    d = kl_divergence(q, p)
    assert d[0] == pytest.approx(math.log(2))  # 2·0.5·ln(0.5/0.25)
    assert d[1] == pytest.approx(0.2 * math.log(0.4) + 0.8 * math.log(1.6))
    assert kl_divergence(p[:1], q[:1])[0] > 10  # KL(p‖q) ≠ KL(q‖p): q = 0 where p > 0


def test_kl_is_finite_with_zeros_anywhere() -> None:
    q = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.7, 0.0]])
    p = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    d = kl_divergence(q, p)
    assert np.isfinite(d).all() and (d > 10).all()
    assert d[0] == pytest.approx(-math.log(1e-12))
    assert np.isfinite(kl_divergence(np.zeros((1, 3)), p[:1])).all()


def test_softmax_is_stable() -> None:
    p = softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, math.log(3), 0.0]]))
    assert p == pytest.approx(np.array([[0.5, 0.5, 0.0], [0.2, 0.6, 0.2]]))


# ----------------------------------------------------------------------------- reality


def test_reality_leaves_softmax_internal_weighted_mean(make_world) -> None:
    g, st, p, rng = make_world({**THREE, "environment.categories": 3, "environment.tau": 2.0})
    init_reality(g, st, p, rng)
    assert (st.z[0] == 0).all() and (st.z[1:] != 0).all()
    st.w[:] = [1.0, 1.0, 3.0]
    st.z[1:] = [[2.0, 0.0, -2.0], [0.0, 0.0, 4.0]]
    persistence_slow_tick(g, st, p, rng, 1)
    q1, q2 = softmax_py([1.0, 0.0, -1.0]), softmax_py([0.0, 0.0, 2.0])  # z/τ
    assert st.q[1:] == pytest.approx(np.array([q1, q2]))
    assert st.q[0].tolist() == pytest.approx([(a + 3 * b) / 4 for a, b in zip(q1, q2, strict=True)])


def test_redraw_reality_changes_the_subtree_leaves_only(make_world) -> None:
    g, st, p, rng = make_world({"graph.depth": 3})
    init_reality(g, st, p, rng)
    z_before, q_before = st.z.copy(), st.q.copy()
    redrawn = redraw_reality(g, st, p, rng, 2)
    under_2 = set(g.subtree(2).tolist())
    assert set(redrawn.tolist()) == {i for i in under_2 if g.n_children[i] == 0}
    changed = np.flatnonzero((st.z != z_before).any(axis=1))
    assert set(changed.tolist()) == set(redrawn.tolist())
    q_changed = set(np.flatnonzero(~np.isclose(st.q, q_before).all(axis=1)).tolist())
    assert q_changed <= under_2 | {0} and 0 in q_changed and 2 in q_changed
    several = redraw_reality(g, st, p, rng, np.array([1, 5]))  # 5 lies in 1's subtree: the union
    assert set(several.tolist()) == {i for i in g.subtree(1) if g.n_children[i] == 0}


def test_sampling_noise(make_world) -> None:
    g, st, p, rng = make_world({"graph.depth": 2})
    init_reality(g, st, p, rng)
    exact = softmax(st.z)
    leaves = g.is_leaf
    persistence_slow_tick(g, st, with_section(p, "environment", samples=200_000), rng, 1)
    assert st.q[leaves] == pytest.approx(exact[leaves], abs=0.01)
    persistence_slow_tick(g, st, with_section(p, "environment", samples=1), rng, 2)
    q = st.q[leaves]
    assert (q > 0).all() and q.sum(axis=1) == pytest.approx(np.ones(q.shape[0]))
    assert ((q.max(axis=1) > 0.99) & (q.min(axis=1) < 0.01)).all()  # one draw: one outcome, plus ε


# ----------------------------------------------------------------------------- R by hand


def test_three_node_example_by_hand_over_two_slow_ticks(make_world) -> None:
    g, st, p, rng = make_world(THREE)
    s, nu, beta, eta, kappa, a, b = 0.1, 0.5, 0.5, 0.1, 4.0, 0.3, 0.05  # the defaults
    st.z[1], st.z[2] = [1.0, 0.0], [0.0, 0.0]
    st.w[:] = [1.0, 1.0, 3.0]
    st.R[:] = [1.0, 0.6, 1.0]  # previous values
    q1, q2 = softmax_py([1.0, 0.0]), [0.5, 0.5]
    q = [[(x + 3 * y) / 4 for x, y in zip(q1, q2, strict=True)], q1, q2]
    theta = [[0.0, 0.0] for _ in range(3)]

    # slow tick 1: income = the measurement, baseline = the peers' mean (root: 2; leaves: (1 + 3)/2)
    st.received_sum[:] = [2.0, 1.0, 3.0]
    st.window_ticks = 1
    res = persistence_slow_tick(g, st, p, rng, 1)
    income, baseline = [2.0, 1.0, 3.0], [2.0, 2.0, 2.0]
    e_in = [(1 + s) * x / y for x, y in zip(income, baseline, strict=True)]
    D = [kl_py(q[i], softmax_py(theta[i])) for i in range(3)]
    R0 = e_in[0] * (1.0 * (0.6 + 1.0) / 2) ** (nu / 2) / (1 + D[0])
    R = [R0] + [e_in[i] * (R0 * 1.0) ** (nu / 2) / (1 + D[i]) for i in (1, 2)]
    P0 = max(0.0, 1 - R0)
    P = [P0] + [max(0.0, 1 - R[i]) + beta * P0 for i in (1, 2)]
    assert st.q == pytest.approx(np.array(q))
    assert st.dkl.tolist() == pytest.approx(D)
    assert st.income.tolist() == pytest.approx(income) and st.baseline.tolist() == pytest.approx(baseline)
    assert st.R.tolist() == pytest.approx(R)
    assert st.pressure.tolist() == pytest.approx(P)
    for i in range(3):
        pred = softmax_py(theta[i])
        theta[i] = [t - eta * (1 + kappa * P[i]) * (pp - qq) for t, pp, qq in zip(theta[i], pred, q[i], strict=True)]
    assert st.theta == pytest.approx(np.array(theta))
    assert res["persistence_loss"] == pytest.approx(sum(max(0.0, 1 - r) ** 2 for r in R) / 3)
    assert res["R_frac_ge1"] == pytest.approx(sum(r >= 1 for r in R) / 3)

    # slow tick 2: both EMAs move; R̄ of the root uses the children's R of tick 1
    st.received_sum[:] = [4.0, 2.0, 1.0]
    st.window_ticks = 2
    persistence_slow_tick(g, st, p, rng, 2)
    measured = [2.0, 1.0, 0.5]
    income = [(1 - a) * x + a * m for x, m in zip(income, measured, strict=True)]  # [2, 1, 2.25]
    peers = [income[0], (income[1] + income[2]) / 2, (income[1] + income[2]) / 2]
    baseline = [(1 - b) * x + b * m for x, m in zip(baseline, peers, strict=True)]
    e_in = [(1 + s) * x / y for x, y in zip(income, baseline, strict=True)]
    D = [kl_py(q[i], softmax_py(theta[i])) for i in range(3)]
    R0 = e_in[0] * ((R[1] + R[2]) / 2) ** (nu / 2) / (1 + D[0])
    R = [R0] + [e_in[i] * R0 ** (nu / 2) / (1 + D[i]) for i in (1, 2)]
    P0 = max(0.0, 1 - R0)
    assert st.income.tolist() == pytest.approx([2.0, 1.0, 2.25])
    assert st.baseline.tolist() == pytest.approx(baseline)
    assert st.dkl.tolist() == pytest.approx(D)
    assert st.R.tolist() == pytest.approx(R)
    assert st.pressure.tolist() == pytest.approx([P0] + [max(0.0, 1 - R[i]) + beta * P0 for i in (1, 2)])


def test_pressure_accumulates_down_a_chain(make_world) -> None:
    g, st, p, rng = make_world({"graph.kind": "chain", "graph.depth": 2, "graph.lateral_k": 0.0})
    init_reality(g, st, p, rng)
    st.theta[:] = [[3.0, 0.0, 0.0, -3.0]] * 3  # a poor model everywhere: R < 1
    st.received_sum[:] = 1.0
    st.window_ticks = 1
    persistence_slow_tick(g, st, p, rng, 1)
    R = st.R
    assert (R < 1).all()
    gap = 1 - R
    assert st.pressure.tolist() == pytest.approx([gap[0], gap[1] + 0.5 * gap[0], gap[2] + 0.5 * gap[1] + 0.25 * gap[0]])


# ----------------------------------------------------------------------------- steady state


def _matched_world(make_world, overrides: dict, seed: int = 0):
    """Every leaf sees the same world and every node already predicts it (D_KL = 0)."""
    g, st, p, rng = make_world({"graph.lateral_k": 0.0, **overrides}, seed=seed)
    init_reality(g, st, p, rng)
    st.z[g.is_leaf] = [0.5, -1.0, 2.0, 0.0]
    q = softmax_py([0.5, -1.0, 2.0, 0.0])
    st.theta[:] = np.log(q)
    return g, st, p, rng


@pytest.mark.parametrize("baseline", ["scale", "self"])
def test_uniform_steady_state_follows_the_scalar_recursion_and_R_is_near_1(make_world, baseline: str) -> None:
    g, st, p, rng = _matched_world(make_world, {"graph.depth": 3, "persistence.baseline": baseline})
    degree = g.n_children + (g.parent >= 0)  # income differs by scale (a depth-3 node receives 3× the root's)
    depth = g.max_depth
    R = [1.0] * (depth + 1)  # per depth; R starts at 1
    for tick in range(1, 81):
        st.received_sum[:] = 10.0 * degree
        st.window_ticks = 10
        res = persistence_slow_tick(g, st, p, rng, tick)
        previous = R[:]
        for d in range(depth + 1):  # energy_in = 1 + s = 1.1 for every node; D_KL = 0
            parent = 1.0 if d == 0 else R[d - 1]
            children = previous[d + 1] if d < depth else 1.0
            R[d] = 1.1 * (parent * children) ** 0.25
        np.testing.assert_allclose(st.R, np.array(R)[g.depth], rtol=1e-9)
    # every factor ≥ 1 keeps R ≥ 1.1, and 1.21 = 1.1·(1.21·1.21)^{1/4} bounds it above
    assert (st.R >= 1.1 - 1e-9).all() and (st.R <= 1.21 + 1e-9).all()
    assert res["R_frac_ge1"] == 1.0 and res["persistence_loss"] == 0.0
    assert st.dkl == pytest.approx(np.zeros(g.n), abs=1e-12)
    assert (st.pressure == 0).all()


def test_peer_baseline_judges_a_node_against_its_scale(make_world) -> None:
    g, st, p, rng = _matched_world(make_world, {"graph.depth": 2})
    st.received_sum[:] = 1.0
    st.received_sum[4] = 2.0  # one leaf earns twice what its peers earn, in every window
    st.window_ticks = 1
    leaves = np.flatnonzero(g.is_leaf)
    for tick in range(1, 4):
        persistence_slow_tick(g, st, p, rng, tick)
    mean_leaf_income = (len(leaves) - 1 + 2.0) / len(leaves)
    assert st.baseline[leaves] == pytest.approx(np.full(leaves.size, mean_leaf_income))
    ratio_4 = st.R[4] / st.R[5]  # same parent: only energy_in differs
    assert ratio_4 == pytest.approx(2.0)
    assert st.baseline[:4] == pytest.approx(np.ones(4))


# ----------------------------------------------------------------------------- dormancy and survival


def _survival_world(make_world, **persistence):
    g, st, p, rng = _matched_world(make_world, {"graph.depth": 2})
    p = with_section(p, "persistence", **{"survival": True, "grace": 5, "patience": 3, **persistence})
    st.E[:] = 1.0
    return g, st, p, rng


def _tick(g, st, p, rng, tick: int, failing: list[int]) -> dict:
    st.received_sum[:] = 1.0
    st.window_ticks = 1
    alive = st.alive
    st.theta[alive] = np.log(st.q[5])  # a perfect model, restored every tick (dormant nodes keep theirs)
    failing_alive = [i for i in failing if st.alive[i]]
    st.theta[failing_alive] += [8.0, 0.0, 0.0, -8.0]  # except for the failing nodes: D_KL ≫ 0
    return persistence_slow_tick(g, st, p, rng, tick)


def test_survival_waits_for_grace_then_patience(make_world) -> None:
    g, st, p, rng = _survival_world(make_world)
    for tick in range(1, 13):
        res = _tick(g, st, p, rng, tick, failing=[5])
        assert st.R[5] < 1 or not st.alive[5]
        if tick <= 5:
            assert st.below_count[5] == 0  # the grace period: nothing is counted
        if tick < 8:
            assert st.alive.all() and res["died"].size == 0
        elif tick == 8:  # = grace + patience
            assert res["died"].tolist() == [5]
            assert not st.alive[5] and st.E[5] == 0.0
            frozen = (st.R[5], st.theta[5].copy(), st.pressure[5])
        else:
            assert res["died"].size == 0 and st.alive.sum() == g.n - 1
            assert st.R[5] == frozen[0] and (st.theta[5] == frozen[1]).all() and st.pressure[5] == frozen[2]
    assert res["alive"] == g.n - 1 and res["alive_by_scale"].tolist() == [8, 3, 1]


def test_a_count_broken_by_one_good_tick_restarts(make_world) -> None:
    g, st, p, rng = _survival_world(make_world, grace=0)
    for tick in range(1, 31):
        res = _tick(g, st, p, rng, tick, failing=[5] if tick % 3 else [])
        assert res["died"].size == 0
    assert st.alive.all()


def test_no_deaths_with_survival_off(make_world) -> None:
    g, st, p, rng = _survival_world(make_world)
    p = with_section(p, "persistence", survival=False)
    for tick in range(1, 21):
        assert _tick(g, st, p, rng, tick, failing=[5, 6])["died"].size == 0
    assert st.alive.all() and (st.below_count == 0).all()


def test_dormant_nodes_are_frozen_and_left_out(make_world) -> None:
    g, st, p, rng = make_world({"graph.branching": 2, "graph.depth": 2, "graph.lateral_k": 0.0})
    init_reality(g, st, p, rng)
    st.z[[3, 4]] = [4.0, 0.0, 0.0, 0.0]
    st.z[[5, 6]] = [0.0, 0.0, 0.0, 4.0]
    q_right = softmax_py([0.0, 0.0, 0.0, 4.0])
    st.theta[:] = np.log(q_right)
    st.theta[[3, 4]] = np.log(softmax_py([4.0, 0.0, 0.0, 0.0]))
    st.alive[1] = False
    st.R[:] = [1.0, 0.01, 1.6, 1.0, 1.0, 1.0, 1.0]
    st.pressure[1] = 5.0
    st.received_sum[:] = 1.0
    st.received_sum[1] = 100.0  # a dormant node's income counts for nothing
    st.window_ticks = 1
    before = {k: getattr(st, k)[1].copy() for k in ("q", "theta", "dkl", "R", "pressure", "income", "baseline")}
    res = persistence_slow_tick(g, st, p, rng, 1)
    for k, v in before.items():
        assert np.array_equal(getattr(st, k)[1], v), k
    assert st.q[0] == pytest.approx(q_right)  # the root sees only its alive child's world
    assert st.baseline[2] == pytest.approx(1.0)  # its scale's peers: node 2 alone
    assert st.R[0] == pytest.approx(1.1 * 1.6**0.25)  # R̄ over the alive child only; D_KL = 0
    # the children of the dormant node face the environment (R = 1, no inherited pressure)
    assert st.R[[3, 4]] == pytest.approx([1.1, 1.1])
    assert st.pressure[[3, 4]].tolist() == [0.0, 0.0]
    assert res["alive"] == 6 and res["alive_by_scale"].tolist() == [4, 1, 1]


def test_statistics_by_hand(make_world) -> None:
    g, st, p, rng = make_world({"graph.depth": 3})
    init_reality(g, st, p, rng)
    st.theta[:] = np.random.default_rng(5).normal(0, 2, st.theta.shape)
    st.received_sum[:] = np.random.default_rng(6).uniform(0.5, 1.5, g.n)
    st.window_ticks = 1
    st.alive[g.subtree(3)] = False
    res = persistence_slow_tick(g, st, p, rng, 1)
    a = st.alive
    R = st.R[a]
    assert 0 < (R >= 1).mean() < 1
    assert res["R_mean"] == pytest.approx(R.mean())
    assert res["R_median"] == pytest.approx(np.median(R))
    assert res["R_frac_ge1"] == pytest.approx((R >= 1).mean())
    assert res["R_frac_in_band"] == pytest.approx(((R >= 0.5) & (R <= 2)).mean())
    assert res["persistence_loss"] == pytest.approx(np.mean([max(0.0, 1 - r) ** 2 for r in R]))
    for name, values in (("R", st.R), ("dkl", st.dkl), ("pressure", st.pressure)):
        expected = [values[(g.scale == k) & a].mean() for k in range(g.n_scales)]
        assert res[f"{name}_by_scale"].tolist() == pytest.approx(expected)
    assert res["alive_by_scale"].tolist() == [int(((g.scale == k) & a).sum()) for k in range(g.n_scales)]
    assert np.isfinite(st.R).all() and np.isfinite(st.dkl).all()


# ----------------------------------------------------------------------------- the scenario (SPEC 7)


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
    m = CoherenceModel(load_scenario("persistence"), seed=1)
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
        CoherenceModel(load_scenario("persistence"), seed=0, params={key: value})
