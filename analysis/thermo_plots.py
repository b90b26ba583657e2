"""``cohlab run thermodynamics --plots`` (SPEC 5.6): ``thermo.png``, registered with the run plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .free_energy import running_estimates
from .plots import _save, plot
from .thermo_outputs import histogram_data, thermo_estimates

if TYPE_CHECKING:
    from model.model import CoherenceModel

COLOURS = {"forward": "#1f77b4", "reverse": "#d62728", "exact": "black", "bar": "#2ca02c", "ti": "#9467bd"}


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
