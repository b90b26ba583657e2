"""The two SimPy clocks (SPEC 3): order at equal times, step semantics."""

from __future__ import annotations

from model import CoherenceModel
from model.stimuli import KINDS, Stimulus, stimulus_kind
from scenarios.loader import parse_scenario

NARRATIVE = {
    k: "x" for k in ("what_it_is", "how_it_works", "how_to_use_it", "things_to_notice", "things_to_try", "sources")
}


def test_stimuli_then_fast_then_slow_at_equal_times() -> None:
    log: list = []

    @stimulus_kind("trace")
    def _trace(model, stim, nodes):
        log.append(("stimulus", model.env.now, model.tick, model.slow_ticks))

    try:
        sc = parse_scenario(
            {
                "scenario": {"name": "t", "title": "t", "source": "test", "ticks": 10},
                "narrative": NARRATIVE,
                "params": {"clock": {"dt_slow": 5.0}},
                "stimuli": [{"kind": "trace", "at": 5}],
            }
        )
        m = CoherenceModel(sc, seed=0)
        m.run(4)
        assert log == [] and m.tick == 4 and m.slow_ticks == 0
        m.step()  # time 5: the stimulus runs before the fast tick of time 5, the slow tick after it
        assert log == [("stimulus", 5.0, 4, 0)]
        assert m.tick == 5 and m.slow_ticks == 1
        assert m.time == 5.0
    finally:
        KINDS.pop("trace", None)


def test_slow_tick_sees_the_fast_tick_of_its_time() -> None:
    m = CoherenceModel(params={"clock.dt_slow": 10.0}, seed=0)
    m.run(10)
    # the slow tick at t = 10 averaged E over the window of fast ticks 1..10 and then reset it
    assert m.slow_ticks == 1 and m.state.window_ticks == 0
    assert m.recorder.timeseries[-1]["tick"] == 10
    assert "W_mean_default" in m.recorder.timeseries[9]  # slow columns filled on tick 10's row
    assert "W_mean_default" not in m.recorder.timeseries[8]


def test_pulse_enters_the_fast_tick_of_its_time() -> None:
    sc = parse_scenario(
        {
            "scenario": {"name": "t", "title": "t", "source": "test", "ticks": 5},
            "narrative": NARRATIVE,
            "params": {"spread": {"alpha": 0.0}, "controller": {"enabled": False}},
            "stimuli": [{"kind": "pulse", "at": 3, "amount": 1.0, "select": {"nodes": [7]}}],
        }
    )
    m = CoherenceModel(sc, seed=0)
    m.run(2)
    assert m.state.E[7] == 0
    m.step()
    assert m.state.E[7] == __import__("math").exp(-m.params.decay.delta_E)
    assert Stimulus.model_fields["kind"]


def _decimal_clock_scenario(stimuli: list[dict]) -> object:
    return parse_scenario(
        {
            "scenario": {"name": "t", "title": "t", "source": "test", "ticks": 40},
            "narrative": NARRATIVE,
            "params": {
                "clock": {"dt_fast": 0.1, "dt_slow": 1.0},
                "spread": {"alpha": 0.0},
                "controller": {"enabled": False},
                "learning": {"enabled": False},
            },
            "stimuli": stimuli,
        }
    )


def test_clocks_fire_at_exact_multiples_of_a_decimal_period() -> None:
    """SPEC 3: with dt_fast = 0.1 a pulse at t = 1.0 acts in fast tick 10; slow ticks meet fast ticks 10, 20, 30."""
    import math

    m = CoherenceModel(_decimal_clock_scenario([{"kind": "pulse", "at": 1.0, "select": {"nodes": [7]}}]), seed=0)
    slow_at: list[int] = []
    for _ in range(9):
        m.step()
        assert m.state.E[7] == 0.0, f"the pulse due at t = 1.0 acted early, in fast tick {m.tick}"
    for _ in range(26):
        before = m.slow_ticks
        m.step()
        if m.tick == 10:
            # injected at t = 1.0 and decayed once over dt_fast = 0.1: E = exp(−δ_E·m_E·dt_fast), m_E = 1
            assert m.state.E[7] == math.exp(-m.params.decay.delta_E * 0.1)
        if m.slow_ticks > before:
            slow_at.append(m.tick)
    assert slow_at == [10, 20, 30]
    # each slow tick ran after the fast tick of its own time (30·0.1 is 3.0000000000000004, not 3.0)
    assert [row["tick"] for row in m.recorder.scales if row["scale"] == 0] == [10, 20, 30]
    assert m.time == 3.5 and m.tick == 35  # 35 steps of 0.1 end exactly at 3.5, not 3.4999999999999996


def test_a_repeating_stimulus_keeps_exact_times() -> None:
    seen: list[tuple[float, int]] = []

    @stimulus_kind("trace")
    def _trace(model, stim, nodes):
        seen.append((model.env.now, model.tick + 1))  # the fast tick this stimulus enters

    try:
        m = CoherenceModel(_decimal_clock_scenario([{"kind": "trace", "at": 0.3, "every": 0.1, "until": 1.0}]), seed=0)
        m.run(12)
    finally:
        KINDS.pop("trace", None)
    assert [tick for _, tick in seen] == [3, 4, 5, 6, 7, 8, 9, 10]  # 0.3, 0.4, …, 1.0: eight times, none lost
    assert seen[-1][0] == 1.0


def test_the_background_load_pulses_once_per_fast_tick() -> None:
    m = CoherenceModel(params={"load.rate": 50.0, "clock.dt_fast": 0.1, "clock.dt_slow": 1.0}, seed=0)
    m.run(25)
    rows = m.recorder.timeseries
    assert m.time == 2.5 and len(rows) == 25
    assert all(0 < r["injected"] < 200 for r in rows), "one Poisson(50) draw per tick, never a tick twice"
