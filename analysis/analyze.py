"""Turn a sweep directory into tables and plots (`cohlab analyze DIR`).

For every varied parameter: the mean and 95 % confidence interval (Student t over replicates
and the other parameters' values) of every numeric metric, a CSV table and a plot of the main
metrics against the parameter; a heat map when two parameters vary; Sobol sensitivity indices
(SALib) for a Sobol design.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from .sweep import RUNS_FIXED, RUNS_TAIL, SweepError

MAX_PLOTTED = 8


def ci95(x: pd.Series) -> float:
    """Half-width of the 95 % Student-t confidence interval of the mean (NaN below two values)."""
    x = x.dropna()
    if len(x) < 2:
        return math.nan
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def load(out: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    runs_csv, spec_json = out / "runs.csv", out / "spec.json"
    if not runs_csv.is_file() or not spec_json.is_file():
        raise SweepError(f"'{out}' is not a finished sweep directory (runs.csv and spec.json expected)")
    return pd.read_csv(runs_csv), json.loads(spec_json.read_text())


def metric_columns(runs: pd.DataFrame, varied: list[str]) -> list[str]:
    skip = set(RUNS_FIXED + RUNS_TAIL + varied)
    return [
        c for c in runs.columns if c not in skip and pd.api.types.is_numeric_dtype(runs[c]) and runs[c].nunique() > 1
    ]


def analyze(out: Path) -> dict[str, Any]:
    """Write DIR/analysis/ and return a short report."""
    runs, spec = load(out)
    varied = list(dict.fromkeys([*spec["grid"], *spec["ranges"]]))
    ok = runs[runs["status"] == "ok"]
    metrics = metric_columns(ok, varied)
    dest = out / "analysis"
    dest.mkdir(exist_ok=True)
    report: dict[str, Any] = {"runs": len(runs), "ok": len(ok), "failed": int((runs["status"] != "ok").sum())}
    tables = {}
    for p in varied:
        if spec["design"] != "grid" and p in spec["ranges"]:
            continue  # continuous samples: no per-value table (see the Sobol indices)
        g = ok.groupby(p)[metrics]
        table = g.mean().add_suffix(".mean").join(g.agg(ci95).add_suffix(".ci95")).join(g.size().rename("n"))
        table = table[sorted(table.columns)]
        table.to_csv(dest / f"by_{p}.csv", float_format="%.6g")
        tables[p] = table
        _plot_lines(ok, p, metrics[:MAX_PLOTTED], dest / f"by_{p}.png")
    grid_keys = [p for p in varied if p in spec["grid"]]
    if len(grid_keys) >= 2 and metrics:
        _heatmap(ok, grid_keys[0], grid_keys[1], metrics[0], dest / f"heatmap_{grid_keys[0]}_{grid_keys[1]}.png")
    if spec["design"] == "sobol" and spec["ranges"]:
        report["sobol"] = _sobol(ok, spec, metrics, dest)
    report["tables"] = {p: str(dest / f"by_{p}.csv") for p in tables}
    report["metrics"] = metrics
    return report


def _plot_lines(ok: pd.DataFrame, p: str, metrics: list[str], path: Path) -> None:
    if not metrics:
        return
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, m in zip(axes.flat, metrics, strict=False):
        g = ok.groupby(p)[m]
        mean, err = g.mean(), g.agg(ci95)
        x = np.arange(len(mean)) if not pd.api.types.is_numeric_dtype(mean.index) else mean.index
        ax.errorbar(x, mean.values, yerr=err.fillna(0).values, marker="o", capsize=3)
        if not pd.api.types.is_numeric_dtype(mean.index):
            ax.set_xticks(x, [str(v) for v in mean.index])
        ax.set(xlabel=p, title=m)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _heatmap(ok: pd.DataFrame, a: str, b: str, metric: str, path: Path) -> None:
    pivot = ok.pivot_table(index=a, columns=b, values=metric, aggfunc="mean")
    fig, ax = plt.subplots(figsize=(6, 4.8))
    im = ax.imshow(pivot.values, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(pivot.columns)), [str(c) for c in pivot.columns])
    ax.set_yticks(range(len(pivot.index)), [str(i) for i in pivot.index])
    ax.set(xlabel=b, ylabel=a, title=f"mean {metric}")
    fig.colorbar(im)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _sobol(ok: pd.DataFrame, spec: dict[str, Any], metrics: list[str], dest: Path) -> dict[str, Any]:
    from SALib.analyze import sobol

    keys = list(spec["ranges"])
    problem = {"num_vars": len(keys), "names": keys, "bounds": [spec["ranges"][k] for k in keys]}
    rows = []
    for m in metrics:
        y = ok.sort_values("run_id")[m].to_numpy()
        if len(y) % (len(keys) + 2) or np.isnan(y).any():
            continue
        res = sobol.analyze(problem, y, calc_second_order=False)
        for k, s1, st in zip(keys, res["S1"], res["ST"], strict=True):
            rows.append({"metric": m, "parameter": k, "S1": s1, "ST": st})
    table = pd.DataFrame(rows)
    table.to_csv(dest / "sobol_indices.csv", index=False, float_format="%.6g")
    return {"indices": len(rows), "file": str(dest / "sobol_indices.csv")}
