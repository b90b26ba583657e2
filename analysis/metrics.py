"""Scenario metrics for summary.json (SPEC 7, 8): one function per scenario kind, registered by name.

Metrics are honest statistics of the recorded run (means over windows, fitted values with
their expected counterparts), never single lucky samples.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from model.node_types import M_E, M_W, NODE_TYPES

from .export import nodes_frame, scales_frame, timeseries_frame
from .fitting import fit_half_life
from .metric_registry import metric

if TYPE_CHECKING:
    from model.model import CoherenceModel


def generic(model: CoherenceModel) -> dict[str, Any]:
    ts = timeseries_frame(model)
    st = model.state
    out: dict[str, Any] = {
        "scenario": model.scenario.name if model.scenario else None,
        "seed": model.seed,
        "ticks": int(model.tick),
        "slow_ticks": int(model.slow_ticks),
        "nodes": int(model.graph.n),
        "edges": int(model.graph.nnz),
        "final_E_total": float(st.E.sum()),
        "final_delta_E": float(st.delta_E),
        "final_rho": float(st.rho),
    }
    if len(ts):
        out["rho_mean"] = float(ts["rho"].mean())
        out["saturated_max"] = int(ts["saturated"].max())
    return out


def _slow_rows(ts: pd.DataFrame) -> pd.DataFrame:
    return ts[ts["w_mean_default"].notna() | ts[[f"w_mean_{t}" for t in NODE_TYPES]].notna().any(axis=1)]


@metric("forgetting_curves")
def forgetting_curves(model: CoherenceModel) -> dict[str, Any]:
    """Fitted activation and weight half-lives per type against ln2/(δ·m), over the fit window.

    The fit window is the time before learning is switched on (the scenario's ``set``
    stimulus of ``learning.enabled``), or the whole run.
    """
    ts = timeseries_frame(model)
    p = model.params
    t_learn = _first_set_time(model, "learning.enabled") or math.inf
    fit = ts[ts["time"] < t_learn]
    slow = _slow_rows(fit)
    delta_E, delta_W = _initial(model, "decay.delta_E"), _initial(model, "decay.delta_W")
    out: dict[str, Any] = {"fit_window_end": None if math.isinf(t_learn) else t_learn, "types": {}}
    present = set(np.unique(model.state.node_type))
    for i, t in enumerate(NODE_TYPES):
        if i not in present:
            continue
        hE = fit_half_life(fit["time"].to_numpy(), fit[f"E_mean_{t}"].to_numpy())
        hW = fit_half_life(slow["time"].to_numpy(), slow[f"w_mean_{t}"].to_numpy())
        eE = math.log(2) / (delta_E * M_E[t] * p.clock.dt_fast) * p.clock.dt_fast
        eW = math.log(2) / (delta_W * M_W[t]) if delta_W > 0 else math.inf
        out["types"][t] = {
            "half_life_E": hE,
            "expected_half_life_E": eE,
            "rel_error_E": abs(hE / eE - 1),
            "half_life_W": hW,
            "expected_half_life_W": eW,
            "rel_error_W": abs(hW / eW - 1) if math.isfinite(eW) else math.nan,
            "ratio_W_to_E": hW / hE,
            "expected_ratio": eW / eE,
        }
    errs = [v["rel_error_E"] for v in out["types"].values()] + [v["rel_error_W"] for v in out["types"].values()]
    out["max_rel_error"] = float(np.nanmax(errs)) if errs else math.nan
    return out


@metric("criticality")
def criticality(model: CoherenceModel) -> dict[str, Any]:
    """ρ, δ_E and mean E per load phase (phases split at the scenario's load changes)."""
    ts = timeseries_frame(model)
    p = model.params
    warmup = 100
    changes = [s.at for s in _set_stimuli(model, "load.rate")]
    edges = [0.0, *sorted(changes), math.inf]
    rates = [_initial(model, "load.rate")] + [
        s.value for s in sorted(_set_stimuli(model, "load.rate"), key=lambda s: s.at)
    ]
    phases = []
    for k in range(len(edges) - 1):
        seg = ts[(ts["time"] > edges[k]) & (ts["time"] <= edges[k + 1])]
        settled = seg[seg["time"] > max(warmup, edges[k])]
        late = seg[seg["time"] > edges[k] + warmup]  # the phase after its own transient
        phases.append(
            {
                "from": edges[k],
                "to": None if math.isinf(edges[k + 1]) else edges[k + 1],
                "load_rate": rates[k] if k < len(rates) else None,
                "rho_mean": float(seg["rho"].mean()) if len(seg) else math.nan,
                "rho_sd": float(seg["rho"].std()) if len(seg) > 1 else math.nan,
                "rho_max_abs_dev_after_warmup": float((settled["rho"] - p.controller.rho_target).abs().max())
                if len(settled)
                else math.nan,
                "delta_E_mean": float(seg["delta_E"].mean()) if len(seg) else math.nan,
                "E_mean": float(seg["E_total"].mean() / model.graph.n) if len(seg) else math.nan,
                "E_mean_settled": float(late["E_total"].mean() / model.graph.n) if len(late) else math.nan,
                "saturated_fraction_mean": float(seg["saturated"].mean() / model.graph.n) if len(seg) else math.nan,
            }
        )
    after = ts[ts["time"] > warmup]
    dev = (after["rho"] - p.controller.rho_target).abs()
    return {
        "controller": p.controller.enabled,
        "rho_target": p.controller.rho_target,
        "warmup": warmup,
        "phases": phases,
        "rho_max_abs_dev_after_warmup": float(dev.max()) if len(dev) else math.nan,
        "rho_mean_after_warmup": float(after["rho"].mean()) if len(after) else math.nan,
        "longest_pinned_ticks": longest_pinned(
            ts["delta_E"].to_numpy(), p.controller.delta_min, p.controller.delta_max
        ),
        "saturated_fraction_final": float(ts["saturated"].iloc[-1] / model.graph.n) if len(ts) else math.nan,
        "band_fractions": {
            b: float((after["band"] == b).mean()) for b in ("subcritical", "critical", "supercritical", "runaway")
        },
    }


def longest_pinned(delta: np.ndarray, lo: float, hi: float) -> int:
    """Longest run of consecutive ticks with δ_E at a bound."""
    pinned = np.isclose(delta, lo, rtol=0, atol=1e-12) | np.isclose(delta, hi, rtol=0, atol=1e-12)
    best = cur = 0
    for x in pinned:
        cur = cur + 1 if x else 0
        best = max(best, cur)
    return int(best)


@metric("consolidation")
def consolidation(model: CoherenceModel) -> dict[str, Any]:
    """Consolidation and resistance statistics from the events and the tracked nodes."""
    ev = model.events.of("decay.consolidation.update")
    out: dict[str, Any] = {
        "updates": len(ev),
        "max_consolidated": max((e["consolidated_count"] for e in ev), default=0),
        "budget": model.params.consolidation.budget,
        "budget_exhausted_updates": sum(1 for e in ev if e["budget_exhausted"]),
        "triggers_total": {
            k: sum(e["triggers"][k] for e in ev) for k in ("retrieval_based", "high_affect", "unresolved_goal")
        },
    }
    groups = _tracked_groups(model)
    nodes = nodes_frame(model)
    fits = {}
    for label, idx in groups.items():
        sub = nodes[nodes["node"].isin(idx)].groupby("time")["E"].mean()
        first_pulse = _first_pulse_time(model)
        win = sub[(sub.index > first_pulse) & (sub.index <= first_pulse + 60)]
        fits[label] = fit_half_life(win.index.to_numpy(), win.to_numpy())
    out["half_life_by_group"] = fits
    if model.params.resistance.enabled:
        r = model.state.r_res
        out["resistance"] = {"mean": float(r.mean()), "max": float(r.max()), "above_1_3": int((r > 1.3).sum())}
    return out


def _tracked_groups(model: CoherenceModel) -> dict[str, np.ndarray]:
    """Tracked node groups given as explicit node lists, by label."""
    if not model.scenario:
        return {}
    return {
        sel.label or f"group_{k}": np.asarray(sel.nodes)
        for k, sel in enumerate(model.scenario.scenario.tracked)
        if sel.nodes is not None
    }


def _set_stimuli(model: CoherenceModel, key: str) -> list:
    return [s for s in (model.scenario.stimuli if model.scenario else []) if s.kind == "set" and s.key == key]


def _first_set_time(model: CoherenceModel, key: str) -> float | None:
    times = [s.at for s in _set_stimuli(model, key)]
    return min(times) if times else None


def _first_pulse_time(model: CoherenceModel) -> float:
    times = [s.at for s in (model.scenario.stimuli if model.scenario else []) if s.kind == "pulse"]
    return min(times) if times else 0.0


def _initial(model: CoherenceModel, key: str) -> Any:
    """A parameter's value at the start of the run (before any ``set`` stimulus)."""
    from model.keys import flatten, resolve, to_dotted

    base = model.scenario.resolve_params() if model.scenario else resolve()
    return to_dotted(resolve(flatten(base.model_dump()), model.overrides))[key]


@metric("coherence_backprop")
def coherence_backprop(model: CoherenceModel) -> dict[str, Any]:
    """Error before and after γ learning (single samples and 10-slow-tick means), and the final γ per scale."""
    ts = timeseries_frame(model)
    err = ts["err"].dropna().to_numpy() if "err" in ts else np.array([])
    out: dict[str, Any] = {"slow_ticks": int(err.size)}
    if err.size:
        k = min(10, err.size)
        first, last = float(err[:k].mean()), float(err[-k:].mean())
        out.update(
            initial_error=float(err[0]),
            final_error=float(err[-1]),
            reduction_single_sample=1 - float(err[-1]) / float(err[0]) if err[0] > 0 else math.nan,
            mean_error_first_10=first,
            mean_error_last_10=last,
            reduction=1 - last / first if first > 0 else math.nan,
        )
    g, st = model.graph, model.state
    internal = g.n_children > 0
    out["gamma_by_scale"] = [float(st.gamma[(g.scale == s)].mean()) for s in range(g.n_scales)]
    out["gamma_learned_by_scale"] = [
        float(st.gamma[(g.scale == s) & internal].mean()) if ((g.scale == s) & internal).any() else None
        for s in range(g.n_scales)
    ]
    out["adjoint_by_scale"] = [float(np.abs(st.lam[g.scale == s]).mean()) for s in range(g.n_scales)]
    leaves = scales_frame(model).query("scale == 0")["C"].to_numpy()  # the inputs the leaves fed the hierarchy
    out["leaf_input_last_10"] = float(leaves[-10:].mean()) if leaves.size else math.nan
    return out


@metric("phase")
def phase_metrics(model: CoherenceModel) -> dict[str, Any]:
    """Order parameter and free energy, averaged over the second half of the run (the steady state)."""
    ts = timeseries_frame(model)
    slow = ts.dropna(subset=["order"])
    late = slow[slow["time"] > slow["time"].max() / 2] if len(slow) else slow
    out: dict[str, Any] = {"T": model.params.phase.T, "K": model.params.phase.K}
    for col in ("order", "E_phase", "S_phase", "F_coh"):
        out[f"{col}_mean"] = float(late[col].mean()) if len(late) else math.nan
    return out


@metric("persistence")
def persistence_metrics(model: CoherenceModel) -> dict[str, Any]:
    """Steady state before any shift; the shifted subtree before, at and after its shift; recovery; dormancy."""
    ts = timeseries_frame(model)
    slow = ts.dropna(subset=["R_mean"])
    shifts = [s for s in (model.scenario.stimuli if model.scenario else []) if s.kind == "environment_shift"]
    once = [s for s in shifts if s.every is None]
    first_change = min((s.at for s in shifts), default=math.inf)
    steady = slow[(slow["time"] >= min(300.0, first_change / 2)) & (slow["time"] < first_change)]
    out: dict[str, Any] = {
        "steady_state": {
            "window": [float(steady["time"].min()), float(steady["time"].max())] if len(steady) else None,
            "R_median": float(steady["R_median"].mean()) if len(steady) else math.nan,
            "R_frac_in_0.5_2": float(steady["R_frac_in_band"].mean()) if len(steady) else math.nan,
            "R_mean": float(steady["R_mean"].mean()) if len(steady) else math.nan,
        },
        "alive_final": int(model.state.alive.sum()),
        "dormant_final": int((~model.state.alive).sum()),
        "deaths": sum(e["count"] for e in model.events.of("persistence.death")),
    }
    nodes = nodes_frame(model)
    groups = _tracked_subtrees(model)
    slow_times = set(slow["time"])
    for label, idx in groups.items():
        rows = nodes[nodes["node"].isin(idx) & nodes["time"].isin(slow_times)].groupby("time")
        sub, dkl = rows["R"].mean(), rows["dkl"].mean()
        entry: dict[str, Any] = {"nodes": len(idx), "R_mean_final": float(sub.iloc[-1]) if len(sub) else math.nan}
        entry["alive_final"] = int(model.state.alive[idx].sum())
        if label == "shifted" and once:
            t0 = once[0].at
            before, after = sub[sub.index < t0], sub[sub.index >= t0]
            entry["R_before"] = float(before.iloc[-1]) if len(before) else math.nan
            entry["R_at"] = float(after.iloc[0]) if len(after) else math.nan
            entry["R_min_after"] = float(after.min()) if len(after) else math.nan
            d_before, d_after = dkl[dkl.index < t0], dkl[dkl.index >= t0]
            entry["dkl_before"] = float(d_before.iloc[-1]) if len(d_before) else math.nan
            entry["dkl_at"] = float(d_after.iloc[0]) if len(d_after) else math.nan
            entry["dkl_final"] = float(d_after.iloc[-1]) if len(d_after) else math.nan
            entry["R_final"] = float(after.iloc[-1]) if len(after) else math.nan
            recovered = after[after >= 1.0]
            entry["recovery_ticks"] = float(recovered.index[0] - t0) if len(recovered) else None
        out[label] = entry
    return out


def _tracked_subtrees(model: CoherenceModel) -> dict[str, np.ndarray]:
    if not model.scenario:
        return {}
    return {
        sel.label or f"group_{k}": sel.resolve(model, np.random.default_rng(0))
        for k, sel in enumerate(model.scenario.scenario.tracked)
        if sel.count is None
    }
