"""Seed 000's Part 7 / Prediction 3 / Test C: memory as a deformation of the response landscape (``landscape_memory``).

Seed 000: "after learning, C_after(x) ≠ C_before(x); ΔC(x) = C_after(x) − C_before(x) … is not
addressable, not replayable, but causally active", "no hidden memory bank exists", "system
response depends on training history"; Test C: "train a system, then probe responses …
compare trained vs untrained landscapes".

The probe (``model.mechanisms.coherence.response``) computes the root's coherence for given
leaf inputs, read-only, from a state's γ, w and alive flags. The input plane x = (x_a, x_b):
the leaves under the root's first child get x_a, every other leaf x_b, both on :data:`GRID`.

Summary metric ``landscape`` (per run, after the run): the untrained hierarchy is the same
scenario, seed and parameters built afresh (γ = γ0, nothing learned). On the same grid:
``C_before`` (untrained), ``C_after`` (the run's final state), and the scalars
``dC_max_abs`` / ``dC_mean`` (ΔC over the grid); ``x_training`` (the leaves' mean input over the
last 10 slow ticks), ``err_before_at_training`` / ``err_after_at_training`` ((C_root − C*)² at
that input, before and after learning: what the deformation does at the trained condition);
``restored_max_abs`` = max |C(copy of the trained state with the untrained γ restored) −
C_before| and ``transplant_max_abs`` = max |C(copy of the untrained state given the trained γ)
− C_after| (both 0 exactly when γ holds the whole memory); ``w_changed`` = max |w_after − w_before|.
The live model is never touched: every probe runs on copies.

``cohlab analyze`` on the ready sweep (two training histories, ``phase.T`` 0.05 and 0.5, on
paired seeds) writes ``analysis/landscape.csv`` (per history and grid cell: C_before, C_after,
ΔC, mean ± 95 % CI over seeds, and the paired history difference), ``analysis/landscape.png``
(both surfaces and their difference per history, and the history difference) and the claims
000-TC, 000-P3 and 000-P3c.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from model.mechanisms.coherence import response

from .claims import Claim, Estimate, direction, estimate, save_figure, save_tables
from .experiment_files import figure, matched_runs, ok_runs, pair_keys, sweep_spec
from .export import scales_frame
from .metric_registry import metric

if TYPE_CHECKING:
    from model.graph import Graph
    from model.model import CoherenceModel
    from model.state import State

GRID = (0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.99)
PREFIX = "landscape."
HISTORY = "phase.T"
COMMAND = "cohlab sweep landscape_memory --ready --out runs/landscape && cohlab analyze runs/landscape"


def plane_inputs(graph: Graph, grid: tuple[float, ...] = GRID) -> np.ndarray:
    """Leaf-input vectors for every (x_a, x_b) of the grid: shape (len(grid)², N), row = a·len(grid) + b."""
    leaves = graph.is_leaf
    side_a = np.zeros(graph.n, bool)
    first = int(graph.first_child[0]) if graph.n_children[0] > 0 else 0
    side_a[graph.subtree(first)] = True
    xa, xb = np.meshgrid(grid, grid, indexing="ij")
    x = np.where(leaves & side_a, xa.reshape(-1, 1), xb.reshape(-1, 1))
    return np.where(leaves, x, 0.0)


def root_surface(graph: Graph, st: State, grid: tuple[float, ...] = GRID) -> np.ndarray:
    """C_root over the input plane (len(grid) × len(grid)), read-only."""
    return response(graph, st, plane_inputs(graph, grid))[:, 0].reshape(len(grid), len(grid))


def untrained_state(model: CoherenceModel) -> State:
    """The same scenario, seed and parameters built afresh: the hierarchy before any learning."""
    from model.model import CoherenceModel

    return CoherenceModel(model.scenario, seed=model.seed, params=model.overrides, engine=model.engine).state


@metric("landscape")
def landscape_metric(model: CoherenceModel) -> dict[str, Any]:
    """The trained and untrained response surfaces and the γ-restoration test (module docstring)."""
    g, st = model.graph, model.state
    before_st = untrained_state(model)
    before, after = root_surface(g, before_st), root_surface(g, st)
    restored = st.copy()
    restored.gamma[:] = before_st.gamma
    transplant = before_st.copy()
    transplant.gamma[:] = st.gamma
    leaves = scales_frame(model).query("scale == 0")["C"].to_numpy()
    x_train = float(leaves[-10:].mean()) if leaves.size else float("nan")
    at_train = np.where(g.is_leaf, x_train, 0.0)
    target = model.params.coherence.target
    d = after - before
    return {
        "dC_max_abs": float(np.abs(d).max()),
        "dC_mean": float(d.mean()),
        "x_training": x_train,
        "err_before_at_training": float((response(g, before_st, at_train)[0] - target) ** 2),
        "err_after_at_training": float((response(g, st, at_train)[0] - target) ** 2),
        "restored_max_abs": float(np.abs(root_surface(g, restored) - before).max()),
        "transplant_max_abs": float(np.abs(root_surface(g, transplant) - after).max()),
        "w_changed": float(np.abs(st.w - before_st.w).max()),
        "grid": list(GRID),
        "C_before": _cells(before),
        "C_after": _cells(after),
    }


def _cells(surface: np.ndarray) -> dict[str, dict[str, float]]:
    return {f"a{i}": {f"b{j}": float(v) for j, v in enumerate(row)} for i, row in enumerate(surface)}


# ----------------------------------------------------------------------------- the analysis


def _surface(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Per run, the (len(GRID) × len(GRID)) surface ``name`` from the flattened columns: shape runs × a × b."""
    n = len(GRID)
    cols = [f"{PREFIX}{name}.a{i}.b{j}" for i in range(n) for j in range(n)]
    return frame[cols].to_numpy(float).reshape(len(frame), n, n)


