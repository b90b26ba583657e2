"""Seed 001 prediction 1 in full: is a 10× higher learning rate safe *because* of diversity and frozen context?

From the ready sweep of the ``learning_rate`` scenario (``learning.lr`` × ``defenses.diversity`` ×
``defenses.frozen_context`` on shared seeds), ``cohlab analyze`` writes into DIR/analysis/:

- ``lr_safety.csv``: per rate and condition (baseline, diversity, frozen_context, both) the
  number of runs and mean ± 95 % CI (Student t over seeds) of forgetting, acquisition_A,
  retention_A and acquisition_B;
- ``lr_paired.csv``: the paired differences (same seeds) that decide the claim, each with its
  95 % CI — every condition minus the baseline at every rate, the baseline's forgetting at the
  highest rate minus at the lowest (does the rate itself cause forgetting?), and "both" at the
  highest rate minus the baseline at the lowest (is the defended high rate as safe as the
  undefended low one?);
- ``lr_safety.png``: forgetting, acquisition_A and retention_A against the rate, one line per
  condition, 95 % CI error bars;

and the claims 001-P1 into DIR/claims.json. The verdict is :func:`verdict` of those paired
intervals; nothing else.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .claims import Claim, Estimate, direction, estimate, paired, save_figure, save_tables

PREFIX = "stability_plasticity."
LR, DIV, FROZEN = "learning.lr", "defenses.diversity", "defenses.frozen_context"
CONDITIONS = ("baseline", "diversity", "frozen_context", "both")
METRICS = ("forgetting", "acquisition_A", "retention_A", "acquisition_B")
COMMAND = "cohlab sweep learning_rate --ready --out runs/lr && cohlab analyze runs/lr"


def _flag(x: pd.Series) -> pd.Series:
    return x.astype(str).str.lower().isin(["true", "1"])


def is_lr_sweep(runs: pd.DataFrame) -> bool:
    return all(c in runs for c in (LR, DIV, FROZEN, PREFIX + "forgetting")) and runs[LR].nunique() >= 2


def load(runs: pd.DataFrame) -> pd.DataFrame:
    """The ok, complete runs with a ``condition`` column."""
    ok = runs[(runs["status"] == "ok") & _flag(runs.get(PREFIX + "complete", pd.Series(True, runs.index)))].copy()
    div, frozen = _flag(ok[DIV]), _flag(ok[FROZEN])
    ok["condition"] = np.select([div & frozen, div, frozen], ["both", "diversity", "frozen_context"], "baseline")
    return ok


def cell(ok: pd.DataFrame, lr: float, condition: str, metric: str) -> pd.Series:
    """One condition's metric at one rate, indexed by seed."""
    g = ok[(ok[LR] == lr) & (ok["condition"] == condition)]
    return g.set_index("seed")[PREFIX + metric].sort_index()


def pair(a: pd.Series, b: pd.Series) -> Estimate:
    seeds = a.index.intersection(b.index)
    return paired(a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy())


def summary(ok: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for lr in sorted(ok[LR].unique()):
        for c in CONDITIONS:
            g = ok[(ok[LR] == lr) & (ok["condition"] == c)]
            row: dict[str, object] = {"lr": lr, "condition": c, "n": len(g)}
            for m in METRICS:
                e = estimate(g[PREFIX + m])
                row[m], row[f"{m}_ci95"] = e.mean, e.ci95
            rows.append(row)
    return pd.DataFrame(rows)


def paired_table(ok: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Estimate]]:
    rates = sorted(ok[LR].unique())
    lo, hi = rates[0], rates[-1]
    rows, key = [], {}
    for lr in rates:
        for c in CONDITIONS[1:]:
            for m in ("forgetting", "acquisition_A"):
                e = pair(cell(ok, lr, c, m), cell(ok, lr, "baseline", m))
                rows.append({"comparison": f"{c} − baseline at lr {lr:g}", "metric": m, **_cols(e)})
                if lr == hi and m == "forgetting":
                    key[f"{c}_vs_baseline_high"] = e
    for m in ("forgetting", "acquisition_A"):
        e = pair(cell(ok, hi, "baseline", m), cell(ok, lo, "baseline", m))
        rows.append({"comparison": f"baseline at lr {hi:g} − at lr {lo:g}", "metric": m, **_cols(e)})
        key[f"rate_{m}"] = e
        for c in ("both", "diversity"):
            e = pair(cell(ok, hi, c, m), cell(ok, lo, "baseline", m))
            rows.append({"comparison": f"{c} at lr {hi:g} − baseline at lr {lo:g}", "metric": m, **_cols(e)})
            key[f"{c}_high_vs_baseline_low_{m}"] = e
    return pd.DataFrame(rows), key


