"""The stability–plasticity ablation table (SPEC 6, 7) from a sweep directory.

``cohlab analyze DIR`` (or ``python -m analysis.ablation DIR``) on the directory of
``cohlab sweep stability_plasticity --ready`` writes, besides the generic sweep tables, into
DIR/analysis/:

- ``ablation.csv`` / ``ablation.md``: one row per combination of the six ``defenses.*`` flags
  (``baseline`` when none is on): the number of runs and the mean and 95 % confidence interval
  (Student t over replicates) of acquisition_A, retention_A, acquisition_B and forgetting,
  plus the chance level;
- ``main_effects.csv``: for each flag, the mean of each metric with the flag on minus with it
  off over all other combinations, with a Welch 95 % interval (a factorial main effect);
- ``ablation.png``: acquisition_A, retention_A and forgetting (mean ± 95 % CI) of the baseline,
  each single defense and all six together.

It prints the baseline, every single defense, the best single defense by retention_A and by
forgetting, and all six together. Everything is computed from the runs; nothing is assumed.

``python -m analysis.ablation --paired N OUT.csv`` runs a focused, paired follow-up: the
baseline, each single defense and all six together on the same N seeds (1000 …), writes every
run to OUT.csv and prints the paired differences (mean ± 95 % CI, paired t test) against the
baseline and of all six against each single defense: more seeds for the comparisons that the
predictions are about than the 64-combination sweep can afford.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import generalization
from .claims import Claim, Estimate, direction
from .claims import paired as paired_estimate

FLAGS = ("coarse_scaling", "frozen_context", "diversity", "small_steps", "two_stage", "dream_loop")
METRICS = ("acquisition_A", "retention_A", "acquisition_B", "forgetting", "chance")
PREFIX = "stability_plasticity."


def ci95(x: pd.Series) -> float:
    """Half-width of the 95 % Student-t interval of the mean (NaN below two values)."""
    x = x.dropna()
    if len(x) < 2:
        return math.nan
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def label(row: pd.Series) -> str:
    on = [f for f in FLAGS if bool(row[f"defenses.{f}"])]
    return "+".join(on) if on else "baseline"


def load_runs(directory: Path) -> pd.DataFrame:
    runs = pd.read_csv(Path(directory) / "runs.csv")
    missing = [f"defenses.{f}" for f in FLAGS if f"defenses.{f}" not in runs]
    if missing:
        raise ValueError(f"'{directory}' is not a defenses ablation (columns missing: {', '.join(missing)})")
    ok = runs[(runs["status"] == "ok") & (runs.get(PREFIX + "complete", True).astype(bool))].copy()
    for f in FLAGS:
        ok[f"defenses.{f}"] = ok[f"defenses.{f}"].astype(str).str.lower().isin(["true", "1"])
    ok["defenses"] = ok.apply(label, axis=1)
    ok["n_on"] = ok[[f"defenses.{f}" for f in FLAGS]].sum(axis=1)
    return ok


def ablation_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % CI of every metric per combination, ordered by the number of defenses on."""
    cols = [PREFIX + m for m in METRICS]
    g = ok.groupby(["n_on", "defenses"])[cols]
    mean = g.mean().rename(columns=lambda c: c.removeprefix(PREFIX))
    ci = g.agg(ci95).rename(columns=lambda c: c.removeprefix(PREFIX) + "_ci95")
    table = mean.join(ci).join(g.size().rename("n"))
    order = ["n"] + [x for m in METRICS for x in (m, f"{m}_ci95")]
    return table[order].reset_index()


