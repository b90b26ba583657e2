"""Turn a sweep directory into tables and plots (`cohlab analyze DIR`, SPEC 9.3).

Written into ``DIR/analysis/``:

- ``by_<param>.csv`` / ``.png`` for every varied parameter: per value (a grid parameter) or per
  quantile bin (a sampled one), the number of runs and failures and, for every numeric metric
  that varies, the mean and the half-width of its 95 % confidence interval (Student t over the
  runs at that value: replicates, and the other parameters' values when several vary). The
  plot shows the main metrics against the parameter with the CI as error bars (one line per
  value of a second grid parameter when there is one).
- ``by_point.csv`` when runs are replicated or several parameters vary: the same statistics per
  design point, over its replicates only.
- ``heatmap_<a>_<b>.png`` when two or more parameters vary: the mean of the main metrics over
  the first two.
- ``sobol_indices.csv`` for a Sobol design: first-order and total indices (SALib, with 95 %
  confidence half-widths) of every metric for every sampled parameter, from the design-point
  means over replicates, separately for each combination of grid values.
- for the stability–plasticity ablation (a sweep over the six ``defenses.*`` flags), the
  per-combination table, the main effects and a plot (see ``analysis/ablation.py``).
- for a sweep over ``phase.T``: order, E_phase, S_phase, F_coh and the link alignment beside
  the exact tree curve (``analysis/temperature_analysis.py``).
- for a sweep over ``thermo.switch_ticks``: dissipated work and the estimators' bias against
  the switching time (``analysis/thermo_analysis.py``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from scenarios.sweep_spec import SweepError

from . import ablation, claims, temperature_analysis, thermo_analysis
from .sweep.design import sobol_problem, varied_keys
from .sweep.store import RUNS_FIXED, RUNS_TAIL

SCENARIO_ANALYSES = (temperature_analysis, thermo_analysis)  # SPEC 7: temperature_sweep, thermodynamics
MAX_PLOTTED = 8  # metrics per figure
MAX_LINES = 6  # lines (values of a second grid parameter) per panel
BINS = 6  # quantile bins of a sampled parameter
TABLE_FLOAT = "%.6g"


@dataclass
class Report:
    """What `cohlab analyze` found and wrote (``text()`` is the short table it prints)."""

    directory: Path
    runs: int
    ok: int
    failed: int
    varied: list[str]
    metrics: list[str]
    files: list[Path] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sobol: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # extra text (the ablation's headline table)

    def text(self, n_metrics: int = 4) -> str:
        lines = [f"{self.runs} runs ({self.ok} ok, {self.failed} failed), {len(self.metrics)} varying metrics"]
        names = ", ".join(str(Path(p).relative_to(self.directory)) for p in self.files)
        lines.append(f"wrote {len(self.files)} files to {self.directory}: {names}")
        main = main_metrics(self.metrics)[:n_metrics]
        for p, table in self.tables.items():
            shown = pd.DataFrame({"n": table["n"]})
            for m in main:
                shown[m] = [_pm(a, b) for a, b in zip(table[f"{m}.mean"], table[f"{m}.ci95"], strict=True)]
            lines += ["", f"by {p} (mean ± 95 % CI):", shown.to_string()]
        if self.sobol is not None and len(self.sobol):
            s = self.sobol[self.sobol["metric"].isin(main)]
            lines += ["", "Sobol indices (S1 first order, ST total):"]
            lines.append(s.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        lines += self.sections
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _pm(mean: float, ci: float) -> str:
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    return f"{mean:.4g}" + ("" if isinstance(ci, float) and math.isnan(ci) else f" ± {ci:.2g}")


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
    """Numeric (not boolean) summary columns that vary across the ok runs."""
    skip = set(RUNS_FIXED + RUNS_TAIL + varied)
    return [
        c
        for c in runs.columns
        if c not in skip
        and pd.api.types.is_numeric_dtype(runs[c])
        and not pd.api.types.is_bool_dtype(runs[c])
        and runs[c].dropna().nunique() > 1
    ]


def main_metrics(metrics: list[str]) -> list[str]:
    """The scenario's own metrics (nested, e.g. ``phase.order_mean``) before the generic ones."""
    return [m for m in metrics if "." in m] + [m for m in metrics if "." not in m]


def levels(runs: pd.DataFrame, p: str, spec: dict[str, Any]) -> pd.Series:
    """A grid parameter's values, or a sampled parameter's quantile bin (labelled by the bin's mean)."""
    if p in spec["grid"]:
        return runs[p]
    x = runs[p].astype(float)
    bins = pd.qcut(x, q=min(BINS, x.nunique()), duplicates="drop")
    return x.groupby(bins, observed=True).transform("mean").map(lambda v: float(f"{v:.4g}"))


