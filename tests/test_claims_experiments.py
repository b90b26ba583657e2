"""The experiments behind the claims table, in small versions: held-out cues, dreams against real
replay, the learning-rate sweep, the survival boundary and the seed-003 rows.

Each small sweep goes through `cohlab analyze`, and the test checks that the verdict written to
claims.json is the verdict function applied to numbers recomputed here from runs.csv.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import claims, generalization, lr_safety, survival
from analysis.analyze import analyze
from analysis.runner import run_scenario
from analysis.sweep.design import build_spec
from analysis.sweep.run import run_sweep
from model import CoherenceModel, ParameterError
from model.mechanisms.heldout import KINDS, make_heldout
from scenarios import load_scenario
from scenarios.loader import ScenarioError, inherit, parse_scenario

SMALL = {"patterns.epochs": 2, "recall.every": 0}


def finish(m: CoherenceModel, limit: int = 30_000) -> CoherenceModel:
    for _ in range(limit):
        if not m.running:
            break
        m.step()
    assert m.plasticity.done
    return m


def sweep(tmp: Path, scenario: str, **kw: object) -> Path:
    out = tmp / scenario
    spec = build_spec(scenario, ready=True, **kw)
    run_sweep(spec, out, workers=2, progress=False)
    return out


# ----------------------------------------------------------------------------- held-out cues


def training_stimuli(m: CoherenceModel) -> list[set[int]]:
    """Every node set that training held energy on: presented and replayed patterns, replayed dreams."""
    exp = m.plasticity
    by_label = {p.label: p for p in exp.patterns}
    sets = [set(by_label[t["label"]].nodes.tolist()) for t in exp.trials if t["kind"] in ("present", "replay")]
    sets += [set(nodes) for c in exp.dream_cycles for nodes in c["kept_nodes"]]
    return sets


@pytest.mark.parametrize("source", ["dreams", "real"])
def test_no_held_out_cue_was_used_in_training(source: str) -> None:
    m = finish(
        CoherenceModel(
            load_scenario("generalization"), seed=5, params={**SMALL, "dream.source": source, "dream.every": 30}
        )
    )
    exp = m.plasticity
    stimuli = training_stimuli(m)
    assert stimuli and exp.dream_cycles and sum(c["replayed"] for c in exp.dream_cycles) > 0
    cues = [set(p.cue.tolist()) for p in exp.patterns]
    member = set().union(*(set(p.nodes.tolist()) for p in exp.patterns))
    kinds = {h.kind for h in exp.heldout}
    assert kinds == set(KINDS)
    for h in exp.heldout:
        cue = set(h.cue.tolist())
        assert cue not in stimuli and cue not in cues, h.label  # never presented, never a trained cue
        if h.kind == "noisy":
            assert cue - member  # holds a node outside every pattern …
            assert not any(cue <= s for s in stimuli)  # … so no training stimulus contained it
    if source == "real":  # the control replays stored episodes only
        patterns = [set(p.nodes.tolist()) for p in exp.patterns]
        assert all(set(n) in patterns for c in exp.dream_cycles for n in c["kept_nodes"])


def test_held_out_cues_are_built_as_documented() -> None:
    m = CoherenceModel(load_scenario("generalization"), seed=2, params=SMALL)
    pats = m.plasticity.patterns
    rng = np.random.default_rng(0)
    items = make_heldout(m.graph.n, pats, rng, noise=0.25, keep=0.5)
    per = {k: [h for h in items if h.kind == k] for k in KINDS}
    assert len(per["noisy"]) == len(per["partial"]) == len(pats)
    assert len(per["recombined"]) == 2 * 3 * 2  # ordered pairs within A and within B
    for p, noisy, part in zip(pats, per["noisy"], per["partial"], strict=True):
        assert noisy.cue.size == p.cue.size and np.setdiff1d(noisy.cue, p.cue).size == 1  # ceil(0.25·4) swapped
        assert part.cue.size == 2 and set(part.cue) < set(p.cue)
        np.testing.assert_array_equal(noisy.target, p.response)
    a1, a2 = pats[0], pats[1]
    r = per["recombined"][0]
    assert set(r.cue) == set(a1.cue[:2]) | set(a2.cue[2:])
    assert set(r.target) == (set(a1.response) | set(a2.response)) - set(r.cue)


def test_held_out_test_changes_nothing_else_and_is_reproducible() -> None:
    off = run_scenario("stability_plasticity", seed=4, overrides=SMALL).summary["stability_plasticity"]
    on1 = run_scenario("stability_plasticity", seed=4, overrides={**SMALL, "recall.heldout": True}).summary
    on2 = run_scenario("stability_plasticity", seed=4, overrides={**SMALL, "recall.heldout": True}).summary
    assert on1 == on2
    s = on1["stability_plasticity"]
    assert {k: v for k, v in s.items() if not k.startswith("heldout")} == off
    for k in KINDS:
        assert 0.0 <= s["heldout"][k] <= 1.0 and 0.0 <= s["heldout_chance"][k] <= 1.0


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("recall.heldout_noise", 0.0, "recall.heldout_noise"),
        ("recall.heldout_noise", 1.5, "recall.heldout_noise"),
        ("recall.heldout_keep", 1.0, "recall.heldout_keep"),
        ("dream.source", "both", "dream.source"),
        ("recall.heldout", "maybe", "recall.heldout"),
    ],
)
def test_bad_values_of_the_new_parameters_are_refused(key: str, value: object, needle: str) -> None:
    with pytest.raises(ParameterError, match=needle):
        CoherenceModel(load_scenario("generalization"), seed=0, params={key: value})


def test_bad_input_on_the_command_line_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "cohlab.cli", "run", "generalization", "--out", str(out), "--quiet"]
    r = subprocess.run([*cmd, "--set", "dream.source=both"], capture_output=True, text=True)
    assert r.returncode != 0 and "dream.source" in r.stderr and not out.exists()


# ----------------------------------------------------------------------------- scenarios that extend others


def test_extends_inherits_params_and_stimuli_and_overrides_win() -> None:
    lr = load_scenario("learning_rate")
    base = load_scenario("stability_plasticity")
    assert lr.resolve_params().learning.budget == base.resolve_params().learning.budget == 0.3
    gen = load_scenario("generalization").resolve_params()
    assert gen.defenses.dream_loop and gen.recall.heldout
    surv = load_scenario("survival_boundary")
    assert surv.stimuli == [] and load_scenario("persistence").stimuli  # "stimuli = []" removes the shifts
    assert surv.resolve_params().persistence.survival and surv.resolve_params().graph.depth == 5


@pytest.mark.parametrize("extends", ["nope", 3])
def test_an_unknown_base_is_refused(tmp_path: Path, extends: object) -> None:
    text = Path(load_scenario("survival_boundary").path).read_text()
    path = tmp_path / "x.toml"
    path.write_text(text.replace('extends = "persistence"', f"extends = {json.dumps(extends)}"))
    with pytest.raises(ScenarioError, match="not a bundled scenario"):
        load_scenario(path)


def test_a_cycle_of_extends_is_refused() -> None:
    with pytest.raises(ScenarioError, match="cycle"):
        inherit({"scenario": {"name": "persistence", "extends": "persistence"}}, "x.toml")
    with pytest.raises(ScenarioError, match="cycle"):
        inherit({"scenario": {"name": "a", "extends": "persistence"}}, "x.toml", ("persistence",))


def test_parse_without_extends_is_unchanged() -> None:
    sc = load_scenario("persistence")
    assert parse_scenario({k: v for k, v in sc.model_dump().items() if k != "path"}).scenario.extends is None


# ----------------------------------------------------------------------------- small sweeps through `cohlab analyze`


def test_learning_rate_sweep_small(tmp_path: Path) -> None:
    out = sweep(tmp_path, "learning_rate", grid=["learning.lr=0.003,0.03"], replicates=2, sets=["patterns.epochs=2"])
    report = analyze(out)
    rows = claims.read_claims(out / "claims.json")
    assert [c.id for c in rows] == ["001-P1"]
    ok = lr_safety.load(pd.read_csv(out / "runs.csv"))
    assert set(ok["condition"]) == set(lr_safety.CONDITIONS) and len(ok) == 16
    both = lr_safety.cell(ok, 0.03, "both", "forgetting")
    base_lo, base_hi = (lr_safety.cell(ok, lr, "baseline", "forgetting") for lr in (0.003, 0.03))
    safe = claims.paired(both.to_numpy(), base_lo.to_numpy())
    because = claims.paired(both.to_numpy(), base_hi.to_numpy())
    div, frozen = (lr_safety.cell(ok, 0.03, c, "forgetting").to_numpy() for c in ("diversity", "frozen_context"))
    each = claims.paired(div, base_hi.to_numpy()), claims.paired(frozen, base_hi.to_numpy())
    assert rows[0].verdict == lr_safety.verdict(safe, because, *each)
    assert (out / "analysis" / "lr_safety.png").stat().st_size > 0
    table = pd.read_csv(out / "analysis" / "lr_safety.csv")
    assert len(table) == 8 and set(table["n"]) == {2}
    assert "001-P1" in report.text()
    first = [(out / f).read_bytes() for f in ("claims.json", "analysis/lr_safety.csv", "analysis/lr_paired.csv")]
    analyze(out)  # the same runs give the same bytes
    assert first == [
        (out / f).read_bytes() for f in ("claims.json", "analysis/lr_safety.csv", "analysis/lr_paired.csv")
    ]


def test_generalization_sweep_small(tmp_path: Path) -> None:
    out = sweep(tmp_path, "generalization", replicates=3, sets=["patterns.epochs=2", "dream.every=30"])
    analyze(out)
    (row,) = claims.read_claims(out / "claims.json")
    runs = pd.read_csv(out / "runs.csv")
    d = runs[runs["dream.source"] == "dreams"].set_index("seed").sort_index()
    r = runs[runs["dream.source"] == "real"].set_index("seed").sort_index()
    diff = {
        k: claims.paired(d[f"stability_plasticity.heldout.{k}"], r[f"stability_plasticity.heldout.{k}"]) for k in KINDS
    }
    mean = [d[[f"stability_plasticity.heldout.{k}" for k in KINDS]].mean(axis=1)]
    mean.append(r[[f"stability_plasticity.heldout.{k}" for k in KINDS]].mean(axis=1))
    assert row.id == "001-P4" and row.verdict == generalization.verdict_dreams(diff, claims.paired(*mean))
    assert (out / "analysis" / "generalization.png").stat().st_size > 0


def test_survival_sweep_small(tmp_path: Path) -> None:
    """Far inside the boundary the leaves live, far outside they die, whatever the fluctuations."""
    out = sweep(
        tmp_path,
        "survival_boundary",
        grid=["environment.samples=2,200", "persistence.surplus=0.05,0.4"],
        replicates=1,
        sets=["graph.depth=3", "persistence.grace=100"],
        ticks=1400,
    )
    analyze(out)
    (row,) = claims.read_claims(out / "claims.json")
    t = pd.read_csv(out / "analysis" / "survival.csv").set_index(["samples", "surplus"])
    assert t.loc[(2, 0.05), "leaves_alive"] < 0.2  # D ≈ 0.75 ≫ s: dead
    assert t.loc[(200, 0.4), "leaves_alive"] > 0.8  # D ≈ 0.0075 ≪ s: alive
    # the leaves pay at least the sampling noise (M − 1)/(2S) (plus what learning has not caught up yet)
    assert 0.8 * 3 / 400 < t.loc[(200, 0.05), "dkl_leaves"] < 0.05
    assert t.loc[(2, 0.05), "dkl_leaves"] > 0.3  # (M − 1)/(2S) = 0.75 to leading order
    share, n = survival.agreement(t.reset_index())
    assert row.verdict == survival.verdict(share, n)
    assert (out / "analysis" / "survival.png").stat().st_size > 0


def test_the_tree_boundary_solves_the_law_level_by_level() -> None:
    """Iterating R_d = (1 + s)·(R_parent·R̄_children)^{ν/2}/(1 + D_d) to its fixed point gives the linear solve."""
    s, S, M, depth, b, nu = 0.1, 12.0, 4, 4, 3, 0.5
    D = (M - 1) / (2 * S * b ** np.arange(depth + 1))
    R = np.ones(depth + 1)
    for _ in range(500):
        for d in range(depth, -1, -1):  # top-down, as the mechanism computes it
            parent = R[d + 1] if d < depth else 1.0
            children = R[d - 1] if d > 0 else 1.0
            R[d] = (1 + s) * (parent * children) ** (nu / 2) / (1 + D[d])
    np.testing.assert_allclose(np.log(R), survival.level_log_R(s, S, M, depth, b, nu), rtol=1e-9)
    s_star = survival.tree_boundary(S, M, depth, b, nu)
    assert survival.level_log_R(s_star, S, M, depth, b, nu)[0] == pytest.approx(0.0, abs=1e-9)
    assert survival.tree_samples(s_star, M, depth, b, nu) == pytest.approx(S, rel=1e-6)
    # a single node (depth 0) is the simple boundary s = D = (M − 1)/(2S)
    assert survival.tree_boundary(S, M, 0, b, nu) == pytest.approx((M - 1) / (2 * S))


# ----------------------------------------------------------------------------- seed 003 rows from single runs


def test_seed_003_rows_from_runs(tmp_path: Path) -> None:
    from analysis.export import write_run

    for name in ("forgetting_curves", "consolidation"):
        res = run_scenario(name, seed=0)
        write_run(res.model, tmp_path / name, res.ticks, res.summary)
        report = analyze(tmp_path / name)
        rows = claims.read_claims(tmp_path / name / "claims.json")
        assert rows and all(c.source == "003" for c in rows) and "claims.json" in report.text()
        testable = [c for c in rows if c.verdict != "not testable"]
        assert testable and all(c.verdict == "confirmed" for c in testable), [(c.id, c.numbers) for c in rows]


def test_analyze_refuses_a_run_without_claims(tmp_path: Path) -> None:
    from analysis.export import write_run
    from scenarios.sweep_spec import SweepError

    res = run_scenario("coherence_backprop", seed=0, ticks=20)
    write_run(res.model, tmp_path / "cb", res.ticks, res.summary)
    with pytest.raises(SweepError, match="no claims"):
        analyze(tmp_path / "cb")
    assert not (tmp_path / "cb" / "claims.json").exists()
