"""Observability events (SPEC 4.5, 4.8, 5.5): a list of JSON-ready dicts, written to events.jsonl."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


class EventLog:
    """Append-only log of ``{"event": name, "tick": t, ...}`` records."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def emit(self, name: str, tick: float, **fields: Any) -> None:
        self.records.append({"event": name, "tick": _plain(tick), **{k: _plain(v) for k, v in fields.items()}})

    def of(self, name: str) -> list[dict[str, Any]]:
        """All records of one event kind."""
        return [r for r in self.records if r["event"] == name]

    def to_jsonl(self) -> str:
        return "".join(json.dumps(r, sort_keys=False, allow_nan=False) + "\n" for r in self.records)


def _plain(v: Any) -> Any:
    """numpy scalars/arrays → plain Python; floats rounded to 12 significant digits; NaN → None."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_plain(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not np.isfinite(v):
            return None
        return float(f"{v:.12g}")
    return v
