"""The story bar above the charts: the scenario's switches, and pinning a run to compare the next one with it.

The classroom's most frequent question is "what if the controller were off?". The bar shows the
scenario's own switches (its ``[view] switches``: defences, controller, survival …) where the
charts are, and a Pin button: the current run is frozen and drawn dashed on every time chart
("pinned: …", naming what differs), and a fresh run starts at tick 0 with the same settings, so
that flipping a switch and pressing Play compares the two on the same axes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import solara

from model import ParameterError
from model.keys import to_dotted

from .session import Session, needs_restart
from .views import pinned_label


@solara.component
def StoryBar(
    session: Session,
    pinned: Session | None,
    on_pin: Callable[[], None],
    on_unpin: Callable[[], None],
    on_live: Callable[[dict[str, Any]], None],
    on_restart: Callable[[dict[str, Any], str], None],
) -> None:
    """Switches and pin controls (keyed by the session by the caller, so they follow a new run)."""
    current = to_dotted(session.model.params)
    keys = list(session.scenario.view.switches)
    values, set_values = solara.use_state({k: bool(current[k]) for k in keys})
    error, set_error = solara.use_state("")

    def flip(key: str, value: bool) -> None:
        set_error("")
        if needs_restart(key, session.model.params):
            on_restart({**session.overrides, key: value}, f"Restarted with {key} = {str(value).lower()}.")
            return
        try:
            on_live({key: value})
        except ParameterError as exc:
            set_error(str(exc))
            return
        set_values({**values, key: value})

    style = {"align-items": "center", "flex-wrap": "wrap", "gap": "4px 18px", "padding": "2px 4px"}
    with solara.Row(style=style, classes=["story-bar"]):
        for key in keys:
            solara.Switch(label=key, value=values[key], on_value=lambda v, k=key: flip(k, v))
        if pinned is None or pinned.scenario.name != session.scenario.name:
            solara.Button(
                "Pin this run",
                icon_name="mdi-pin",
                on_click=on_pin,
                outlined=True,
                style={"font-size": "15px"},
            )
            solara.Text(
                "then change a switch or a parameter and play: both runs share the axes",
                style={"font-size": "14px", "color": "#555"},
            )
        else:
            solara.Text(
                f"{pinned_label(pinned, session)} (dashed), tick {pinned.tick}",
                style={"font-size": "15px", "color": "#333"},
            )
            solara.Button("Unpin", icon_name="mdi-pin-off", on_click=on_unpin, outlined=True)
    if error:
        solara.Error(error)
