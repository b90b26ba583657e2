"""What the paired claim experiments' analyses share: the sweep's definition, its runs matched in pairs, a figure.

Each experiment module (``analysis/error_propagation.py``, ``gamma_conditions.py``,
``landscape.py``) reads its sweep directory, matches the runs that differ in one parameter only
(same replicate and seed, the same values of everything else varied) and writes one table and
one figure into ``DIR/analysis/`` (with :func:`analysis.claims.save_tables` and
:func:`analysis.claims.save_figure`). matplotlib is imported only when a figure is drawn, so
that importing the experiments' metrics into the sweep workers stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .sweep.design import varied_keys


def sweep_spec(directory: Path) -> dict[str, Any]:
    """The sweep's ``spec.json`` (grid, ranges, replicates, common_seeds …); empty for a run directory."""
    path = Path(directory) / "spec.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def ok_runs(directory: Path) -> pd.DataFrame:
    """The runs of ``runs.csv`` that finished."""
    runs = pd.read_csv(Path(directory) / "runs.csv")
    return runs[runs["status"] == "ok"].copy()


def figure(rows: int, cols: int, width: float, height: float) -> tuple[Any, Any]:
    """A new figure of rows × cols panels (a 2-D array of axes) on the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=(width, height), squeeze=False)


def pair_keys(spec: dict[str, Any], by: str) -> list[str]:
    """What matches two runs that differ only in ``by``: the replicate, the seed and every other varied parameter."""
    return ["replicate", "seed", *[k for k in varied_keys(spec) if k != by]]


def matched_runs(ok: pd.DataFrame, by: str, a: Any, b: Any, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs with ``by == a`` and with ``by == b``, matched on ``keys`` and in the same order."""
    x = ok[ok[by] == a].set_index(keys)
    y = ok[ok[by] == b].set_index(keys)
    common = x.index.intersection(y.index)
    return x.loc[common], y.loc[common]
