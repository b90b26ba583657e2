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
