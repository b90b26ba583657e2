"""NodeAgent views (SPEC 9.2): one agent per node, attributes read and write the arrays."""

from __future__ import annotations

import pytest

from model import CoherenceModel


def test_one_agent_per_node_viewing_the_arrays() -> None:
    m = CoherenceModel(seed=0)
    agents = sorted(m.agents, key=lambda a: a.index)
    assert len(agents) == m.graph.n
    a = agents[4]
    assert (a.scale, a.depth, a.parent, a.children) == (2, 2, 1, [13, 14, 15])
    assert a.node_type == "default"
    a.energy = 2.5
    assert m.state.E[4] == 2.5
    m.state.R[4] = 0.7
    assert a.R == 0.7
    w = a.weights
    assert set(w) == set(m.graph.neighbours(4).tolist())
    a.set_weight(13, 0.3)
    assert a.weights[13] == 0.3
    m.step()
    assert a.energy == m.state.E[4]
    assert len(m.agents) == m.graph.n  # created once, never again


def test_the_views_are_made_once_at_the_first_look() -> None:
    """A 10⁷-node run that never looks at its agents does not pay for 10⁷ Mesa objects (SPEC 11)."""
    from agents import NodeAgent

    m = CoherenceModel(seed=0)
    m.run(3)
    assert len(m._agents) == 0  # nothing made yet
    assert m.agent_types == [NodeAgent]
    assert len(m.agents_by_type[NodeAgent]) == len(m.agents) == m.graph.n
    first = {a.index: a for a in m.agents}
    m.step()
    assert {a.index: a for a in m.agents} == first  # the same objects: made once


def test_the_datacollector_runs_at_the_slow_cadence_and_agrees_with_the_timeseries() -> None:
    """SPEC 9.2: collected at build and on each slow tick (nothing per fast tick); a step number
    gives the value as of the latest slow tick (what mesa.batch_run reads)."""
    from analysis.export import timeseries_frame

    m = CoherenceModel(params={"clock.dt_slow": 10.0, "load.rate": 3.0}, seed=2)
    m.run(35)
    df = m.datacollector.get_model_vars_dataframe()
    assert list(df.index) == [0, 10, 20, 30]
    ts = timeseries_frame(m).set_index("tick")
    for step in (10, 20, 30):  # the recorder's row of the same tick: the same state, summed independently
        assert df.loc[step, "E_total"] == pytest.approx(ts.loc[step, "E_total"], rel=1e-12)
        assert df.loc[step, "active"] == ts.loc[step, "active"]
    rho = m.datacollector.model_vars["rho"]
    assert rho[25] == rho[20] == df.loc[20, "rho"] and rho[34] == df.loc[30, "rho"] and rho[0] == df.loc[0, "rho"]
