"""Phase dynamics (SPEC 4.3) and the coherence free energy."""

from __future__ import annotations

import numpy as np
import pytest

from model import CoherenceModel
from model.mechanisms.phase import phase_free_energy, wrap


def _model(T: float, K: float = 1.0, seed: int = 0, lateral_k: float = 1.6) -> CoherenceModel:
    params = {
        "phase.enabled": True,
        "phase.T": T,
        "phase.K": K,
        "graph.w0": 0.25,
        "graph.lateral_k": lateral_k,
        "learning.enabled": False,
        "decay.delta_W": 0.0,
        "spread.alpha": 0.0,
        "controller.enabled": False,
    }
    return CoherenceModel(params=params, seed=seed)


def test_phases_lock_at_zero_temperature() -> None:
    m = _model(T=0.0, lateral_k=0.0)  # a tree has no loops, hence no twisted (vortex) states
    m.run(600)
    fe = phase_free_energy(m.graph, m.state, m.params)
    assert fe["E_phase"] < 1e-3
    assert fe["order"] > 0.99


def test_high_temperature_destroys_order_to_the_noise_level() -> None:
    m = _model(T=50.0)
    m.run(200)
    fe = phase_free_energy(m.graph, m.state, m.params)
    # uniform phases: |mean e^{iφ}| ~ 1/sqrt(N) (Rayleigh), a few times that at most
    assert fe["order"] < 4 / np.sqrt(m.graph.n)


def test_entropy_of_uniform_phases_approaches_ln_bins() -> None:
    big = CoherenceModel(params={"phase.enabled": True, "graph.n_nodes": 100_000}, seed=0)
    big.state.phi[:] = np.random.default_rng(1).uniform(-np.pi, np.pi, big.graph.n)
    s = phase_free_energy(big.graph, big.state, big.params)["S_phase"]
    assert s == pytest.approx(np.log(36), abs=0.01)


def test_wrap_range() -> None:
    x = wrap(np.array([-np.pi, np.pi, 3 * np.pi, -3.5 * np.pi, 0.1]))
    assert ((x > -np.pi) & (x <= np.pi)).all()
    assert x[0] == pytest.approx(np.pi) and x[4] == pytest.approx(0.1)
