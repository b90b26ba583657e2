"""Phase dynamics (SPEC 4.3) and the coherence free energy (SPEC 5.3), against hand computation and statistics."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest

from model import CoherenceModel
from model.mechanisms.phase import local_order, phase_free_energy, phase_step, reverse_entry, wrap

CHAIN3 = {"graph.kind": "chain", "graph.depth": 2, "graph.lateral_k": 0.0}


def entry(graph, i: int, j: int) -> int:
    """Index of the stored entry of the directed edge i → j (W_ij)."""
    k = np.flatnonzero((graph.edge_src == i) & (graph.edge_dst == j))
    assert k.size == 1
    return int(k[0])


def set_weight(graph, st, i: int, j: int, value: float) -> None:
    st.W[entry(graph, i, j)] = value


def with_phase(params, **kw):
    return params.model_copy(update={"phase": params.phase.model_copy(update=kw)})


def test_wrap_range_and_angle_preserved() -> None:
    x = np.array([-np.pi, np.pi, 3 * np.pi, -3.5 * np.pi, 0.1, 1e3, -1e-17, np.pi + 1e-15, -np.pi - 1e-15])
    y = wrap(x)
    assert ((y > -np.pi) & (y <= np.pi)).all()
    assert y[0] == np.pi and y[1] == np.pi and y[2] == pytest.approx(np.pi)
    assert y[3] == pytest.approx(0.5 * np.pi) and y[4] == pytest.approx(0.1)
    assert np.cos(y) == pytest.approx(np.cos(x)) and np.sin(y) == pytest.approx(np.sin(x), abs=1e-9)


def test_reverse_entry_pairs_each_edge_with_its_reverse(make_world) -> None:
    g, _, _, _ = make_world({"graph.depth": 3})
    rev = reverse_entry(g)
    position = {(int(s), int(d)): k for k, (s, d) in enumerate(zip(g.edge_src, g.edge_dst, strict=True))}
    expected = [position[(int(d), int(s))] for s, d in zip(g.edge_src, g.edge_dst, strict=True)]
    assert rev.tolist() == expected


def test_one_step_by_hand_uses_symmetrised_weights(make_world) -> None:
    g, st, p, rng = make_world(CHAIN3)
    for (i, j), w in {(0, 1): 1.0, (1, 0): 3.0, (1, 2): 0.5, (2, 1): 1.5}.items():
        set_weight(g, st, i, j, w)  # W̄_01 = 2, W̄_12 = 1
    st.phi[:] = [0.0, np.pi / 3, np.pi]
    st.omega[:] = [0.1, 0.0, -0.2]
    K, dt = 0.7, 0.1
    phase_step(g, st, with_phase(p, T=0.0, K=K), rng, dt)
    a, b, c = 0.0, np.pi / 3, np.pi
    expected = [
        a + dt * (0.1 + K * 2 * math.sin(b - a)),
        b + dt * (0.0 + K * (2 * math.sin(a - b) + 1 * math.sin(c - b))),
        c + dt * (-0.2 + K * 1 * math.sin(b - c)),
    ]
    assert st.phi == pytest.approx(expected, rel=1e-12)


def test_dormant_nodes_neither_couple_nor_are_coupled(make_world) -> None:
    g, st, p, rng = make_world(CHAIN3)
    st.W[:] = 1.0
    start = np.array([0.0, 2.0, -1.0])
    st.phi[:] = start
    st.alive[1] = False  # the middle node: nodes 0 and 2 are now uncoupled
    phase_step(g, st, with_phase(p, T=0.0, K=1.0), rng, 0.1)
    assert st.phi.tolist() == start.tolist()
    phase_step(g, st, with_phase(p, T=1.0, K=1.0), rng, 0.1)  # noise moves the alive nodes only
    assert st.phi[1] == 2.0 and st.phi[0] != 0.0 and st.phi[2] != -1.0
    st.alive[:] = [True, True, False]
    st.phi[:] = start
    phase_step(g, st, with_phase(p, T=0.0, K=1.0), rng, 0.1)
    assert st.phi == pytest.approx([0.1 * math.sin(2.0), 2.0 + 0.1 * math.sin(-2.0), -1.0])


def test_phases_lock_at_zero_temperature_on_a_tree(make_world) -> None:
    # a tree has no loops, hence no twisted states: the in-phase state is the only stable one
    g, st, p, rng = make_world({"graph.depth": 4, "graph.lateral_k": 0.0}, seed=3)
    st.W[:] = 1.0
    p = with_phase(p, T=0.0, K=1.0)
    start = phase_free_energy(g, st, p)
    assert start["E_phase"] > 0.5 and start["order"] < 0.5
    for _ in range(4000):
        phase_step(g, st, p, rng, 0.2)
    fe = phase_free_energy(g, st, p)
    assert fe["E_phase"] < 1e-8
    assert fe["order"] > 1 - 1e-8
    assert local_order(g, st) == pytest.approx(np.ones(g.n), abs=1e-6)


def test_zero_temperature_dynamics_never_raise_E_phase(make_world) -> None:
    # the drift is gradient descent on E_phase (with lateral loops too)
    g, st, p, rng = make_world({"graph.depth": 4, "graph.lateral_k": 3.0}, seed=1)
    st.W[:] = rng.uniform(0.1, 1.0, g.nnz)
    p = with_phase(p, T=0.0, K=1.0)
    energies = []
    for _ in range(300):
        energies.append(phase_free_energy(g, st, p)["E_phase"])
        phase_step(g, st, p, rng, 0.05)
    assert np.all(np.diff(energies) <= 1e-12)
    assert energies[-1] < 0.5 * energies[0]


def test_high_temperature_order_falls_to_the_finite_size_noise_level(make_world) -> None:
    # independent uniform phases: N·|mean e^{iφ}|² ~ Exp(1) (Rayleigh), mean 1
    g, st, p, rng = make_world({"graph.depth": 6}, seed=2)
    p = with_phase(p, T=50.0, K=1.0)
    samples = []
    for _ in range(300):
        phase_step(g, st, p, rng, 1.0)
        samples.append(g.n * phase_free_energy(g, st, p)["order"] ** 2)
    assert 0.8 < np.mean(samples) < 1.25
    assert max(samples) < 25  # order < 5/sqrt(N) every time (P ≈ e^{-25} per sample)


def test_low_temperature_keeps_order_high(make_world) -> None:
    g, st, p, rng = make_world({"graph.depth": 4, "graph.lateral_k": 0.0}, seed=0)
    st.W[:] = 1.0
    st.phi[:] = 0.3
    p = with_phase(p, T=0.002, K=1.0)
    for _ in range(500):
        phase_step(g, st, p, rng, 0.2)
    assert phase_free_energy(g, st, p)["order"] > 0.95


@pytest.mark.parametrize("bins", [36, 7])
def test_entropy_of_uniform_phases_approaches_ln_bins(make_world, bins: int) -> None:
    g, st, p, rng = make_world({"graph.n_nodes": 50_000, "graph.lateral_k": 0.0})
    p = with_phase(p, bins=bins, T=0.3)
    st.phi[:] = rng.uniform(-np.pi, np.pi, g.n)
    fe = phase_free_energy(g, st, p)
    assert fe["S_phase"] == pytest.approx(math.log(bins), abs=0.01)
    assert fe["F_coh"] == pytest.approx(fe["E_phase"] - 0.3 * fe["S_phase"])
    st.phi[:] = 1.234
    assert phase_free_energy(g, st, p)["S_phase"] == 0.0


def test_free_energy_by_hand_globally_and_per_scale(make_world) -> None:
    g, st, p, _ = make_world({"graph.branching": 2, "graph.depth": 1, "graph.lateral_k": 1.0})
    assert entry(g, 1, 2) >= 0  # the two leaves are linked (p = 1 for a pair)
    weights = {(0, 1): 0.3, (1, 0): 0.5, (0, 2): 1.0, (2, 0): 0.2, (1, 2): 0.2, (2, 1): 0.6}
    for (i, j), w in weights.items():
        set_weight(g, st, i, j, w)
    phi = [0.3, 1.0, -2.0]
    st.phi[:] = phi
    T = 0.25
    p = with_phase(p, T=T)
    wbar = {(0, 1): 0.4, (0, 2): 0.6, (1, 2): 0.4}
    e = sum(w * (1 - math.cos(phi[i] - phi[j])) for (i, j), w in wbar.items()) / sum(wbar.values())
    s = math.log(3)  # three phases in three different bins
    fe = phase_free_energy(g, st, p)
    assert fe["E_phase"] == pytest.approx(e)
    assert fe["S_phase"] == pytest.approx(s)
    assert fe["F_coh"] == pytest.approx(e - T * s)
    assert fe["order"] == pytest.approx(abs(sum(cmath.exp(1j * f) for f in phi)) / 3)
    # scale 0 = the two leaves and their lateral link; scale 1 = the root alone (no link: NaN)
    assert fe["E_phase_by_scale"][0] == pytest.approx(1 - math.cos(3.0))
    assert math.isnan(fe["E_phase_by_scale"][1]) and math.isnan(fe["F_coh_by_scale"][1])
    assert fe["S_phase_by_scale"].tolist() == pytest.approx([math.log(2), 0.0])
    assert fe["F_coh_by_scale"][0] == pytest.approx(1 - math.cos(3.0) - T * math.log(2))
    assert fe["order_by_scale"].tolist() == pytest.approx([abs(math.cos(1.5)), 1.0])
    # a dormant leaf drops out of everything
    st.alive[2] = False
    fe = phase_free_energy(g, st, p)
    assert fe["E_phase"] == pytest.approx(1 - math.cos(0.7))
    assert fe["S_phase"] == pytest.approx(math.log(2))
    assert math.isnan(fe["E_phase_by_scale"][0]) and fe["order_by_scale"][0] == 1.0


def test_local_order_by_hand(make_world) -> None:
    g, st, _, _ = make_world(CHAIN3)
    for (i, j), w in {(0, 1): 1.0, (1, 0): 3.0, (1, 2): 0.5, (2, 1): 1.5}.items():
        set_weight(g, st, i, j, w)  # W̄_01 = 2, W̄_12 = 1
    phi = [0.0, np.pi / 3, np.pi]
    st.phi[:] = phi
    z = [cmath.exp(1j * f) for f in phi]
    # self weight = mean W̄ of the node's alive neighbours
    expected = [
        abs(2 * z[1] + 2 * z[0]) / 4,
        abs(2 * z[0] + 1 * z[2] + 1.5 * z[1]) / 4.5,
        abs(1 * z[1] + 1 * z[2]) / 2,
    ]
    assert local_order(g, st) == pytest.approx(expected)
    st.W *= 7.0  # a ratio of weights: rescaling W changes nothing
    assert local_order(g, st) == pytest.approx(expected)
    st.alive[2] = False
    assert local_order(g, st)[:2] == pytest.approx([expected[0], abs(2 * z[0] + 2 * z[1]) / 4])
    st.alive[1] = False  # node 0 is now alone: order 1
    assert local_order(g, st)[0] == 1.0


# ----------------------------------------------------------------------------- through the model (SPEC 4.3)


def _phase_model(T: float, K: float = 1.0, seed: int = 0, lateral_k: float = 1.6) -> CoherenceModel:
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


def test_model_phases_lock_at_zero_temperature() -> None:
    m = _phase_model(T=0.0, lateral_k=0.0)  # a tree has no loops, hence no twisted (vortex) states
    m.run(600)
    fe = phase_free_energy(m.graph, m.state, m.params)
    assert fe["E_phase"] < 1e-3
    assert fe["order"] > 0.99


def test_model_high_temperature_destroys_order_to_the_noise_level() -> None:
    m = _phase_model(T=50.0)
    m.run(200)
    fe = phase_free_energy(m.graph, m.state, m.params)
    # uniform phases: |mean e^{iφ}| ~ 1/sqrt(N) (Rayleigh), a few times that at most
    assert fe["order"] < 4 / np.sqrt(m.graph.n)
