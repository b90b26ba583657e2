"""Sweep designs (SPEC 9.3): from command-line flags to the list of runs.

:func:`build_spec` puts the flags over a scenario's ready ``[sweep]`` table and validates the
result (:class:`scenarios.sweep_spec.SweepSpec`); :func:`make_tasks` loads the scenario,
expands the design — a grid (first key slowest) crossed with Latin-hypercube (scipy.stats.qmc)
or Sobol/Saltelli (SALib) samples of the ranges, times the replicates — checks every point
against the parameter table, and gives each run its id and a seed derived from the sweep seed,
its parameters and its replicate. Nothing runs and nothing is written here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from model.messages import first_error
from model.overrides import parse_assignments, parse_value
from model.params import ParameterError, field_of
from scenarios.loader import Scenario, ScenarioError, load_scenario
from scenarios.sweep_spec import FLAGS, SweepError, SweepSpec

SAMPLE_DIGITS = 12  # sampled values are rounded to the digits runs.csv shows, so the file holds what was run


@dataclass
class Task:
    """One run: what a worker needs (the scenario travels parsed, so remote workers need no files)."""

    run_id: str
    point_index: int
    replicate: int
    seed: int
    point: dict[str, Any]
    scenario: Scenario
    ticks: int | None
    fixed: dict[str, Any]
    keep_timeseries: bool
    every: int = 1


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """``["a.b=1,2,3", …]`` → ``{"a.b": [1, 2, 3]}`` (values parsed like ``--set``)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise SweepError(f"--grid expects key=v1,v2,…, got {item!r}")
        if key.strip() in out:
            raise SweepError(f"--grid {key.strip()} is given twice; give all its values in one --grid key=v1,v2,…")
        out[key.strip()] = [parse_value(v.strip()) for v in values.split(",")]
    return out


def parse_ranges(items: Iterable[str]) -> dict[str, tuple[float, float]]:
    """``["a.b=0.1:0.5"]`` → ``{"a.b": (0.1, 0.5)}``; lo must not exceed hi."""
    out: dict[str, tuple[float, float]] = {}
    for item in items:
        key, sep, span = item.partition("=")
        lo_text, colon, hi_text = span.partition(":")
        if not sep or not colon or not key.strip():
            raise SweepError(f"--range expects key=lo:hi, got {item!r}")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise SweepError(f"--range expects key=lo:hi with numbers, got {item!r}") from None
        if key.strip() in out:
            raise SweepError(f"--range {key.strip()} is given twice; give it once")
        out[key.strip()] = (lo, hi)
    return out


def build_spec(
    scenario: str,
    *,
    ready: bool = False,
    grid: Iterable[str] = (),
    ranges: Iterable[str] = (),
    lhs: int | None = None,
    sobol: int | None = None,
    replicates: int | None = None,
    ticks: int | None = None,
    sets: Iterable[str] = (),
    seed: int | None = None,
    timeseries: str | None = None,
    every: int | None = None,
    common_seeds: bool = False,
) -> SweepSpec:
    """The sweep the command line asks for: the scenario's ``[sweep]`` table (with ``ready``), then the flags.

    A flag overrides the table for its key: ``--grid k`` replaces k's range or fixed value,
    ``--range k`` its grid or fixed value, ``--set k`` takes k out of the grid and ranges.

    Raises:
        SweepError: for a malformed flag or a specification that cannot run (see ``sweep_spec.check``).
    """
    if lhs and sobol:
        raise SweepError("choose one of --lhs and --sobol")
    spec: dict[str, Any] = SweepSpec().model_dump(exclude={"description"})
    if ready:
        table = _load(scenario).sweep
        if table is None:
            raise SweepError(f"scenario '{scenario}' has no ready [sweep] table (give --grid or --range instead)")
        spec.update(table.model_dump(exclude={"description"}))
    spec["scenario"] = str(scenario)
    new_grid, new_ranges = parse_grid(grid), parse_ranges(ranges)
    try:
        new_fixed = parse_assignments(list(sets))
    except ParameterError as exc:
        raise SweepError(str(exc)) from None
    for key in new_grid:
        spec["ranges"].pop(key, None), spec["fixed"].pop(key, None)
    for key in new_ranges:
        spec["grid"].pop(key, None), spec["fixed"].pop(key, None)
    for key in new_fixed:
        spec["grid"].pop(key, None), spec["ranges"].pop(key, None)
    spec["grid"].update(new_grid)
    spec["ranges"].update(new_ranges)
    spec["fixed"].update(new_fixed)
    if lhs or sobol:
        spec["design"], spec["samples"] = ("lhs", lhs) if lhs else ("sobol", sobol)
    if not spec["ranges"] and spec["design"] != "grid" and (lhs or sobol):
        raise SweepError(f"--{spec['design']} N samples the --range parameters: give at least one --range key=lo:hi")
    if not spec["ranges"]:
        spec["design"], spec["samples"] = "grid", 0  # a ready table's ranges all overridden: a plain grid
    spec["replicates"] = replicates or spec["replicates"]
    spec["ticks"] = ticks or spec["ticks"]
    spec["seed"] = seed if seed is not None else spec["seed"]
    spec["timeseries"] = timeseries or spec["timeseries"]
    spec["every"] = every or spec["every"]
    spec["common_seeds"] = common_seeds or spec["common_seeds"]
    try:
        return SweepSpec.model_validate(spec, context={"flags": True})
    except ValidationError as exc:
        loc, _, msg = first_error(exc)
        raise SweepError(f"{FLAGS.get(str(loc[0]), loc[0])}: {msg}" if loc else msg) from None


