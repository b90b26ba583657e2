"""Write a run directory (SPEC 8): params.json, timeseries.csv, scales.csv, nodes.csv, events.jsonl, summary.json.

Files are written into a temporary sibling directory and renamed into place only when all
of them are complete, so a rejected input or a failure leaves no partial run directory,
and earlier outputs are never touched. CSV floats are written with 12 significant digits
so that the same seed gives the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from model.events import _plain
from model.recorder import NODES_COLUMNS, SCALES_COLUMNS, TIMESERIES_COLUMNS

if TYPE_CHECKING:
    from model.model import CoherenceModel

FLOAT_FORMAT = "%.12g"
PACKAGES = ("mesa", "simpy", "numpy", "scipy", "pandas", "pydantic")


class OutputError(RuntimeError):
    """The output directory cannot be used."""


def timeseries_frame(model: CoherenceModel) -> pd.DataFrame:
    """One row per fast tick, the documented columns in order."""
    return pd.DataFrame(model.recorder.timeseries, columns=TIMESERIES_COLUMNS)


def scales_frame(model: CoherenceModel) -> pd.DataFrame:
    return pd.DataFrame(model.recorder.scales, columns=SCALES_COLUMNS)


def nodes_frame(model: CoherenceModel) -> pd.DataFrame:
    return pd.DataFrame(model.recorder.nodes, columns=NODES_COLUMNS)


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """Deterministic CSV text (12 significant digits, empty for missing)."""
    return df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n").encode()


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    try:
        out["coherence-lab"] = metadata.version("coherence-lab")
    except metadata.PackageNotFoundError:
        out["coherence-lab"] = "unknown"
    return out


def params_document(model: CoherenceModel, ticks: int) -> dict[str, Any]:
    return {
        "scenario": model.scenario.name if model.scenario else None,
        "scenario_file": Path(model.scenario.path).name if model.scenario else None,
        "seed": model.seed,
        "ticks": ticks,
        "overrides": _plain(model.overrides),
        "engine": model.engine,
        "params": _plain(model.resolved_params()),
        "versions": package_versions(),
    }


def prepare_out_dir(out: Path, force: bool) -> None:
    """Refuse an existing non-empty directory unless ``force`` (checked before any run starts)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path '{out}' exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(f"output directory '{out}' exists and is not empty (use --force to replace it)")
    base = nearest_existing(out.parent)
    if not base.is_dir():
        raise OutputError(f"cannot create '{out}': '{base}' is a file, not a directory")


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (missing parents are created when writing, like mkdir -p)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def write_run(
    model: CoherenceModel,
    out: Path,
    ticks: int,
    summary: dict[str, Any],
    force: bool = False,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write every output file of a finished run into ``out``, atomically (``extra`` adds files, e.g. plots)."""
    out = Path(out)
    prepare_out_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)  # `--out runs/fc` on a fresh clone creates runs/
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files = {
            "params.json": json.dumps(params_document(model, ticks), indent=2).encode() + b"\n",
            "timeseries.csv": to_csv_bytes(timeseries_frame(model)),
            "scales.csv": to_csv_bytes(scales_frame(model)),
            "nodes.csv": to_csv_bytes(nodes_frame(model)),
            "events.jsonl": model.events.to_jsonl().encode(),
            "summary.json": json.dumps(_plain(summary), indent=2).encode() + b"\n",
        }
        if getattr(model, "thermo", None) is not None:  # SPEC 5.6: one row per trajectory
            from .thermo_outputs import work_frame

            files["work.csv"] = to_csv_bytes(work_frame(model))
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if extra is not None:
            extra(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
