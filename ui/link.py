"""The address bar carries the run: ``?scenario=NAME&seed=N&key=value…`` (SPEC 9.4).

:func:`make_query` writes the scenario, the seed and every parameter the user changed (values as
the TOML text ``--set`` takes, floats exactly); :func:`read_link` turns such a query back into what
the page builds, so a link opens the same model at the same tick-0 state. A link is checked
like any other input: an unknown scenario, an unknown parameter or an invalid value is named in
``Link.problems`` (shown on the page) and left out; the rest of the link still applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from model import ParameterError
from model.keys import parameter_keys
from model.messages import nearest
from model.overrides import parse_value
from scenarios.loader import load_scenario

from .params_form import SPECS, parse_edit, show

RESERVED = ("scenario", "seed")
DEFAULT_SEED = 1


@dataclass
class Link:
    """What a link asks for, as far as it is valid, and what was wrong with the rest."""

    scenario: str
    seed: int = DEFAULT_SEED
    overrides: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def make_query(scenario: str, seed: int, overrides: dict[str, Any]) -> str:
    """The query string (with its ``?``) for a run: scenario, seed, then the changed parameters."""
    pairs = [("scenario", scenario), ("seed", str(int(seed)))]
    pairs += [(k, v if isinstance(v, str) else show(v, exact=True)) for k, v in overrides.items()]
    return "?" + urlencode(pairs, quote_via=quote, safe=".,-_")


def read_link(search: str, scenarios: list[str], default: str) -> Link:
    """Parse ``?scenario=…&seed=…&key=value…``; the default scenario when the link names none or a wrong one.

    Args:
        search: the address's query string, with or without its leading ``?``.
        scenarios: the names of the scenarios that exist.
        default: the scenario opened when the link names none, or one that does not exist.

    Returns:
        The link's valid part and one sentence per problem (each naming the key or name at fault).
    """
    query: dict[str, str] = {}
    for key, value in parse_qsl(search.lstrip("?"), keep_blank_values=True):
        query[key.strip()] = value.strip()  # a repeated key: the last one wins, as in a form
    link = Link(default)
    name = query.pop("scenario", default)
    if name not in scenarios:
        near = nearest(name, scenarios)
        hint = f" (did you mean '{near}'?)" if near else ""
        extra = [k for k in query if k != "seed"]
        dropped = f"; its {len(extra)} parameter value(s) were meant for it and are not applied" if extra else ""
        link.problems.append(
            f"The link asks for the scenario '{name}', which does not exist{hint}. "
            f"The scenarios are: {', '.join(scenarios)}. Opened '{default}' instead{dropped}."
        )
        query = {k: v for k, v in query.items() if k == "seed"}
    else:
        link.scenario = name
    if "seed" in query:
        text = query.pop("seed")
        try:
            seed = int(text)
            if seed < 0:
                raise ValueError
            link.seed = seed
        except ValueError:
            link.problems.append(
                f"The link's seed '{text}' is not a whole number ≥ 0: seed {DEFAULT_SEED} is used instead."
            )
    if query:
        scenario = load_scenario(link.scenario)
        for key, text in query.items():
            if key not in SPECS:
                near = nearest(key, parameter_keys())
                hint = f" (did you mean '{near}'?)" if near else ""
                link.problems.append(f"The link names an unknown parameter '{key}'{hint}; it is ignored.")
                continue
            try:
                value = parse_edit(key, text) if SPECS[key].kind == "text" else parse_value(text)
                scenario.resolve_params({**link.overrides, key: value})
            except ParameterError as exc:
                link.problems.append(f"The link's value is not valid: {exc}. It is ignored.")
                continue
            link.overrides[key] = value
    return link
