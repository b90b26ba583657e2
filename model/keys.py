"""Dotted parameter keys (SPEC 9.1, 10): listing, flattening, merging and validating them.

Parameters are addressed as ``section.field`` (``decay.delta_E``) on the command line, in
scenario files, sweeps and the app. :func:`resolve` merges layers of dotted keys (later wins),
refuses unknown keys with the nearest valid name, and validates the result against the schema
(:mod:`model.params`); :func:`to_dotted` turns a validated ``Params`` back into dotted keys.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .messages import did_you_mean, first_error
from .params import ParameterError, Params

_DICT_VALUED = {"types.by_scale", "types.fractions"}


def parameter_keys() -> list[str]:
    """All dotted parameter keys, e.g. ``decay.delta_E``."""
    return [f"{s}.{f}" for s, sec in Params.model_fields.items() for f in sec.annotation.model_fields]


def parameter_table() -> list[dict[str, Any]]:
    """One row per parameter: key, default, description (the README's reference)."""
    defaults = Params()
    rows = []
    for s, sec in Params.model_fields.items():
        for f, info in sec.annotation.model_fields.items():
            rows.append({"key": f"{s}.{f}", "default": getattr(getattr(defaults, s), f), "doc": info.description or ""})
    return rows


def unknown_key_message(key: str, where: str = "parameter") -> str:
    """``unknown parameter 'x'; did you mean 'y'?`` (or where to find the valid keys)."""
    hint = did_you_mean(key, parameter_keys()) or "; see `cohlab info SCENARIO` for the valid keys"
    return f"unknown {where} '{key}'{hint}"


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested section tables → dotted keys (dict-valued parameters stay whole)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key not in _DICT_VALUED:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def resolve(*layers: dict[str, Any]) -> Params:
    """Merge dotted-key layers (later wins), check keys, validate, and return Params.

    Raises:
        ParameterError: naming the key, the value and what is allowed.
    """
    valid = set(parameter_keys())
    nested: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for key, value in flatten(layer).items():
            if key not in valid:
                raise ParameterError(unknown_key_message(key))
            section, field = key.split(".", 1)
            nested.setdefault(section, {})[field] = value
    try:
        return Params.model_validate(nested)
    except ValidationError as exc:
        raise ParameterError(_describe(exc, nested)) from None


def _describe(exc: ValidationError, nested: dict[str, dict[str, Any]]) -> str:
    loc, _, msg = first_error(exc)
    parts = [str(x) for x in loc]
    key = ".".join(parts[:2]) if len(parts) >= 2 else (parts[0] if parts else "")
    if len(parts) >= 2 and parts[0] in nested and parts[1] in nested[parts[0]]:
        return f"parameter '{key}' = {nested[parts[0]][parts[1]]!r}: {msg.lower()}"
    return f"invalid parameters{f' in {key!r}' if key else ''}: {msg}"


def to_dotted(p: Params) -> dict[str, Any]:
    """Params → flat dotted dict (for params.json and sweeps)."""
    return flatten(p.model_dump(mode="json"))
