"""Seed 002's survival claim against the persistence law's own boundary (scenario ``survival_boundary``).

Seed 002: "the only surviving patterns are those whose predictive accuracy overcomes the noise
of their environment". With survival on (SPEC 5.4) and an environment observed through
S = ``environment.samples`` draws per slow tick, the persistence law predicts where survival
ends. At the edge of survival a node and its neighbours sit at R = 1, so
neighbour_R = (R_parent·R̄_children)^{ν/2} = 1, and a node earning as well as its peers has
Ẽ/B = 1, so energy_in = 1 + s. Then

    R = energy_in·neighbour_R / (1 + D_KL) = (1 + s)/(1 + D_KL) = 1   ⇔   D_KL = s.

A leaf whose prediction has caught up with its world (p ≈ q) still pays the sampling noise of
its observation q̂ (a histogram of S draws): 2S·KL(q̂‖q) → χ²_{M−1} (Wilks), so

    E[D_KL] ≈ (M − 1)/(2S)     and the boundary is   s* = (M − 1)/(2S),  S* = (M − 1)/(2s).

This is the boundary with every neighbour at R = 1. On the tree the neighbours are not at 1:
an internal node at height d (d = 0 for the leaves) observes the mean of the b^d leaf
histograms below it, so its noise is about (M − 1)/(2S·b^d), and it sits above 1. Writing
x_d = ln R_d for the level means, the same law is linear in x:

    x_d − (ν/2)·(x_{d+1} + x_{d−1}) = ln(1 + s) − ln(1 + D_d),   D_d = (M − 1)/(2S·b^d),

with x_{D+1} = 0 (the root's parent is the environment) and no x_{−1} term (a leaf's children
mean is 1). Solving this tridiagonal system gives the leaves' x_0(s, S); the *tree* boundary
is x_0 = 0 (found by bracketing in s). It lies at fewer samples than S*: healthy parents lift
their leaves. :func:`tree_boundary` computes it; :func:`predicted_samples` the simple one.

Neglected in both: the learner's own fluctuation around q (of relative order η_p·q_m/2, some
per cent), the O(1/S²) terms, and the fluctuations of D_KL and income from tick to tick. The
last matter: a node dies only after ``persistence.patience`` *consecutive* slow ticks below 1,
and D_KL fluctuates about as much as its mean (χ² with M − 1 degrees of freedom), so a node
whose mean R is somewhat below 1 still has lucky ticks above 1 that reset its count. The
measured boundary therefore lies at fewer samples (more noise) than the predicted one; its
shape, s ∝ 1/S, is the law's.

Summary metric ``survival`` (per run): ``leaves_alive`` (fraction of leaves alive at the end),
``alive`` (fraction of all nodes), ``dkl_leaves`` (the leaves' mean D_KL over the second half of
the grace period's last third, when all are alive and learning has converged), ``dkl_predicted``
((M − 1)/(2S), 0 for exact observation), ``tree_surplus`` (the tree boundary's s at this S),
``categories`` (M), ``samples``, ``surplus``.

``cohlab analyze`` on the ready sweep writes ``analysis/survival.csv`` (per (S, s): survival
fraction of the leaves, mean ± 95 % CI over the seeds, measured and predicted D_KL),
``analysis/survival.png`` (the survival fraction over the plane, the predicted boundary and
the measured one, where half of the leaves survive) and ``claims.json`` (002-survival).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .claims import Claim, estimate, save_figure, save_tables
from .export import scales_frame
from .metric_registry import metric

if TYPE_CHECKING:
    from model.model import CoherenceModel

PREFIX = "survival."
S_KEY, SURPLUS_KEY = "environment.samples", "persistence.surplus"
MARGIN = 2.0  # points within a factor 2 of the predicted boundary are not scored
COMMAND = "cohlab sweep survival_boundary --ready --out runs/surv && cohlab analyze runs/surv"


def predicted_dkl(categories: int, samples: int | float) -> float:
    """Mean D_KL of a learner that knows its world, observed through ``samples`` draws: (M − 1)/(2S)."""
    return 0.0 if samples <= 0 else (categories - 1) / (2.0 * samples)


def predicted_samples(categories: int, surplus: float) -> float:
    """The predicted boundary S* = (M − 1)/(2s): fewer samples per slow tick and the leaves die."""
    return math.inf if surplus <= 0 else (categories - 1) / (2.0 * surplus)


def level_log_R(
    surplus: float, samples: float, categories: int, depth: int, branching: int, coupling: float
) -> np.ndarray:
    """x_d = ln R_d per height d = 0 (leaves) … depth (root): the steady state of the law on a full tree
    whose nodes earn like their peers and pay the sampling noise D_d = (M − 1)/(2S·b^d)."""
    n = depth + 1
    h = np.arange(n)
    dkl = (categories - 1) / (2.0 * samples * float(branching) ** h) if samples > 0 else np.zeros(n)
    A = np.eye(n)
    for d in range(n):
        if d + 1 < n:
            A[d, d + 1] -= coupling / 2  # the parent (the root's parent, the environment, has x = 0)
        if d > 0:
            A[d, d - 1] -= coupling / 2  # the mean of the children (leaves: 1, x = 0)
    return np.linalg.solve(A, np.log1p(surplus) - np.log1p(dkl))


def tree_boundary(samples: float, categories: int, depth: int, branching: int, coupling: float) -> float:
    """The surplus s at which the leaves' steady R is exactly 1 on the tree (NaN if outside [0, 10])."""
    from scipy.optimize import brentq

    def leaf(s: float) -> float:
        return float(level_log_R(s, samples, categories, depth, branching, coupling)[0])

    if leaf(0.0) >= 0:
        return 0.0
    if leaf(10.0) < 0:
        return math.nan
    return float(brentq(leaf, 0.0, 10.0, xtol=1e-12))


