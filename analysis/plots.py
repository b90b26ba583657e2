"""Plots of one run, saved as PNG (``cohlab run … --plots``). Each reads only the output tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from model.node_types import NODE_TYPES

from .export import nodes_frame, scales_frame, timeseries_frame

if TYPE_CHECKING:
    from model.model import CoherenceModel

TYPE_COLOURS = {"default": "#555555", "memory": "#1f77b4", "task": "#d62728", "principle": "#2ca02c", "goal": "#9467bd"}
PlotFn = Callable[["CoherenceModel", Path], Path | None]
PLOTS: list[PlotFn] = []


def plot(fn: PlotFn) -> PlotFn:
    PLOTS.append(fn)
    return fn


def save_plots(model: CoherenceModel, out: Path) -> list[Path]:
    """Write every plot that applies to this run; return the files written."""
    written = []
    for fn in PLOTS:
        path = fn(model, out)
        if path is not None:
            written.append(path)
    return written


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@plot
def forgetting_curves(model: CoherenceModel, out: Path) -> Path | None:
    """Mean activation and mean node weight per type over time (log scale), plus tracked nodes."""
    ts = timeseries_frame(model)
    if ts.empty:
        return None
    fig, (ax_e, ax_w, ax_n) = plt.subplots(1, 3, figsize=(16, 4.8))
    slow = ts.dropna(subset=["alive"])
    for t in NODE_TYPES:
        col = f"E_mean_{t}"
        if ts[col].notna().any():
            y = ts[col].where(ts[col] > 0)
            ax_e.plot(ts["time"], y, label=t, color=TYPE_COLOURS[t])
            ax_w.plot(slow["time"], slow[f"w_mean_{t}"], label=t, color=TYPE_COLOURS[t])
    ax_e.set(yscale="log", xlabel="tick", ylabel="mean activation E", title="Activation (fast clock)")
    ax_w.set(yscale="log", xlabel="tick", ylabel="mean node weight w", title="Weights (slow clock)")
    nodes = nodes_frame(model)
    for _node, grp in nodes.groupby("node"):
        ax_n.plot(grp["time"], grp["E"].where(grp["E"] > 0), color=TYPE_COLOURS[grp["type"].iloc[0]], alpha=0.8)
    ax_n.set(yscale="log", xlabel="tick", ylabel="E", title="Tracked nodes (colour = type)")
    ax_e.legend()
    return _save(fig, out / "forgetting_curves.png")


@plot
def rho_timeline(model: CoherenceModel, out: Path) -> Path | None:
    """ρ with the critical bands, δ_E, and mean energy over time."""
    ts = timeseries_frame(model)
    if ts.empty:
        return None
    target = model.params.controller.rho_target
    fig, (ax_r, ax_d, ax_e) = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    ax_r.axhspan(target - 0.05, target + 0.05, color="#2ca02c", alpha=0.15, label="critical band ρ* ± 0.05")
    ax_r.axhline(target + 0.2, color="#d62728", ls="--", lw=1, label="runaway ρ* + 0.2")
    ax_r.plot(ts["time"], ts["rho"], color="black", lw=1, label="ρ")
    ax_r.set(ylabel="spectral radius ρ")
    ax_r.legend(loc="best", fontsize=8)
    ax_d.plot(ts["time"], ts["delta_E"], color="#1f77b4")
    ax_d.set(ylabel="δ_E (per tick)")
    ax_e.plot(ts["time"], ts["E_total"] / model.graph.n, color="#ff7f0e")
    ax_e.set(ylabel="mean E", xlabel="tick")
    return _save(fig, out / "rho_timeline.png")


@plot
def coherence_plot(model: CoherenceModel, out: Path) -> Path | None:
    """Root error and γ (and |λ|) per scale over slow ticks."""
    if not model.params.coherence.enabled:
        return None
    ts, sc = timeseries_frame(model).dropna(subset=["err"]), scales_frame(model)
    fig, (ax_e, ax_g, ax_l) = plt.subplots(1, 3, figsize=(16, 4.8))
    ax_e.plot(ts["time"], ts["err"], color="black", lw=1)
    ax_e.set(yscale="log", xlabel="tick", ylabel="(C_root − C*)²", title="Coherence error")
    for s, grp in sc.groupby("scale"):
        ax_g.plot(grp["time"], grp["gamma"], label=f"scale {s}")
        ax_l.plot(grp["time"], grp["lam"].abs(), label=f"scale {s}")
    ax_g.set(xlabel="tick", ylabel="mean γ", title="Gain γ per scale")
    ax_l.set(yscale="symlog", xlabel="tick", ylabel="mean |λ|", title="Adjoint λ per scale")
    ax_g.legend(fontsize=8)
    return _save(fig, out / "coherence.png")


@plot
def persistence_plot(model: CoherenceModel, out: Path) -> Path | None:
    """R and D_KL per scale over slow ticks."""
    if not model.params.persistence.enabled:
        return None
    sc = scales_frame(model)
    fig, (ax_r, ax_d) = plt.subplots(1, 2, figsize=(13, 4.8))
    for s, grp in sc.groupby("scale"):
        ax_r.plot(grp["time"], grp["R"], label=f"scale {s}")
        ax_d.plot(grp["time"], grp["dkl"], label=f"scale {s}")
    ax_r.axhline(1.0, color="black", ls="--", lw=1)
    ax_r.set(xlabel="tick", ylabel="mean R", title="Persistence ratio per scale")
    ax_d.set(xlabel="tick", ylabel="mean D_KL(q‖p)", title="Model divergence per scale")
    ax_r.legend(fontsize=8)
    return _save(fig, out / "persistence.png")


@plot
def free_energy_plot(model: CoherenceModel, out: Path) -> Path | None:
    """F_coh, E_phase and S_phase over slow ticks."""
    if not model.params.phase.enabled:
        return None
    ts = timeseries_frame(model).dropna(subset=["F_coh"])
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    for ax, col in zip(axes, ("order", "E_phase", "S_phase", "F_coh"), strict=True):
        ax.plot(ts["time"], ts[col])
        ax.set(xlabel="tick", title=col)
    return _save(fig, out / "free_energy.png")


@plot
def recall_plot(model: CoherenceModel, out: Path) -> Path | None:
    """Stability–plasticity (SPEC 6): recall F1 of A and B at every test, phases, chance, dreams."""
    from .plasticity_metrics import dream_frame, recall_frame

    rec = recall_frame(model)
    if rec.empty:
        return None
    dreams = dream_frame(model)
    ncols = 2 if len(dreams) else 1
    fig, axes = plt.subplots(1, ncols, figsize=(7 * ncols, 4.8), squeeze=False)
    ax = axes[0, 0]
    tests = rec.iloc[1:]  # the first row is the chance test in the untrained weights
    ax.plot(tests["time"], tests["A"], "o-", ms=3, label="task A", color="#1f77b4")
    ax.plot(tests["time"], tests["B"], "o-", ms=3, label="task B", color="#ff7f0e")
    ax.axhline(float(rec["all"].iloc[0]), color="#888", ls="--", lw=1, label="chance (untrained)")
    names = {"A": " learn A", "B": " learn B", "done": " done"}
    for e in model.events.of("plasticity.phase"):
        ax.axvline(e["tick"], color="#555", ls=":", lw=1)
        ax.annotate(names.get(e["phase"], e["phase"]), (e["tick"], 1.0), fontsize=8, va="top")
    ax.set(xlabel="tick", ylabel="recall F1", ylim=(0, 1.02), title="Recall of A and B")
    ax.legend(fontsize=8, loc="center right")
    if len(dreams):
        ax_d = axes[0, 1]
        ax_d.bar(dreams["start"], dreams["generated"], width=8, color="#bbbbbb", label="generated")
        ax_d.bar(dreams["start"], dreams["kept"], width=8, color="#9467bd", label="kept (replayed)")
        ax_d.set(xlabel="tick of the sleep", ylabel="dreams", title="Dream loop: one bar per sleep")
        ax_d.legend(fontsize=8)
    return _save(fig, out / "recall.png")


from . import thermo_plots  # noqa: E402, F401  (SPEC 5.6: registers thermo.png)
