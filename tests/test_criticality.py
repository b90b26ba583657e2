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


def _full_operator_root(m: CoherenceModel) -> float:
    """The Perron root of the model's current operator on alive nodes, by ARPACK at 1e-12 (before
    the first tick the retention is the one at the starting δ_E)."""
    st = m.state
    ret = decay.retention(st, m.params, None) if m.tick == 0 else st.ret
    return _perron_root(m, np.where(st.alive, ret, 0.0))


@pytest.mark.parametrize("engine", ["numpy", "compiled"])
@pytest.mark.parametrize("n_nodes", [121, 3000])  # the dense solve and ARPACK (DENSE_MAX = 300)
def test_build_solves_rho_to_the_perron_root(engine: str, n_nodes: int) -> None:
    """SPEC 4.6: from the uniform start 50 power steps stop short of ρ (|λ₂|/ρ ≈ 0.998); the build
    solves for it, so the first tick's ρ̂ is the Perron root, not a biased under-estimate."""
    params = {"graph.n_nodes": n_nodes, "load.rate": 0.0}
    m = CoherenceModel(params=params, seed=4, engine=engine)
    exact = _full_operator_root(m)
    assert m.state.rho == pytest.approx(exact, rel=1e-9)
    v = m.state.power_v
    assert np.linalg.norm(v) == pytest.approx(1.0) and (v >= -1e-12).all()  # the Perron vector, unit length
    # the stored vector is an eigenvector: one more product changes nothing but the scale
    ret = np.where(m.state.alive, decay.retention(m.state, m.params, None), 0.0)
    av, norm = criticality.power_step(m.Wt, v, ret, m.params.spread.alpha)
    np.testing.assert_allclose(av / norm, v, atol=1e-7)


@pytest.mark.parametrize("engine", ["numpy", "compiled"])
def test_a_live_change_of_alpha_solves_rho_again(engine: str) -> None:
    m = CoherenceModel(params={"graph.n_nodes": 2000}, seed=5, engine=engine)
    m.run(15)
    m.set_param("spread.alpha", 0.3)
    assert m.state.rho == pytest.approx(_full_operator_root(m), rel=1e-9)


def test_nodes_that_die_make_the_slow_tick_solve_rho_again(monkeypatch: pytest.MonkeyPatch) -> None:
    m = CoherenceModel(params={"graph.n_nodes": 2000, "clock.dt_slow": 5}, seed=6)
    solved = []
    real = m._core.solve_rho
    monkeypatch.setattr(m._core, "solve_rho", lambda *a: solved.append(m.tick) or real(*a))
    m.run(5)
    assert solved == []  # a slow tick without deaths re-converges by power steps
    m.state.alive[np.arange(500, 900)] = False  # as the survival rule would
    m.run(5)
    assert solved == [10]
    assert m.state.rho == pytest.approx(_full_operator_root(m), rel=1e-9)


def test_arpack_that_does_not_converge_falls_back_to_50_power_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.sparse.linalg import ArpackNoConvergence

    def refuse(*args, **kwargs):
        raise ArpackNoConvergence("no convergence", np.empty(0), np.empty((0, 0)))

    m = CoherenceModel(params={"graph.n_nodes": 1000}, seed=7, engine="numpy")
    start = m.state.power_v.copy()
    monkeypatch.setattr(criticality, "eigs", refuse)
    rho = criticality.perron(m.state, m.Wt, m.params.spread.alpha, m.state.ret)
    m.state.power_v = start
    assert rho == criticality.power_iterate(m.state, m.Wt, m.params.spread.alpha, m.state.ret, 50)
