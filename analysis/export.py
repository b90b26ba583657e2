"""Write a run directory (SPEC 8): params.json, timeseries.csv, scales.csv, nodes.csv, events.jsonl, summary.json.

Files are written into a temporary sibling directory and renamed into place only when all
of them are complete, so a rejected input or a failure leaves no partial run directory,
and earlier outputs are never touched. The directory carries the marker of ``analysis.outdir``
(only marked directories may be replaced with ``--force``). CSV floats are written with 12
significant digits so that the same seed gives the same bytes.
"""

from __future__ import annotations

import contextlib
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

from .outdir import MARKER, OutputError, check_out_dir, make_dirs, marker_bytes, nearest_existing, temp_dir

__all__ = ["OutputError", "nearest_existing", "prepare_out_dir", "write_run"]

if TYPE_CHECKING:
    from model.model import CoherenceModel

FLOAT_FORMAT = "%.12g"
PACKAGES = ("mesa", "simpy", "numpy", "scipy", "pandas", "pydantic")


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


def prepare_out_dir(out: str | Path, force: bool) -> Path:
    """Check a run directory before the run starts (``analysis.outdir.check_out_dir``); writes nothing."""
    return check_out_dir(out, force)


def write_run(
    model: CoherenceModel,
    out: str | Path,
    ticks: int,
    summary: dict[str, Any],
    force: bool = False,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write every output file of a finished run into ``out``, atomically (``extra`` adds files, e.g. plots).

    Raises:
        OutputError: ``out`` may not be written or replaced, or writing failed (nothing is left behind).
    """
    out = prepare_out_dir(out, force)
    created = make_dirs(out.parent)  # `--out runs/fc` on a fresh clone creates runs/
    tmp: Path | None = None
    try:
        tmp = temp_dir(out.parent, out.name)
        files = {
            "params.json": json.dumps(params_document(model, ticks), indent=2).encode() + b"\n",
            "timeseries.csv": to_csv_bytes(timeseries_frame(model)),
            "scales.csv": to_csv_bytes(scales_frame(model)),
            "nodes.csv": to_csv_bytes(nodes_frame(model)),
            "events.jsonl": model.events.to_jsonl().encode(),
            "summary.json": json.dumps(_plain(summary), indent=2).encode() + b"\n",
            MARKER: marker_bytes("run"),
        }
        if getattr(model, "thermo", None) is not None:  # SPEC 5.6: one row per trajectory
            from .thermo_outputs import work_frame

            files["work.csv"] = to_csv_bytes(work_frame(model))
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if extra is not None:
            extra(tmp)
        if out.exists():  # empty, or a run directory this program wrote (checked above)
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for d in reversed(created):
            with contextlib.suppress(OSError):
                d.rmdir()
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write '{out}': {exc.strerror or exc}") from None
        raise
    return out
