"""Parameter controls generated from the validated parameter sections (model.params).

Every key gets a control from its pydantic field: a switch for booleans, a menu for fixed
choices, a text field (parsed as TOML, like ``--set``) for numbers, strings and tables, with the
allowed range from ``Field(ge/gt/le/lt)`` shown underneath. Edits are checked with
``model.params.resolve`` (through the scenario) before any model sees them; an invalid value
is refused in the page with the message, and the model is left as it was.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any

import solara

from model import ParameterError
from model.keys import to_dotted
from model.overrides import parse_value
from model.params import Params, bounds
from scenarios.loader import NARRATIVE_SECTIONS, Scenario

from .session import Session, needs_restart

MAX_DEFAULT_KEYS = 14
# useful knobs per mechanism, shown when that mechanism is on
BY_MECHANISM = {
    "controller": ["controller.enabled", "controller.rho_target", "controller.k_p"],
    "spread": ["spread.alpha", "learning.budget"],
    "load": ["load.rate"],
    "phase": ["phase.T", "phase.K"],
    "coherence": ["coherence.eta", "coherence.target"],
    "persistence": ["persistence.kappa", "persistence.coupling", "persistence.survival"],
    "always": ["decay.delta_E", "decay.delta_W", "graph.depth"],
}


@dataclass(frozen=True)
class FieldSpec:
    key: str
    kind: str  # "bool", "choice", "text"
    choices: tuple[Any, ...]
    doc: str
    allowed: str
    is_str: bool


def _allowed(key: str) -> str:
    """The range from a field's ``Field(ge/gt/le/lt)`` limits, e.g. ``0 ≤ x ≤ 1``."""
    lo = hi = ""
    for sym, bound, _ in bounds(key):
        if sym in "≥>":
            lo = f"{bound:g} {'≤' if sym == '≥' else '<'} "
        else:
            hi = f" {sym} {bound:g}"
    return f"{lo}x{hi}" if lo or hi else ""


def field_specs() -> dict[str, FieldSpec]:
    """One spec per dotted key, in the order of the parameter sections."""
    out: dict[str, FieldSpec] = {}
    for s, sec in Params.model_fields.items():
        for f, info in sec.annotation.model_fields.items():
            ann = info.annotation
            key = f"{s}.{f}"
            if ann is bool:
                kind, choices = "bool", (True, False)
            elif typing.get_origin(ann) is typing.Literal:
                kind, choices = "choice", typing.get_args(ann)
            else:
                kind, choices = "text", ()
            out[key] = FieldSpec(key, kind, choices, info.description or "", _allowed(key), ann is str)
    return out


SPECS = field_specs()


def mentioned_keys(sc: Scenario) -> list[str]:
    """Parameter keys named in the scenario's narrative, in order of appearance."""
    text = " ".join(getattr(sc.narrative, k) for k in NARRATIVE_SECTIONS)
    found = []
    for m in re.finditer(r"\b[a-z_]+\.[A-Za-z_]+\b", text):
        if m.group(0) in SPECS and m.group(0) not in found:
            found.append(m.group(0))
    return found


def default_keys(sc: Scenario, params: Params) -> list[str]:
    """The most useful keys of a scenario: those its narrative names, those it sets, then per mechanism."""
    from model.keys import flatten

    own = [k for k in flatten(sc.params) if k in SPECS and not k.startswith(("types.", "graph.lateral", "graph.w0"))]
    keys = mentioned_keys(sc) + own
    on = {
        "controller": params.controller.enabled,
        "spread": params.spread.alpha > 0,
        "load": params.load.rate > 0,
        "phase": params.phase.enabled,
        "coherence": params.coherence.enabled,
        "persistence": params.persistence.enabled,
        "always": True,
    }
    for mech, extra in BY_MECHANISM.items():
        if on[mech]:
            keys += extra
    out: list[str] = []
    for k in keys:
        if k not in out:
            out.append(k)
    return out[:MAX_DEFAULT_KEYS]


def show(v: Any, exact: bool = False) -> str:
    """A parameter value as the text a user would type (TOML); floats to 6 digits unless ``exact``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if exact else f"{v:.6g}"
    if isinstance(v, dict):
        inner = (f"{k} = {show(x, exact) if not isinstance(x, str) else repr(x)}" for k, x in v.items())
        return "{" + ", ".join(inner) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(show(x, exact) if not isinstance(x, str) else repr(x) for x in v) + "]"
    return str(v)


def parse_edit(key: str, value: Any) -> Any:
    """A control's value → the parameter value (text fields are TOML, strings stay strings)."""
    spec = SPECS[key]
    if spec.kind != "text":
        return value
    text = str(value).strip()
    if spec.is_str:
        return text.strip("\"'")
    return parse_value(text)