def main_effects(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean(on) − mean(off) per flag and metric, with a Welch 95 % interval."""
    rows = []
    for f in FLAGS:
        on, off = ok[ok[f"defenses.{f}"]], ok[~ok[f"defenses.{f}"]]
        for m in METRICS[:-1]:
            a, b = on[PREFIX + m].dropna(), off[PREFIX + m].dropna()
            diff = float(a.mean() - b.mean())
            va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
            se = math.sqrt(va + vb)
            dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb > 0 else np.inf
            half = float(stats.t.ppf(0.975, dof) * se) if se > 0 else 0.0
            rows.append({"defense": f, "metric": m, "effect": diff, "ci95": half, "n_on": len(a), "n_off": len(b)})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    head = "| defenses | n | acquisition_A | retention_A | acquisition_B | forgetting | chance |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        cells = [f"{r[m]:.3f} ± {r[m + '_ci95']:.3f}" for m in METRICS]
        lines.append(f"| {r['defenses']} | {int(r['n'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def is_ablation(runs: pd.DataFrame) -> bool:
    """Does a sweep's runs.csv vary the six defenses (the ready sweep of stability_plasticity)?"""
    return all(f"defenses.{f}" in runs for f in FLAGS) and PREFIX + "retention_A" in runs


def report(directory: Path) -> dict[str, pd.DataFrame]:
    """Write DIR/analysis/ablation.{csv,md,png} and main_effects.csv; return the tables."""
    ok = load_runs(directory)
    table = ablation_table(ok)
    effects = main_effects(ok)
    dest = Path(directory) / "analysis"
    dest.mkdir(exist_ok=True)
    table.to_csv(dest / "ablation.csv", index=False, float_format="%.6g")
    (dest / "ablation.md").write_text(to_markdown(table), encoding="utf-8")
    effects.to_csv(dest / "main_effects.csv", index=False, float_format="%.6g")
    plot(table, dest / "ablation.png")
    return {"ablation": table, "main_effects": effects}


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """The rows the predictions are about: baseline, each single defense, all six together."""
    rows = table[(table["n_on"] <= 1) | (table["n_on"] == len(FLAGS))]
    return rows.sort_values(["n_on", "defenses"], key=lambda c: c if c.name == "n_on" else c.map(_order))


def _order(name: str) -> int:
    return FLAGS.index(name) if name in FLAGS else -1


def plot(table: pd.DataFrame, path: Path) -> Path:
    """Bars with 95 % CIs of acquisition_A, retention_A and forgetting for the headline rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = headline(table).iloc[::-1]  # baseline at the top
    names = ["all six" if n == len(FLAGS) else d for d, n in zip(rows["defenses"], rows["n_on"], strict=True)]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.45 * len(rows) + 1.8), sharey=True)
    colours = ["#2ca02c" if n == len(FLAGS) else "#7f7f7f" if n == 0 else "#1f77b4" for n in rows["n_on"]]
    for ax, m in zip(axes, ("acquisition_A", "retention_A", "forgetting"), strict=True):
        ax.barh(y, rows[m], xerr=rows[f"{m}_ci95"], color=colours, capsize=3)
        base = float(rows.loc[rows["n_on"] == 0, m].iloc[0]) if (rows["n_on"] == 0).any() else None
        if base is not None:
            ax.axvline(base, color="#444", lw=1, ls="--")
        ax.set_title(m + (" (lower is better)" if m == "forgetting" else ""))
        ax.grid(axis="x", color="#e8e8e8")
    chance = float(rows["chance"].mean())
    for ax in axes[:2]:
        ax.axvline(chance, color="#d62728", lw=1, ls=":", label=f"chance {chance:.2f}")
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_yticks(y, names)
    n = int(rows["n"].min())
    fig.suptitle(f"Stability–plasticity ablation: mean ± 95 % CI over ≥ {n} runs per row (dashed: baseline)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def summary_text(table: pd.DataFrame) -> list[str]:
    """Lines for the terminal: the headline rows and the best single defense by each measure."""
    lines = [_fmt(r) for _, r in headline(table).iterrows()]
    singles = table[table["n_on"] == 1]
    if len(singles):
        lines.append("best single defense by retention_A: " + singles.loc[singles["retention_A"].idxmax(), "defenses"])
        lines.append(
            "best single defense by forgetting (lowest): " + singles.loc[singles["forgetting"].idxmin(), "defenses"]
        )
    return lines


def _fmt(r: pd.Series) -> str:
    name = "all six" if r["n_on"] == len(FLAGS) else r["defenses"]
    cells = "  ".join(f"{m} {_pm(r[m], r[m + '_ci95'])}" for m in METRICS[:4])
    return f"{name:<16} {cells}  (n {int(r['n'])})"


def _pm(mean: float, ci: float) -> str:
    """mean ± CI, or the mean alone where one run gives no interval."""
    return f"{mean:.3f}" + ("" if math.isnan(ci) else f" ± {ci:.3f}")


def _paired_run(args: tuple[str, dict[str, bool], int]) -> dict[str, object]:
    from analysis.runner import run_scenario

    name, flags, seed = args
    overrides = {"recall.every": 0, **{f"defenses.{f}": v for f, v in flags.items()}}
    s = run_scenario("stability_plasticity", seed=seed, overrides=overrides).summary["stability_plasticity"]
    return {"config": name, "seed": seed, **{m: s[m] for m in METRICS}}


def paired(n: int, out: Path, workers: int | None = None) -> pd.DataFrame:
    """Baseline, each single defense and all six on the same ``n`` seeds; one row per run."""
    from concurrent.futures import ProcessPoolExecutor

    configs = {"baseline": {}} | {f: {f: True} for f in FLAGS} | {"all_six": dict.fromkeys(FLAGS, True)}
    tasks = [(name, flags, 1000 + k) for name, flags in configs.items() for k in range(n)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        runs = pd.DataFrame(list(pool.map(_paired_run, tasks)))
    runs.to_csv(out, index=False, float_format="%.6g")
    return runs


def paired_differences(runs: pd.DataFrame) -> pd.DataFrame:
    """Paired differences against the baseline, and of all six against each single defense."""
    wide = runs.pivot(index="seed", columns="config")
    rows = []
    pairs = [(c, "baseline") for c in [*FLAGS, "all_six"]] + [("all_six", c) for c in FLAGS]
    for a, b in pairs:
        for m in ("acquisition_A", "retention_A", "acquisition_B", "forgetting"):
            d = wide[m][a] - wide[m][b]
            p = float(stats.ttest_rel(wide[m][a], wide[m][b]).pvalue) if d.std() > 0 else math.nan
            rows.append({"a": a, "b": b, "metric": m, "diff": float(d.mean()), "ci95": ci95(d), "p": p})
    return pd.DataFrame(rows)


COMMAND = "cohlab sweep stability_plasticity --ready --out runs/ablation && cohlab analyze runs/ablation"


def verdict_frozen_context(learns: Estimate, forgetting: Estimate, acquisition: Estimate) -> str:
    """Seed 001 prediction 3 from three intervals (pure function, see tests).

    Args:
        learns: acquisition_A with frozen_context on, minus chance (does the response pattern change?).
        forgetting: frozen_context's effect on forgetting (on − off).
        acquisition: frozen_context's effect on acquisition_A (on − off).

    Returns:
        "refuted" if nothing is learned or forgetting rises; "confirmed" if it learns, forgets less
        and acquires no less; "partly" otherwise (e.g. less forgetting bought with less learning).
    """
    if direction(learns) <= 0 or direction(forgetting) > 0:
        return "refuted"
    if direction(forgetting) < 0 and direction(acquisition) >= 0:
        return "confirmed"
    return "partly"


def verdict_all_six(forgetting: list[Estimate], retention: list[Estimate]) -> str:
    """Seed 001 prediction 5: all six against each single defense (paired differences all six − single).

    "confirmed" if all six forget significantly less AND retain significantly more than every
    single defense; "refuted" if they beat no single defense on either measure; "partly" otherwise.
    """
    fewer = [direction(e) < 0 for e in forgetting]
    more = [direction(e) > 0 for e in retention]
    if all(fewer) and all(more):
        return "confirmed"
    if not any(fewer) and not any(more):
        return "refuted"
    return "partly"


def claims(directory: Path) -> list[Claim]:
    """Seed 001 predictions 3 and 5 from the 64-combination ablation sweep (common seeds: paired)."""
    runs = pd.read_csv(Path(directory) / "runs.csv")
    if not is_ablation(runs):
        return []
    ok = load_runs(directory)
    effects = main_effects(ok).set_index(["defense", "metric"])

    def effect(f: str, m: str) -> Estimate:
        r = effects.loc[(f, m)]
        return Estimate(float(r["effect"]), float(r["ci95"]), int(r["n_on"] + r["n_off"]))

    single = {f: ok[(ok["n_on"] == 1) & ok[f"defenses.{f}"]].set_index("seed") for f in FLAGS}
    six = ok[ok["n_on"] == len(FLAGS)].set_index("seed")
    frozen = single["frozen_context"]
    learns = paired_estimate(frozen[PREFIX + "acquisition_A"], frozen[PREFIX + "chance"])
    f_eff, a_eff = effect("frozen_context", "forgetting"), effect("frozen_context", "acquisition_A")

    def vs(f: str, m: str) -> Estimate:
        seeds = six.index.intersection(single[f].index)
        return paired_estimate(six.loc[seeds, PREFIX + m], single[f].loc[seeds, PREFIX + m])

    base = ok[ok["n_on"] == 0].set_index("seed")

    def alone(m: str) -> Estimate:
        seeds = frozen.index.intersection(base.index)
        return paired_estimate(frozen.loc[seeds, PREFIX + m], base.loc[seeds, PREFIX + m])

    d_forget = {f: vs(f, "forgetting") for f in FLAGS}
    d_retain = {f: vs(f, "retention_A") for f in FLAGS}
    n = len(six)
    best = max(FLAGS, key=lambda f: d_forget[f].mean)  # the single defense that forgets least next to all six
    rows = [
        Claim(
            id="001-P3",
            source="001",
            claim="Context-frozen training will change response patterns without degrading context understanding",
            verdict=verdict_frozen_context(learns, f_eff, a_eff),
            numbers=(
                f"frozen_context alone: acquisition_A − chance {learns.text(signed=True)} (paired, {learns.n} seeds); "
                f"main effect over {f_eff.n} runs: forgetting {f_eff.text(signed=True)}, "
                f"acquisition_A {a_eff.text(signed=True)} (the verdict's figures); alone − baseline, paired: "
                f"forgetting {alone('forgetting').text(signed=True)}, acquisition_A "
                f"{alone('acquisition_A').text(signed=True)}; context edges never change (by construction, tested)"
            ),
            command=COMMAND,
        ),
        Claim(
            id="001-P5",
            source="001",
            claim="The multi-scale defense will be more robust than any single technique",
            verdict=verdict_all_six(list(d_forget.values()), list(d_retain.values())),
            numbers=(
                f"all six − single defense, paired over {n} seeds: forgetting lower than "
                f"{sum(direction(e) < 0 for e in d_forget.values())}/6 singles, retention_A higher than "
                f"{sum(direction(e) > 0 for e in d_retain.values())}/6; against {best}: forgetting "
                f"{d_forget[best].text(signed=True)}, retention_A {d_retain[best].text(signed=True)}"
            ),
            command=COMMAND,
        ),
    ]
    rows.append(
        Claim(
            id="001-substrate",
            source="001",
            claim="The stability-plasticity problem has the same structure whether the substrate is biological "
            "neurons or transformer weights",
            verdict="not testable",
            numbers="",
            command="",
            why="the model has one substrate, a graph with Hebbian weights: neither neurons nor transformers",
        )
    )
    if generalization.has_heldout(ok):
        rows.insert(0, generalization.claim_p2(ok, ok["defenses"]))
    return rows


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--paired":
        runs = paired(int(argv[1]), Path(argv[2]))
        means = runs.groupby("config", sort=False)[list(METRICS)].agg(["mean", ci95])
        print(means.to_string(float_format=lambda x: f"{x:.3f}"))
        print(paired_differences(runs).to_string(index=False, float_format=lambda x: f"{x:+.3f}"))
        return 0
    if len(argv) != 1:
        print("usage: python -m analysis.ablation SWEEP_DIR | --paired N OUT.csv", file=sys.stderr)
        return 2
    tables = report(Path(argv[0]))
    print("\n".join(summary_text(tables["ablation"])))
    print(f"tables in {Path(argv[0]) / 'analysis'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
