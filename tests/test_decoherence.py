"""Seed 000's experiments in the model: decoherence events (Test B), the read-only coherence probe and
γ restoration (Test C), and the temperature control of Prediction 1. Expected values come from independent
reasoning: uniform angles, hand-composed tanh chains, what the coherence pass can and cannot read."""

from __future__ import annotations

import math
import tomllib
from dataclasses import fields

import numpy as np
import pytest

from analysis.export import scales_frame
from model.keys import resolve
from model.mechanisms.coherence import response
from model.mechanisms.decoherence import scatter
from model.model import CoherenceModel
from model.params import ParameterError
from scenarios import load_scenario
from scenarios.loader import SCENARIO_DIR, parse_scenario


def _scenario(name: str, **changes):
    data = tomllib.loads((SCENARIO_DIR / f"{name}.toml").read_text())
    for key, value in changes.items():
        data[key] = value
    return parse_scenario(data)


def _state_bytes(st) -> dict[str, bytes]:
    return {f.name: np.asarray(getattr(st, f.name)).tobytes() for f in fields(st)}


# ----------------------------------------------------------------------------- decoherence events


def test_full_scramble_makes_the_phases_uniform_and_touches_only_live_selected_nodes() -> None:
    n = 40_000
    phi = np.zeros(n)
    alive = np.ones(n, bool)
    alive[:100] = False
    chosen = np.arange(0, n - 1000)
    scatter(phi, chosen, alive, 1.0, np.random.default_rng(1))
    hit = phi[100 : n - 1000]
    # φ uniform on (−π, π]: E cos = E sin = 0 and E cos² = 1/2 (s.e. ≈ 0.0036 at this n)
    assert abs(np.cos(hit).mean()) < 0.02 and abs(np.sin(hit).mean()) < 0.02
    assert abs((np.cos(hit) ** 2).mean() - 0.5) < 0.02
    assert np.all(phi[:100] == 0) and np.all(phi[n - 1000 :] == 0)  # dormant and unselected keep theirs
    assert np.all((hit > -np.pi) & (hit <= np.pi))


def test_strength_scales_the_kick_and_zero_draws_the_same_numbers() -> None:
    phi0 = np.full(1000, 0.3)
    alive = np.ones(1000, bool)
    nodes = np.arange(1000)
    draws = {}
    for s in (0.0, 0.5):
        rng = np.random.default_rng(7)
        phi = phi0.copy()
        scatter(phi, nodes, alive, s, rng)
        draws[s] = (phi, rng.random())  # the next draw shows how many numbers were taken
    assert np.array_equal(draws[0.0][0], phi0)
    assert draws[0.0][1] == draws[0.5][1]
    kick = draws[0.5][0] - phi0  # |kick| ≤ π/2 at half strength, no wrapping from 0.3
    assert np.abs(kick).max() <= np.pi / 2 and np.abs(kick).max() > 1.4


def _short_events(strength: float, with_events: bool = True) -> CoherenceModel:
    stim = [{"kind": "decohere", "at": 60.0, "every": 40.0, "select": {"subtree": 1, "leaves": True}}]
    sc = _scenario("coherence_tree", stimuli=stim if with_events else [])
    return CoherenceModel(sc, seed=11, engine="numpy", params={"decoherence.strength": strength})


def test_the_control_is_exact_and_the_event_is_the_only_difference() -> None:
    runs = {}
    for key, (s, ev) in {"event": (1.0, True), "control": (0.0, True), "none": (1.0, False)}.items():
        m = _short_events(s, ev)
        m.run(120)
        runs[key] = (m, scales_frame(m))
    # strength 0 is the same run as no events at all: same phases, same table, to the bit
    assert np.array_equal(runs["control"][0].state.phi, runs["none"][0].state.phi)
    assert runs["control"][1].equals(runs["none"][1])
    ev, ctl = runs["event"][1], runs["control"][1]
    before = ev["time"] < 60
    assert ev[before].equals(ctl[before])  # identical until the first event
    at = (ev["time"] == 60) & (ev["scale"] == 0)
    assert float(ev.loc[at, "C"].iloc[0]) < float(ctl.loc[at, "C"].iloc[0]) - 0.02  # the leaves lost order
    lam_e = ev[ev["time"] == 60].set_index("scale")["lam"].abs()
    lam_c = ctl[ctl["time"] == 60].set_index("scale")["lam"].abs()
    assert (lam_e > lam_c).all()  # the error signal reached every scale in that slow tick


