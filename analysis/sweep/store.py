"""A sweep directory on disk (SPEC 8, 9.3): atomic files, resume checks, and the assembled tables.

A sweep directory holds ``spec.json`` (the sweep's definition, written before the first run),
``runs/<run_id>.json`` and ``runs/<run_id>.csv`` (the run's record and its timeseries part, each
written atomically by the parent process the moment the run finishes; the ``.json`` is written
last and marks the run as done), and at the end ``runs.csv`` and the long ``timeseries.csv``,
assembled in design order so that their bytes do not depend on the worker count or executor
(``wall_s`` aside). ``--resume`` skips every run whose ``.json`` exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from scenarios.loader import scenario_path
from scenarios.sweep_spec import SweepError, SweepSpec

from ..export import FLOAT_FORMAT
from ..outdir import OutputError, atomic_file, atomic_write, check_out_dir
from .design import Task

RUNS_FIXED = ["run_id", "point", "replicate", "seed"]
RUNS_TAIL = ["status", "error", "wall_s"]


def spec_document(spec: SweepSpec) -> dict[str, Any]:
    """spec.json: the sweep and a hash of the scenario file (resuming with a changed scenario is refused)."""
    digest = hashlib.sha256(scenario_path(spec.scenario).read_bytes()).hexdigest()
    return {**spec.to_json(), "scenario_sha256": digest}


def prepare(out: Path, doc: dict[str, Any], resume: bool, force: bool) -> None:
    """Check the output directory before any run starts (writes nothing)."""
    if resume and force:
        raise SweepError("choose one of --resume and --force")
    try:  # the one check of run and sweep directories: --force replaces only what cohlab wrote
        check_out_dir(out, force, resume=resume, replace="--resume or --force")
    except OutputError as exc:
        raise SweepError(str(exc)) from None
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


def save_run(runs_dir: Path, task: Task, result: dict[str, Any]) -> None:
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


def read_record(runs_dir: Path, task: Task) -> dict[str, Any]:
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