def bad_key(message: str) -> str | None:
    m = re.search(r"parameter '([^']+)'", message)
    return m.group(1) if m else None


@solara.component
def ParamField(key: str, value: Any, on_value: Any, error: str) -> None:
    spec = SPECS[key]
    hint = " · ".join(x for x in (spec.allowed, spec.doc) if x)
    if spec.kind == "bool":
        with solara.Tooltip(hint or key):
            solara.Switch(label=key, value=bool(value), on_value=on_value)
    elif spec.kind == "choice":
        solara.Select(key, values=list(spec.choices), value=value, on_value=on_value)
    else:
        solara.InputText(
            key,
            value=str(value),
            on_value=on_value,
            continuous_update=True,
            error=error or False,
            message=error or hint,
            hide_details=False,
        )


@solara.component
def ParamForm(session: Session, on_live: Any, on_restart: Any) -> None:
    """The scenario's most useful parameters, every parameter on request, one Apply button.

    The fields show the running model's values; a scenario's scheduled change (e.g. the load
    doubling) shows up as it happens (the form re-renders only when the parameters change).
    """
    changed, set_changed = solara.use_state(0)
    seen = solara.use_ref(session.model.params)
    counter = solara.use_ref(0)

    def watch() -> Any:
        def check(status: dict[str, Any]) -> None:
            if status["params"] is not seen.current:
                seen.current = status["params"]
                counter.current += 1
                set_changed(counter.current)

        session.watch(id(check), check)
        return lambda: session.unwatch(id(check))

    solara.use_effect(watch, [session])
    _ = changed
    current = to_dotted(session.model.params)
    keys = solara.use_memo(lambda: default_keys(session.scenario, session.model.params), dependencies=[session])
    edits, set_edits = solara.use_state({})
    message, set_message = solara.use_state("")
    notice, set_notice = solara.use_state("")
    show_all, set_show_all = solara.use_state(False)
    wrong = bad_key(message) if message else None

    def value_of(key: str) -> Any:
        if key in edits:
            return edits[key]
        return current[key] if SPECS[key].kind != "text" else show(current[key])

    def edit(key: str, value: Any) -> None:
        set_edits({**edits, key: value})
        set_message("")
        set_notice("")

    def changes() -> dict[str, Any]:
        out = {}
        for key, value in edits.items():
            parsed = parse_edit(key, value)
            if parsed != current[key]:
                out[key] = parsed
        return out

    def apply() -> None:
        try:
            changed = changes()
            if not changed:
                set_notice("Nothing to apply: no value differs from the running model.")
                return
            merged = session.validate(changed)  # refuses an invalid value before any model sees it
        except ParameterError as exc:
            set_message(str(exc))
            set_notice("")
            return
        set_message("")
        listing = ", ".join(f"{k} = {show(v)}" for k, v in changed.items())
        if any(needs_restart(k, session.model.params) for k in changed):
            on_restart(merged, f"Restarted with {listing}.")
        else:
            try:
                on_live(changed)  # validated again against the running values (a schedule may have changed some)
            except ParameterError as exc:
                set_message(str(exc))
                return
            set_edits({})
            set_notice(f"Applied at tick {session.tick}: {listing}. Reset restarts the run with these values.")

    def field(key: str) -> None:
        ParamField(key, value_of(key), lambda v, k=key: edit(k, v), message if key == wrong else "")

    with solara.Card("Parameters", margin=0, style={"margin-top": "12px"}):
        solara.HTML(
            tag="div",
            unsafe_innerHTML="Change a value and press <b>Apply</b>: most take effect at once; the graph's shape, "
            "types and clocks need a restart (Apply does it).",
            style="font-size: 14px",
        )
        for key in keys:
            field(key)
        solara.Switch(label="Show all parameters", value=show_all, on_value=set_show_all)
        if show_all:
            section = ""
            for key in SPECS:
                if key in keys:
                    continue
                if key.split(".")[0] != section:
                    section = key.split(".")[0]
                    solara.v.Html(tag="div", children=[section], class_="font-weight-bold mt-3")
                field(key)
        with solara.Row():
            solara.Button("Apply", on_click=apply, color="primary", icon_name="mdi-check")
            solara.Button(
                "Scenario values",
                on_click=lambda: on_restart({}, "Restarted with the scenario's own values."),
                outlined=True,
                icon_name="mdi-restore",
            )
        if message:
            solara.Error(f"Not applied: {message}")
        if notice:
            solara.Info(notice)
