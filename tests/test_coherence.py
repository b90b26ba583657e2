"""Coherence backpropagation (SPEC 5.3) against seed 000's table, a scalar re-implementation,
hand computation and finite differences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from analysis.runner import run_scenario
from model.mechanisms.coherence import coherence_slow_tick, leaf_input
from model.mechanisms.phase import local_order

SEED_CHAIN = {
    "graph.kind": "chain",
    "graph.depth": 4,
    "graph.lateral_k": 0.0,
    "coherence.enabled": True,
    "coherence.input": "0.8",
    "coherence.input_noise": 0.1,
}
SEED_TABLE = [1.500, 1.525, 1.554, 1.629, 1.825]  # γ by scale 0 … 4 after 100 steps (seed 000, part 5)


def with_coherence(params, **kw):
    return params.model_copy(update={"coherence": params.coherence.model_copy(update=kw)})


def seed_000_reference(inputs: list[float], gamma0=1.5, eta=0.2, target=0.95, scales=5):
    """Seed 000's chain written as plain scalar code: index k = scale (0 = the input)."""
    gamma, errors = [gamma0] * scales, []
    for x in inputs:
        C = [x]
        for k in range(1, scales):
            C.append(math.tanh(gamma[k] * C[k - 1]))
        errors.append((C[-1] - target) ** 2)
        lam = [0.0] * scales
        lam[-1] = 2 * (C[-1] - target)
        for k in range(scales - 1, 1, -1):
            lam[k - 1] = lam[k] * gamma[k] * (1 - C[k] ** 2)
        for k in range(1, scales):
            gamma[k] -= eta * lam[k] * (1 - C[k] ** 2) * C[k - 1]
    return gamma, errors


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_seed_000_table_is_reproduced_for_any_seed(make_world, seed: int) -> None:
    g, st, p, _ = make_world(SEED_CHAIN, seed=seed)
    rng = np.random.default_rng(1000 + seed)
    errors = [coherence_slow_tick(g, st, p, rng)["err"] for _ in range(100)]
    res = coherence_slow_tick(g, st, with_coherence(p, eta=0.0), rng)  # read γ without learning
    assert res["gamma_by_scale"].tolist() == pytest.approx(SEED_TABLE, abs=0.01)
    assert st.gamma[4] == 1.5  # the leaf's γ is never used nor learned
    first, last = np.mean(errors[:10]), np.mean(errors[-10:])
    assert first == pytest.approx(0.0072, rel=0.3)
    assert last == pytest.approx(0.0008, rel=0.3)
    assert 0.85 < 1 - last / first < 0.95  # "about 90 %", as honest window means


def test_chain_follows_the_scalar_reference_step_by_step(make_world) -> None:
    g, st, p, rng = make_world(SEED_CHAIN, seed=7)
    inputs, errors = [], []
    for _ in range(100):
        errors.append(coherence_slow_tick(g, st, p, rng)["err"])
        inputs.append(float(st.C[4]))  # the leaf's realised (noisy, clipped) input
    assert all(0.1 <= x <= 0.99 for x in inputs) and np.std(inputs) > 0.05
    gamma, ref_errors = seed_000_reference(inputs)
    assert st.gamma[::-1].tolist() == pytest.approx(gamma, rel=1e-12)  # node 4 − k is scale k
    assert errors == pytest.approx(ref_errors, rel=1e-10)


