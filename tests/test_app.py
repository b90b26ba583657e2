"""The browser app without a browser (solara.render): controls, validation, per-session models."""

from __future__ import annotations

import ipyvuetify as v
import solara

import app


def _render():
    return solara.render(app.Page(), handle_error=False)


def _click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def _tick_text(rc) -> str:
    return next(w.children[0] for w in rc.find(v.Html, tag="h3").widgets if "tick" in str(w.children))


def test_step_advances_the_model_and_redraws() -> None:
    _, rc = _render()
    assert "tick 0 " in _tick_text(rc)
    _click(rc, "Step")
    _click(rc, "Step")
    assert "tick 2 " in _tick_text(rc)


def test_invalid_parameter_shows_a_message_and_keeps_the_model() -> None:
    _, rc = _render()
    _click(rc, "Step")
    rc.find(v.TextField, label="spread.alpha").widget.v_model = "-1"
    _click(rc, "Apply and reset")
    errors = [w for w in rc.find(v.Alert).widgets if "spread.alpha" in str(w.children)]
    assert errors, "the page shows which parameter is wrong"
    assert "tick 1 " in _tick_text(rc)  # the model was neither rebuilt nor touched


def test_valid_parameter_rebuilds_the_model() -> None:
    _, rc = _render()
    _click(rc, "Step")
    rc.find(v.TextField, label="spread.alpha").widget.v_model = "0.05"
    _click(rc, "Apply and reset")
    assert not [w for w in rc.find(v.Alert).widgets if "spread.alpha" in str(w.children)]
    assert "tick 0 " in _tick_text(rc)


def test_two_sessions_have_independent_models() -> None:
    _, rc1 = _render()
    _, rc2 = _render()
    _click(rc1, "Step")
    _click(rc1, "Step")
    assert "tick 2 " in _tick_text(rc1)
    assert "tick 0 " in _tick_text(rc2)


def test_picking_a_scenario_builds_its_model() -> None:
    _, rc = _render()
    rc.find(v.Select, label="Scenario").widget.v_model = "coherence_backprop"
    assert "5 nodes" in _tick_text(rc)  # the chain of five scales
