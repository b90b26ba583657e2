"""The sweep specification (SPEC 9.3): one definition for a scenario's ready ``[sweep]`` table
and for the sweep the command line asks for, and the one validator of both.

A scenario file's ``[sweep]`` table is validated with the scenario (labels such as
``[sweep] grid`` in the messages); ``cohlab sweep`` builds the same object from the table and
its flags (:func:`analysis.sweep.design.build_spec`) and validates it again with the flags'
names (``--grid``), before anything is written. ``grid`` maps parameter keys to value lists;
``ranges`` maps keys to ``[lo, hi]`` sampled by ``design = "lhs"`` or ``"sobol"`` with
``samples`` points (Sobol: base samples, a power of 2); ``set`` (``fixed``) fixes parameters
for every run. Values are checked against each parameter's own range here and again, point by
point, when the design is expanded.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from model.keys import parameter_keys, unknown_key_message
from model.params import bounds, field_of

DESIGNS = ("grid", "lhs", "sobol")
# The most runs one sweep may have. Each run is a process's work plus its own files and a row of
# runs.csv, and every design point is validated before the first run starts: a design beyond this
# is refused up front (in milliseconds, from its size alone) rather than expanded for minutes.
MAX_RUNS = 100_000


class SweepError(ValueError):
    """A sweep specification, its output directory or its cluster is not usable."""


# How the validator names things: the command line's flags, or a scenario file's [sweep] keys.
FLAGS = {
    "grid": "--grid",
    "ranges": "--range",
    "fixed": "--set",
    "replicates": "--replicates",
    "ticks": "--ticks",
    "every": "--every",
    "timeseries": "--timeseries",
    "lhs": "--lhs",
    "sobol": "--sobol",
    "sample_flags": "needs --lhs N or --sobol N (how many points to sample)",
}
TABLE = {
    "grid": "[sweep] grid",
    "ranges": "[sweep] ranges",
    "fixed": "[sweep] set",
    "replicates": "[sweep] replicates",
    "ticks": "[sweep] ticks",
    "every": "[sweep] every",
    "timeseries": "[sweep] timeseries",
    "lhs": '[sweep] design = "lhs"',
    "sobol": '[sweep] design = "sobol"',
    "sample_flags": 'need design = "lhs" or "sobol" and samples',
}


class SweepSpec(BaseModel):
    """Everything that defines a sweep's runs (saved as ``spec.json``; ``--resume`` needs the same).

    In a scenario file it is the ``[sweep]`` table (``scenario`` left empty, ``set`` for
    ``fixed``); ``description`` is the table's own note and is not part of ``spec.json``.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    scenario: str = ""
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    design: Literal["grid", "lhs", "sobol"] = "grid"  # lhs/sobol sample `ranges`, crossed with `grid`
    samples: int = Field(0, ge=0, le=10_000_000)
    replicates: int = Field(1, ge=1, le=1_000_000)
    ticks: int | None = Field(None, ge=1, le=10_000_000)
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set")
    seed: int = Field(0, ge=0, description="sweep seed (run seeds derive from it)")
    timeseries: Literal["every", "summary"] = "every"
    every: int = Field(1, ge=1, description="keep ticks divisible by `every` in the sweep's timeseries")
    common_seeds: bool = Field(False, description="seeds from the sweep seed and replicate only (paired designs)")
    description: str = ""

    @property
    def varied(self) -> list[str]:
        return list(dict.fromkeys([*self.grid, *self.ranges]))

    def to_json(self) -> dict[str, Any]:
        """The fields that define the runs, as written to spec.json."""
        return self.model_dump(mode="json", exclude={"description"})

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> SweepSpec:
        if not (info.context or {}).get("flags"):
            if self.scenario:
                raise SweepError("a [sweep] table sweeps its own scenario: remove its 'scenario' key")
            check(self, TABLE)
        else:
            check(self, FLAGS)
        return self