def cell_estimates(values: np.ndarray) -> list[list[Estimate]]:
    """Mean ± 95 % CI over the first axis, per cell."""
    return [[estimate(values[:, i, j].tolist()) for j in range(values.shape[2])] for i in range(values.shape[1])]


def verdict_deformed(cells: list[Estimate], err_drop: Estimate) -> str:
    """Part 7 / Test C: confirmed when ΔC ≠ 0 somewhere (95 % CI) and the deformation lowers the
    error at the trained input (err_before − err_after > 0); partly when ΔC ≠ 0 but the error is
    not lowered; refuted when ΔC is indistinguishable from 0 everywhere."""
    if not any(direction(e) != 0 for e in cells):
        return "refuted"
    return "confirmed" if direction(err_drop) > 0 else "partly"


def verdict_no_bank(restored_max: float, transplant_max: float, deformation_max: float) -> str:
    """Prediction 3: confirmed when restoring γ removes ΔC exactly and transplanting γ recreates it
    exactly while ΔC itself is not 0; refuted when restoring γ leaves a difference (the memory
    would live elsewhere); partly otherwise (e.g. nothing was learned)."""
    if restored_max != 0.0 or transplant_max != 0.0:
        return "refuted"
    return "confirmed" if deformation_max > 0.0 else "partly"


def verdict_history(cells: list[Estimate]) -> str:
    """Prediction 3, third bullet: confirmed when the trained surfaces of two histories differ
    (95 % CI) in at least half the cells, partly in some, refuted in none."""
    hits = sum(direction(e) != 0 for e in cells)
    if cells and 2 * hits >= len(cells):
        return "confirmed"
    return "partly" if hits else "refuted"


def report(directory: Path) -> dict[str, Any]:
    """Write analysis/landscape.csv and .png; return what the claims need."""
    ok = ok_runs(directory)
    histories = sorted(ok[HISTORY].unique())
    per: dict[float, dict[str, Any]] = {}
    rows = []
    for h in histories:
        sub = ok[ok[HISTORY] == h].sort_values("seed")
        before, after = _surface(sub, "C_before"), _surface(sub, "C_after")
        d = cell_estimates(after - before)
        per[h] = {"runs": sub, "before": before, "after": after, "dC": d}
        for i, xa in enumerate(GRID):
            for j, xb in enumerate(GRID):
                rows.append(
                    {
                        HISTORY: h,
                        "x_a": xa,
                        "x_b": xb,
                        "n": d[i][j].n,
                        "C_before": before[:, i, j].mean(),
                        "C_after": after[:, i, j].mean(),
                        "dC": d[i][j].mean,
                        "dC_ci95": d[i][j].ci95,
                    }
                )
    table = pd.DataFrame(rows)
    history_diff = None
    if len(histories) >= 2:
        lo, hi = matched_runs(ok, HISTORY, histories[0], histories[-1], pair_keys(sweep_spec(directory), HISTORY))
        history_diff = cell_estimates(_surface(hi, "C_after") - _surface(lo, "C_after"))
        diff = {(xa, xb): history_diff[i][j] for i, xa in enumerate(GRID) for j, xb in enumerate(GRID)}
        table["history_diff"] = [diff[(r.x_a, r.x_b)].mean for r in table.itertuples()]
        table["history_diff_ci95"] = [diff[(r.x_a, r.x_b)].ci95 for r in table.itertuples()]
    save_tables(directory, landscape=table)
    _plot(per, histories, history_diff, ok, directory)
    return {"ok": ok, "per": per, "histories": histories, "history_diff": history_diff}