def tree_samples(surplus: float, categories: int, depth: int, branching: int, coupling: float) -> float:
    """The samples per slow tick at which the leaves' steady R is 1 on the tree (the inverse of tree_boundary)."""
    from scipy.optimize import brentq

    def leaf(log_s: float) -> float:
        return float(level_log_R(surplus, math.exp(log_s), categories, depth, branching, coupling)[0])

    lo, hi = math.log(1e-3), math.log(1e7)
    if leaf(lo) >= 0:
        return 0.0
    if leaf(hi) < 0:
        return math.inf
    return math.exp(brentq(leaf, lo, hi, xtol=1e-12))


def ratio_at_boundary(surplus: float, dkl: float, neighbour_R: float = 1.0, coupling: float = 0.5) -> float:
    """R = energy_in·neighbour_R^ν/(1 + D_KL) for a node earning like its peers (energy_in = 1 + s)."""
    return (1.0 + surplus) * neighbour_R**coupling / (1.0 + dkl)


@metric("survival")
def survival_metrics(model: CoherenceModel) -> dict[str, Any]:
    """Who survived, and the noise the leaves paid (see the module docstring)."""
    p = model.params
    leaves = model.graph.is_leaf
    sc = scales_frame(model)
    grace_end = p.persistence.grace * p.clock.dt_slow
    window = sc[(sc["scale"] == 0) & (sc["time"] > grace_end * 2 / 3) & (sc["time"] <= grace_end)]
    return {
        "leaves_alive": float(model.state.alive[leaves].mean()),
        "alive": float(model.state.alive.mean()),
        "dkl_leaves": float(window["dkl"].mean()) if len(window) else math.nan,
        "dkl_predicted": predicted_dkl(p.environment.categories, p.environment.samples),
        "categories": int(p.environment.categories),
        "tree_surplus": tree_boundary(
            p.environment.samples, p.environment.categories, p.graph.depth, p.graph.branching, p.persistence.coupling
        )
        if p.graph.kind == "tree"
        else math.nan,
        "samples": int(p.environment.samples),
        "tree": {"depth": p.graph.depth, "branching": p.graph.branching, "coupling": p.persistence.coupling},
        "surplus": float(p.persistence.surplus),
    }


