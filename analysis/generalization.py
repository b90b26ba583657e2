"""Seed 001 predictions 2 and 4: generalization to held-out cues, and dreams against real examples.

The held-out cues (``model/mechanisms/heldout.py``: noisy, partial and recombined versions of
the learned contexts, never presented in training) are scored by the read-only recall test
after the schedule (``stability_plasticity.heldout.<kind>``) and in the untrained weights
(``stability_plasticity.heldout_chance.<kind>``).

- Prediction 2 ("behavioral changes will generalize to novel situations") is judged on the
  stability–plasticity ablation (its ready sweep has the held-out test on): held-out recall
  minus its chance level, paired per run, over every learner of the ablation; the baseline's
  and each single defense's figures are listed.
- Prediction 4 ("dream-generated scenarios will produce better generalization than
  real-example-only training") is judged on the ``generalization`` scenario's ready sweep:
  the dream loop's sleeps replaying dreams (``dream.source = "dreams"``) against the same
  sleeps replaying stored real examples (``"real"``), paired over shared seeds.

``cohlab analyze`` on the generalization sweep writes ``analysis/generalization.csv`` (per
source: held-out recall per kind, its chance level and the trained cues' recall, mean ± 95 %
CI), ``analysis/generalization_paired.csv`` (dreams − real per kind, paired) and
``analysis/generalization.png``, and the claim 001-P4 into claims.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from model.mechanisms.heldout import KINDS

from .claims import Claim, Estimate, direction, estimate, paired, save_figure, save_tables

PREFIX = "stability_plasticity."
SOURCE = "dream.source"
COMMAND_P2 = "cohlab sweep stability_plasticity --ready --out runs/ablation && cohlab analyze runs/ablation"
COMMAND_P4 = "cohlab sweep generalization --ready --out runs/gen && cohlab analyze runs/gen"


def heldout_columns(kind: str) -> tuple[str, str]:
    return f"{PREFIX}heldout.{kind}", f"{PREFIX}heldout_chance.{kind}"


def has_heldout(runs: pd.DataFrame) -> bool:
    return all(c in runs for k in KINDS for c in heldout_columns(k))


def above_chance(runs: pd.DataFrame) -> dict[str, Estimate]:
    """Held-out recall minus its chance level, per kind, paired per run."""
    return {k: paired(runs[heldout_columns(k)[0]], runs[heldout_columns(k)[1]]) for k in KINDS}


def verdict_generalizes(gain: Mapping[str, Estimate]) -> str:
    """Prediction 2 (pure function, see tests): held-out recall above its chance level?

    "confirmed" if every kind of held-out cue is recalled significantly above its chance level
    (95 % CI above 0), "refuted" if none is, "partly" otherwise.
    """
    up = [direction(e) > 0 for e in gain.values()]
    return "confirmed" if all(up) else "refuted" if not any(up) else "partly"


def verdict_dreams(diff: Mapping[str, Estimate], overall: Estimate) -> str:
    """Prediction 4 (pure function, see tests): dreams − real replay, paired, per kind and overall.

    "confirmed" if the overall difference (mean over the kinds) is significantly above 0 and
    no kind is significantly below; "refuted" if the overall difference is not significantly
    above 0 and no kind is significantly above 0; "partly" otherwise (mixed kinds).
    """
    up = [direction(e) > 0 for e in diff.values()]
    down = [direction(e) < 0 for e in diff.values()]
    if direction(overall) > 0 and not any(down):
        return "confirmed"
    if direction(overall) <= 0 and not any(up):
        return "refuted"
    return "partly"


def claim_p2(ok: pd.DataFrame, label: pd.Series) -> Claim:
    """001-P2 from the ablation's ok runs (``label``: each run's combination of defenses)."""
    gain = above_chance(ok)
    base = ok[label == "baseline"]
    b = above_chance(base) if len(base) else {}
    kinds = ", ".join(f"{k} {gain[k].text(signed=True)}" for k in KINDS)
    basetext = ", ".join(f"{k} {b[k].text(signed=True)}" for k in KINDS) if b else "no baseline runs"
    return Claim(
        id="001-P2",
        source="001",
        claim="Behavioral changes will generalize to novel situations",
        verdict=verdict_generalizes(gain),
        numbers=(
            f"held-out recall (F1) − its chance level, paired over all {len(ok)} ablation runs: {kinds}; "
            f"baseline alone ({len(base)} seeds): {basetext}"
        ),
        command=COMMAND_P2,
    )


def is_generalization_sweep(runs: pd.DataFrame) -> bool:
    return SOURCE in runs and has_heldout(runs) and set(runs[SOURCE].dropna()) >= {"dreams", "real"}


def _trained(g: pd.DataFrame) -> pd.Series:
    return (g[PREFIX + "retention_A"] + g[PREFIX + "acquisition_B"]) / 2  # equal numbers of A and B patterns


def _mean_heldout(g: pd.DataFrame) -> pd.Series:
    return g[[heldout_columns(k)[0] for k in KINDS]].mean(axis=1)


def tables(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Estimate], Estimate]:
    ok = runs[runs["status"] == "ok"]
    rows = []
    for source, g in ok.groupby(SOURCE, sort=True):
        row: dict[str, object] = {"source": source, "n": len(g)}
        for k in KINDS:
            for name, col in zip(("", "chance_"), heldout_columns(k), strict=True):
                e = estimate(g[col])
                row[f"{name}{k}"], row[f"{name}{k}_ci95"] = e.mean, e.ci95
        e = estimate(_trained(g))
        row["trained_cues"], row["trained_cues_ci95"] = e.mean, e.ci95
        rows.append(row)
    d, r = (ok[ok[SOURCE] == s].set_index("seed").sort_index() for s in ("dreams", "real"))
    seeds = d.index.intersection(r.index)
    d, r = d.loc[seeds], r.loc[seeds]
    diff = {k: paired(d[heldout_columns(k)[0]], r[heldout_columns(k)[0]]) for k in KINDS}
    overall = paired(_mean_heldout(d), _mean_heldout(r))
    trained = paired(_trained(d), _trained(r))
    prow = [{"metric": k, "dreams_minus_real": e.mean, "ci95": e.ci95, "n": e.n} for k, e in diff.items()]
    prow += [
        {"metric": "mean of the kinds", "dreams_minus_real": overall.mean, "ci95": overall.ci95, "n": overall.n},
        {"metric": "trained cues", "dreams_minus_real": trained.mean, "ci95": trained.ci95, "n": trained.n},
    ]
    return pd.DataFrame(rows), pd.DataFrame(prow), diff, overall


def plot(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cats = [*KINDS, "trained_cues"]
    x = np.arange(len(cats))
    fig, ax = plt.subplots(figsize=(8, 4))
    for k, (_, row) in enumerate(table.iterrows()):
        y = [row[c] for c in cats]
        err = [row[f"{c}_ci95"] for c in cats]
        ax.bar(x + (k - 0.5) * 0.38, y, 0.38, yerr=err, capsize=3, label=f"sleeps replay {row['source']}")
    chance = [table[f"chance_{c}"].mean() for c in KINDS]
    ax.scatter(x[: len(KINDS)], chance, marker="_", s=900, color="#d62728", zorder=3, label="chance (untrained)")
    ax.set_xticks(x, ["noisy cue", "partial cue", "recombined cue", "trained cue"])
    ax.set_ylabel("recall F1 after A and B (mean ± 95 % CI)")
    ax.set_title(
        f"Seed 001 prediction 4: held-out recall, dreams vs real replay ({int(table['n'].min())} paired seeds)"
    )
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def claims(directory: Path) -> list[Claim]:
    """001-P4 from the generalization sweep (writes its tables and plot)."""
    runs = pd.read_csv(Path(directory) / "runs.csv")
    if not is_generalization_sweep(runs):
        return []
    table, ptable, diff, overall = tables(runs)
    dest = save_tables(directory, generalization=table, generalization_paired=ptable)
    plot(table, dest / "generalization.png")
    last = ptable.iloc[-1]
    trained = Estimate(float(last["dreams_minus_real"]), float(last["ci95"]), int(last["n"]))
    return [
        Claim(
            id="001-P4",
            source="001",
            claim="Dream-generated scenarios will produce better generalization than real-example-only training",
            verdict=verdict_dreams(diff, overall),
            numbers=(
                f"held-out recall, dreams − real replay, paired over {overall.n} seeds: "
                + ", ".join(f"{k} {e.text(signed=True)}" for k, e in diff.items())
                + f"; mean of the kinds {overall.text(signed=True)}; trained cues "
                f"{trained.text(signed=True)}"
            ),
            command=COMMAND_P4,
        )
    ]