def summary_table(runs: pd.DataFrame, ok: pd.DataFrame, keys: list[pd.Series], metrics: list[str]) -> pd.DataFrame:
    """n runs, failures, then mean and 95 % CI of each metric per group."""
    all_groups = runs.groupby(keys, sort=True, dropna=False)
    table = pd.DataFrame({"n": all_groups.size(), "failed": all_groups["status"].agg(lambda s: int((s != "ok").sum()))})
    if metrics and len(ok):
        g = ok[metrics].groupby([k.loc[ok.index] for k in keys], sort=True, dropna=False)
        mean, ci = g.mean(), g.agg(ci95)
        cols = {name: col for m in metrics for name, col in ((f"{m}.mean", mean[m]), (f"{m}.ci95", ci[m]))}
        table = table.join(pd.DataFrame(cols))  # one join: wide summaries would fragment column by column
    return table


def analyze(out: Path) -> Report:
    """Write DIR/analysis/ (and DIR/claims.json where the scenario has claims) and return what was found."""
    out = Path(out)
    if (out / "summary.json").is_file() and not (out / "runs.csv").exists():
        return analyze_run(out)
    runs, spec = load(out)
    varied = [p for p in varied_keys(spec) if p in runs.columns]
    ok = runs[runs["status"] == "ok"]
    metrics = metric_columns(ok, varied)
    report = Report(out, len(runs), len(ok), len(runs) - len(ok), varied, metrics)
    if not varied:
        raise SweepError(f"'{out}' varies no parameter; nothing to analyse")
    dest = out / "analysis"
    dest.mkdir(exist_ok=True)
    lv = {p: levels(runs, p, spec).rename(p) for p in varied}
    plotted = main_metrics(metrics)[:MAX_PLOTTED]
    for p in varied:
        table = summary_table(runs, ok, [lv[p]], metrics)
        report.tables[p] = table
        report.files.append(_save_csv(table, dest / f"by_{p}.csv"))
        if plotted:
            other = next((q for q in varied if q != p and q in spec["grid"] and runs[q].nunique() <= MAX_LINES), None)
            report.files.append(_plot_lines(runs, ok, lv, p, other, plotted, spec, dest / f"by_{p}.png"))
    if len(varied) > 1 or spec.get("replicates", 1) > 1:
        points = [runs[q] for q in varied]
        table = summary_table(runs, ok, [runs["point"], *points], metrics)
        report.files.append(_save_csv(table, dest / "by_point.csv"))
    if len(varied) >= 2 and plotted:
        a, b = varied[:2]
        report.files.append(_heatmaps(ok, lv[a], lv[b], plotted, dest / f"heatmap_{a}_{b}.png", len(varied) > 2))
    if spec["design"] == "sobol" and spec["ranges"]:
        report.sobol = _sobol(runs, spec, metrics, report.notes)
        report.files.append(_save_csv(report.sobol, dest / "sobol_indices.csv", index=False))
    if ablation.is_ablation(runs) and len(ok):
        tables = ablation.report(out)
        report.files += [dest / f for f in ("ablation.csv", "ablation.md", "main_effects.csv", "ablation.png")]
        report.sections += [
            "",
            "stability–plasticity ablation (mean ± 95 % CI):",
            *ablation.summary_text(tables["ablation"]),
        ]
    for extra in SCENARIO_ANALYSES:  # per-scenario figures (each module: applies, report)
        if extra.applies(runs, spec) and len(ok):
            files, lines = extra.report(out, runs, spec)
            report.files += files
            report.sections += lines
    if not metrics:
        report.notes.append("no numeric metric varies across the ok runs: tables hold counts only, no plots")
    _add_claims(report)
    return report


def analyze_run(out: Path) -> Report:
    """A single run directory: only its claims (``claims.json``) are analysed."""
    report = Report(out, 1, 1, 0, [], [])
    _add_claims(report)
    if not report.files:
        raise SweepError(f"'{out}' is a run directory whose scenario has no claims to analyse; analyze takes a sweep")
    return report


def _add_claims(report: Report) -> None:
    """Write DIR/claims.json (analysis/claims.py) and show its verdicts."""
    path = claims.write_for(report.directory)  # its analyzer may write its own tables into analysis/ too
    extra = sorted((report.directory / "analysis").glob("*")) if (report.directory / "analysis").is_dir() else []
    report.files += [f for f in extra if f not in report.files]
    if path is not None:
        report.files.append(path)
        rows = claims.read_claims(path)
        report.sections += ["", "claims of the source documents:", *(f"{c.id:10s} {c.verdict}" for c in rows)]


def _save_csv(table: pd.DataFrame, path: Path, index: bool = True) -> Path:
    table.to_csv(path, index=index, float_format=TABLE_FLOAT, lineterminator="\n")
    return path


def _grid_axes(n: int, width: float = 4.2, height: float = 3.4) -> tuple[Any, np.ndarray]:
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat[:n]