@pytest.mark.parametrize("value", [-0.1, 1.5, "strong"])
def test_bad_strength_is_refused_with_its_name(value) -> None:
    with pytest.raises(ParameterError, match=r"decoherence\.strength"):
        resolve({"decoherence.strength": value})


def test_a_number_given_for_the_input_is_accepted_as_a_level() -> None:
    assert resolve({"coherence.input": 0.8}).coherence.input == "0.8"
    with pytest.raises(ParameterError, match=r"coherence\.input"):
        resolve({"coherence.input": True})


# ----------------------------------------------------------------------------- the probe and γ restoration


def test_the_probe_is_a_tanh_chain_by_hand_and_never_writes_the_state() -> None:
    m = CoherenceModel(load_scenario("coherence_tree"), seed=3, engine="numpy")
    g, st = m.graph, m.state
    before = _state_bytes(st)
    x = np.where(g.is_leaf, 0.7, 0.0)
    c = 0.7
    for _ in range(g.max_depth):  # every γ is γ0 = 1.5 and every w is 1: C_k = tanh(1.5·C_{k−1})
        c = math.tanh(1.5 * c)
    C = response(g, st, x)
    assert C[0] == pytest.approx(c, rel=1e-12)
    batch = response(g, st, np.stack([x, np.where(g.is_leaf, 0.2, 0.0)]))
    assert np.array_equal(batch[0], C)
    assert _state_bytes(st) == before


def test_restoring_the_untrained_gamma_removes_the_deformation_exactly() -> None:
    """C is a function of γ, w and the inputs only (learning of w is off here): put the untrained γ
    back and the trained hierarchy answers exactly like the untrained one, whatever else differs."""
    trained = CoherenceModel(load_scenario("coherence_tree"), seed=5, engine="numpy")
    fresh = CoherenceModel(load_scenario("coherence_tree"), seed=5, engine="numpy")
    trained.run(300)
    g = trained.graph
    levels = np.linspace(0.1, 0.99, 9)
    x = np.where(g.is_leaf, levels[:, None], 0.0)  # leaf inputs from weak to saturated
    x[:, g.subtree(1)] *= 0.5  # and a branch fed half as much
    before, after = response(g, fresh.state, x)[:, 0], response(g, trained.state, x)[:, 0]
    assert np.abs(after - before).max() > 1e-3  # learning deformed the landscape
    copy = trained.state.copy()
    copy.gamma[:] = fresh.state.gamma
    copy.phi[:] = np.random.default_rng(0).uniform(-np.pi, np.pi, g.n)  # phases, C, λ play no part
    copy.C[:], copy.lam[:] = 0.3, 9.0
    assert np.array_equal(response(g, copy, x)[:, 0], before)
    copy.gamma[:] = trained.state.gamma  # and the trained γ alone brings the trained answer back
    assert np.array_equal(response(g, copy, x)[:, 0], after)


# ----------------------------------------------------------------------------- Prediction 1's control


def test_at_a_fixed_input_level_the_temperature_cannot_change_gamma() -> None:
    """The coherence pass reads the phases only through the "phase" input: with a fixed level,
    runs at two temperatures learn the same γ to the bit; with the phase input they do not."""
    gam = {}
    for inp in ("0.6", "phase"):
        for T in (0.05, 1.0):
            params = {"coherence.input": inp, "phase.T": T}  # a level without noise draws nothing
            m = CoherenceModel(load_scenario("coherence_tree"), seed=2, engine="numpy", params=params)
            m.run(200)
            gam[inp, T] = m.state.gamma.copy()
    assert np.array_equal(gam["0.6", 0.05], gam["0.6", 1.0])
    assert not np.array_equal(gam["phase", 0.05], gam["phase", 1.0])
