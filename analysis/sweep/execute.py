"""Running a sweep's tasks (SPEC 9.3): one run in a worker, and the executors that yield results.

:func:`run_task` runs one task in a worker process and never raises for a model error (the
run is recorded as failed with its text). :func:`execute_pool` runs tasks on a local process
pool whose worker deaths are detected and retried alone; :func:`execute_dask` on a Dask
cluster reached with :func:`connect`. Both yield ``(task, result)`` as runs finish; saving
results is the caller's job (:mod:`analysis.sweep.store`).

Why a hand-written pool and not ``distributed.LocalCluster`` with retries: the same 24-run sweep
(forgetting_curves, 4 × 6 runs of 300 ticks, 2 workers) took a median 29.1 s as a whole process
on this pool and 76.9 s on a LocalCluster started in the sweep's process (cluster start-up,
per-task scheduling and its shutdown included; 3 paired runs each, 2 cores, a busy machine).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm import tqdm

from model import kernels
from scenarios.sweep_spec import SweepError

from .design import Task

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


def cpu_count() -> int:
    """The cores this process may use (the default --workers)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
                    with _signals_held():  # a submit may start a worker process
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
                    with _signals_held():
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


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver them.

    Starting a worker process is not atomic: interrupted half-way, the pool is torn down while a
    forked child still reads its start-up data, and that child prints a traceback. Starting a
    worker takes milliseconds, so holding a signal that long costs nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in HELD_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(held):
            signal.raise_signal(sig)  # now, to the handlers the sweep had


def _new_pool(n: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(n, mp_context=_mp_context(), initializer=_worker_init, initargs=(os.getpid(),))


def _mp_context() -> multiprocessing.context.BaseContext:
    """Workers come from a fork server that has imported the model once (a new pool, or a retry,
    then starts in milliseconds); where there is none, spawn (what importing mesa selects anyway).
    The sweep's own process, which has threads, is never forked."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["analysis.sweep.execute", "analysis.runner"])  # no effect once the server runs
    _start_fork_server_deaf_to_ctrl_c()
    return ctx


def _start_fork_server_deaf_to_ctrl_c() -> None:
    """Start the fork server with Ctrl-C blocked, a signal mask it and every worker it forks inherit.

    Ctrl-C at a terminal reaches the whole process group: the sweep's own process handles it (it
    ends the workers and says how to resume), while a server or worker still importing the model
    would print a KeyboardInterrupt traceback. The sweep's process blocks SIGINT only while it
    starts the server and gets a Ctrl-C that came meanwhile as soon as it unblocks: a blocked
    signal waits, where an ignored one (as this did before) is lost, and the sweep then ran on
    to its end as if no one had pressed Ctrl-C. (A Ctrl-C that reaches another thread of the
    sweep meanwhile is handled as usual: the disposition never changes.)"""
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


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
    why = scheduler_problem(address, timeout)
    if why:
        raise SweepError(f"cannot reach the Dask scheduler at {address}: {why}; is `dask scheduler` running there?")
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # it answered the probe a moment ago
        raise SweepError(f"cannot connect to the Dask scheduler at {address} ({type(exc).__name__}: {exc})") from None
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


def scheduler_problem(address: str, timeout: float) -> str | None:
    """Why ``address`` is not a reachable Dask scheduler, or None when it is one.

    Checked without a ``distributed.Client`` (whose failed construction leaves an object that
    complains from its destructor seconds later): the protocol must be one Dask speaks, a TCP
    or TLS address must accept a connection within ``timeout``, and whatever answers must say
    it is a scheduler.
    """
    import asyncio

    from distributed.comm import connect as comm_connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import backends

    try:
        scheme, location = parse_address(address)
    except ValueError as exc:
        return f"not an address ({exc})"
    if scheme not in backends:
        return f"unknown protocol '{scheme}://' (Dask speaks {', '.join(s + '://' for s in backends)})"
    if scheme in ("tcp", "tls"):
        try:
            host, port = parse_host_port(location, default_port=8786)
            socket.create_connection((host, port), timeout=timeout).close()
        except TimeoutError:
            return f"no answer within {timeout:g} s"
        except (OSError, ValueError) as exc:
            return getattr(exc, "strerror", None) or str(exc)

    async def identity() -> dict[str, Any]:
        comm = await comm_connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            await comm.close()

    try:
        ident = asyncio.run(asyncio.wait_for(identity(), timeout + 1.0))
    except Exception as exc:
        return f"what listens there does not answer as a Dask scheduler does ({type(exc).__name__})"
    if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
        kind = ident.get("type") if isinstance(ident, dict) else type(ident).__name__
        return f"what answers there is a {kind}, not a Dask scheduler"
    return None


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
    quiet = _quiet_distributed()
    quiet.__enter__()
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
                    why = " ".join(f"{type(exc).__name__}: {exc}".split())
                    raise SweepError(
                        f"lost the Dask cluster ({why}); finished runs are saved, finish with --resume"
                    ) from None
                result = _failure(f"{type(exc).__name__}: {exc}")  # raised on the worker outside the run itself
            fut.release()  # the result is saved by the caller: free the cluster's memory
            yield task, result
    finally:
        try:
            if futures:
                client.cancel([f for f, _ in futures.values()])
        finally:
            quiet.__exit__(None, None, None)


def close_client(client: Any) -> None:
    """Close a Dask client; a scheduler that is already gone is not worth a logged traceback."""
    with _quiet_distributed(), contextlib.suppress(Exception):
        client.close()


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Silence distributed's own loggers below CRITICAL for the block.

    When the scheduler dies, the client logs its reconnection attempts as ERRORs with tracebacks
    before the sweep can say, in one paragraph, what happened and how to resume."""
    import logging

    names = ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
