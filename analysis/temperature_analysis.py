"""`cohlab analyze` on a temperature sweep (SPEC 7 ``temperature_sweep``, 4.3, 5.3).

A sweep of the ``temperature_sweep`` scenario over ``phase.T`` gets ``analysis/temperature.png``
and ``analysis/temperature.csv``: the order parameter, E_phase, S_phase and F_coh against T
(mean and 95 % CI over replicates), and the measured mean link alignment
⟨cos(φ_i − φ_j)⟩ = 1 − E_phase (all links carry the same W̄ when learning is off) beside the
exact curve of a lateral-free tree, I₁(K·W̄/T)/I₀(K·W̄/T). On a tree without lateral links
the two must agree (SPEC 4.3); lateral links close loops and raise the alignment above the
tree curve.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.special import i0e, i1e

from .sweep.design import varied_keys

COLUMNS = {
    "order": "phase.order_mean",
    "E_phase": "phase.E_phase_mean",
    "S_phase": "phase.S_phase_mean",
    "F_coh": "phase.F_coh_mean",
}


def applies(runs: pd.DataFrame, spec: dict[str, Any]) -> bool:
    """A sweep over phase.T alone, of runs with the phase metrics."""
    return varied_keys(spec) == ["phase.T"] and all(c in runs.columns for c in COLUMNS.values())


def tree_alignment(T: np.ndarray, coupling: float) -> np.ndarray:
    """Exact ⟨cos(φ_i − φ_j)⟩ of a link of a lateral-free tree: I₁(κ)/I₀(κ), κ = coupling/T (1 at T = 0)."""
    T = np.asarray(T, dtype=float)
    kappa = np.divide(coupling, T, out=np.full(T.shape, np.inf), where=T > 0)
    finite = np.isfinite(kappa)
    out = np.ones(T.shape)
    out[finite] = i1e(kappa[finite]) / i0e(kappa[finite])
    return out


def _setting(spec: dict[str, Any]) -> dict[str, float]:
    """K, W̄ (= graph.w0 with learning off) and lateral_k of the sweep's runs."""
    from scenarios.loader import load_scenario

    p = load_scenario(spec["scenario"]).resolve_params(spec.get("fixed", {}))
    return {"K": p.phase.K, "w": p.graph.w0, "lateral_k": p.graph.lateral_k, "learning": p.learning.enabled}


def report(out: Path, runs: pd.DataFrame, spec: dict[str, Any]) -> tuple[list[Path], list[str]]:
    """Write temperature.csv and temperature.png; return the files and the lines to print."""
    from .analyze import ci95

    ok = runs[runs["status"] == "ok"].copy()
    ok["alignment"] = 1.0 - ok[COLUMNS["E_phase"]]
    cols = [*COLUMNS.values(), "alignment"]
    g = ok.groupby("phase.T")[cols]
    mean, ci = g.mean(), g.agg(ci95)
    s = _setting(spec)
    K = ok["phase.K"].iloc[0] if "phase.K" in ok and ok["phase.K"].nunique() == 1 else s["K"]
    table = pd.DataFrame(index=mean.index)
    for c in cols:
        name = c.removeprefix("phase.").removesuffix("_mean")
        table[name] = mean[c]
        table[f"{name}_ci95"] = ci[c]
    table["alignment_exact_tree"] = tree_alignment(table.index.to_numpy(), K * s["w"])
    dest = out / "analysis"
    csv = dest / "temperature.csv"
    table.to_csv(csv, float_format="%.6g", lineterminator="\n")

    fig, axes = plt.subplots(1, 5, figsize=(22, 4.3))
    T = table.index.to_numpy(dtype=float)
    for ax, (label, c) in zip(axes, COLUMNS.items(), strict=False):
        ax.errorbar(T, mean[c], yerr=ci[c].fillna(0.0), marker="o", ms=4, capsize=3)
        ax.set(xlabel="temperature T", title=label)
    ax = axes[4]
    grid = np.linspace(0.0, max(T.max(), 1e-9), 400)
    ax.plot(grid, tree_alignment(grid, K * s["w"]), color="black", lw=2, label="exact, lateral-free tree")
    where = "lateral-free tree" if s["lateral_k"] == 0 else f"graph.lateral_k = {s['lateral_k']:g} (loops)"
    ax.errorbar(T, mean["alignment"], yerr=ci["alignment"].fillna(0.0), fmt="o", ms=5, capsize=3, label="measured")
    ax.set(
        xlabel="temperature T", ylabel="⟨cos(φ_i − φ_j)⟩ = 1 − E_phase", title=f"link alignment, K·W̄ = {K * s['w']:g}"
    )
    ax.legend(fontsize=8, title=where, title_fontsize=8)
    fig.suptitle("temperature sweep: mean and 95 % CI over replicates", fontsize=10)
    fig.tight_layout()
    png = dest / "temperature.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    shown = table[["order", "E_phase", "S_phase", "F_coh", "alignment", "alignment_exact_tree"]]
    lines = ["", f"temperature sweep ({where}; alignment = 1 − E_phase, exact = I1/I0(K·W̄/T)):"]
    lines.append(shown.to_string(float_format=lambda v: "–" if math.isnan(v) else f"{v:.4g}"))
    if s["learning"]:
        lines.append("note: learning was on, so W̄ moved and the exact curve uses the initial graph.w0")
    return [csv, png], lines
