"""Command-line values (SPEC 9.1): ``--set key=value`` and the app's text fields.

A value is read as TOML (numbers, booleans, arrays, inline tables), and as a plain string when
it is not valid TOML; validation against the parameter table happens later, in
:func:`model.keys.resolve`.
"""

from __future__ import annotations

import tomllib
from typing import Any

from .params import ParameterError


def parse_value(text: str) -> Any:
    """Parse a command-line value as TOML (numbers, booleans, arrays, inline tables), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["decay.delta_E=0.1", …]`` → ``{"decay.delta_E": 0.1, …}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out
