"""Batch sweeps of one scenario (SPEC 8, 9.3): designs, executors, atomic per-run results, resume.

A sweep directory holds ``spec.json`` (the design, written first), ``runs/<run_id>.json`` and
``runs/<run_id>.csv`` (each written atomically by the parent process the moment its run
finishes), and at the end ``runs.csv`` and the long ``timeseries.csv`` assembled in design
order, so that the files are the same whatever the worker count or executor. ``--resume``
skips every run whose result file exists.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import tempfile
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from model.params import ParameterError, nearest_key, parameter_keys, parse_value
from scenarios.loader import load_scenario

from .export import FLOAT_FORMAT

RUNS_FIXED = ["run_id", "replicate", "seed"]
RUNS_TAIL = ["status", "error", "wall_s"]


class SweepError(ValueError):
    """A sweep specification or output directory is not usable."""


@dataclass
class SweepSpec:
    """Everything that defines a sweep's runs."""

    scenario: str
    grid: dict[str, list[Any]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    design: str = "grid"  # grid | lhs | sobol
    samples: int = 0
    replicates: int = 1
    ticks: int | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    timeseries: str = "every"  # every | summary

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        return d


@dataclass
class Task:
    run_id: str
    replicate: int
    seed: int
    point: dict[str, Any]
    scenario: str
    ticks: int | None
    fixed: dict[str, Any]
    keep_timeseries: bool


# ----------------------------------------------------------------------------- design


def parse_grid(items: tuple[str, ...] | list[str]) -> dict[str, list[Any]]:
    """``["a.b=1,2,3", …]`` → ``{"a.b": [1, 2, 3]}``."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise SweepError(f"--grid expects key=v1,v2,…, got {item!r}")
        out[key.strip()] = [parse_value(v.strip()) for v in values.split(",")]
    return out


def parse_ranges(items: tuple[str, ...] | list[str]) -> dict[str, tuple[float, float]]:
    """``["a.b=0.1:0.5"]`` → ``{"a.b": (0.1, 0.5)}``; lo must not exceed hi."""
    out: dict[str, tuple[float, float]] = {}
    for item in items:
        key, sep, span = item.partition("=")
        lo_text, colon, hi_text = span.partition(":")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise SweepError(f"--range expects key=lo:hi with numbers, got {item!r}") from None
        if not sep or not colon:
            raise SweepError(f"--range expects key=lo:hi, got {item!r}")
        if lo > hi:
            raise SweepError(f"--range {key.strip()}: lo ({lo:g}) is greater than hi ({hi:g})")
        out[key.strip()] = (lo, hi)
    return out


def design_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The parameter points of the design, in a fixed order (replicates not included)."""
    grid_keys = list(spec.grid)
    grid = [dict(zip(grid_keys, combo, strict=True)) for combo in itertools.product(*spec.grid.values())] or [{}]
    if spec.design == "grid" or not spec.ranges:
        sampled: list[dict[str, Any]] = [{}]
    else:
        sampled = _sample_ranges(spec)
    return [{**g, **s} for g in grid for s in sampled]


def _sample_ranges(spec: SweepSpec) -> list[dict[str, Any]]:
    keys = list(spec.ranges)
    lo = np.array([spec.ranges[k][0] for k in keys])
    hi = np.array([spec.ranges[k][1] for k in keys])
    if spec.samples < 1:
        raise SweepError(f"--{spec.design} needs a positive number of samples")
    if spec.design == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(keys), seed=spec.seed).random(spec.samples)
        values = qmc.scale(unit, lo, hi) if len(keys) else unit
    elif spec.design == "sobol":
        from SALib.sample import sobol as sobol_sample

        problem = {"num_vars": len(keys), "names": keys, "bounds": [[a, b] for a, b in zip(lo, hi, strict=True)]}
        values = sobol_sample.sample(problem, spec.samples, calc_second_order=False, seed=spec.seed)
    else:
        raise SweepError(f"unknown design {spec.design!r} (allowed: grid, lhs, sobol)")
    return [{k: _typed(k, float(v)) for k, v in zip(keys, row, strict=True)} for row in values]


def _typed(key: str, value: float) -> Any:
    """Round values of integer parameters."""
    from model.params import Params

    section, name = key.split(".", 1)
    ann = Params.model_fields[section].annotation.model_fields[name].annotation
    return round(value) if ann is int else value