def is_survival_sweep(runs: pd.DataFrame) -> bool:
    return PREFIX + "leaves_alive" in runs and S_KEY in runs and SURPLUS_KEY in runs


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (S, s): n, survival fraction of the leaves (mean, 95 % CI), measured and predicted D_KL, S*."""
    ok = runs[runs["status"] == "ok"]
    rows = []
    for (S, s), g in ok.groupby([S_KEY, SURPLUS_KEY], sort=True):
        m = int(g[PREFIX + "categories"].iloc[0])
        alive, dkl = estimate(g[PREFIX + "leaves_alive"]), estimate(g[PREFIX + "dkl_leaves"])
        rows.append(
            {
                "samples": S,
                "surplus": s,
                "n": len(g),
                "leaves_alive": alive.mean,
                "leaves_alive_ci95": alive.ci95,
                "dkl_leaves": dkl.mean,
                "dkl_leaves_ci95": dkl.ci95,
                "dkl_predicted": predicted_dkl(m, S),
                "tree_surplus": float(g[PREFIX + "tree_surplus"].iloc[0]),
                "predicted_alive": bool(float(g[PREFIX + "tree_surplus"].iloc[0]) < s),
                "S_star": predicted_samples(m, s),
                "categories": m,
                **{k: g[f"{PREFIX}tree.{k}"].iloc[0] for k in ("depth", "branching", "coupling")},
            }
        )
    return pd.DataFrame(rows)


def measured_boundary(t: pd.DataFrame) -> pd.DataFrame:
    """Per surplus: the S where half of the leaves survive (log-linear interpolation), NaN if not crossed."""
    rows = []
    for s, g in t.groupby("surplus", sort=True):
        g = g.sort_values("samples")
        S, y = np.log(g["samples"].to_numpy(float)), g["leaves_alive"].to_numpy(float)
        cross = math.nan
        for k in range(len(y) - 1):
            if (y[k] - 0.5) * (y[k + 1] - 0.5) <= 0 and y[k] != y[k + 1]:
                cross = float(np.exp(S[k] + (0.5 - y[k]) * (S[k + 1] - S[k]) / (y[k + 1] - y[k])))
                break
        geo = (int(g["depth"].iloc[0]), int(g["branching"].iloc[0]), float(g["coupling"].iloc[0]))
        S_tree = tree_samples(s, int(g["categories"].iloc[0]), *geo)
        rows.append({"surplus": s, "S_measured": cross, "S_star": float(g["S_star"].iloc[0]), "S_tree": S_tree})
    return pd.DataFrame(rows)


def agreement(t: pd.DataFrame, margin: float = MARGIN) -> tuple[float, int]:
    """Share of the points farther than a factor ``margin`` (in s) from the tree boundary whose mean
    survival lies on the predicted side of 1/2, and how many such points there are."""
    far = t[np.abs(np.log(t["surplus"] / t["tree_surplus"].clip(lower=1e-12))) > math.log(margin)]
    if not len(far):
        return math.nan, 0
    right = (far["leaves_alive"] > 0.5) == far["predicted_alive"]
    return float(right.mean()), len(far)


def verdict(share: float, n_points: int) -> str:
    """The claim from the agreement with the predicted boundary (pure function, see tests).

    "confirmed" if at least 90 % of the scored points (≥ 4 of them) fall on the predicted side,
    "refuted" below 60 %, "partly" in between; "partly" too with fewer than 4 scored points.
    """
    if n_points < 4 or math.isnan(share):
        return "partly"
    return "confirmed" if share >= 0.9 else "refuted" if share < 0.6 else "partly"


def plot(t: pd.DataFrame, bound: pd.DataFrame, path: Path) -> Path:
    """Survival fraction of the leaves over (S, s), with the predicted and the measured boundary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pivot = t.pivot(index="surplus", columns="samples", values="leaves_alive")
    S, s = pivot.columns.to_numpy(float), pivot.index.to_numpy(float)
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    mesh = ax.pcolormesh(_edges(S), _edges(s), pivot.to_numpy(float), cmap="RdBu", vmin=0, vmax=1, shading="flat")
    fig.colorbar(mesh, ax=ax, label="fraction of leaves alive at the end (mean over seeds)")
    m = int(t["categories"].iloc[0])
    ss = np.geomspace(s.min() / 1.5, s.max() * 1.5, 100)
    ax.plot(
        [predicted_samples(m, x) for x in ss],
        ss,
        "k--",
        lw=1.5,
        label=f"R = 1, neighbours at 1: s = (M − 1)/(2S), M = {m}",
    )
    geo = [int(t["depth"].iloc[0]), int(t["branching"].iloc[0]), float(t["coupling"].iloc[0])]
    SS = np.geomspace(_edges(S)[0], _edges(S)[-1], 80)
    ax.plot(
        SS, [tree_boundary(x, m, *geo) for x in SS], "k-", lw=2, label="R = 1 for the leaves on the tree (predicted)"
    )
    b = bound.dropna(subset=["S_measured"])
    ax.plot(b["S_measured"], b["surplus"], "o--", color="#ff7f0e", lw=2, label="measured: half of the leaves survive")
    ax.set(xscale="log", yscale="log", xlabel="samples per slow tick S (less noise →)", ylabel="income surplus s")
    ax.set_xlim(_edges(S)[0], _edges(S)[-1])
    ax.set_ylim(_edges(s)[0], _edges(s)[-1])
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Seed 002: who survives the noise of the environment? (R = 1 boundary)", fontsize=10)
    return save_figure(fig, path)


