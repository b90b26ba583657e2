"""Error-message helpers shared by every validator (SPEC 10): the nearest valid name, and
pydantic's first error as one plain sentence.

A leaf module: parameters, stimuli, scenario files and sweeps all phrase their "did you mean"
hints and their validation errors through these two functions, so the wording is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import ValidationError


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to a misspelt ``word``, or None.

    Matches the whole name first, then (for dotted names) the last part alone, ignoring case,
    so ``delta_e`` finds ``decay.delta_E``.
    """
    candidates = list(candidates)
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.5)
    if not close:
        tails = {c.split(".")[-1].lower(): c for c in candidates}
        close = [tails[m] for m in difflib.get_close_matches(word.split(".")[-1].lower(), list(tails), n=1, cutoff=0.6)]
    return close[0] if close else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest candidate, or ``""`` when nothing is close."""
    near = nearest(word, candidates)
    return f"; did you mean '{near}'?" if near else ""


def first_error(exc: ValidationError) -> tuple[tuple[str | int, ...], str, str]:
    """Pydantic's first error as ``(location, error type, message)``, the message without
    pydantic's ``"Value error, "`` prefix (a validator's own text reads as written)."""
    err = exc.errors()[0]
    return tuple(err["loc"]), err["type"], err["msg"].removeprefix("Value error, ")