def _cols(e: Estimate) -> dict[str, float]:
    return {"diff": e.mean, "ci95": e.ci95, "n": e.n}


def verdict(safe: Estimate, because: Estimate, diversity: Estimate, frozen: Estimate) -> str:
    """Prediction 1 from four paired intervals of forgetting (pure function, see tests).

    Args:
        safe: forgetting of the learner with both defenses at the highest rate minus the
            undefended learner's at the lowest rate. "Safe" = not significantly above 0.
        because: both defenses minus none, both at the highest rate. "Because" =
            significantly below 0.
        diversity, frozen: each defense alone minus none at the highest rate; the claim
            names both, so each must lower forgetting significantly for a full confirmation.

    Returns:
        "confirmed" if safe, because, and each defense contributes; "refuted" if neither safe
        nor because; "partly" otherwise (e.g. the higher rate is harmless without any defense,
        or only one of the two defenses does the work).
    """
    is_safe = direction(safe) <= 0 and not math.isnan(safe.mean)
    is_because = direction(because) < 0
    if is_safe and is_because and direction(diversity) < 0 and direction(frozen) < 0:
        return "confirmed"
    if not is_safe and not is_because:
        return "refuted"
    return "partly"


def plot(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ("forgetting", "acquisition_A", "retention_A")
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.9))
    colours = {"baseline": "#7f7f7f", "diversity": "#1f77b4", "frozen_context": "#ff7f0e", "both": "#2ca02c"}
    for ax, m in zip(axes, panels, strict=True):
        for k, c in enumerate(CONDITIONS):
            g = table[table["condition"] == c]
            x = g["lr"].to_numpy(float) * (1 + 0.04 * (k - 1.5))  # a small offset so the bars do not overlap
            ax.errorbar(x, g[m], yerr=g[f"{m}_ci95"].fillna(0), marker="o", capsize=3, color=colours[c], label=c)
        ax.set(xscale="log", xlabel="learning.lr", title=m + (" (lower is better)" if m == "forgetting" else ""))
        rates = sorted(table["lr"].unique())
        ax.set_xticks(rates, [f"{r:g}" for r in rates])
        ax.minorticks_off()
        ax.grid(color="#eeeeee")
    axes[0].axhline(0, color="#444", lw=0.8)
    axes[0].legend(fontsize=8)
    n = int(table["n"].min())
    fig.suptitle(
        f"Seed 001 prediction 1: forgetting and acquisition against the learning rate "
        f"(mean ± 95 % CI, {n} paired seeds)"
    )
    return save_figure(fig, path)


def claims(directory: Path) -> list[Claim]:
    """Write the tables and the plot; return 001-P1."""
    runs = pd.read_csv(Path(directory) / "runs.csv")
    if not is_lr_sweep(runs):
        return []
    ok = load(runs)
    table = summary(ok)
    diffs, key = paired_table(ok)
    dest = save_tables(directory, lr_safety=table, lr_paired=diffs)
    plot(table, dest / "lr_safety.png")
    rates = sorted(ok[LR].unique())
    lo, hi = rates[0], rates[-1]
    safe, because = key["both_high_vs_baseline_low_forgetting"], key["both_vs_baseline_high"]
    acq = key["both_high_vs_baseline_low_acquisition_A"]
    return [
        Claim(
            id="001-P1",
            source="001",
            claim="lr=1e-4 with diverse data won't cause forgetting [a 10× higher rate is safe because "
            "diversity and context-frozen gradient masking provide enough stability]",
            verdict=verdict(safe, because, key["diversity_vs_baseline_high"], key["frozen_context_vs_baseline_high"]),
            numbers=(
                f"forgetting, paired over {safe.n} seeds: baseline at lr {hi:g} − at {lo:g} "
                f"{key['rate_forgetting'].text(signed=True)}; both defenses at {hi:g} − baseline at {lo:g} "
                f"{safe.text(signed=True)}; at {hi:g}: both − baseline {because.text(signed=True)}, diversity − "
                f"baseline {key['diversity_vs_baseline_high'].text(signed=True)}, frozen − baseline "
                f"{key['frozen_context_vs_baseline_high'].text(signed=True)}; diversity alone at {hi:g} − baseline "
                f"at {lo:g} {key['diversity_high_vs_baseline_low_forgetting'].text(signed=True)}; acquisition_A both "
                f"at {hi:g} − baseline at {lo:g} {acq.text(signed=True)}"
            ),
            command=COMMAND,
        )
    ]