def check(spec: SweepSpec, labels: dict[str, str] = FLAGS) -> None:
    """Everything that can be checked before a run starts, each failure one clear sentence.

    Raises:
        SweepError: naming the flag (or the table's key), the value and what is allowed.
    """
    valid = set(parameter_keys())
    seen: dict[str, str] = {}
    for name, keys in (("grid", spec.grid), ("ranges", spec.ranges), ("fixed", spec.fixed)):
        flag = labels[name]
        for key in keys:
            if key not in valid:
                raise SweepError(unknown_key_message(key, f"parameter in {flag}"))
            if key in seen:
                raise SweepError(f"parameter '{key}' is given in both {seen[key]} and {flag}; give it once")
            seen[key] = flag
    for key, values in spec.grid.items():
        if not values:
            raise SweepError(f"{labels['grid']} {key}: no values")
        texts = [json.dumps(v, sort_keys=True) for v in values]
        dup = next((t for i, t in enumerate(texts) if t in texts[:i]), None)
        if dup is not None:
            raise SweepError(f"{labels['grid']} {key}: the value {dup} is listed twice")
    for key, (lo, hi) in spec.ranges.items():
        flag = labels["ranges"]
        if field_of(key).annotation not in (int, float):
            raise SweepError(f"{flag} {key}: only numeric parameters can be sampled (use a grid for this one)")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise SweepError(f"{flag} {key}: lo and hi must be finite numbers")
        if lo > hi:
            raise SweepError(f"{flag} {key}: lo ({lo:g}) is greater than hi ({hi:g}); give lo ≤ hi")
        _check_bound(flag, key, lo), _check_bound(flag, key, hi)
    if spec.ranges and spec.design == "grid":
        raise SweepError(f"{labels['ranges']} {labels['sample_flags']}")
    if spec.design != "grid" and (spec.samples < 1 or not spec.ranges):
        what = "a positive number of samples" if spec.ranges else f"ranges to sample ({labels['ranges']})"
        raise SweepError(f"{labels[spec.design]} needs {what}")
    if spec.design == "sobol" and spec.samples & (spec.samples - 1):
        lo = 1 << (spec.samples.bit_length() - 1)
        raise SweepError(f"{labels['sobol']} N must be a power of 2 for Sobol' sequences (try {lo} or {2 * lo})")
    for name, value in (("replicates", spec.replicates), ("ticks", spec.ticks or 1), ("every", spec.every)):
        if value < 1:
            raise SweepError(f"{labels[name]} must be at least 1, got {value}")
    runs, how = run_count(spec)
    if runs > MAX_RUNS:
        raise SweepError(
            f"the design has {runs:,} runs ({how}); a sweep may have at most {MAX_RUNS:,}, since every run writes "
            "its own files and every point is checked before the first run starts: use fewer points or "
            "replicates, or split the sweep"
        )


def run_count(spec: SweepSpec) -> tuple[int, str]:
    """How many runs a specification expands to, and how that number comes about (without expanding it)."""
    parts = [f"{len(v)} {k} values" for k, v in spec.grid.items()]
    points = math.prod(len(v) for v in spec.grid.values())
    if spec.design == "lhs":
        points *= spec.samples
        parts.append(f"{spec.samples:,} Latin-hypercube samples")
    elif spec.design == "sobol":
        points *= spec.samples * (len(spec.ranges) + 2)
        parts.append(f"{spec.samples:,} Sobol' base samples × ({len(spec.ranges)} ranges + 2)")
    parts.append(f"{spec.replicates:,} replicates")
    return points * spec.replicates, " × ".join(parts)


def _check_bound(flag: str, key: str, value: float) -> None:
    """A range end against the parameter's own bounds (its ge/gt/le/lt constraints)."""
    limits = bounds(key)
    if not all(ok(value, bound) for _, bound, ok in limits):
        allowed = " and ".join(f"{sym} {bound:g}" for sym, bound, _ in limits)
        raise SweepError(f"{flag} {key}: {value:g} is out of the parameter's range (allowed: {allowed})")