def _edges(v: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis around sorted values."""
    lv = np.log(v)
    mid = (lv[1:] + lv[:-1]) / 2 if lv.size > 1 else np.array([])
    first = lv[0] - (mid[0] - lv[0] if mid.size else 0.5)
    last = lv[-1] + (lv[-1] - mid[-1] if mid.size else 0.5)
    return np.exp(np.concatenate([[first], mid, [last]]))


def report(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write DIR/analysis/survival.csv, survival_boundary.csv and survival.png."""
    runs = pd.read_csv(Path(directory) / "runs.csv")
    t = table(runs)
    bound = measured_boundary(t)
    dest = save_tables(directory, survival=t, survival_boundary=bound)
    plot(t, bound, dest / "survival.png")
    return t, bound


def claims(directory: Path) -> list[Claim]:
    """002-survival from the survival_boundary sweep."""
    runs = pd.read_csv(Path(directory) / "runs.csv")
    if not is_survival_sweep(runs):
        return []
    t, bound = report(directory)
    share, n = agreement(t)
    noise = t[t["samples"] > 0]
    ratio = estimate((noise["dkl_leaves"] / noise["dkl_predicted"]).tolist())
    crossed = bound.dropna(subset=["S_measured"])
    where = "; ".join(
        f"s = {r.surplus:g}: {r.S_tree:.3g} (tree) / {r.S_star:.3g} (simple) vs {r.S_measured:.3g}"
        for r in crossed.itertuples()
    )
    return [
        Claim(
            id="002-survival",
            source="002",
            claim="the only surviving patterns are those whose predictive accuracy overcomes the noise of "
            "their environment",
            verdict=verdict(share, n),
            numbers=(
                f"{share:.0%} of {n} grid points farther than ×{MARGIN:g} in s from the predicted tree boundary "
                f"fall on its side; leaf D_KL measured/(M − 1)/(2S) {ratio.text(2)} over {ratio.n} points; "
                f"measured boundary s·S {estimate((crossed['surplus'] * crossed['S_measured']).tolist()).text(2)} "
                f"(law: (M − 1)/2 = {(int(t['categories'].iloc[0]) - 1) / 2:g} with neighbours at 1); "
                "samples per slow tick where half the leaves survive, predicted vs measured: "
                + (where or "not crossed on the grid")
            ),
            command=COMMAND,
        )
    ]