def derive_seed(base: int, point: dict[str, Any], replicate: int) -> int:
    """A 63-bit seed from the sweep seed, the run's parameters and its replicate."""
    text = json.dumps({"seed": base, "point": point, "replicate": replicate}, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & (2**63 - 1)


def make_tasks(spec: SweepSpec) -> list[Task]:
    """Validate the whole design and expand it into runs; raises SweepError before any run starts."""
    valid = set(parameter_keys())
    for key in [*spec.grid, *spec.ranges, *spec.fixed]:
        if key not in valid:
            near = nearest_key(key)
            raise SweepError(f"unknown parameter '{key}'" + (f"; did you mean '{near}'?" if near else ""))
    if spec.replicates < 1:
        raise SweepError("--replicates must be at least 1")
    try:
        sc = load_scenario(spec.scenario)
    except ValueError as exc:
        raise SweepError(str(exc)) from None
    points = design_points(spec)
    for point in points:
        try:
            sc.resolve_params({**spec.fixed, **point})
        except ParameterError as exc:
            raise SweepError(f"design point {point}: {exc}") from None
    tasks = []
    width = max(5, len(str(len(points) * spec.replicates)))
    for k, (point, rep) in enumerate(itertools.product(points, range(spec.replicates))):
        tasks.append(
            Task(
                run_id=f"r{k + 1:0{width}d}",
                replicate=rep,
                seed=derive_seed(spec.seed, point, rep),
                point=point,
                scenario=spec.scenario,
                ticks=spec.ticks,
                fixed=spec.fixed,
                keep_timeseries=spec.timeseries == "every",
            )
        )
    return tasks


# ----------------------------------------------------------------------------- one run (in a worker)


def flatten_summary(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary → flat columns joined with '.', scalars only (lists become indexed columns)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_summary(v, key + "."))
        elif isinstance(v, list | tuple):
            if all(not isinstance(x, dict | list) for x in v):
                out.update({f"{key}.{i}": x for i, x in enumerate(v)})
        else:
            out[key] = v
    return out


def run_task(task: Task) -> dict[str, Any]:
    """Run one task; never raises for a model error (it becomes status 'failed')."""
    if os.environ.get("COHLAB_SWEEP_CRASH_RUN") == task.run_id:  # test hook: a worker dying mid-run
        os._exit(13)
    from analysis.export import timeseries_frame, to_csv_bytes
    from analysis.runner import run_scenario

    t0 = time.perf_counter()
    try:
        result = run_scenario(task.scenario, seed=task.seed, ticks=task.ticks, overrides={**task.fixed, **task.point})
        summary = flatten_summary(result.summary)
        ts = None
        if task.keep_timeseries:
            frame = timeseries_frame(result.model)
            frame.insert(0, "run_id", task.run_id)
            ts = to_csv_bytes(frame).decode()
        status, error = "ok", ""
    except Exception as exc:  # a failed run is recorded, the sweep goes on
        summary, ts, status = {}, None, "failed"
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if os.environ.get("COHLAB_SWEEP_TRACEBACK"):
            error += "\n" + traceback.format_exc()
    return {"summary": summary, "timeseries": ts, "status": status, "error": error, "wall_s": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- the sweep


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare(out: Path, spec: SweepSpec, resume: bool, force: bool) -> None:
    """Check the output directory before any run starts."""
    spec_file = out / "spec.json"
    if out.exists() and not out.is_dir():
        raise SweepError(f"output path '{out}' exists and is not a directory")
    if resume:
        if not spec_file.is_file():
            raise SweepError(f"nothing to resume in '{out}' (no spec.json)")
        old = json.loads(spec_file.read_text())
        if old != spec.to_json():
            raise SweepError(f"'{out}' holds a different sweep; resume needs the same specification")
        return
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SweepError(f"output directory '{out}' exists and is not empty (use --resume or --force)")
    if not out.parent.exists():
        raise SweepError(f"the parent directory of '{out}' does not exist")


def check_scheduler(address: str, timeout: float = 5.0) -> Any:
    """Connect to a Dask scheduler or raise SweepError naming the address."""
    try:
        from distributed import Client

        return Client(address, timeout=timeout)
    except Exception as exc:
        raise SweepError(f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}: {exc}") from None


def run_sweep(
    spec: SweepSpec,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    force: bool = False,
    fmt: str = "csv",
    progress: bool = True,
) -> pd.DataFrame:
    """Run (or finish) a sweep and assemble its tables; returns runs.csv as a DataFrame."""
    tasks = make_tasks(spec)
    prepare(out, spec, resume, force)
    client = check_scheduler(scheduler) if scheduler else None
    if fmt not in ("csv", "parquet"):
        raise SweepError(f"--format must be csv or parquet, got {fmt!r}")
    if out.exists() and force and not resume:
        import shutil

        shutil.rmtree(out)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "spec.json", json.dumps(spec.to_json(), indent=2, default=str).encode())
    todo = [t for t in tasks if not (runs_dir / f"{t.run_id}.json").exists()]
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="run", disable=not progress, desc=spec.scenario)
    failed = 0
    try:
        for task, result in _execute(todo, workers, client):
            _save_run(runs_dir, task, result)
            failed += result["status"] != "ok"
            bar.update(1)
            bar.set_postfix(failed=failed)
    finally:
        bar.close()
        if client is not None:
            client.close()
    return assemble(out, tasks, spec, fmt)


