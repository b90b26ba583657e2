"""Criticality (SPEC 4.6): ρ of the real operator, the controller, the scenario's row of SPEC 7."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import eigs

from analysis.runner import run_scenario
from model import CoherenceModel, ParameterError
from model.mechanisms import criticality, decay


def _perron_root(m: CoherenceModel, ret: np.ndarray) -> float:
    """Largest-magnitude eigenvalue of diag(ret)·(I + α·Wᵀ), by ARPACK (non-symmetric: eigs)."""
    n = m.graph.n
    A = sp.diags(ret) @ (sp.identity(n) + m.params.spread.alpha * m.Wt)
    vals = eigs(A.tocsc(), k=1, which="LM", return_eigenvectors=False, tol=1e-12, maxiter=100_000)
    return float(abs(vals[0]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_power_iteration_agrees_with_eigs(seed: int) -> None:
    m = CoherenceModel(
        params={"types.fractions": {"memory": 0.3, "task": 0.2}, "graph.depth": 3, "consolidation.enabled": True},
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    m.state.W[:] = rng.uniform(0.0, 0.6, m.state.W.size)  # a learned, asymmetric weight matrix
    m.state.affect[rng.choice(m.graph.n, 8, replace=False)] = 0.95  # non-uniform retention
    chosen = np.flatnonzero(m.state.affect > 0.7)
    m.state.c_cons[chosen] = 0.7
    ret = decay.retention(m.state, m.params, chosen)
    rho = criticality.power_iterate(m.state, m.Wt, m.params.spread.alpha, ret, 2000)
    assert rho == pytest.approx(_perron_root(m, ret), rel=0.01)


def test_rho_is_zero_when_nothing_is_alive() -> None:
    m = CoherenceModel(seed=0)
    m.state.alive[:] = False
    assert criticality.power_iterate(m.state, m.Wt, 0.1, m.state.ret, 5) == 0.0


def test_untrained_default_graph_is_near_critical_at_w0_0_058() -> None:
    # SPEC 2.1: at w0 = 0.058 the untrained default graph is critical at the base decay rate
    m = CoherenceModel(params={"graph.w0": 0.058, "controller.enabled": False}, seed=0)
    ret = decay.retention(m.state, m.params, None)
    assert _perron_root(m, ret) == pytest.approx(1.0, abs=0.03)


def test_unreachable_target_is_refused() -> None:
    with pytest.raises(ParameterError, match="delta_max"):
        CoherenceModel(params={"controller.delta_max": 0.1, "types.by_scale": {"0": "memory"}}, seed=0)


@pytest.fixture(scope="module")
def controlled():
    return run_scenario("criticality", seed=0)


@pytest.fixture(scope="module")
def uncontrolled():
    return run_scenario("criticality", seed=0, overrides={"controller.enabled": False})


def test_controller_holds_rho_in_band_after_warmup(controlled) -> None:
    s = controlled.summary["criticality"]
    assert s["rho_max_abs_dev_after_warmup"] <= 0.05
    assert s["longest_pinned_ticks"] <= 50


def test_mean_energy_follows_the_load(controlled) -> None:
    p1, p2, p3 = controlled.summary["criticality"]["phases"]
    assert p2["load_rate"] == 2 * p1["load_rate"] and p3["load_rate"] == p1["load_rate"]
    assert p2["E_mean_settled"] > 1.4 * p1["E_mean_settled"]
    assert p3["E_mean_settled"] < 0.75 * p2["E_mean_settled"]


def test_without_controller_rho_runs_away_and_nodes_saturate(uncontrolled) -> None:
    s = uncontrolled.summary["criticality"]
    assert s["rho_mean_after_warmup"] > 1.05
    assert s["saturated_fraction_final"] > 0.5


def test_criticality_events_carry_their_fields(controlled) -> None:
    ev = controlled.model.events.of("criticality.state")
    assert len(ev) == controlled.ticks // 10
    assert set(ev[0]) == {"event", "tick", "rho", "sigma", "participation", "delta_E", "band"}
    assert {e["band"] for e in ev} <= set(criticality.BANDS)
