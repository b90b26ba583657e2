"""Consolidation and resistance (SPEC 4.4–4.5): only ever slower, caps, budget, floor, events."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.runner import run_scenario
from model import CoherenceModel
from model.mechanisms.consolidation import select
from model.mechanisms.decay import consolidated_retention
from model.mechanisms.resistance import resistance
from model.node_types import NODE_TYPES
from model.params import ConsolidationParams


def test_consolidated_retention_never_faster_and_capped() -> None:
    rng = np.random.default_rng(0)
    ret0 = rng.uniform(0.5, 0.9999, 10_000)
    c = rng.uniform(0.5, 1.0, 10_000)
    ret = consolidated_retention(ret0, c, 0.995)
    assert (ret >= ret0).all()  # never decays faster
    assert (ret <= np.maximum(ret0, 0.995)).all()  # never keeps more than 99.5 % (unless ret0 already does)
    slower = ret0**c <= 0.995
    assert np.allclose(ret[slower], ret0[slower] ** c[slower])  # slower by exactly the factor c where allowed
    # half-life stretches by at most 1/c
    assert (np.log(ret0) / np.log(np.minimum(ret, 1 - 1e-15)) <= 1 / c + 1e-9).all()


def _model(n_mem: int = 0, **params):
    p = {"spread.alpha": 0.0, "controller.enabled": False, "consolidation.enabled": True, **params}
    return CoherenceModel(params=p, seed=0)


def test_factors_and_per_type_caps() -> None:
    m = _model(**{"types.by_scale": {"0": "memory", "1": "task"}})
    st, g = m.state, m.graph
    leaf = int(np.flatnonzero(g.scale == 0)[0])  # memory
    task = int(np.flatnonzero(g.scale == 1)[0])
    other = int(np.flatnonzero(g.scale == 2)[0])  # default
    for i in (leaf, task, other):
        st.affect[i] = 1.0  # c_aff = clip(1 − 0.5, 0.5, 1) = 0.5
    cons = select(st, m.params.consolidation, tick=1.0)
    assert set(cons.chosen) == {leaf, task, other}
    assert st.c_cons[leaf] == pytest.approx(0.5)  # memory cap 0.5
    assert st.c_cons[task] == pytest.approx(0.8)  # task cap 0.8
    assert st.c_cons[other] == pytest.approx(0.7)  # other cap 0.7
    assert cons.by_trigger == {"retrieval_based": 0, "high_affect": 3, "unresolved_goal": 0}


def test_most_protective_trigger_wins_and_window_expires() -> None:
    m = _model(**{"types.by_scale": {"0": "memory"}})
    st = m.state
    i = int(np.flatnonzero(m.graph.scale == 0)[0])
    st.last_success[i] = 0.0  # c_ret = 0.7
    st.goal_related[i] = st.goal_unresolved[i] = True  # c_goal = 0.8
    select(st, m.params.consolidation, tick=20.0)
    assert st.c_cons[i] == pytest.approx(0.7)
    cons = select(st, m.params.consolidation, tick=21.0)  # retrieval older than the 20-tick window
    assert st.c_cons[i] == pytest.approx(0.8) and i in cons.chosen
    st.goal_unresolved[i] = False  # goal resolved: no trigger left
    cons = select(st, m.params.consolidation, tick=21.0)
    assert i not in cons.chosen and st.c_cons[i] == 1.0


def test_budget_keeps_the_most_protected_ties_by_index() -> None:
    m = _model(**{"consolidation.budget": 5})
    st = m.state
    st.affect[10:20] = 0.8  # c = 0.6 → capped at 0.7 (default type)
    st.last_success[30:40] = 1.0  # c_ret = 0.7 as well
    st.affect[50] = 1.0
    cp = m.params.consolidation.model_copy(update={"cap_other": 0.5})
    cons = select(st, cp, tick=1.0)
    assert cons.budget_exhausted
    assert list(cons.chosen) == [10, 11, 12, 13, 50]  # 50 (c = 0.5) first, then c = 0.6 by index
    assert st.c_cons[50] == pytest.approx(0.5)


def test_consolidated_nodes_decay_slower_never_faster_in_a_run() -> None:
    m = _model(**{"types.fractions": {"memory": 0.3, "task": 0.3}})
    st = m.state
    st.E[:] = 1.0
    st.affect[::2] = 0.9
    before = st.E.copy()
    m.step()
    ret0 = np.exp(-m.params.decay.delta_E * st.m_E)
    protected = st.c_cons < 1
    assert protected.any()
    assert (st.E[protected] > before[protected] * ret0[protected]).all()
    assert np.allclose(st.E[~protected], before[~protected] * ret0[~protected])
    assert (np.maximum(ret0, 0.995) + 1e-12 >= st.E).all()


def test_resistance_formula_hand_computed() -> None:
    m = CoherenceModel(params={"graph.lateral_k": 0.0, "resistance.enabled": True}, seed=0)
    g = m.graph
    r = resistance(g, m.state.node_type)
    # root: degree 3, entities {0, 1, 2, 3} → r = (1 + 0.1·tanh(3/20))·(1 + 0.15·min(1, 3/5))
    assert r[0] == pytest.approx((1 + 0.1 * math.tanh(3 / 20)) * (1 + 0.15 * 3 / 5))
    # a leaf: degree 1, one entity
    assert r[120] == pytest.approx(1 + 0.1 * math.tanh(1 / 20))
    types = np.full(g.n, NODE_TYPES.index("task"), dtype=np.int8)
    assert resistance(g, types).max() <= 1.1
    types[:] = NODE_TYPES.index("memory")
    assert resistance(g, types).max() <= 1.5


def test_resistance_recomputed_on_its_interval() -> None:
    m = CoherenceModel(params={"resistance.enabled": True, "resistance.interval": 7}, seed=0)
    m.state.r_res[:] = 1.0
    m.run(6)
    assert (m.state.r_res == 1.0).all()
    m.step()
    assert m.state.r_res.max() > 1.0


def test_consolidation_scenario_events_and_ordering() -> None:
    r = run_scenario("consolidation", seed=0)
    ev = r.model.events.of("decay.consolidation.update")
    assert ev and len(ev) == r.ticks // 10
    for e in ev:
        assert set(e) >= {"consolidated_count", "triggers", "mean_consolidation_factor", "budget_exhausted", "tick"}
        assert set(e["triggers"]) == {"retrieval_based", "high_affect", "unresolved_goal"}
        assert e["consolidated_count"] <= 50
    hl = r.summary["consolidation"]["half_life_by_group"]
    control = hl["control"]
    assert hl["retrieved"] > control and hl["affective"] > control and hl["goal"] > control
    ticks = r.model.events.of("decay.tick")
    assert ticks and {"delta_E", "delta_W", "mean_resistance_factor", "high_resistance_nodes"} <= set(ticks[0])
    assert ConsolidationParams().budget == 50