def _save_run(runs_dir: Path, task: Task, result: dict[str, Any]) -> None:
    if result.get("timeseries") is not None:
        _atomic_write(runs_dir / f"{task.run_id}.csv", result["timeseries"].encode())
    record = {
        "run_id": task.run_id,
        "replicate": task.replicate,
        "seed": task.seed,
        "point": task.point,
        "summary": result["summary"],
        "status": result["status"],
        "error": result["error"],
        "wall_s": result["wall_s"],
    }
    _atomic_write(runs_dir / f"{task.run_id}.json", json.dumps(record, default=str).encode())  # last: marks done


def _execute(tasks: list[Task], workers: int | None, client: Any) -> Iterator[tuple[Task, dict[str, Any]]]:
    """Yield (task, result) as runs finish; a dead worker's run is retried once, then recorded failed."""
    if client is not None:
        from distributed import as_completed as dask_completed

        futures = {client.submit(run_task, t, pure=False, retries=1): t for t in tasks}
        for fut in dask_completed(futures):
            task = futures[fut]
            try:
                yield task, fut.result()
            except Exception as exc:
                yield task, _failure(f"worker lost: {type(exc).__name__}: {exc}")
        return
    broken: list[Task] = []
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        futures: dict[Future, Task] = {pool.submit(run_task, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result()
            except BrokenProcessPool:  # a worker died: every run then in flight or queued is affected
                broken.append(futures[fut])
    # retry each affected run once, alone in a fresh process, so that one bad run cannot fail the others
    for task in sorted(broken, key=lambda t: t.run_id):
        with ProcessPoolExecutor(max_workers=1) as pool:
            try:
                yield task, pool.submit(run_task, task).result()
            except BrokenProcessPool:
                yield task, _failure("the worker process died while running this run (retried once, alone)")


def _failure(reason: str) -> dict[str, Any]:
    return {"summary": {}, "timeseries": None, "status": "failed", "error": reason, "wall_s": math.nan}


def assemble(out: Path, tasks: list[Task], spec: SweepSpec, fmt: str = "csv") -> pd.DataFrame:
    """runs.csv and the long timeseries.csv, in design order, from the per-run files."""
    runs_dir = out / "runs"
    varied = list(dict.fromkeys([*spec.grid, *spec.ranges]))
    rows, parts = [], []
    for task in tasks:
        path = runs_dir / f"{task.run_id}.json"
        if not path.exists():
            continue
        rec = json.loads(path.read_text())
        row = {"run_id": rec["run_id"], "replicate": rec["replicate"], "seed": rec["seed"]}
        row.update({k: rec["point"].get(k) for k in varied})
        row.update(rec["summary"])
        row.update(status=rec["status"], error=rec["error"], wall_s=rec["wall_s"])
        rows.append(row)
        ts_path = runs_dir / f"{task.run_id}.csv"
        if spec.timeseries == "every" and ts_path.exists():
            parts.append(ts_path.read_text())
    runs = pd.DataFrame(rows)
    if len(runs):
        metric_cols = [c for c in runs.columns if c not in set(RUNS_FIXED + varied + RUNS_TAIL)]
        runs = runs[RUNS_FIXED + varied + metric_cols + RUNS_TAIL]
    _write_table(runs, out / "runs", fmt)
    if spec.timeseries == "every" and parts:
        header = parts[0].split("\n", 1)[0]
        body = "".join(p.split("\n", 1)[1] for p in parts)
        if fmt == "csv":
            _atomic_write(out / "timeseries.csv", (header + "\n" + body).encode())
        else:
            import io

            _write_table(pd.read_csv(io.StringIO(header + "\n" + body)), out / "timeseries", fmt)
    return runs


def _write_table(df: pd.DataFrame, stem: Path, fmt: str) -> None:
    if fmt == "parquet":
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        _atomic_write(stem.with_suffix(".parquet"), buf.getvalue())
    # CSV always (SPEC 8), Parquet on request
    _atomic_write(
        stem.with_suffix(".csv"), df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n").encode()
    )
