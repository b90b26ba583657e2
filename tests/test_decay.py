"""Forgetting (SPEC 4.4, 5.1): exponential decay per type, two clocks, analytic half-lives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.runner import run_scenario
from model import CoherenceModel
from model.mechanisms import decay
from model.node_types import M_E, M_W, NODE_TYPES

LN2 = math.log(2)


@pytest.fixture(scope="module")
def forgetting():
    return run_scenario("forgetting_curves", seed=3)


def test_activation_is_pure_exponential_per_type() -> None:
    m = CoherenceModel(
        params={
            "spread.alpha": 0.0,
            "controller.enabled": False,
            "learning.enabled": False,
            "types.fractions": {"memory": 0.2, "task": 0.2, "principle": 0.2, "goal": 0.2},
        },
        seed=0,
    )
    m.state.E[:] = 1.0
    m.run(5)
    delta = m.params.decay.delta_E
    for k, name in enumerate(NODE_TYPES):
        nodes = m.state.node_type == k
        assert nodes.any()
        expected = math.exp(-delta * M_E[name] * 5)
        assert np.allclose(m.state.E[nodes], expected, rtol=1e-12), name


def test_fitted_half_lives_within_two_percent(forgetting) -> None:
    s = forgetting.summary["forgetting_curves"]
    delta_E, delta_W = LN2 / 20, LN2 / 400
    for name in NODE_TYPES:
        row = s["types"][name]
        assert row["half_life_E"] == pytest.approx(LN2 / (delta_E * M_E[name]), rel=0.02)
        assert row["half_life_W"] == pytest.approx(LN2 / (delta_W * M_W[name]), rel=0.02)
        # weights outlive activation by 20·m_E/m_W
        assert row["ratio_W_to_E"] == pytest.approx(20 * M_E[name] / M_W[name], rel=0.03)


@pytest.mark.parametrize("dt_slow", [1.0, 10.0, 50.0])
def test_weight_decay_uses_elapsed_time_whatever_the_slow_period(dt_slow: float) -> None:
    m = CoherenceModel(params={"clock.dt_slow": dt_slow, "learning.enabled": False, "spread.alpha": 0.0}, seed=0)
    w0 = m.state.W.copy()
    m.run(1000)
    expected = w0 * math.exp(-m.params.decay.delta_W * 1.0 * 1000)
    assert np.allclose(m.state.W, expected, rtol=1e-9)
    assert np.allclose(m.state.w, math.exp(-m.params.decay.delta_W * 1000), rtol=1e-9)


def test_per_type_weight_multipliers_act() -> None:
    m = CoherenceModel(
        params={"learning.enabled": False, "spread.alpha": 0.0, "types.by_scale": {"0": "task", "1": "principle"}},
        seed=0,
    )
    m.run(100)
    g, st = m.graph, m.state
    d = m.params.decay.delta_W * 100
    assert np.allclose(st.w[g.scale == 0], math.exp(-d * M_W["task"]))
    assert np.allclose(st.w[g.scale == 1], math.exp(-d * M_W["principle"]))
    assert np.allclose(st.w[g.scale == 2], math.exp(-d * M_W["default"]))


def test_energy_floor_and_clamp() -> None:
    m = CoherenceModel(params={"spread.alpha": 0.0, "controller.enabled": False}, seed=0)
    m.state.E[:3] = [5e-4, 50.0, 1.0]
    m.step()
    assert m.state.E[0] == 0.0  # below the floor after decay
    assert m.state.E[1] == m.params.decay.E_max  # clamped
    assert m.recorder.timeseries[-1]["saturated"] == 1


def test_retention_by_type_is_the_per_node_exponential_bit_for_bit() -> None:
    """Without resistance ret0 is computed once per type and gathered: the same bits as per node."""
    m = CoherenceModel(params={"types.fractions": {"memory": 0.3, "task": 0.2, "goal": 0.1}}, seed=3)
    st = m.state
    for delta in (0.001, 0.0347, 0.49):
        np.testing.assert_array_equal(decay.base_retention(st, delta, 0.7, False), np.exp(-delta * 0.7 * st.m_E))
