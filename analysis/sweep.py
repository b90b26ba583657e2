"""Batch sweeps of one scenario (SPEC 8, 9.3): designs, executors, atomic per-run results, resume.

A sweep directory holds ``spec.json`` (the sweep's definition, written before the first run),
``runs/<run_id>.json`` and ``runs/<run_id>.csv`` (the run's record and its timeseries part, each
written atomically by the parent process the moment the run finishes; the ``.json`` is written
last and marks the run as done), and at the end ``runs.csv`` and the long ``timeseries.csv``,
assembled in design order so that their bytes do not depend on the worker count or executor
(``wall_s`` aside). ``--resume`` skips every run whose ``.json`` exists.

The flow: :func:`build_spec` (command-line flags over a scenario's ready ``[sweep]`` table) →
:func:`make_tasks` (validate everything, expand the design) → :func:`run_sweep` (prepare the
directory, run the missing tasks on a process pool or a Dask cluster, save each result, then
:func:`assemble`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import multiprocessing
import operator
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
from tqdm import tqdm

from model import kernels
from model.params import ParameterError, Params, parameter_keys, parse_assignments, parse_value, unknown_key_message
from scenarios.loader import Scenario, ScenarioError, load_scenario, scenario_path

from .export import FLOAT_FORMAT, nearest_existing

DESIGNS = ("grid", "lhs", "sobol")
RUNS_FIXED = ["run_id", "point", "replicate", "seed"]
RUNS_TAIL = ["status", "error", "wall_s"]
CHAOS_ENV = "COHLAB_SWEEP_CHAOS"  # tests only: a JSON file naming runs whose worker process dies (see _chaos)
SAMPLE_DIGITS = 12  # sampled values are rounded to the digits runs.csv shows, so the file holds what was run


class SweepError(ValueError):
    """A sweep specification, its output directory or its cluster is not usable."""


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped (Ctrl-C or SIGTERM); finished runs are saved."""


