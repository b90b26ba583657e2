"""Seed 000's Prediction 1 (γ is not universal) from the ready sweep of ``coherence_tree``.

Seed 000: "different scales may have different optimal γ", "γ may depend on local conditions
(ρ, T)", and Part 5's "γ increases toward higher scales". The ready sweep crosses the leaves'
input — their local phase order (``coherence.input = "phase"``) or a fixed level 0.3 / 0.6 /
0.9 (with noise 0.05) — with the phase temperature ``phase.T``, on paired seeds. The learned γ
is the final γ of the internal nodes per scale (``coherence_backprop.gamma_learned_by_scale``),
after the root error has fallen (``mean_error_last_10``).

A fixed input level is a control: the coherence pass reads phases only through the
``"phase"`` input, so at a fixed level the temperature cannot change γ beyond chance (the
input noise shares the random stream with the phase noise, whose number of draws depends on
T; without input noise the runs are identical). Any effect of T must come through the
leaves' phase order.

``cohlab analyze`` writes ``analysis/gamma_conditions.csv`` (per input and T: learned γ per
scale, the leaves' input level and the final error, mean ± 95 % CI over the seeds),
``analysis/gamma_conditions.png`` (γ per scale against T, against the fixed level, and every
run's γ against the leaves' measured input level) and the claims 000-P1a, 000-P1b, 000-P1c and
000-S5c.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from .claims import Claim, Estimate, direction, estimate, save_figure, save_tables
from .experiment_files import figure, matched_runs, ok_runs, sweep_spec

PREFIX = "coherence_backprop."
GAMMA = PREFIX + "gamma_learned_by_scale."
INPUT, TEMP = "coherence.input", "phase.T"
COMMAND = "cohlab sweep coherence_tree --ready --out runs/gamma && cohlab analyze runs/gamma"


def learned_scales(runs: pd.DataFrame) -> list[int]:
    """Scales whose γ is learned (internal nodes): the γ columns that hold numbers."""
    cols = [c for c in runs.columns if c.startswith(GAMMA)]
    return sorted(int(c.removeprefix(GAMMA)) for c in cols if runs[c].notna().any())


def condition_table(ok: pd.DataFrame, scales: list[int]) -> pd.DataFrame:
    """Per (input, T): n, γ per scale, leaf input level and final error, mean ± 95 % CI."""
    rows = []
    for (inp, T), g in ok.groupby([INPUT, TEMP], sort=False):
        row: dict[str, object] = {"input": inp, "T": T, "n": len(g)}
        for name, col in [(f"gamma_{s}", f"{GAMMA}{s}") for s in scales] + [
            ("leaf_input", PREFIX + "leaf_input_last_10"),
            ("error_last_10", PREFIX + "mean_error_last_10"),
        ]:
            e = estimate(g[col])
            row[name], row[name + "_ci95"] = e.mean, e.ci95
        rows.append(row)
    return pd.DataFrame(rows)


def paired_change(ok: pd.DataFrame, col: str, fixed: dict[str, object], by: str, a: object, b: object) -> Estimate:
    """Mean ± CI over seeds of col(by = b) − col(by = a), among the runs matching ``fixed``."""
    sub = ok
    for key, value in fixed.items():
        sub = sub[sub[key] == value]
    x, y = matched_runs(sub, by, a, b, ["replicate", "seed", *[k for k in (INPUT, TEMP) if k != by]])
    return estimate((y[col] - x[col]).tolist())


def verdict_all(estimates: list[Estimate]) -> str:
    """confirmed: every difference excludes 0; partly: some do; refuted: none does."""
    hits = [direction(e) != 0 for e in estimates]
    if hits and all(hits):
        return "confirmed"
    return "partly" if any(hits) else "refuted"


def verdict_increasing(steps: list[Estimate]) -> str:
    """Part 5: γ(k+1) − γ(k) > 0 for every pair of consecutive learned scales in every condition."""
    up = [direction(e) > 0 for e in steps]
    if up and all(up):
        return "confirmed"
    return "partly" if any(up) else "refuted"


def report(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """Write analysis/gamma_conditions.csv and .png; return (ok runs, table, learned scales)."""
    ok = ok_runs(directory)
    ok[INPUT] = ok[INPUT].astype(str)
    scales = learned_scales(ok)
    table = condition_table(ok, scales)
    save_tables(directory, gamma_conditions=table)
    _plot(ok, table, scales, directory)
    return ok, table, scales


def _plot(ok: pd.DataFrame, table: pd.DataFrame, scales: list[int], directory: Path) -> None:
    fig, grid = figure(1, 3, 14, 4)
    axes = grid[0]
    phase = table[table["input"] == "phase"].sort_values("T")
    fixed = table[table["input"] != "phase"]
    fixed = fixed.assign(level=fixed["input"].astype(float)).groupby("level", as_index=False).first()
    colours = {}
    for s in scales:
        (line,) = axes[0].plot(phase["T"], phase[f"gamma_{s}"], marker="o", label=f"scale {s}")
        colours[s] = line.get_color()
        axes[0].errorbar(phase["T"], phase[f"gamma_{s}"], yerr=phase[f"gamma_{s}_ci95"], fmt="none", ecolor=colours[s])
        axes[1].errorbar(
            fixed["level"], fixed[f"gamma_{s}"], yerr=fixed[f"gamma_{s}_ci95"], marker="s", color=colours[s]
        )
        for inp, marker in (("phase", "o"), ("fixed", "s")):
            sel = ok[ok[INPUT] == "phase"] if inp == "phase" else ok[ok[INPUT] != "phase"]
            axes[2].scatter(
                sel[PREFIX + "leaf_input_last_10"], sel[f"{GAMMA}{s}"], marker=marker, s=14, color=colours[s], alpha=0.7
            )
    axes[0].set(xlabel="phase.T (leaves fed by their phase order)", ylabel="learned γ", xscale="log")
    axes[1].set(xlabel="fixed input level of the leaves", ylabel="learned γ")
    axes[2].set(xlabel="leaves' measured input level (last 10 slow ticks)", ylabel="learned γ")
    axes[0].set_title("γ per scale against the temperature (95 % CI)", fontsize=9)
    axes[1].set_title("γ per scale against a fixed input level (95 % CI)", fontsize=9)
    axes[2].set_title("every run: ○ phase input, □ fixed level", fontsize=9)
    axes[0].legend(fontsize=7)
    save_figure(fig, Path(directory) / "analysis" / "gamma_conditions.png")


def claims(directory: Path) -> list[Claim]:
    """000-P1a, 000-P1b, 000-P1c and 000-S5c from the coherence_tree sweep over phase.T and the input."""
    grid = sweep_spec(directory).get("grid", {})
    if set(grid) != {TEMP, INPUT}:  # the design this analysis pairs; other sweeps get the generic tables
        return []
    ok, table, scales = report(directory)
    if len(scales) < 2:
        return []
    top, low = scales[-1], scales[0]
    conditions = list(ok.groupby([INPUT, TEMP], sort=False).groups)
    spread = [estimate((g[f"{GAMMA}{top}"] - g[f"{GAMMA}{low}"]).tolist()) for _, g in ok.groupby([INPUT, TEMP])]
    steps = [
        estimate((g[f"{GAMMA}{b}"] - g[f"{GAMMA}{a}"]).tolist())
        for _, g in ok.groupby([INPUT, TEMP])
        for a, b in itertools.pairwise(scales)
    ]
    temps = sorted(ok[TEMP].unique())
    t_lo, t_hi = temps[0], temps[-1]
    phase = {INPUT: "phase"}
    by_T = [paired_change(ok, f"{GAMMA}{s}", phase, TEMP, t_lo, t_hi) for s in scales]
    x_change = paired_change(ok, PREFIX + "leaf_input_last_10", phase, TEMP, t_lo, t_hi)
    levels = sorted((v for v in ok[INPUT].unique() if v != "phase"), key=float)
    t_text = [
        f"T tested, ρ not (see 000-P1c). T {t_lo:g} → {t_hi:g} (paired seeds) changes the leaves' phase order by "
        f"{x_change.text(3, signed=True)} and γ per scale by " + ", ".join(e.text(4, signed=True) for e in by_T)
    ]
    if levels:
        control = [paired_change(ok, f"{GAMMA}{s}", {INPUT: lv}, TEMP, t_lo, t_hi) for s in scales for lv in levels]
        widest = max(control, key=lambda e: abs(e.mean))
        t_text.append(
            f"the control, a fixed input level, moves by {widest.text(4, signed=True)} at most "
            f"({sum(direction(e) != 0 for e in control)} of {len(control)} differences exclude 0)"
        )
    if len(levels) > 1:
        by_level = [paired_change(ok, f"{GAMMA}{s}", {TEMP: t_lo}, INPUT, levels[-1], levels[0]) for s in scales]
        follows = ": γ follows the input level, whatever sets it" if verdict_all(by_level) == "confirmed" else ""
        t_text.append(
            f"fixed level {levels[0]} instead of {levels[-1]} changes γ by "
            + ", ".join(e.text(4, signed=True) for e in by_level)
            + follows
        )
    first = table[(table["input"] == "phase")].sort_values("T").iloc[0]
    gam = ", ".join(f"{first[f'gamma_{s}']:.3f}" for s in scales)
    n = int(first["n"])
    return [
        Claim(
            id="000-P1a",
            source="000",
            claim="Different scales may have different optimal γ",
            verdict=verdict_all(spread),
            numbers=(
                f"learned γ of scales {scales[0]}–{top} at T = {t_lo:g} (phase input, {n} seeds): {gam}; "
                f"γ(scale {top}) − γ(scale {low}) excludes 0 in {sum(direction(e) != 0 for e in spread)} of "
                f"{len(spread)} conditions (from {min(e.mean for e in spread):+.3f} "
                f"to {max(e.mean for e in spread):+.3f})"
            ),
            command=COMMAND,
        ),
        Claim(
            id="000-P1b",
            source="000",
            claim="γ may depend on local conditions (ρ, T)",
            verdict=verdict_all(by_T),
            numbers="; ".join(t_text),
            command=COMMAND,
        ),
        Claim(
            id="000-P1c",
            source="000",
            claim="γ may evolve through cosmological time … γ may depend on local conditions (ρ, T)",
            verdict="not testable",
            numbers="",
            command="",
            why="no cosmological epochs or matter density here: this model's ρ is the spectral radius of the "
            "activation operator, which the coherence pass never reads",
        ),
        Claim(
            id="000-S5c",
            source="000",
            claim="γ increases toward higher scales, optimizing for stability propagation",
            verdict=verdict_increasing(steps),
            numbers=(
                f"on the tree, γ(k+1) − γ(k) > 0 (95 % CI) for {sum(direction(e) > 0 for e in steps)} of "
                f"{len(steps)} consecutive scale pairs over {len(conditions)} conditions; the top gain learns most"
            ),
            command=COMMAND,
        ),
    ]