def _plot(
    per: dict[float, dict[str, Any]],
    histories: list[float],
    history_diff: list[list[Estimate]] | None,
    ok: pd.DataFrame,
    directory: Path,
) -> None:
    rows = len(histories)
    fig, axes = figure(rows, 4, 17, 3.8 * rows)
    for r, h in enumerate(histories):
        p = per[h]
        d = np.array([[e.mean for e in row] for row in p["dC"]])
        panels = (
            (p["before"].mean(axis=0), "C_root before learning (γ = γ0)", "viridis", None),
            (p["after"].mean(axis=0), f"C_root after learning at {HISTORY} = {h:g}", "viridis", None),
            (d, "ΔC = C_after − C_before", "RdBu_r", float(np.abs(d).max()) or 1.0),
        )
        for ax, (z, title, cmap, lim) in zip(axes[r][:3], panels, strict=True):
            kw = {"vmin": -lim, "vmax": lim} if lim else {"vmin": 0.0, "vmax": 1.0}
            im = ax.pcolormesh(GRID, GRID, z.T, shading="nearest", cmap=cmap, **kw)
            ax.set(xlabel="x_a (leaves under the root's first child)", ylabel="x_b (the other leaves)")
            ax.set_title(title, fontsize=9)
            fig.colorbar(im, ax=ax)
    ax = axes[0][3]
    if history_diff is not None:
        z = np.array([[e.mean for e in row] for row in history_diff])
        lim = float(np.abs(z).max()) or 1.0
        im = ax.pcolormesh(GRID, GRID, z.T, shading="nearest", cmap="PuOr", vmin=-lim, vmax=lim)
        ax.set_title(f"training history: C_after({histories[-1]:g}) − C_after({histories[0]:g}), paired", fontsize=9)
        ax.set(xlabel="x_a", ylabel="x_b")
        fig.colorbar(im, ax=ax)
    else:
        ax.axis("off")
    for extra in axes[1:, 3] if rows > 1 else []:
        extra.axis("off")
        extra.text(
            0.02,
            0.5,
            "restoring the untrained γ on a copy of the trained state:\n"
            f"max |C − C_before| = {ok[PREFIX + 'restored_max_abs'].max():.3g} over all runs and cells\n"
            "giving the untrained copy the trained γ:\n"
            f"max |C − C_after| = {ok[PREFIX + 'transplant_max_abs'].max():.3g}",
            fontsize=9,
            va="center",
        )
    save_figure(fig, Path(directory) / "analysis" / "landscape.png")


def claims(directory: Path) -> list[Claim]:
    """000-TC, 000-P3 and 000-P3c from the landscape_memory sweep."""
    if HISTORY not in sweep_spec(directory).get("grid", {}):
        return []
    r = report(directory)
    ok, per, histories = r["ok"], r["per"], r["histories"]
    cells = [e for h in histories for row in per[h]["dC"] for e in row]
    nonzero = sum(direction(e) != 0 for e in cells)
    base = per[histories[0]]["runs"]
    err_drop = estimate((base[PREFIX + "err_before_at_training"] - base[PREFIX + "err_after_at_training"]).tolist())
    x_train = estimate(base[PREFIX + "x_training"].tolist())
    err_b = estimate(base[PREFIX + "err_before_at_training"].tolist())
    err_a = estimate(base[PREFIX + "err_after_at_training"].tolist())
    restored = float(ok[PREFIX + "restored_max_abs"].max())
    transplant = float(ok[PREFIX + "transplant_max_abs"].max())
    deformation = float(ok[PREFIX + "dC_max_abs"].max())
    w_changed = float(ok[PREFIX + "w_changed"].max())
    n = len(base)
    out = [
        Claim(
            id="000-TC",
            source="000",
            claim="C_after(x) ≠ C_before(x) … This ΔC is not addressable, not replayable, but causally active",
            verdict=verdict_deformed(cells, err_drop),
            numbers=(
                f"ΔC(x) of the root over a {len(GRID)}×{len(GRID)} input grid, {len(histories)} training histories, "
                f"{n} seeds each: ≠ 0 (95 % CI) in {nonzero} of {len(cells)} cells, max |ΔC| {deformation:.3f}; at the "
                f"trained input (x ≈ {x_train.mean:.2f}, {HISTORY} = {histories[0]:g}) the deformation lowers "
                f"(C_root − C*)² from {err_b.text(5)} to {err_a.text(5)}"
            ),
            command=COMMAND,
        ),
        Claim(
            id="000-P3",
            source="000",
            claim="No hidden “memory bank” exists. History encoded in present constraints",
            verdict=verdict_no_bank(restored, transplant, deformation),
            numbers=(
                f"restoring the untrained γ (on a copy of the trained state) leaves max |ΔC| = {restored:.3g}; "
                "giving the untrained hierarchy the trained γ reproduces C_after "
                + ("exactly; " if transplant == 0 else f"to within {transplant:.3g}; ")
                + f"node weights changed by {w_changed:.3g}: the memory is the learned γ and nothing else "
                "(C depends on γ, w and x only)"
            ),
            command=COMMAND,
        ),
    ]
    if r["history_diff"] is not None:
        diff = [e for row in r["history_diff"] for e in row]
        hits = sum(direction(e) != 0 for e in diff)
        biggest = max(diff, key=lambda e: abs(e.mean))
        out.append(
            Claim(
                id="000-P3c",
                source="000",
                claim="System response depends on training history",
                verdict=verdict_history(diff),
                numbers=(
                    f"trained at {HISTORY} = {histories[-1]:g} vs {histories[0]:g} (paired seeds): C_after differs "
                    f"(95 % CI) in {hits} of {len(diff)} input cells, by up to {biggest.text(4, signed=True)}"
                ),
                command=COMMAND,
            )
        )
    return out