def _plot_lines(
    runs: pd.DataFrame,
    ok: pd.DataFrame,
    lv: dict[str, pd.Series],
    p: str,
    other: str | None,
    metrics: list[str],
    spec: dict[str, Any],
    path: Path,
) -> Path:
    """Each metric against p: mean with 95 % CI error bars (one line per value of `other`), raw runs for ranges."""
    fig, axes = _grid_axes(len(metrics))
    x_all = lv[p].loc[ok.index]
    numeric = pd.api.types.is_numeric_dtype(lv[p]) and not pd.api.types.is_bool_dtype(lv[p])
    cats = sorted(lv[p].dropna().unique(), key=str) if not numeric else None
    groups = [(None, ok.index)]
    if other is not None:
        groups = [(v, ok.index[ok[other] == v]) for v in sorted(runs[other].unique())]
    for ax, m in zip(axes, metrics, strict=True):
        if p in spec["ranges"]:
            ax.scatter(ok[p], ok[m], s=8, alpha=0.35, color="0.5", label="runs")
        for value, idx in groups:
            y = ok.loc[idx, m]
            g = y.groupby(x_all.loc[idx], sort=True)
            mean, err = g.mean(), g.agg(ci95).fillna(0.0)
            x = mean.index.to_numpy() if numeric else [cats.index(v) for v in mean.index]
            label = None if value is None else f"{other}={value}"
            ax.errorbar(x, mean.to_numpy(), yerr=err.to_numpy(), marker="o", ms=4, capsize=3, label=label)
        if cats is not None:
            ax.set_xticks(range(len(cats)), [str(c) for c in cats])
        ax.set(xlabel=p + (" (bin mean)" if p in spec["ranges"] else ""), title=m)
        ax.title.set_fontsize(9)
        if other is not None or p in spec["ranges"]:
            ax.legend(fontsize=7)
    fig.suptitle(f"mean and 95 % CI against {p}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _heatmaps(ok: pd.DataFrame, a: pd.Series, b: pd.Series, metrics: list[str], path: Path, pooled: bool) -> Path:
    fig, axes = _grid_axes(len(metrics), width=4.6, height=3.8)
    frame = pd.DataFrame({"a": a.loc[ok.index], "b": b.loc[ok.index]})
    for ax, m in zip(axes, metrics, strict=True):
        pivot = frame.assign(y=ok[m]).pivot_table(index="a", columns="b", values="y", aggfunc="mean", dropna=False)
        im = ax.imshow(pivot.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(pivot.columns)), [str(c) for c in pivot.columns], rotation=45, fontsize=7)
        ax.set_yticks(range(len(pivot.index)), [str(i) for i in pivot.index], fontsize=7)
        ax.set(xlabel=b.name, ylabel=a.name)
        ax.set_title(f"mean {m}", fontsize=9)
        fig.colorbar(im, ax=ax)
    if pooled:
        fig.suptitle("averaged over the other varied parameters", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _sobol(runs: pd.DataFrame, spec: dict[str, Any], metrics: list[str], notes: list[str]) -> pd.DataFrame:
    """SALib Sobol indices per metric (and per grid combination) from design-point means over replicates."""
    from SALib.analyze import sobol

    problem = sobol_problem(spec)
    keys, grid_keys = problem["names"], list(spec["grid"])
    per_block = spec["samples"] * (len(keys) + 2)  # Saltelli without second order: N·(D + 2) points
    ok = runs[runs["status"] == "ok"]
    means = ok.groupby("point")[metrics].mean().reindex(sorted(runs["point"].unique()))
    rows, skipped = [], set()
    for b in range(len(means) // per_block):
        block = means.iloc[b * per_block : (b + 1) * per_block]
        first = runs[runs["point"] == block.index[0]].iloc[0]
        where = {k: first[k] for k in grid_keys}
        for m in metrics:
            y = block[m].to_numpy(dtype=float)
            if np.isnan(y).any() or np.ptp(y) == 0:
                skipped.add(m)
                continue
            res = sobol.analyze(problem, y, calc_second_order=False, seed=int(spec.get("seed", 0)))
            for i, k in enumerate(keys):
                rows.append(
                    {
                        **where,
                        "metric": m,
                        "parameter": k,
                        "S1": res["S1"][i],
                        "S1_conf": res["S1_conf"][i],
                        "ST": res["ST"][i],
                        "ST_conf": res["ST_conf"][i],
                    }
                )
    if skipped:
        notes.append(
            f"no Sobol indices for {len(skipped)} metric(s) with a failed design point or no variation "
            f"in some block: {', '.join(sorted(skipped)[:5])}{' …' if len(skipped) > 5 else ''}"
        )
    return pd.DataFrame(rows, columns=[*grid_keys, "metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"])
