"""Seed 000's own simulation (Part 5) and its untestable predictions, from the ready sweep of ``coherence_backprop``.

Seed 000 reports one run of its five-scale chain (C(k) = tanh(γ(k)·C(k−1)), input 0.8 + 0.1·N(0, 1),
target 0.95, η = 0.2, 100 steps): "Final gamma values: 1.500, 1.525, 1.554, 1.629, 1.825" and
"Error reduction: 91.8%" (0.0084 → 0.0007, single samples). The ready sweep runs the same chain
on 20 seeds at η = 0.2 (and at 0.05 and 0.8, to show how the result depends on the rate the seed
chose). The error reduction is measured both as the seed did (last sample against the first,
which is one noisy draw each) and honestly (the mean of the last 10 steps against the first 10,
SPEC 1).

``cohlab analyze`` writes ``analysis/seed_table.csv`` (per η: γ per scale and the reductions,
mean ± 95 % CI over the seeds) and ``analysis/seed_table.png``, and the claims 000-S5a, 000-S5b
and 000-P5 (not testable).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .claims import Claim, Estimate, estimate, save_figure, save_tables
from .experiment_files import figure, ok_runs, sweep_spec

PREFIX = "coherence_backprop."
ETA, SEED_ETA = "coherence.eta", 0.2
SEED_GAMMA = (1.500, 1.525, 1.554, 1.629, 1.825)
SEED_REDUCTION = 0.918
GAMMA_TOLERANCE = 0.01  # SPEC 5.3: each γ within 0.01 of the seed's table
REDUCTION_TOLERANCE = 0.05
COMMAND = "cohlab sweep coherence_backprop --ready --out runs/chain && cohlab analyze runs/chain"


def verdict_table(gammas: list[Estimate], seed: tuple[float, ...] = SEED_GAMMA, tol: float = GAMMA_TOLERANCE) -> str:
    """confirmed: every scale's mean γ within ``tol`` of the seed's; partly: some; refuted: none."""
    close = [abs(e.mean - s) <= tol for e, s in zip(gammas, seed, strict=True)]
    if all(close):
        return "confirmed"
    return "partly" if any(close) else "refuted"


def verdict_reduction(reduction: Estimate, seed: float = SEED_REDUCTION, tol: float = REDUCTION_TOLERANCE) -> str:
    """confirmed: the mean reduction within ``tol`` of the seed's; partly: the error falls (interval
    above 0) but by another amount; refuted: it does not fall."""
    if abs(reduction.mean - seed) <= tol:
        return "confirmed"
    return "partly" if reduction.lo > 0 else "refuted"


def report(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write analysis/seed_table.csv and .png; return (ok runs, table)."""
    ok = ok_runs(directory)
    rows = []
    for eta, g in ok.groupby(ETA):
        row: dict[str, object] = {"eta": eta, "n": len(g)}
        cols = [(f"gamma_{s}", f"{PREFIX}gamma_by_scale.{s}") for s in range(len(SEED_GAMMA))]
        cols += [("reduction_single_sample", PREFIX + "reduction_single_sample"), ("reduction", PREFIX + "reduction")]
        for name, col in cols:
            e = estimate(g[col])
            row[name], row[name + "_ci95"] = e.mean, e.ci95
        rows.append(row)
    table = pd.DataFrame(rows)
    save_tables(directory, seed_table=table)
    fig, axes = figure(1, 2, 10, 4)
    scales = list(range(len(SEED_GAMMA)))
    for r in table.itertuples():
        y = [getattr(r, f"gamma_{s}") for s in scales]
        ci = [getattr(r, f"gamma_{s}_ci95") for s in scales]
        axes[0][0].errorbar(scales, y, yerr=ci, marker="o", capsize=3, label=f"η = {r.eta:g}")
    axes[0][0].plot(scales, SEED_GAMMA, "k*", ms=10, label="seed 000's table")
    axes[0][0].set(xlabel="scale k", ylabel="γ after 100 steps", title="learned γ per scale (mean, 95 % CI)")
    axes[0][0].legend(fontsize=7)
    for col, label in (("reduction_single_sample", "last sample / first"), ("reduction", "mean of last 10 / first 10")):
        axes[0][1].errorbar(table["eta"], table[col], yerr=table[col + "_ci95"], marker="o", capsize=3, label=label)
    axes[0][1].axhline(SEED_REDUCTION, color="k", ls=":", label="seed 000: 91.8 %")
    axes[0][1].set(xscale="log", xlabel="η", ylabel="error reduction", title="how much the error falls")
    axes[0][1].legend(fontsize=7)
    save_figure(fig, Path(directory) / "analysis" / "seed_table.png")
    return ok, table


def claims(directory: Path) -> list[Claim]:
    """000-S5a, 000-S5b and 000-P5 from the coherence_backprop sweep (it must include η = 0.2)."""
    grid = sweep_spec(directory).get("grid", {})
    if SEED_ETA not in grid.get(ETA, []):
        return []
    ok, _ = report(directory)
    at = ok[ok[ETA] == SEED_ETA]
    gammas = [estimate(at[f"{PREFIX}gamma_by_scale.{s}"]) for s in range(len(SEED_GAMMA))]
    single, window = estimate(at[PREFIX + "reduction_single_sample"]), estimate(at[PREFIX + "reduction"])
    first, last = estimate(at[PREFIX + "mean_error_first_10"]), estimate(at[PREFIX + "mean_error_last_10"])
    return [
        Claim(
            id="000-S5a",
            source="000",
            claim="Final gamma values: Scale 0: γ = 1.500 … Scale 4: γ = 1.825",
            verdict=verdict_table(gammas),
            numbers=f"{len(at)} seeds at η = 0.2: " + ", ".join(e.text(3) for e in gammas),
            command=COMMAND,
        ),
        Claim(
            id="000-S5b",
            source="000",
            claim="Initial error: 0.0084 Final error: 0.0007 Error reduction: 91.8%",
            verdict=verdict_reduction(window),
            numbers=(
                f"{len(at)} seeds at η = 0.2: mean error of the first 10 steps {first.text(5)}, of the last 10 "
                f"{last.text(5)}, a reduction of {100 * window.mean:.1f} ± {100 * window.ci95:.1f} %; "
                f"last sample against the first (as the seed measured): {100 * single.mean:.1f} ± "
                f"{100 * single.ci95:.1f} %, one noisy draw each"
            ),
            command=COMMAND,
        ),
        Claim(
            id="000-P5",
            source="000",
            claim="SAGE/Web4 Are Physics … Same equations should predict their behavior",
            verdict="not testable",
            numbers="",
            command="",
            why="SAGE and Web4 (and Test D's ATP flows) are other systems; nothing of them is modelled here",
        ),
    ]
