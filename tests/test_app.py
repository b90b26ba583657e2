"""The browser app without a browser (solara.render): scenario picker, controls, validation, per-session models."""

from __future__ import annotations

import time

import ipyvuetify as v
import numpy as np
import pytest
import solara

import app
from ui.components import DEFAULT_SCENARIO, LiveStatus
from ui.echart import EChart


def _render():
    return solara.render(app.Page(), handle_error=False)


def _button(rc, label: str):
    found = [w for w in rc.find(v.Btn).widgets if label in [c for c in w.children if isinstance(c, str)]]
    assert len(found) == 1, f"one button {label!r} expected, found {len(found)}"
    return found[0]


def _tick(rc) -> int:
    return int(rc.find(LiveStatus).widget.tick.split()[1])


def _alerts(rc) -> list[str]:
    return [str(w.children) for w in rc.find(v.Alert).widgets]


def _texts(rc) -> str:
    """All text on the page: plain widgets and the HTML blocks (rendered by Vue templates)."""
    parts = [str(w.children) for w in rc.find(v.Html).widgets] + [rc.find(LiveStatus).widget.detail]
    parts += [str(getattr(w, "unsafe_innerHTML", "")) for w in rc.find(v.VuetifyTemplate).widgets]
    return " ".join(parts)


def _field(rc, key: str) -> v.TextField:
    return rc.find(v.TextField, label=key).widget


def test_first_screen_shows_the_default_scenario_and_its_narrative() -> None:
    _, rc = _render()
    assert rc.find(v.Select, label="Scenario").widget.v_model == DEFAULT_SCENARIO
    tabs = [w.children for w in rc.find(v.Tab).widgets]
    assert [t[0] for t in tabs][:6] == [
        "WHAT IT IS",
        "HOW IT WORKS",
        "HOW TO USE IT",
        "THINGS TO NOTICE",
        "THINGS TO TRY",
        "SOURCES",
    ]
    assert _tick(rc) == 0
    titles = [c.option["title"][0]["text"] for c in rc.find(EChart).widgets]
    assert any(t.startswith("The fractal graph") for t in titles), "the graph is on the first screen"
    assert any(t.startswith("Criticality") for t in titles), "and ρ with its bands"


def _chart(rc, title: str) -> EChart:
    (chart,) = [c for c in rc.find(EChart).widgets if c.option["title"][0]["text"].startswith(title)]
    return chart


def test_step_button_advances_the_model_and_the_plots() -> None:
    _, rc = _render()
    graph, rho = _chart(rc, "The fractal graph"), _chart(rc, "Criticality")

    def sizes() -> list:  # (node, marker size) of every node, from the batches the chart draws
        batches = [b for b in graph.option["series"][3:] if len(b["data"])]
        return sorted((int(n), b["symbolSize"]) for b in batches for n in np.asarray(b["data"])[:, 5] if n >= 0)

    before = sizes()
    _button(rc, "Step").click()
    _button(rc, "Step").click()
    assert _tick(rc) == 2
    assert len(before) == 121 and sizes() != before, "every node drawn; sizes follow E"
    assert list(rho.option["series"][0]["data"][:, 0]) == [1.0, 2.0], "ρ is drawn for every tick"


def test_picking_a_scenario_builds_its_model_and_shows_its_narrative() -> None:
    _, rc = _render()
    _button(rc, "Step").click()
    rc.find(v.Select, label="Scenario").widget.v_model = "coherence_backprop"
    assert _tick(rc) == 0
    assert "5 nodes" in _texts(rc), "the chain of five scales"
    assert "Coherence backpropagation on a chain of five scales" in _texts(rc), "its narrative is shown"


def test_invalid_parameter_shows_the_message_and_keeps_the_model() -> None:
    _, rc = _render()
    _button(rc, "Step").click()
    field = _field(rc, "spread.alpha")
    field.v_model = "-1"
    _button(rc, "Apply").click()
    errors = [a for a in _alerts(rc) if "spread.alpha" in a]
    assert errors and "-1" in errors[0], "the page names the parameter and the value"
    assert _field(rc, "spread.alpha").error, "the field itself is marked"
    assert _tick(rc) == 1, "the model was neither rebuilt nor stepped"


def test_a_valid_change_applies_to_the_running_model() -> None:
    _, rc = _render()
    _button(rc, "Step").click()
    _field(rc, "load.rate").v_model = "8"
    _button(rc, "Apply").click()
    assert not [a for a in _alerts(rc) if "Not applied" in a]
    assert any("Applied at tick 1" in a for a in _alerts(rc))
    assert _tick(rc) == 1, "a live change keeps the run going"


def test_a_structural_change_restarts_the_model() -> None:
    _, rc = _render()
    _button(rc, "Step").click()
    _field(rc, "graph.depth").v_model = "2"
    _button(rc, "Apply").click()
    assert _tick(rc) == 0
    assert "13 nodes" in _texts(rc)


def test_two_sessions_have_independent_models() -> None:
    _, rc1 = _render()
    _, rc2 = _render()
    _button(rc1, "Step").click()
    _button(rc1, "Step").click()
    assert _tick(rc1) == 2
    assert _tick(rc2) == 0


def test_play_runs_in_a_thread_and_pause_stops_it() -> None:
    _, rc = _render()
    _button(rc, "Play").click()
    deadline = time.time() + 30
    while _tick(rc) < 10 and time.time() < deadline:
        time.sleep(0.05)
    assert _tick(rc) >= 10
    _button(rc, "Pause").click()
    time.sleep(0.5)
    stopped = _tick(rc)
    time.sleep(0.5)
    assert _tick(rc) == stopped


@pytest.mark.parametrize("scenario", ["forgetting_curves", "persistence", "coherence_tree", "temperature_sweep"])
def test_every_scenario_renders_and_steps(scenario: str) -> None:
    _, rc = _render()
    rc.find(v.Select, label="Scenario").widget.v_model = scenario
    _button(rc, "Step").click()
    assert _tick(rc) == 1


def test_every_parameter_is_reachable_and_tables_are_validated() -> None:
    from ui.params_form import SPECS

    _, rc = _render()
    rc.find(v.Switch, label="Show all parameters").widget.v_model = True
    labels = {w.label for w in rc.find(v.TextField).widgets} | {w.label for w in rc.find(v.Select).widgets}
    labels |= {w.label for w in rc.find(v.Switch).widgets}
    assert set(SPECS) <= labels, f"missing controls: {sorted(set(SPECS) - labels)}"
    _field(rc, "types.fractions").v_model = "{memory = 2.0}"
    _button(rc, "Apply").click()
    assert any("types.fractions" in a and "Not applied" in a for a in _alerts(rc))
    _field(rc, "types.fractions").v_model = "{memory = 0.5}"
    _button(rc, "Apply").click()
    assert not any("Not applied" in a for a in _alerts(rc))
    assert any("Restarted with types.fractions" in a for a in _alerts(rc)), "a structural key restarts the run"