def _load(scenario: str | Path) -> Scenario:
    try:
        return load_scenario(scenario)
    except ScenarioError as exc:
        raise SweepError(str(exc)) from None


def varied_keys(spec: dict[str, Any]) -> list[str]:
    """The parameters a stored sweep spec varies: its grid keys, then its range keys (a key is in one only)."""
    return list(dict.fromkeys([*spec.get("grid", {}), *spec.get("ranges", {})]))


def design_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The parameter points of the design in a fixed order: grid (first key slowest) × sampled points."""
    grid = [dict(zip(spec.grid, combo, strict=True)) for combo in itertools.product(*spec.grid.values())]
    sampled = sample_ranges(spec) if spec.ranges else [{}]
    return [{**g, **s} for g in grid for s in sampled]


def sample_ranges(spec: SweepSpec) -> list[dict[str, Any]]:
    """LHS (scipy.stats.qmc) or Sobol/Saltelli (SALib, first-order and total indices) points, seeded."""
    keys = list(spec.ranges)
    spans = [list(spec.ranges[k]) for k in keys]
    if spec.design == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(keys), rng=spec.seed).random(spec.samples)
        values = qmc.scale(unit, [b[0] for b in spans], [b[1] for b in spans])
    elif spec.design == "sobol":
        from SALib.sample import sobol as sobol_sample

        values = sobol_sample.sample(sobol_problem(spec), spec.samples, calc_second_order=False, seed=spec.seed)
    else:
        raise SweepError(f"design {spec.design!r} does not sample ranges")
    return [{k: _typed(k, float(v)) for k, v in zip(keys, row, strict=True)} for row in values]


def sobol_problem(spec: SweepSpec | dict[str, Any]) -> dict[str, Any]:
    """The SALib problem of a Sobol design (the same for sampling and for `cohlab analyze`)."""
    ranges = spec.ranges if isinstance(spec, SweepSpec) else spec["ranges"]
    keys = list(ranges)
    return {"num_vars": len(keys), "names": keys, "bounds": [[float(a), float(b)] for a, b in ranges.values()]}


def _typed(key: str, value: float) -> int | float:
    """Integer parameters are rounded; floats keep the digits runs.csv shows."""
    if field_of(key).annotation is int:
        return round(value)
    return float(f"{value:.{SAMPLE_DIGITS}g}")


def derive_seed(base: int, point: dict[str, Any], replicate: int) -> int:
    """A 63-bit run seed from the sweep seed, the run's parameters and its replicate (SHA-256 of canonical JSON)."""
    text = json.dumps({"seed": base, "point": point, "replicate": replicate}, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & (2**63 - 1)


def make_tasks(spec: SweepSpec) -> list[Task]:
    """Validate the whole sweep and expand it into runs; raises SweepError before any run starts."""
    sc = _load(spec.scenario)
    points = design_points(spec)
    for point in points:
        try:
            sc.resolve_params({**spec.fixed, **point})
        except ParameterError as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in point.items()) or "the fixed parameters"
            raise SweepError(f"design point {where}: {exc}") from None
    width = max(5, len(str(len(points) * spec.replicates)))
    tasks = []
    for k, ((i, point), rep) in enumerate(itertools.product(enumerate(points), range(spec.replicates))):
        tasks.append(
            Task(
                run_id=f"r{k + 1:0{width}d}",
                point_index=i + 1,
                replicate=rep,
                seed=derive_seed(spec.seed, {} if spec.common_seeds else point, rep),
                point=point,
                scenario=sc,
                ticks=spec.ticks,
                fixed=spec.fixed,
                keep_timeseries=spec.timeseries == "every",
                every=spec.every,
            )
        )
    return tasks