def test_three_nodes_by_hand(make_world) -> None:
    g, st, p, rng = make_world({"graph.branching": 2, "graph.depth": 1, "coherence.input": "activation"})
    st.w[:] = [1.0, 1.0, 3.0]
    st.gamma[:] = [2.0, 5.0, 5.0]
    x1, x2 = 0.3, 0.7
    st.E_sum[:] = [0.0, 2 * x1 / (1 - x1), 2 * x2 / (1 - x2)]  # Ē/(Ē + 1) = x with Ē = E_sum/2
    st.window_ticks = 2
    eta, target = 0.2, 0.95
    res = coherence_slow_tick(g, st, p, rng)
    gr = (1 * x1 + 3 * x2) / 4
    C0 = math.tanh(2.0 * gr)
    lam0 = 2 * (C0 - target)
    assert res["err"] == pytest.approx((C0 - target) ** 2)
    assert res["C_root"] == pytest.approx(C0)
    assert st.C.tolist() == pytest.approx([C0, x1, x2])
    assert st.lam.tolist() == pytest.approx([lam0, lam0 * 2 * (1 - C0**2) / 4, lam0 * 2 * (1 - C0**2) * 3 / 4])
    assert st.gamma.tolist() == pytest.approx([2.0 - eta * lam0 * (1 - C0**2) * gr, 5.0, 5.0])
    assert res["C_by_scale"].tolist() == pytest.approx([(x1 + x2) / 2, C0])
    assert res["lam_by_scale"][1] == pytest.approx(lam0)


def _random_tree(make_world, overrides: dict, seed: int):
    g, st, p, rng = make_world({"coherence.input": "activation", "graph.lateral_k": 0.0, **overrides}, seed=seed)
    r = np.random.default_rng(seed + 100)
    st.w[:] = r.uniform(0.2, 2.0, g.n)
    st.gamma[:] = r.uniform(0.5, 3.0, g.n)
    st.E_sum[:] = r.uniform(0.0, 20.0, g.n)  # distinct inputs per leaf, inside (0.1, 0.99)
    st.window_ticks = 5
    return g, st, p, rng


