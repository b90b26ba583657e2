"""Load and validate scenario files (SPEC 7, 10).

A scenario file has the tables ``[scenario]`` (name, title, source seed, ticks, tracked
nodes, which summary metrics to compute), ``[narrative]`` (the six classroom sections),
``[params.*]`` (parameter overrides, validated like ``--set``), ``[[stimuli]]`` (the
schedule), optionally ``[view]`` (how the app tells the scenario's story, SPEC 9.4) and
``[sweep]`` (a ready sweep definition). Everything is validated
before anything runs; errors name the file, the key and what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from model.keys import flatten, parameter_keys, resolve, unknown_key_message
from model.messages import did_you_mean, first_error
from model.params import ParameterError, Params, field_of
from model.stimuli import Selector, Stimulus

from .sweep_spec import SweepSpec

SCENARIO_DIR = Path(__file__).resolve().parent
NARRATIVE_SECTIONS = ("what_it_is", "how_it_works", "how_to_use_it", "things_to_notice", "things_to_try", "sources")
NARRATIVE_TITLES = dict(
    zip(
        NARRATIVE_SECTIONS,
        ("WHAT IT IS", "HOW IT WORKS", "HOW TO USE IT", "THINGS TO NOTICE", "THINGS TO TRY", "SOURCES"),
        strict=True,
    )
)


class ScenarioError(ValueError):
    """A scenario cannot be found or is not valid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Header(_Strict):
    name: str
    title: str
    source: str = Field(description="seed document(s) the scenario comes from")
    ticks: int = Field(ge=1, le=10_000_000)
    tracked: list[Selector] = Field(default_factory=list)
    metrics: str = Field("generic", description="which summary metrics analysis computes")
    extends: str | None = Field(
        None, description="a bundled scenario whose params, stimuli and tracked nodes this one starts from"
    )

    @field_validator("source")
    @classmethod
    def _source_is_a_document(cls, text: str) -> str:
        """ "seed 003 (…)" names a source document, not the random seed beside it in the app: say so."""
        return re.sub(r"^seed (\d{3})\b", r"seed document \1", text.strip())


class Narrative(_Strict):
    what_it_is: str
    how_it_works: str
    how_to_use_it: str
    things_to_notice: str
    things_to_try: str
    sources: str


class ViewSpec(_Strict):
    """How the browser app tells the scenario's story (SPEC 9.4).

    ``colour`` is the node quantity that colours the graph (the one that moves in this
    scenario), over ``colour_range`` [lo, hi] when given (in the quantity's own units; E and W
    are drawn on a log scale); ``charts`` are the app's chart keys that carry the scenario's
    point, shown first and in this order (checked by the app, which owns the charts);
    ``switches`` are boolean parameters shown beside the charts, so that a class can flip them
    and compare runs; ``marks`` gives short chart labels to the schedule's moments, by tick
    (the stimulus's note is used otherwise).
    """

    colour: Literal["R", "C", "E", "w", "W", "gamma", "phi", "pressure", "type"] | None = None
    colour_range: tuple[float, float] | None = None
    charts: list[str] = Field(default_factory=list)
    switches: list[str] = Field(default_factory=list)
    marks: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ViewSpec:
        valid = set(parameter_keys())
        for key in self.switches:
            if key not in valid:
                raise ValueError(unknown_key_message(key, "parameter in [view] switches"))
            if field_of(key).annotation is not bool:
                raise ValueError(f"[view] switches: '{key}' is not a true/false parameter")
        if self.colour_range is not None and not self.colour_range[0] < self.colour_range[1]:
            raise ValueError(f"[view] colour_range must be [lo, hi] with lo < hi, got {list(self.colour_range)}")
        for tick in self.marks:
            try:
                float(tick)
            except ValueError:
                raise ValueError(f"[view] marks: '{tick}' is not a tick (a number such as \"600\")") from None
        return self


class Scenario(_Strict):
    """A validated scenario."""

    scenario: Header
    narrative: Narrative
    params: dict[str, Any] = Field(default_factory=dict)
    stimuli: list[Stimulus] = Field(default_factory=list)
    view: ViewSpec = Field(default_factory=ViewSpec)
    sweep: SweepSpec | None = None
    path: str = ""

    @property
    def name(self) -> str:
        return self.scenario.name

    def resolve_params(self, overrides: dict[str, Any] | None = None) -> Params:
        """The scenario's parameters with overrides applied (validated)."""
        return resolve(flatten(self.params), overrides or {})


