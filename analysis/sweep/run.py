"""Batch sweeps of one scenario (SPEC 8, 9.3): the whole flow, from a specification to the tables.

:func:`run_sweep` expands and validates the design (:mod:`analysis.sweep.design`), checks the
output directory and the cluster before anything is written (:mod:`analysis.sweep.store`,
:mod:`analysis.sweep.execute`), runs the missing tasks on a process pool or a Dask cluster with
a progress bar, saves each result the moment it arrives, and assembles runs.csv and the long
timeseries.csv in design order.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from scenarios.sweep_spec import SweepError, SweepSpec

from ..outdir import remove_marked, write_marker
from .design import make_tasks
from .execute import close_client, connect, cpu_count, execute_dask, execute_pool
from .store import assemble, atomic_write, prepare, read_record, save_run, spec_document


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped (Ctrl-C or SIGTERM); finished runs are saved."""


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
            remove_marked(out)  # only a directory cohlab wrote (checked by prepare)
        runs_dir = out / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        write_marker(out, "sweep")
        for stale in [*runs_dir.glob(".*.tmp"), *out.glob(".*.tmp")]:  # from an interrupted atomic write
            stale.unlink(missing_ok=True)
        if not (out / "spec.json").exists():
            atomic_write(out / "spec.json", (json.dumps(doc, indent=2) + "\n").encode())
        todo = [t for t in tasks if not (runs_dir / f"{t.run_id}.json").exists()]
        pending = {t.run_id for t in todo}
        failed = sum(read_record(runs_dir, t)["status"] != "ok" for t in tasks if t.run_id not in pending)
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
                        save_run(runs_dir, task, result)
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
            close_client(client)