@pytest.mark.parametrize(
    ("overrides", "dormant"),
    [
        ({"graph.branching": 3, "graph.depth": 3}, []),
        ({"graph.branching": 2, "graph.depth": 3}, []),
        ({"graph.branching": 3, "graph.depth": 3, "graph.n_nodes": 30}, []),  # truncated: leaves at depth 2
        ({"graph.branching": 3, "graph.depth": 3}, [2, 4, 5, 6]),  # node 2 dormant; node 1 loses all its children
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_adjoint_update_is_the_finite_difference_gradient(make_world, overrides, dormant, seed: int) -> None:
    g, st, p, rng = _random_tree(make_world, overrides, seed)
    st.alive[dormant] = False
    learned = st.copy()
    eta = 1e-3
    coherence_slow_tick(g, learned, with_coherence(p, eta=eta), rng)
    analytic = (st.gamma - learned.gamma) / eta  # γ ← γ − η·∂err/∂γ

    frozen = with_coherence(p, eta=0.0)

    def err_at(i: int, gamma_i: float) -> float:
        trial = st.copy()
        trial.gamma[i] = gamma_i
        out = coherence_slow_tick(g, trial, frozen, rng)["err"]
        assert trial.gamma[i] == gamma_i  # η = 0 learns nothing
        return out

    h = 1e-5
    checked = 0
    for i in range(g.n):
        numeric = (err_at(i, st.gamma[i] + h) - err_at(i, st.gamma[i] - h)) / (2 * h)
        if abs(numeric) < 1e-9:  # leaves, dormant nodes, nodes whose γ is not used
            assert analytic[i] == 0.0
            continue
        assert analytic[i] == pytest.approx(numeric, rel=1e-5), i
        checked += 1

    def connected(i: int) -> bool:  # alive, and every ancestor alive
        return bool(st.alive[i]) and (i == 0 or connected(int(g.parent[i])))

    used = [i for i in range(g.n) if connected(i) and any(st.alive[c] for c in g.children(i))]
    assert checked == len(used)


def test_adjoint_shrinks_with_depth_on_the_default_tree(make_world) -> None:
    g, st, p, rng = make_world({"coherence.input": "0.8", "coherence.input_noise": 0.05})
    for _ in range(10):
        coherence_slow_tick(g, st, p, rng)
        by_depth = [np.abs(st.lam[g.level(d)]).mean() for d in range(g.n_scales)]
        assert all(a > b > 0 for a, b in itertools.pairwise(by_depth))
        assert (np.sign(st.lam) == np.sign(st.lam[0])).all()  # one error, one sign


def test_dormant_children_leave_the_aggregate(make_world) -> None:
    g, st, p, rng = make_world({"graph.branching": 2, "graph.depth": 1, "coherence.input": "activation"})
    st.E_sum[:] = [1.0, 1.0, 3.0]  # x = Ē/(Ē + 1): 0.5, 0.5, 0.75
    st.window_ticks = 1
    st.alive[2] = False
    coherence_slow_tick(g, st, with_coherence(p, eta=0.0), rng)
    assert st.g[0] == pytest.approx(0.5) and st.C[0] == pytest.approx(math.tanh(1.5 * 0.5))
    assert st.C[2] == 0.0 and st.lam[2] == 0.0
    st.alive[1] = False  # no alive child left: the root becomes a leaf of the live tree
    res = coherence_slow_tick(g, st, p, rng)
    assert st.C[0] == pytest.approx(0.5) and st.g[0] == 0.0 and st.gamma[0] == 1.5
    assert res["err"] == pytest.approx((0.5 - 0.95) ** 2)
    assert math.isnan(res["C_by_scale"][0])  # no alive leaf
    st.alive[0] = False
    res = coherence_slow_tick(g, st, p, rng)
    assert math.isnan(res["err"]) and (st.lam == 0).all()


def test_inputs_of_each_kind(make_world) -> None:
    g, st, p, rng = make_world({"graph.n_nodes": 20_000, "coherence.input": "0.5", "coherence.input_noise": 0.1})
    x = leaf_input(g, st, p, rng)
    assert x.mean() == pytest.approx(0.5, abs=0.005) and x.std() == pytest.approx(0.1, abs=0.005)
    x = leaf_input(g, st, with_coherence(p, input="0.95", input_noise=1.0), rng)
    assert x.min() == 0.1 and x.max() == 0.99  # clipped
    assert (leaf_input(g, st, with_coherence(p, input_noise=0.0), rng) == 0.5).all()
    act = with_coherence(p, input="activation", E_half=2.0)
    assert (leaf_input(g, st, act, rng) == 0.1).all()  # no window yet: Ē = 0, clipped up to 0.1
    st.E_sum[:3] = [6.0, 60.0, 6000.0]
    st.window_ticks = 3
    assert leaf_input(g, st, act, rng)[:3].tolist() == pytest.approx([0.5, 20 / 22, 0.99])
    ph = with_coherence(p, input="phase")
    assert leaf_input(g, st, ph, rng) == pytest.approx(np.clip(local_order(g, st), 0.1, 0.99))


def test_per_scale_means_cover_alive_nodes_only(make_world) -> None:
    g, st, p, rng = make_world({"coherence.input": "0.7"})
    st.alive[g.subtree(2)] = False
    res = coherence_slow_tick(g, st, p, rng)
    for name, values in (("C", st.C), ("gamma", st.gamma), ("lam", st.lam)):
        expected = [values[(g.scale == k) & st.alive].mean() for k in range(g.n_scales)]
        assert res[f"{name}_by_scale"].tolist() == pytest.approx(expected)


# ----------------------------------------------------------------------------- through the model (SPEC 7)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_scenario_coherence_backprop_reproduces_the_seed_table(seed: int) -> None:
    s = run_scenario("coherence_backprop", seed=seed).summary["coherence_backprop"]
    assert s["slow_ticks"] == 100
    assert s["gamma_by_scale"] == pytest.approx([1.500, 1.525, 1.554, 1.629, 1.825], abs=0.01)
    assert s["mean_error_first_10"] == pytest.approx(0.0072, rel=0.3)
    assert s["mean_error_last_10"] == pytest.approx(0.0008, rel=0.3)
    assert 0.85 < s["reduction"] < 0.95  # "near 91.8 %", as honest window means


def test_error_falls_on_the_tree_with_phase_inputs() -> None:
    s = run_scenario("coherence_tree", seed=0).summary["coherence_backprop"]
    assert s["mean_error_last_10"] < 0.5 * s["mean_error_first_10"]