@dataclass
class SweepSpec:
    """Everything that defines a sweep's runs (saved as ``spec.json``; ``--resume`` needs the same)."""

    scenario: str
    grid: dict[str, list[Any]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    design: str = "grid"  # grid | lhs | sobol (lhs/sobol sample `ranges`, crossed with `grid`)
    samples: int = 0
    replicates: int = 1
    ticks: int | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    timeseries: str = "every"  # every | summary
    every: int = 1  # keep ticks divisible by `every` in the timeseries
    common_seeds: bool = False  # seeds from (seed, replicate) only: every design point sees the same seeds

    @property
    def varied(self) -> list[str]:
        return list(dict.fromkeys([*self.grid, *self.ranges]))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        return d


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
    chaos: str | None = None  # tests only: $COHLAB_SWEEP_CHAOS of the sweep's process (see _chaos)


# ----------------------------------------------------------------------------- specification


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """``["a.b=1,2,3", …]`` → ``{"a.b": [1, 2, 3]}`` (values parsed like ``--set``)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise SweepError(f"--grid expects key=v1,v2,…, got {item!r}")
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
    """
    if lhs and sobol:
        raise SweepError("choose one of --lhs and --sobol")
    spec = SweepSpec(scenario=str(scenario))
    if ready:
        table = _load(scenario).sweep
        if table is None:
            raise SweepError(f"scenario '{scenario}' has no ready [sweep] table (give --grid or --range instead)")
        spec.grid = {k: list(v) for k, v in table.grid.items()}
        spec.ranges = {k: (float(v[0]), float(v[1])) for k, v in table.ranges.items()}
        spec.design, spec.samples, spec.replicates = table.design, table.samples, table.replicates
        spec.ticks, spec.fixed = table.ticks, dict(table.set)
        spec.seed = table.seed if table.seed is not None else spec.seed
        spec.timeseries = table.timeseries or spec.timeseries
        spec.every = table.every or spec.every
        spec.common_seeds = table.common_seeds
    new_grid, new_ranges = parse_grid(grid), parse_ranges(ranges)
    try:
        new_fixed = parse_assignments(list(sets))
    except ParameterError as exc:
        raise SweepError(str(exc)) from None
    for key in new_grid:
        spec.ranges.pop(key, None), spec.fixed.pop(key, None)
    for key in new_ranges:
        spec.grid.pop(key, None), spec.fixed.pop(key, None)
    for key in new_fixed:
        spec.grid.pop(key, None), spec.ranges.pop(key, None)
    spec.grid.update(new_grid)
    spec.ranges.update(new_ranges)
    spec.fixed.update(new_fixed)
    if lhs or sobol:
        spec.design, spec.samples = ("lhs", lhs) if lhs else ("sobol", sobol)
    if not spec.ranges and spec.design != "grid" and (lhs or sobol):
        raise SweepError(f"--{spec.design} N samples the --range parameters: give at least one --range key=lo:hi")
    if not spec.ranges:
        spec.design, spec.samples = "grid", 0  # a ready table's ranges all overridden: a plain grid
    spec.replicates = replicates or spec.replicates
    spec.ticks = ticks or spec.ticks
    spec.seed = seed if seed is not None else spec.seed
    spec.timeseries = timeseries or spec.timeseries
    spec.every = every or spec.every
    spec.common_seeds = common_seeds or spec.common_seeds
    return spec


def _load(scenario: str | Path) -> Scenario:
    try:
        return load_scenario(scenario)
    except ScenarioError as exc:
        raise SweepError(str(exc)) from None


def _field(key: str) -> Any:
    section, name = key.split(".", 1)
    return Params.model_fields[section].annotation.model_fields[name]


_BOUNDS = (("ge", "≥", operator.ge), ("gt", ">", operator.gt), ("le", "≤", operator.le), ("lt", "<", operator.lt))


def _check_bound(key: str, value: float) -> None:
    """A --range end against the parameter's own bounds (its ge/gt/le/lt constraints)."""
    limits = [(op, getattr(m, attr), ok) for m in _field(key).metadata for attr, op, ok in _BOUNDS if hasattr(m, attr)]
    if not all(ok(value, bound) for _, bound, ok in limits):
        allowed = " and ".join(f"{op} {bound:g}" for op, bound, _ in limits)
        raise SweepError(f"--range {key}: {value:g} is out of the parameter's range (allowed: {allowed})")


def validate(spec: SweepSpec) -> None:
    """Everything that can be checked before a run starts, each failure one clear sentence."""
    if spec.design not in DESIGNS:
        raise SweepError(f"unknown design {spec.design!r} (allowed: {', '.join(DESIGNS)})")
    valid = set(parameter_keys())
    seen: dict[str, str] = {}
    for flag, keys in (("--grid", spec.grid), ("--range", spec.ranges), ("--set", spec.fixed)):
        for key in keys:
            if key not in valid:
                raise SweepError(unknown_key_message(key, f"parameter in {flag}"))
            if key in seen:
                raise SweepError(f"parameter '{key}' is given in both {seen[key]} and {flag}; give it once")
            seen[key] = flag
    for key, values in spec.grid.items():
        if not values:
            raise SweepError(f"--grid {key}: no values")
        texts = [json.dumps(v, sort_keys=True) for v in values]
        dup = next((t for i, t in enumerate(texts) if t in texts[:i]), None)
        if dup is not None:
            raise SweepError(f"--grid {key}: the value {dup} is listed twice")
    for key, (lo, hi) in spec.ranges.items():
        if _field(key).annotation not in (int, float):
            raise SweepError(f"--range {key}: only numeric parameters can be sampled (use --grid for this one)")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise SweepError(f"--range {key}: lo and hi must be finite numbers")
        if lo > hi:
            raise SweepError(f"--range {key}: lo ({lo:g}) is greater than hi ({hi:g})")
        _check_bound(key, lo), _check_bound(key, hi)
    if spec.ranges and spec.design == "grid":
        raise SweepError("--range needs --lhs N or --sobol N (how many points to sample)")
    if spec.design != "grid" and spec.samples < 1:
        raise SweepError(f"--{spec.design} needs a positive number of samples")
    if spec.design == "sobol" and spec.samples & (spec.samples - 1):
        lo = 1 << (spec.samples.bit_length() - 1)
        raise SweepError(f"--sobol N must be a power of 2 for Sobol' sequences (try {lo} or {2 * lo})")
    for name, value in (("--replicates", spec.replicates), ("--ticks", spec.ticks or 1), ("--every", spec.every)):
        if value < 1:
            raise SweepError(f"{name} must be at least 1, got {value}")
    if spec.timeseries not in ("every", "summary"):
        raise SweepError(f"--timeseries must be every or summary, got {spec.timeseries!r}")


def design_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The parameter points of the design in a fixed order: grid (first key slowest) × sampled points."""
    grid = [dict(zip(spec.grid, combo, strict=True)) for combo in itertools.product(*spec.grid.values())]
    sampled = sample_ranges(spec) if spec.ranges else [{}]
    return [{**g, **s} for g in grid for s in sampled]


def sample_ranges(spec: SweepSpec) -> list[dict[str, Any]]:
    """LHS (scipy.stats.qmc) or Sobol/Saltelli (SALib, first-order and total indices) points, seeded."""
    keys = list(spec.ranges)
    bounds = [list(spec.ranges[k]) for k in keys]
    if spec.design == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(keys), rng=spec.seed).random(spec.samples)
        values = qmc.scale(unit, [b[0] for b in bounds], [b[1] for b in bounds])
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
    if _field(key).annotation is int:
        return round(value)
    return float(f"{value:.{SAMPLE_DIGITS}g}")


def derive_seed(base: int, point: dict[str, Any], replicate: int) -> int:
    """A 63-bit run seed from the sweep seed, the run's parameters and its replicate (SHA-256 of canonical JSON)."""
    text = json.dumps({"seed": base, "point": point, "replicate": replicate}, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & (2**63 - 1)


def make_tasks(spec: SweepSpec) -> list[Task]:
    """Validate the whole sweep and expand it into runs; raises SweepError before any run starts."""
    sc = _load(spec.scenario)
    validate(spec)
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
                chaos=os.environ.get(CHAOS_ENV) or None,
            )
        )
    return tasks