def list_scenarios() -> list[str]:
    """Names of the bundled scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def scenario_path(name_or_path: str | Path) -> Path:
    """A bundled scenario's file, or the given path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    bundled = SCENARIO_DIR / f"{name_or_path}.toml"
    if p.suffix != ".toml" and bundled.is_file():  # a bundled name wins over a same-named folder (e.g. an --out)
        return bundled
    if p.is_dir():
        raise ScenarioError(f"scenario path '{p}' is a directory, not a scenario file: give a .toml file or a name")
    if p.exists():
        raise ScenarioError(f"scenario path '{p}' is not a regular file")
    if p.suffix == ".toml":
        raise ScenarioError(f"scenario file '{p}' does not exist")
    hint = did_you_mean(str(name_or_path), list_scenarios())
    raise ScenarioError(
        f"unknown scenario '{name_or_path}'{hint} (available: {', '.join(list_scenarios())}, or a path to a .toml file)"
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read, parse and validate a scenario (its parameters included)."""
    path = scenario_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario file '{path}': TOML syntax error: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario file '{path}' cannot be read: {exc}") from None
    return parse_scenario(inherit(data, str(path)), str(path))


def inherit(data: dict[str, Any], where: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Apply ``[scenario] extends = "NAME"``: the base's ``[params]`` under this file's (a deep merge), and
    its ``[[stimuli]]`` and ``tracked`` unless this file gives its own (``stimuli = []`` for none)."""
    header = data.get("scenario")
    base_name = header.get("extends") if isinstance(header, dict) else None
    if base_name is None:
        return data
    if not isinstance(base_name, str) or base_name not in list_scenarios():
        raise ScenarioError(
            f"scenario file '{where}': scenario.extends: {base_name!r} is not a bundled scenario "
            f"(available: {', '.join(list_scenarios())})"
        )
    seen = seen or (str(header.get("name", where)),)
    if base_name in seen:
        raise ScenarioError(f"scenario file '{where}': scenario.extends: a cycle ({' → '.join([*seen, base_name])})")
    path = SCENARIO_DIR / f"{base_name}.toml"
    base = inherit(tomllib.loads(path.read_text(encoding="utf-8")), str(path), (*seen, base_name))
    out = {**data, "params": _merge(base.get("params", {}), data.get("params", {}))}
    if "stimuli" not in data and "stimuli" in base:
        out["stimuli"] = base["stimuli"]
    if "tracked" not in header and "tracked" in base.get("scenario", {}):
        out["scenario"] = {**header, "tracked": base["scenario"]["tracked"]}
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parse_scenario(data: dict[str, Any], where: str = "<scenario>") -> Scenario:
    """Validate an already-parsed scenario table."""
    try:
        sc = Scenario.model_validate({**data, "path": where})
    except ValidationError as exc:
        where_loc, kind, msg = first_error(exc)
        loc = ".".join(str(x) for x in where_loc)
        if kind == "extra_forbidden":
            msg = f"unknown key (allowed here: {_allowed(where_loc)})"
        elif kind == "missing":
            msg = "required key is missing"
        raise ScenarioError(f"scenario file '{where}': {loc}: {msg}") from None
    try:
        sc.resolve_params()
    except ParameterError as exc:
        raise ScenarioError(f"scenario file '{where}': {exc}") from None
    return sc


def _allowed(loc: tuple) -> str:
    tables = {
        (): Scenario,
        ("scenario",): Header,
        ("narrative",): Narrative,
        ("sweep",): SweepSpec,
        ("view",): ViewSpec,
    }
    key = tuple(x for x in loc[:-1] if not isinstance(x, int))
    model = tables.get(key, Stimulus if key[:1] == ("stimuli",) else None)
    if key[-1:] == ("select",) or key[-1:] == ("tracked",):
        model = Selector
    if model is None:
        return "see the docs"
    hidden = {"path"} | ({"scenario"} if model is SweepSpec else set())  # not table keys
    return ", ".join(info.alias or f for f, info in model.model_fields.items() if f not in hidden)


def narrative_text(sc: Scenario) -> str:
    """The narrative as plain text with the classroom headings."""
    parts = []
    for key in NARRATIVE_SECTIONS:
        parts.append(f"{NARRATIVE_TITLES[key]}\n{getattr(sc.narrative, key).strip()}\n")
    return "\n".join(parts)
