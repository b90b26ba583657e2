"""Collectors: read the state after each tick into tidy rows (SPEC 8). They never write state.

Three tables, each a list of rows kept in memory and turned into CSV by analysis.export:
``timeseries`` (one row per fast tick; slow-tick columns filled on slow ticks), ``scales``
(one row per slow tick and scale) and ``nodes`` (the tracked nodes, one row per tick).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .fast_tick import TickTotals
from .graph import Graph
from .mechanisms.levels import scale_means
from .node_types import NODE_TYPES
from .state import State

TIMESERIES_FAST = (
    ["tick", "time", "E_total"]
    + [f"E_mean_{t}" for t in NODE_TYPES]
    + ["active", "saturated", "injected", "rho", "sigma", "participation", "delta_E", "band"]
)
TIMESERIES_SLOW = (
    [
        "err",
        "C_root",
        "R_mean",
        "R_median",
        "R_frac_ge1",
        "R_frac_in_band",
        "persistence_loss",
        "F_coh",
        "E_phase",
        "S_phase",
        "order",
    ]
    + [f"W_mean_{t}" for t in NODE_TYPES]
    + [f"w_mean_{t}" for t in NODE_TYPES]
    + ["alive"]
)
TIMESERIES_COLUMNS = TIMESERIES_FAST + TIMESERIES_SLOW
SCALES_COLUMNS = ["tick", "time", "scale", "n", "alive", "E_mean", "C", "gamma", "lam", "R", "dkl", "pressure"]
NODES_COLUMNS = ["tick", "time", "node", "type", "scale", "E", "w", "R", "C", "dkl", "pressure", "alive"]

_PER_TYPE = "one column per node type (default, memory, task, principle, goal); empty where the type is absent"
TIMESERIES_DOCS = {
    "tick": "fast tick number (1, 2, …)",
    "time": "simulation time in ticks (tick · clock.dt_fast)",
    "E_total": "total activation ΣE after the tick",
    "E_mean_<type>": f"mean activation of the nodes of a type; {_PER_TYPE}",
    "active": "nodes with E > controller.active_threshold",
    "saturated": "nodes clamped at decay.E_max this tick",
    "injected": "energy injected by stimuli and load this tick",
    "rho": "spectral radius ρ of diag(ret)·(I + α·Wᵀ) (power-iteration estimate)",
    "sigma": "branching ratio ΣE(t+1)/(ΣE(t) + injected(t+1))",
    "participation": "participation ratio (ΣE)²/ΣE²: how many nodes carry the energy",
    "delta_E": "activation decay rate δ_E used in this tick (the controller's output)",
    "band": "criticality band of ρ: subcritical, critical, supercritical, runaway",
    "err": "slow ticks: coherence error (C_root − C*)²",
    "C_root": "slow ticks: coherence of the root",
    "R_mean": "slow ticks: mean persistence ratio R over alive nodes",
    "R_median": "slow ticks: median R over alive nodes",
    "R_frac_ge1": "slow ticks: fraction of alive nodes with R ≥ 1",
    "R_frac_in_band": "slow ticks: fraction of alive nodes with 0.5 ≤ R ≤ 2",
    "persistence_loss": "slow ticks: mean relu(1 − R)² over alive nodes",
    "F_coh": "slow ticks (phase on): coherence free energy E_phase − T·S_phase",
    "E_phase": "slow ticks (phase on): phase-gradient energy Σ W̄(1 − cos Δφ)/Σ W̄",
    "S_phase": "slow ticks (phase on): entropy of the phase histogram",
    "order": "slow ticks (phase on): global order parameter |mean e^{iφ}|",
    "W_mean_<type>": f"slow ticks: mean outgoing edge weight of the nodes of a type; {_PER_TYPE}",
    "w_mean_<type>": f"slow ticks: mean node weight w of a type; {_PER_TYPE}",
    "alive": "slow ticks: number of alive (not dormant) nodes",
}
SCALES_DOCS = {
    "tick": "fast tick of the slow tick",
    "time": "simulation time",
    "scale": "scale (0 = leaves, D = root)",
    "n": "nodes at this scale",
    "alive": "alive nodes at this scale",
    "E_mean": "mean activation",
    "C": "mean coherence C",
    "gamma": "mean coherence gain γ",
    "lam": "mean adjoint λ",
    "R": "mean persistence ratio R",
    "dkl": "mean D_KL(q‖p)",
    "pressure": "mean persistence pressure",
}
NODES_DOCS = {
    "tick": "fast tick",
    "time": "simulation time",
    "node": "node index (breadth-first)",
    "type": "node type",
    "scale": "node scale",
    "E": "activation",
    "w": "node weight",
    "R": "persistence ratio",
    "C": "coherence",
    "dkl": "D_KL(q‖p) of the node's prediction",
    "pressure": "persistence pressure",
    "alive": "False once dormant",
}


def type_means(values: np.ndarray, node_type: np.ndarray, counts: np.ndarray) -> list[float]:
    """Mean of ``values`` per node type (NaN for absent types)."""
    if np.count_nonzero(counts) == 1:  # one type only: its mean is the overall mean (no bincount pass)
        return [float(values.mean()) if c else np.nan for c in counts]
    sums = np.bincount(node_type, weights=values, minlength=len(NODE_TYPES))
    with np.errstate(invalid="ignore", divide="ignore"):
        return list(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))


class Recorder:
    """Accumulates the output tables of one run."""

    def __init__(self, graph: Graph, st: State, tracked: np.ndarray) -> None:
        self.graph = graph
        self.tracked = tracked
        self.type_counts = np.bincount(st.node_type, minlength=len(NODE_TYPES))
        self.scale_counts = np.bincount(graph.scale, minlength=graph.n_scales)  # nodes per scale (fixed)
        src_type = st.node_type[graph.edge_src]
        self.edge_type = src_type
        self.edge_type_counts = np.bincount(src_type, minlength=len(NODE_TYPES))
        self.timeseries: list[dict[str, Any]] = []
        self.scales: list[dict[str, Any]] = []
        self.nodes: list[tuple] = []
        self._tracked_type = st.node_type[tracked]
        self._tracked_scale = graph.scale[tracked]

    def fast_row(self, tick: int, time: float, st: State, totals: TickTotals, extra: dict[str, Any]) -> dict[str, Any]:
        """Append the row of a fast tick; the sums over nodes come with the tick (no pass here)."""
        row: dict[str, Any] = {"tick": tick, "time": time, "E_total": totals.after}
        counts = self.type_counts
        for t, s, c in zip(NODE_TYPES, totals.type_sums, counts, strict=True):
            row[f"E_mean_{t}"] = float(s) / c if c else np.nan
        row.update(extra)
        self.timeseries.append(row)
        self.track(tick, time, st)
        return row

    def slow_update(self, st: State, extra: dict[str, Any]) -> None:
        """Fill the slow-tick columns of the latest fast row."""
        row = self.timeseries[-1] if self.timeseries else {}
        for t, m in zip(NODE_TYPES, type_means(st.W, self.edge_type, self.edge_type_counts), strict=True):
            row[f"W_mean_{t}"] = m
        for t, m in zip(NODE_TYPES, type_means(st.w, st.node_type, self.type_counts), strict=True):
            row[f"w_mean_{t}"] = m
        row["alive"] = int(st.alive.sum())
        row.update(extra)
        if self.tracked.size:  # the tracked rows of this tick show the state after the slow tick
            del self.nodes[-self.tracked.size :]
            self.track(row["tick"], row["time"], st)

    def scale_rows(self, tick: int, time: float, st: State, known: dict[str, np.ndarray] | None = None) -> None:
        """Append one row per scale: alive count and the means over alive nodes of E, C, γ, λ, R, D_KL
        and pressure. ``known`` holds means the slow tick's mechanisms already computed over the nodes
        alive now (keys ``C``, ``gamma``, ``lam``, ``R``, ``dkl``, ``pressure``): the same sums in the
        same order, so the same bits, and not summed again."""
        g = self.graph
        n_all = self.scale_counts
        arrays = {"E_mean": st.E, "C": st.C, "gamma": st.gamma, "lam": st.lam}
        arrays.update(R=st.R, dkl=st.dkl, pressure=st.pressure)
        known = known or {}
        todo = [name for name in arrays if name not in known]
        n_alive, means = scale_means(g, st.alive, *(arrays[name] for name in todo))
        summed = dict(zip(todo, means, strict=True))
        cols = {name: known[name] if name in known else summed[name] for name in arrays}  # in the columns' order
        for s in range(g.n_scales):
            row = {"tick": tick, "time": time, "scale": s, "n": int(n_all[s]), "alive": int(n_alive[s])}
            row.update({k: float(v[s]) for k, v in cols.items()})
            self.scales.append(row)

    def track(self, tick: int, time: float, st: State) -> None:
        if self.tracked.size == 0:
            return
        i = self.tracked
        cols = (st.E[i], st.w[i], st.R[i], st.C[i], st.dkl[i], st.pressure[i])
        for k, node in enumerate(i):
            values = tuple(float(col[k]) for col in cols)
            typ, sc = NODE_TYPES[self._tracked_type[k]], int(self._tracked_scale[k])
            self.nodes.append((tick, time, int(node), typ, sc, *values, bool(st.alive[node])))