# ----------------------------------------------------------------------------- one run (in a worker)


def flatten_summary(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested summary → flat columns: keys joined with '.', list items indexed (``phases.0.rho_mean``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_summary(v, key + "."))
        elif isinstance(v, list | tuple):
            out.update(flatten_summary({str(i): x for i, x in enumerate(v)}, key + "."))
        else:
            out[key] = v
    return out


def run_task(task: Task) -> dict[str, Any]:
    """Run one task in a worker. A model error never raises: it becomes status 'failed' with its text."""
    _chaos(task)
    from analysis.export import timeseries_frame, to_csv_bytes
    from analysis.runner import run_scenario
    from model.events import _plain

    t0 = time.perf_counter()
    try:
        overrides = {**task.fixed, **task.point}
        result = run_scenario(task.scenario, seed=task.seed, ticks=task.ticks, overrides=overrides)
        summary = _plain(flatten_summary(result.summary))
        ts = None
        if task.keep_timeseries:
            frame = timeseries_frame(result.model)
            if task.every > 1:
                frame = frame[frame["tick"] % task.every == 0]
            frame.insert(0, "run_id", task.run_id)
            ts = to_csv_bytes(frame).decode()
        status, error = "ok", ""
    except Exception as exc:  # recorded; the sweep goes on
        summary, ts, status = {}, None, "failed"
        error = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")
    return {"summary": summary, "timeseries": ts, "status": status, "error": error, "wall_s": time.perf_counter() - t0}


def _chaos(task: Task) -> None:
    """Test hook: if $COHLAB_SWEEP_CHAOS (read where the sweep starts) names a JSON file
    ``{"die": [run ids], "once": bool, "exit_code": n}``, the worker process running one of those
    runs exits at once (with ``once``, only the first one to get there). No file, no effect."""
    path = task.chaos
    if not path:
        return
    try:
        plan = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return
    if task.run_id not in plan.get("die", []):
        return
    if plan.get("once"):
        try:
            os.replace(path, f"{path}.fired")  # atomic: only one process wins
        except OSError:
            return
    os._exit(int(plan.get("exit_code", 13)))


def _worker_init(sweep_pid: int) -> None:
    """In each pool worker: leave Ctrl-C to the sweep, and exit within a second of the sweep's
    process going, however it goes (no orphans). Its parent is that process (spawn) or the fork
    server, which lives as long as any worker does, so both are watched."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernels.set_threads(1)  # the workers are the parallelism: one thread each, no oversubscription
    tqdm.set_lock(threading.RLock())  # not tqdm's default multiprocessing lock, which a killed worker would leak
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent or not _alive(sweep_pid):
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="cohlab-parent-watch").start()


# ----------------------------------------------------------------------------- executors


def _failure(reason: str) -> dict[str, Any]:
    return {"summary": {}, "timeseries": None, "status": "failed", "error": reason, "wall_s": math.nan}


def _exit_text(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def execute_pool(tasks: list[Task], workers: int) -> Iterator[tuple[Task, dict[str, Any]]]:
    """Yield (task, result) as runs finish on a process pool.

    At most two runs per worker are in flight (one running, one queued, so that workers never
    wait for the parent to save a result), so when a worker process dies the runs it may have
    been running are known: each of them is retried once, alone in a fresh one-process pool
    (so one bad run cannot fail the others), and recorded as failed if that process dies too.
    The rest of the sweep goes on meanwhile in a fresh pool.
    """
    queue = deque(tasks)
    n = max(1, min(workers, len(tasks)))
    pool: ProcessPoolExecutor | None = None
    running: dict[Future, Task] = {}  # on the shared pool
    solo: dict[Future, tuple[Task, ProcessPoolExecutor, list[Any]]] = {}  # retries, one pool each
    try:
        while queue or running or solo:
            if queue and pool is None:
                pool = _new_pool(n)
            while queue and len(running) < 2 * n:
                try:
                    fut = pool.submit(run_task, queue[0])
                except BrokenProcessPool:  # it broke since the last round; its futures will say which runs
                    break
                running[fut] = queue.popleft()
            if not running and not solo:  # broken with nothing in flight (a worker died between runs)
                pool.shutdown(wait=False)
                pool = None
                continue
            done, _ = wait([*running, *solo], return_when=FIRST_COMPLETED)
            suspects: list[Task] = []
            for fut in sorted(done, key=lambda f: running[f].run_id if f in running else solo[f][0].run_id):
                if fut in solo:
                    task, one, procs = solo.pop(fut)
                    one.shutdown(wait=False)
                    yield task, _outcome(fut, procs)
                    continue
                task = running.pop(fut)
                if isinstance(fut.exception(), BrokenProcessPool):
                    suspects.append(task)
                else:
                    yield task, _outcome(fut, [])
            if suspects:  # the shared pool is broken: every run still in flight on it is affected
                for fut, task in running.items():
                    wait([fut])
                    if isinstance(fut.exception(), BrokenProcessPool):
                        suspects.append(task)
                    else:
                        yield task, _outcome(fut, [])
                running.clear()
                pool.shutdown(wait=False)
                pool = None
                for task in sorted(suspects, key=lambda t: t.run_id):
                    one = _new_pool(1)
                    fut = one.submit(run_task, task)
                    solo[fut] = (task, one, list((getattr(one, "_processes", None) or {}).values()))
    except BaseException:  # Ctrl-C, SIGTERM, the consumer stopping: end every worker now
        for p in [pool, *(one for _, one, _ in solo.values())]:
            if p is not None:
                _kill_pool(p)
        pool, p = None, None  # the traceback keeps this frame: let the pools' queues go now
        running.clear(), solo.clear()
        raise
    if pool is not None:
        pool.shutdown(wait=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process now has that pid
        return True
    return True


def _new_pool(n: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(n, mp_context=_mp_context(), initializer=_worker_init, initargs=(os.getpid(),))


def _mp_context() -> multiprocessing.context.BaseContext:
    """Workers come from a fork server that has imported the model once (a new pool, or a retry,
    then starts in milliseconds); where there is none, spawn (what importing mesa selects anyway).
    The sweep's own process, which has threads, is never forked."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["analysis.sweep", "analysis.runner"])  # no effect once the server runs
    return ctx


def _outcome(fut: Future, procs: list[Any]) -> dict[str, Any]:
    """A finished future's result, or a failure record saying why there is none."""
    exc = fut.exception()
    if exc is None:
        return fut.result()
    if isinstance(exc, BrokenProcessPool):  # only a retry's own pool gets here
        code = None
        for _ in range(50 if procs else 0):  # the pool's own thread reaps it too: wait until one of us has
            code = procs[0].exitcode
            if code is not None:
                break
            time.sleep(0.02)
        return _failure(
            f"worker process died while running this run; it died again when retried alone ({_exit_text(code)})"
        )
    return _failure(f"{type(exc).__name__}: {exc}")  # e.g. a result that could not be sent back


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once: cancel queued runs, end the workers."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(timeout=2)
    with contextlib.suppress(Exception):
        pool.shutdown(wait=True)  # let its thread close the queues (no "leaked semaphore" warnings)


def connect(address: str, timeout: float = 5.0, worker_timeout: float = 30.0) -> Any:
    """A Dask client for ``address``, checked before any run starts: reachable, with workers that can run sweeps."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise SweepError("--scheduler needs the 'distributed' package") from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:
        raise SweepError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({type(exc).__name__}); "
            "is `dask scheduler` running there?"
        ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=worker_timeout)
        except Exception:
            raise SweepError(
                f"the Dask scheduler at {address} has no workers (waited {worker_timeout:g} s); "
                f"start some with `dask worker {address}`"
            ) from None
        try:
            client.submit(_probe, pure=False).result(timeout=max(60.0, worker_timeout))
        except Exception as exc:
            raise SweepError(
                f"the Dask workers at {address} cannot run Coherence Lab ({type(exc).__name__}: {exc}); "
                "install it in the workers' environment"
            ) from None
    except BaseException:
        client.close()
        raise
    return client


def _probe() -> str:
    """Run on a Dask worker before a sweep: can it import the engine and the model?"""
    import analysis.runner  # noqa: F401

    return sys.version


def execute_dask(tasks: list[Task], client: Any) -> Iterator[tuple[Task, dict[str, Any]]]:
    """Yield (task, result) as runs finish on a Dask cluster.

    Tasks are submitted with pure=False and unique keys. A worker that dies has its tasks
    rescheduled by the scheduler; a run whose workers die more than
    ``distributed.scheduler.allowed-failures`` times (default 3) ends in KilledWorker and is
    recorded as failed. Losing the scheduler stops the sweep (resume it later).
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    token = uuid.uuid4().hex[:8]
    futures = {}
    for task in tasks:
        fut = client.submit(run_task, task, pure=False, key=f"cohlab-{task.run_id}-{token}")
        futures[fut.key] = (fut, task)
    try:
        for fut in as_completed([f for f, _ in futures.values()], loop=client.loop):
            _, task = futures.pop(fut.key)
            try:
                result = fut.result()
            except KilledWorker as exc:
                tries = getattr(exc, "allowed_failures", None)
                detail = f" after {tries + 1} attempts" if tries is not None else ""
                result = _failure(f"worker process died while running this run (Dask KilledWorker{detail})")
            except Exception as exc:
                if fut.status != "error":  # cancelled: the scheduler or our connection to it is gone
                    lost = f"lost the Dask cluster ({type(exc).__name__}: {exc})"
                    raise SweepError(f"{lost}; finished runs are saved, finish with --resume") from None
                result = _failure(f"{type(exc).__name__}: {exc}")  # raised on the worker outside the run itself
            fut.release()  # the result is saved by the caller: free the cluster's memory
            yield task, result
    finally:
        if futures:
            client.cancel([f for f, _ in futures.values()])


# ----------------------------------------------------------------------------- files


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write ``path`` through a temporary sibling, flushed to disk and renamed into place (all or nothing)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


def spec_document(spec: SweepSpec) -> dict[str, Any]:
    """spec.json: the sweep and a hash of the scenario file (resuming with a changed scenario is refused)."""
    digest = hashlib.sha256(scenario_path(spec.scenario).read_bytes()).hexdigest()
    return {**spec.to_json(), "scenario_sha256": digest}


def prepare(out: Path, doc: dict[str, Any], resume: bool, force: bool) -> None:
    """Check the output directory before any run starts (writes nothing)."""
    if resume and force:
        raise SweepError("choose one of --resume and --force")
    if out.exists() and not out.is_dir():
        raise SweepError(f"output path '{out}' exists and is not a directory")
    base = nearest_existing(out.parent)
    if not out.exists() and not base.is_dir():
        raise SweepError(f"cannot create '{out}': '{base}' is a file, not a directory")
    empty = not out.exists() or not any(out.iterdir())
    if resume and not empty:
        spec_file = out / "spec.json"
        if not spec_file.is_file():
            raise SweepError(f"'{out}' is not a sweep directory (no spec.json); nothing to resume")
        old = json.loads(spec_file.read_text())
        old = {**SweepSpec(scenario="").to_json(), **old}  # fields added since it was written: their defaults
        diff = sorted(k for k in {*old, *doc} if old.get(k) != doc.get(k))
        if diff:
            what = "the scenario file has changed" if diff == ["scenario_sha256"] else f"differs in {', '.join(diff)}"
            raise SweepError(f"'{out}' holds a different sweep ({what}); --resume needs the same specification")
    elif not empty and not force:
        raise SweepError(f"output directory '{out}' exists and is not empty (use --resume or --force)")


def _save_run(runs_dir: Path, task: Task, result: dict[str, Any]) -> None:
    part = runs_dir / f"{task.run_id}.csv"
    if result.get("timeseries") is not None:
        atomic_write(part, result["timeseries"].encode())
    else:  # e.g. left by an earlier attempt that was killed before its record was written
        part.unlink(missing_ok=True)
    wall = result["wall_s"]
    record = {
        "run_id": task.run_id,
        "point": task.point_index,
        "replicate": task.replicate,
        "seed": task.seed,
        "params": task.point,
        "summary": result["summary"],
        "status": result["status"],
        "error": result["error"],
        "wall_s": None if wall is None or math.isnan(wall) else round(wall, 4),
    }
    atomic_write(runs_dir / f"{task.run_id}.json", json.dumps(record).encode())  # written last: marks the run done


def cpu_count() -> int:
    """The cores this process may use (the default --workers)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SweepInterrupted(f"stopped by {signal.Signals(signum).name}")


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
    scheduler_timeout: float = 5.0,
) -> pd.DataFrame:
    """Run (or finish) a sweep and assemble its tables; returns runs.csv as a DataFrame.

    Raises:
        SweepError: before any run starts, for anything wrong with the sweep, ``out`` or the cluster.
        SweepInterrupted: on Ctrl-C or SIGTERM (finished runs are kept; resume later).
    """
    out = Path(out)
    if fmt not in ("csv", "parquet"):
        raise SweepError(f"--format must be csv or parquet, got {fmt!r}")
    tasks = make_tasks(spec)
    doc = spec_document(spec)
    prepare(out, doc, resume, force)
    client = connect(scheduler, timeout=scheduler_timeout) if scheduler else None
    # ---- nothing has been written before this line
    previous = signal.getsignal(signal.SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()
    try:
        if in_main:
            signal.signal(signal.SIGTERM, _on_sigterm)
        if force and out.exists():
            shutil.rmtree(out)
        runs_dir = out / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        for stale in [*runs_dir.glob(".*.tmp"), *out.glob(".*.tmp")]:  # from an interrupted atomic write
            stale.unlink(missing_ok=True)
        if not (out / "spec.json").exists():
            atomic_write(out / "spec.json", (json.dumps(doc, indent=2) + "\n").encode())
        todo = [t for t in tasks if not (runs_dir / f"{t.run_id}.json").exists()]
        pending = {t.run_id for t in todo}
        failed = sum(_read_record(runs_dir, t)["status"] != "ok" for t in tasks if t.run_id not in pending)
        bar = tqdm(
            total=len(tasks),
            initial=len(tasks) - len(todo),
            unit="run",
            desc=Path(spec.scenario).stem,
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        bar.set_postfix(failed=failed)
        try:
            if todo:
                results = execute_dask(todo, client) if client else execute_pool(todo, workers or cpu_count())
                with contextlib.closing(results):
                    for task, result in results:
                        _save_run(runs_dir, task, result)
                        failed += result["status"] != "ok"
                        bar.set_postfix(failed=failed, refresh=False)
                        bar.update(1)
        finally:
            bar.close()
        return assemble(out, tasks, spec, fmt)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        if client is not None:
            client.close()


# ----------------------------------------------------------------------------- assembly


def _read_record(runs_dir: Path, task: Task) -> dict[str, Any]:
    return json.loads((runs_dir / f"{task.run_id}.json").read_text())


def runs_frame(runs_dir: Path, tasks: list[Task], spec: SweepSpec) -> pd.DataFrame:
    """One row per run in design order: ids, varied parameters, flattened metrics, status, error, wall_s."""
    varied = spec.varied
    taken = set(RUNS_FIXED + varied + RUNS_TAIL)
    rows = []
    for task in tasks:
        path = runs_dir / f"{task.run_id}.json"
        if not path.exists():
            raise SweepError(f"run {task.run_id} has no result in '{runs_dir}'; finish the sweep with --resume")
        rec = json.loads(path.read_text())
        row = {"run_id": rec["run_id"], "point": rec["point"], "replicate": rec["replicate"], "seed": rec["seed"]}
        row.update({k: rec["params"].get(k) for k in varied})
        row.update({k: v for k, v in rec["summary"].items() if k not in taken})  # e.g. the summary's own 'seed'
        row.update(status=rec["status"], error=rec["error"], wall_s=rec["wall_s"])
        rows.append(row)
    runs = pd.DataFrame(rows)
    metrics = [c for c in runs.columns if c not in taken]
    return runs.reindex(columns=RUNS_FIXED + varied + metrics + RUNS_TAIL)


def assemble(out: Path, tasks: list[Task], spec: SweepSpec, fmt: str = "csv") -> pd.DataFrame:
    """Write runs.csv and the long timeseries.csv (streamed from the parts), in design order, atomically."""
    from model.recorder import TIMESERIES_COLUMNS

    runs_dir = out / "runs"
    runs = runs_frame(runs_dir, tasks, spec)
    atomic_write(out / "runs.csv", runs.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n").encode())
    if fmt == "parquet":
        with atomic_file(out / "runs.parquet") as fh:
            runs.to_parquet(fh, index=False)
    if spec.timeseries != "every":
        return runs
    header = ",".join(["run_id", *TIMESERIES_COLUMNS]) + "\n"
    with atomic_file(out / "timeseries.csv", "w") as fh:
        fh.write(header)
        for task, status in zip(tasks, runs["status"], strict=True):
            part = runs_dir / f"{task.run_id}.csv"
            if status != "ok" or not part.exists():  # a failed run has no timeseries
                continue
            with part.open() as src:
                if src.readline() != header:
                    raise SweepError(f"'{part}' has other columns than this version writes; rerun that sweep")
                shutil.copyfileobj(src, fh)
    if fmt == "parquet":
        frame = pd.read_csv(out / "timeseries.csv", dtype={"run_id": str, "band": str}, low_memory=False)
        with atomic_file(out / "timeseries.parquet") as fh:
            frame.to_parquet(fh, index=False)
    return runs
