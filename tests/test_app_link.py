"""The address bar carries the run: a link written by the page opens the same model (ui/link.py)."""

from __future__ import annotations

from urllib.parse import parse_qs

import numpy as np
import pytest

from scenarios.loader import list_scenarios
from ui.link import make_query, read_link
from ui.session import Session

SCENARIOS = list_scenarios()


def _read(query: str):
    return read_link(query, SCENARIOS, "criticality")


def test_a_link_written_by_the_page_reads_back_to_the_same_run() -> None:
    overrides = {
        "load.rate": 0.1 + 0.2,  # 0.30000000000000004: the link keeps every bit of a float
        "controller.enabled": False,
        "decay.delta_E": 1e-5,
        "types.fractions": {"memory": 0.25, "goal": 0.125},
    }
    query = make_query("criticality", 7, overrides)
    assert query.startswith("?scenario=criticality&seed=7&")
    link = _read(query)
    assert link.problems == []
    assert (link.scenario, link.seed) == ("criticality", 7)
    assert link.overrides == overrides
    assert link.overrides["load.rate"] == 0.1 + 0.2 != 0.3


def test_reopening_a_link_rebuilds_the_same_tick_0_state() -> None:
    changed = {"graph.depth": 3, "load.rate": 6.5}
    original = Session("criticality", 11, changed)
    link = _read(make_query("criticality", 11, changed))
    reopened = Session(link.scenario, link.seed, link.overrides)
    assert _arrays(original) == _arrays(reopened)
    assert original.model.state.rho == reopened.model.state.rho
    other = Session("criticality", 12, changed)  # the seed matters: the check can fail
    assert _arrays(other) != _arrays(original)


def _arrays(session: Session) -> dict[str, bytes]:
    """Every array of the model's graph and state, as bytes."""
    m = session.model
    out = {}
    for part in (m.graph, m.state):
        for name, value in vars(part).items():
            if isinstance(value, np.ndarray):
                out[f"{type(part).__name__}.{name}"] = value.tobytes()
    return out


def test_an_unknown_scenario_is_named_and_the_default_opens() -> None:
    link = _read("?scenario=bogus&seed=3&load.rate=2")
    assert link.scenario == "criticality" and link.seed == 3
    assert link.overrides == {}, "parameters meant for another scenario are not applied"
    (message,) = link.problems
    assert "'bogus'" in message and "does not exist" in message and "Opened 'criticality'" in message
    assert "did you mean 'persistence'" in _read("?scenario=persistance").problems[0]


def test_an_unknown_parameter_or_a_bad_value_is_named_and_the_rest_applies() -> None:
    link = _read("?scenario=persistence&seed=x&foo.bar=2&decay.delta_E=-3&load.rate=3")
    assert link.scenario == "persistence"
    assert link.seed == 1
    assert link.overrides == {"load.rate": 3}
    text = " | ".join(link.problems)
    assert len(link.problems) == 3, text
    assert "seed 'x'" in text
    assert "unknown parameter 'foo.bar'" in text
    assert "'decay.delta_E' = -3" in text
    assert "did you mean 'controller.enabled'" in _read("?controler.enabled=false").problems[0]


@pytest.mark.parametrize("query", ["", "?", "?seed=4"])
def test_no_scenario_in_the_link_opens_the_default_without_a_message(query: str) -> None:
    link = _read(query)
    assert link.scenario == "criticality" and link.problems == []


def test_switches_and_choices_travel_as_text() -> None:
    query = make_query("temperature_sweep", 2, {"phase.enabled": True, "controller.enabled": False})
    assert "phase.enabled=true" in query and "controller.enabled=false" in query
    assert parse_qs(query[1:])["seed"] == ["2"]
    assert _read(query).overrides == {"phase.enabled": True, "controller.enabled": False}
