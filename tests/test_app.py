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
from ui.session import Session


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


def _browser(rc):
    from ui.browser import BrowserLink

    return rc.find(BrowserLink).widget


def _sidebar(rc) -> v.Sheet:
    """The sidebar's column (reacton's find stops at the first match, the page's own column: walk on)."""
    queue, found = list(rc.find(v.Sheet).widgets), []
    while queue:
        w = queue.pop()
        if isinstance(w, v.Sheet) and "cohlab-sidebar" in (w.class_ or ""):
            found.append(w)
        queue += [c for c in (getattr(w, "children", None) or []) if isinstance(c, v.VuetifyWidget)]
    (sheet,) = found
    return sheet


def test_keys_play_step_and_reset() -> None:
    _, rc = _render()
    link = _browser(rc)
    link.pressed = "step 1"
    link.pressed = "step 2"
    assert _tick(rc) == 2, "→ steps once per press"
    link.pressed = "reset 3"
    assert _tick(rc) == 0
    link.pressed = "play 4"
    assert _button(rc, "Pause"), "Space starts play"
    link.pressed = "play 5"
    _button(rc, "Play")
    stopped = _tick(rc)
    link.pressed = "jump 6"  # anything else does nothing
    assert _tick(rc) == stopped


def test_projector_mode_is_the_default_in_a_narrow_window_and_one_switch_turns_it_off() -> None:
    from ui.components import PROJECTOR_CHART_HEIGHT, PROJECTOR_FONT_SCALE

    _, rc = _render()
    switch = rc.find(v.Switch, label="Projector").widget
    assert switch.v_model is False, "no window width reported yet: the desk layout"
    _browser(rc).width = 1024
    assert rc.find(v.Switch, label="Projector").widget.v_model is True
    charts = rc.find(EChart).widgets
    assert all(c.font_scale == PROJECTOR_FONT_SCALE and c.height <= PROJECTOR_CHART_HEIGHT for c in charts)
    assert not rc.find(v.Tab).widgets, "the narrative is folded to one line"
    assert "cohlab-hidden" in _sidebar(rc).class_, "the sidebar is collapsed"
    rc.find(v.Switch, label="Projector").widget.v_model = False
    assert all(c.font_scale == 1.0 for c in rc.find(EChart).widgets)
    assert rc.find(v.Tab).widgets, "the narrative's tabs are back"
    _browser(rc).width = 1600
    assert rc.find(v.Switch, label="Projector").widget.v_model is False


def test_the_key_chart_comes_first() -> None:
    from ui.views import key_view, story_views

    _, rc = _render()
    first = rc.find(EChart).widgets[0]
    assert first.role == "key" and first.option["title"][0]["text"].startswith("Criticality")
    roles = [c.role for c in rc.find(EChart).widgets]
    assert roles.count("key") == 1
    for name in ("persistence", "stability_plasticity", "forgetting_curves"):
        rc.find(v.Select, label="Scenario").widget.v_model = name
        (key,) = [c for c in rc.find(EChart).widgets if c.role == "key"]
        assert rc.find(EChart).widgets[0] is key
        fresh = Session(name, 1)
        cls, opts = story_views(fresh)[0][0]
        assert cls is key_view(fresh)
        declared = cls(fresh, **opts).option()["title"][0]["text"]
        assert key.option["title"][0]["text"] == declared, "the chart the scenario's view declares as key"


def test_the_address_follows_the_seed_and_every_changed_parameter() -> None:
    _, rc = _render()
    link = _browser(rc)
    assert link.query == "?scenario=criticality&seed=1"
    seed = rc.find(v.TextField, label="Seed (Reset keeps it; a new seed restarts)").widget
    seed.v_model = "9"
    seed.fire_event("keyup.enter", None)
    assert link.query == "?scenario=criticality&seed=9"
    _field(rc, "load.rate").v_model = "8"
    _button(rc, "Apply").click()
    assert link.query == "?scenario=criticality&seed=9&load.rate=8"
    rc.find(v.Select, label="Scenario").widget.v_model = "persistence"
    assert link.query == "?scenario=persistence&seed=9", "a new scenario starts from its own values"


def test_png_file_names_carry_scenario_seed_tick_and_chart() -> None:
    from ui.components import png_name
    from ui.views import CriticalityView, PerScaleView

    s = Session("criticality", 3)
    s.step(4)
    assert png_name(s, CriticalityView, {}) == "criticality_seed3_t4_rho.png"
    assert png_name(s, PerScaleView, {"quantity": "gamma"}) == "criticality_seed3_t4_gamma_per_scale.png"


def _rho_points(chart: EChart) -> int:
    return len(chart.option["series"][0]["data"])


def test_during_play_a_chart_off_screen_waits_until_it_scrolls_in() -> None:
    from ui.views import CriticalityView

    s = Session("criticality", 1)
    view, chart = CriticalityView(s), EChart()
    chart.show(view.option())
    s.attach(1, view, chart, lambda: None)
    chart.visible = False  # as the browser reports it
    s.step(3)
    s.refresh(throttle=True)
    assert _rho_points(chart) == 0, "nothing is sent to a chart nobody sees"
    s.refresh_chart(1)  # it scrolls in
    assert _rho_points(chart) == 3, "every tick so far"
    s.step(1)
    s.refresh()
    assert _rho_points(chart) == 4, "Step and Pause update every chart, seen or not"


def test_during_play_a_throttled_chart_waits_its_interval_and_a_plain_refresh_does_not() -> None:
    from ui.views import CriticalityView

    s = Session("criticality", 1)
    view, chart = CriticalityView(s), EChart()
    chart.show(view.option())
    s.attach(1, view, chart, lambda: None, min_interval=3600.0)
    s.step(1)
    s.refresh(throttle=True)
    assert _rho_points(chart) == 1, "the first frame is drawn"
    s.step(1)
    s.refresh(throttle=True)
    assert _rho_points(chart) == 1, "within its interval: skipped"
    s.refresh()
    assert _rho_points(chart) == 2, "Step, Pause and the end of Play draw the latest state"
