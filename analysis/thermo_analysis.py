"""`cohlab analyze` on a sweep of the thermodynamics scenario over ``thermo.switch_ticks`` (SPEC 5.6).

Writes ``analysis/switching.csv`` and ``analysis/switching.png``: per switching time, the
dissipated work ⟨W_F⟩ − ΔF (the second law: never negative, growing as the switch gets
faster) and the bias of every estimator (estimate − ΔF, with ΔF the exact value on
lateral-free trees, else thermodynamic integration, which needs no switching), each as the
mean and 95 % CI over replicates.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from .sweep.design import varied_keys

KEY = "thermo.switch_ticks"
ESTIMATORS = {
    "jarzynski_forward": "Jarzynski forward",
    "jarzynski_reverse": "Jarzynski reverse",
    "bar": "BAR",
    "ti": "TI",
}


def applies(runs: pd.DataFrame, spec: dict[str, Any]) -> bool:
    """A sweep over thermo.switch_ticks alone, of runs with the thermo.* summary."""
    return varied_keys(spec) == [KEY] and "thermo.dissipated_work" in runs.columns


def report(out: Path, runs: pd.DataFrame, spec: dict[str, Any]) -> tuple[list[Path], list[str]]:
    """Write switching.csv and switching.png; return the files and the lines to print."""
    from .analyze import ci95

    ok = runs[runs["status"] == "ok"].copy()
    exact = ok["thermo.delta_F_exact"] if "thermo.delta_F_exact" in ok else pd.Series(math.nan, index=ok.index)
    reference = exact.fillna(ok["thermo.delta_F_ti"])
    cols = {"dissipated_work": ok["thermo.dissipated_work"]}
    for k in ESTIMATORS:
        cols[f"bias_{k}"] = ok[f"thermo.delta_F_{k}"] - reference
        cols[f"se_{k}"] = ok[f"thermo.delta_F_{k}_se"]
    frame = pd.DataFrame(cols).assign(**{KEY: ok[KEY]})
    g = frame.groupby(KEY)
    mean, ci = g.mean(), g.agg(ci95)
    table = pd.DataFrame(index=mean.index)
    for c in frame.columns.drop(KEY):
        table[c] = mean[c]
        if not c.startswith("se_"):
            table[f"{c}_ci95"] = ci[c]
    dest = out / "analysis"
    csv = dest / "switching.csv"
    table.to_csv(csv, float_format="%.6g", lineterminator="\n")

    x = table.index.to_numpy(dtype=float)
    fig, (ax_d, ax_b) = plt.subplots(1, 2, figsize=(13, 4.8))
    ax_d.errorbar(x, table["dissipated_work"], yerr=table["dissipated_work_ci95"].fillna(0), marker="o", capsize=3)
    ax_d.axhline(0, color="black", lw=1)
    ax_d.set(xscale="log", xlabel="switching time (ticks)", ylabel="⟨W_F⟩ − ΔF", title="Dissipated work (second law)")
    for k, label in ESTIMATORS.items():
        ax_b.errorbar(x, table[f"bias_{k}"], yerr=table[f"bias_{k}_ci95"].fillna(0), marker="o", capsize=3, label=label)
    ax_b.axhline(0, color="black", lw=1)
    ax_b.set(xscale="log", xlabel="switching time (ticks)", ylabel="estimate − ΔF", title="Estimators' bias")
    ax_b.legend(fontsize=8)
    fig.tight_layout()
    png = dest / "switching.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    shown = table[["dissipated_work", *[f"bias_{k}" for k in ESTIMATORS], *[f"se_{k}" for k in ESTIMATORS]]]
    ref = "exact ΔF" if exact.notna().all() else "ΔF_TI where no exact value exists"
    lines = ["", f"switching time (mean over replicates; bias = estimate − {ref}; se = mean bootstrap s.e.):"]
    lines.append(shown.to_string(float_format=lambda v: "–" if math.isnan(v) else f"{v:.4g}"))
    return [csv, png], lines
