"""What the claim experiments' analyses share: the sweep's definition, their table and their figure.

Each experiment module (``analysis/error_propagation.py``, ``gamma_conditions.py``,
``landscape.py`` …) reads its sweep directory and writes one table and one figure into
``DIR/analysis/``. matplotlib is imported only when a figure is drawn, so that importing the
experiments' metrics into the sweep workers stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def sweep_spec(directory: Path) -> dict[str, Any]:
    """The sweep's ``spec.json`` (grid, ranges, replicates, common_seeds …)."""
    return json.loads((Path(directory) / "spec.json").read_text())


def ok_runs(directory: Path) -> pd.DataFrame:
    """The runs of ``runs.csv`` that finished."""
    runs = pd.read_csv(Path(directory) / "runs.csv")
    return runs[runs["status"] == "ok"].copy()


def write_table(table: pd.DataFrame, directory: Path, name: str) -> Path:
    """``DIR/analysis/<name>.csv`` (6 significant digits, as the generic tables)."""
    dest = Path(directory) / "analysis"
    dest.mkdir(exist_ok=True)
    path = dest / f"{name}.csv"
    table.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
    return path


def figure(rows: int, cols: int, width: float, height: float) -> tuple[Any, Any]:
    """A new figure of rows × cols panels (a 2-D array of axes) on the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=(width, height), squeeze=False)


def save_figure(fig: Any, directory: Path, name: str) -> Path:
    """Lay out, write ``DIR/analysis/<name>.png`` and close the figure."""
    import matplotlib.pyplot as plt

    path = Path(directory) / "analysis" / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pair_keys(spec: dict[str, Any], by: str) -> list[str]:
    """What matches two runs that differ only in ``by``: the replicate, the seed and every other varied parameter."""
    varied = dict.fromkeys([*spec.get("grid", {}), *spec.get("ranges", {})])
    return ["replicate", "seed", *[k for k in varied if k != by]]


def paired(ok: pd.DataFrame, by: str, a: Any, b: Any, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs with ``by == a`` and with ``by == b``, matched on ``keys`` and in the same order."""
    x = ok[ok[by] == a].set_index(keys)
    y = ok[ok[by] == b].set_index(keys)
    common = x.index.intersection(y.index)
    return x.loc[common], y.loc[common]
