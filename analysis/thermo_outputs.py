"""Outputs of the thermodynamics experiment (SPEC 5.6): summary ``thermo.*``, ``work.csv``, plots.

``summary.json`` gets exactly the SPEC's keys under ``thermo``: ``delta_F_exact`` (null with
loops), ``delta_F_jarzynski_forward`` / ``_reverse``, ``delta_F_bar``, ``delta_F_ti``, each
with its bootstrap ``_se``, ``mean_work_forward`` / ``_reverse``, ``dissipated_work``
(⟨W_F⟩ − ΔF, with the exact ΔF where it exists, else BAR's), ``crooks_slope`` and
``crooks_crossing``. A run that stopped before the switch ended has null estimates.
``work.csv`` has one row per trajectory: ``direction`` (forward | reverse), ``trajectory``
(0 …), ``work``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .free_energy import estimates, running_estimates
from .metric_registry import metric
from .plots import _save, plot

if TYPE_CHECKING:
    from model.model import CoherenceModel

SPAWN_KEY = 6  # the bootstrap's stream (the experiment's own is 5)
KEYS = (
    "delta_F_exact",
    "delta_F_jarzynski_forward",
    "delta_F_jarzynski_forward_se",
    "delta_F_jarzynski_reverse",
    "delta_F_jarzynski_reverse_se",
    "delta_F_bar",
    "delta_F_bar_se",
    "delta_F_ti",
    "delta_F_ti_se",
    "mean_work_forward",
    "mean_work_reverse",
    "dissipated_work",
    "crooks_slope",
    "crooks_crossing",
)
COLOURS = {"forward": "#1f77b4", "reverse": "#d62728", "exact": "black", "bar": "#2ca02c", "ti": "#9467bd"}


def thermo_estimates(model: CoherenceModel) -> dict[str, Any]:
    """The summary's ``thermo`` block, computed once per finished experiment (cached on it)."""
    th = model.thermo
    if th is None:
        return {}
    cached = th.__dict__.get("_estimates")
    if cached is not None:
        return cached
    if not th.done:
        return {k: (th.delta_F_exact if k == "delta_F_exact" else None) for k in KEYS}
    rng = np.random.default_rng(np.random.SeedSequence(model.seed, spawn_key=(SPAWN_KEY,)))
    est = estimates(th.work_forward, th.work_reverse, th.ti_samples(), th.K_weights, th.T, th.delta_F_exact, rng=rng)
    out = {k: est[k] for k in KEYS}
    th.__dict__["_estimates"] = out
    return out


@metric("thermo")
def thermo_metric(model: CoherenceModel) -> dict[str, Any]:
    """SPEC 5.6's ``thermo.*`` summary keys (see the module docstring)."""
    return thermo_estimates(model)


def work_frame(model: CoherenceModel) -> pd.DataFrame:
    """One row per trajectory: direction, trajectory, work (empty without the experiment)."""
    th = model.thermo
    if th is None:
        return pd.DataFrame(columns=["direction", "trajectory", "work"])
    m = th.M
    return pd.DataFrame(
        {
            "direction": ["forward"] * m + ["reverse"] * m,
            "trajectory": np.concatenate([np.arange(m), np.arange(m)]),
            "work": th.work,
        }
    )


def histogram_data(w_forward: np.ndarray, w_reverse: np.ndarray, bins: int = 40) -> dict[str, np.ndarray]:
    """Shared bins for P_F(W) and P_R(−W) (densities), as the plots and the app draw them."""
    wf, wr = np.asarray(w_forward, float), -np.asarray(w_reverse, float)
    lo, hi = min(wf.min(), wr.min()), max(wf.max(), wr.max())
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    return {
        "edges": edges,
        "centres": 0.5 * (edges[1:] + edges[:-1]),
        "forward": np.histogram(wf, edges, density=True)[0],
        "reverse": np.histogram(wr, edges, density=True)[0],
    }


@plot
def thermo_plot(model: CoherenceModel, out: Path) -> Path | None:
    """Work histograms P_F(W) and P_R(−W) with ΔF marked; estimates against the number of trajectories."""
    th = model.thermo
    if th is None or not th.done:
        return None
    est = thermo_estimates(model)
    fig, (ax_h, ax_n) = plt.subplots(1, 2, figsize=(14, 5))
    hist = histogram_data(th.work_forward, th.work_reverse)
    width = hist["edges"][1] - hist["edges"][0]
    ax_h.bar(hist["centres"], hist["forward"], width=width, alpha=0.5, color=COLOURS["forward"], label="P_F(W)")
    ax_h.bar(hist["centres"], hist["reverse"], width=width, alpha=0.5, color=COLOURS["reverse"], label="P_R(−W)")
    ref = est["delta_F_exact"]
    if ref is not None:
        ax_h.axvline(ref, color=COLOURS["exact"], lw=2, label=f"ΔF exact = {ref:.3f}")
    ax_h.axvline(est["delta_F_bar"], color=COLOURS["bar"], ls="--", lw=1.5, label=f"ΔF BAR = {est['delta_F_bar']:.3f}")
    ax_h.axvline(est["mean_work_forward"], color=COLOURS["forward"], ls=":", label="⟨W_F⟩")
    ax_h.axvline(-est["mean_work_reverse"], color=COLOURS["reverse"], ls=":", label="−⟨W_R⟩")
    ax_h.set(
        xlabel="work W",
        ylabel="density",
        title=f"Work distributions ({th.M} each way, switch of {th.switch_ticks} ticks, T = {th.T:g})",
    )
    ax_h.legend(fontsize=8)
    run = running_estimates(th.work_forward, th.work_reverse, th.T)
    ax_n.plot(run["n"], run["jarzynski_forward"], "o-", ms=3, color=COLOURS["forward"], label="Jarzynski forward")
    ax_n.plot(run["n"], run["jarzynski_reverse"], "o-", ms=3, color=COLOURS["reverse"], label="Jarzynski reverse")
    ax_n.plot(run["n"], run["bar"], "o-", ms=3, color=COLOURS["bar"], label="BAR")
    ax_n.axhline(est["delta_F_ti"], color=COLOURS["ti"], ls="--", label=f"TI = {est['delta_F_ti']:.3f}")
    if ref is not None:
        ax_n.axhline(ref, color=COLOURS["exact"], lw=2, label="exact")
    ax_n.set(xscale="log", xlabel="trajectories used (each way)", ylabel="ΔF estimate", title="Estimates converge")
    ax_n.legend(fontsize=8)
    return _save(fig, out / "thermo.png")
