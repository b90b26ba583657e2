"""The stability–plasticity experiment (SPEC 6, seed 001): patterns, rule, recall, defenses, metrics.

Every expectation here is argued from the mechanism, never from an ablation result: the
tests check that each part does what SPEC 6 says, and that the experiment can detect
forgetting (the baseline with shared nodes and a budget) and its absence (no coupling).
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from analysis.runner import run_scenario
from analysis.summary import summarize
from model import CoherenceModel, ParameterError
from model.keys import resolve
from model.mechanisms import curriculum, decay, dream, spreading
from model.mechanisms.adam import BETA1, BETA2, EPS, HebbianAdam, apply_masked_budget
from model.mechanisms.episodic import EpisodicBuffer
from model.mechanisms.patterns import grow_patterns, neighbour_mask
from model.mechanisms.recall import f1, recall_activation, top_k
from scenarios import load_scenario

SCENARIO = "stability_plasticity"
FLAGS = ("coarse_scaling", "frozen_context", "diversity", "small_steps", "two_stage", "dream_loop")


def make(seed: int = 0, **params: Any) -> CoherenceModel:
    return CoherenceModel(load_scenario(SCENARIO), seed=seed, params={"recall.every": 0, **params})


def finish(m: CoherenceModel, limit: int = 30_000) -> CoherenceModel:
    for _ in range(limit):
        if not m.running:
            break
        m.step()
    assert m.plasticity.done, "the schedule did not finish"
    return m


def snapshot(m: CoherenceModel) -> dict[str, Any]:
    st = m.state
    snap = {f.name: (v.tobytes() if isinstance(v := getattr(st, f.name), np.ndarray) else v) for f in fields(st)}
    snap["Wt.data"] = m.Wt.data.tobytes()
    snap["tick"], snap["now"], snap["events"] = m.tick, m.env.now, len(m.events.records)
    snap["rng"] = [r.bit_generator.state for r in (m.rng_stim, m.rng_dyn, m.plasticity.rng)]
    snap["adam"] = [a.tobytes() for a in (m.plasticity.optimizer.m, m.plasticity.optimizer.v)]
    return snap


def spy_learning(m: CoherenceModel) -> list[dict[str, Any]]:
    """Record every slow-tick call of the learning rule: the window's trial and W before and after."""
    exp = m.plasticity
    inner = exp.learn
    log: list[dict[str, Any]] = []

    def learn(E_bar: np.ndarray) -> None:
        before = m.state.W.copy()
        trial = exp.trial
        inner(E_bar)
        log.append({"trial": trial, "before": before, "after": m.state.W.copy(), "time": m.env.now})

    exp.learn = learn
    return log


def schedule(m: CoherenceModel) -> list[tuple[str, str]]:
    return [(t["kind"], t["label"]) for t in m.plasticity.trials]


# ----------------------------------------------------------------------------- recall test


def test_recall_is_read_only_and_repeatable() -> None:
    m = make(1)
    m.run(47)  # mid-trial: activation, window sums and Adam moments are all non-trivial
    assert m.state.E.any() and m.state.E_sum.any() and m.plasticity.optimizer.m.any()
    before = snapshot(m)
    first = m.plasticity.scores()
    second = m.plasticity.scores()
    np.testing.assert_array_equal(first, second)
    after = snapshot(m)
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], f"the recall test changed {key}"


def test_recall_equals_the_fast_tick_mechanisms_on_a_copy() -> None:
    """The batched recall is the fast tick's own injection, spreading and decay, with δ_E held."""
    m = make(2)
    m.run(120)
    p, g = m.params, m.graph
    pats = m.plasticity.patterns
    E = recall_activation(g, m.state, p, [q.cue for q in pats])
    for col, pat in enumerate(pats):
        st = m.state.copy()
        Wt = g.matrix(st.W)
        st.E[:] = 0.0
        st.inject[:] = 0.0
        for _ in range(p.recall.ticks):
            st.inject[pat.cue] += p.learning.E_ref
            spreading.inject(st)
            ret = decay.retention(st, p, None)
            spreading.spread(st, Wt @ spreading.senders(st, True), p.spread.alpha, True)
            decay.decay(st, ret, p)
        np.testing.assert_allclose(E[:, col], st.E, rtol=1e-12, atol=1e-12)


def test_top_k_breaks_ties_by_index_and_f1_counts_overlap() -> None:
    E = np.array([0.0, 5.0, 1.0, 1.0, 0.0, 1.0])
    assert top_k(E, np.array([1]), 2).tolist() == [2, 3]
    assert top_k(E, np.array([2]), 3).tolist() == [1, 3, 5]
    assert f1(np.array([2, 3]), np.array([3, 4])) == 0.5
    assert f1(np.array([2, 3]), np.array([2, 3])) == 1.0
    assert f1(np.array([0, 1]), np.array([4, 5])) == 0.0


# ----------------------------------------------------------------------------- patterns


@pytest.mark.parametrize("overlap", ["free", "disjoint", "separated"])
def test_patterns_are_connected_random_walks_split_into_cue_and_response(make_world, overlap: str) -> None:
    graph, _, _, rng = make_world({"graph.depth": 5})
    pats = grow_patterns(graph, rng, 8, 3, overlap)
    assert [q.label for q in pats] == ["A1", "A2", "A3", "B1", "B2", "B3"]
    for q in pats:
        assert q.nodes.size == 8 == np.unique(q.nodes).size
        np.testing.assert_array_equal(np.concatenate([q.cue, q.response]), q.nodes)
        assert q.cue.size == 4
        for k in range(1, 8):  # each node joins an earlier one: connected, in walk order
            assert np.isin(graph.neighbours(int(q.nodes[k])), q.nodes[:k]).any()
    in_a = np.zeros(graph.n, bool)
    in_a[np.concatenate([q.nodes for q in pats[:3]])] = True
    b = np.concatenate([q.nodes for q in pats[3:]])
    if overlap != "free":
        assert not in_a[b].any()
    if overlap == "separated":
        assert not neighbour_mask(graph, in_a)[b].any()


def test_patterns_depend_only_on_the_seed_not_on_the_defenses() -> None:
    a = make(5).plasticity.patterns
    b = make(5, **{f"defenses.{f}": True for f in FLAGS}).plasticity.patterns
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p.nodes, q.nodes)


# ----------------------------------------------------------------------------- the experiment detects what it should


def test_without_learning_scores_stay_at_chance() -> None:
    for seed in range(4):
        m = make(seed, **{"learning.enabled": False, "recall.every": 25})
        W0 = m.state.W.copy()
        finish(m)
        np.testing.assert_array_equal(m.state.W, W0)
        chance = m.plasticity.history[0]
        for row in m.plasticity.history[1:]:
            assert abs(row["A"] - chance["A"]) <= 0.1 and abs(row["B"] - chance["B"]) <= 0.1, row


def test_without_coupling_between_the_tasks_nothing_is_forgotten() -> None:
    """B separated from A (no shared node, no link) and no budget: B cannot touch A's edges.

    Only A's own Adam momentum still moves A's edges after the test (upwards), so no seed may
    lose recall of A; learning itself must have worked (acquisition well above chance).
    """
    acq, forgetting = [], []
    for seed in range(8):
        s = finish(make(seed, **{"patterns.overlap": "separated", "learning.scaling": False})).plasticity.summary()
        acq.append(s["acquisition_A"] - s["chance_A"])
        forgetting.append(s["forgetting"])
    assert max(forgetting) <= 1e-12, forgetting
    assert abs(np.mean(forgetting)) <= 0.1
    assert np.mean(acq) > 0.25


def test_the_baseline_forgets_with_shared_nodes_and_a_budget() -> None:
    forgetting = np.array([finish(make(seed)).plasticity.summary()["forgetting"] for seed in range(10)])
    se = forgetting.std(ddof=1) / math.sqrt(forgetting.size)
    assert forgetting.mean() > 2.5 * se > 0, forgetting


def test_no_learning_happens_outside_trials_and_every_window_learns_in_the_baseline() -> None:
    m = make(3)
    log = spy_learning(m)
    finish(m)
    assert len(log) == m.plasticity.steps == len(m.plasticity.trials)  # one window per trial
    assert all(entry["trial"] is not None and entry["trial"].learn for entry in log)


# ----------------------------------------------------------------------------- the learning rule


def _reference_adam(gs: list[np.ndarray], masks: list[np.ndarray], lr: float) -> list[np.ndarray]:
    """Adam written element by element (independent of the vectorised code)."""
    n = gs[0].size
    m, v, t = [0.0] * n, [0.0] * n, [0] * n
    out = []
    for g, mask in zip(gs, masks, strict=True):
        d = np.zeros(n)
        for e in range(n):
            if not mask[e]:
                continue
            t[e] += 1
            m[e] = BETA1 * m[e] + (1 - BETA1) * g[e]
            v[e] = BETA2 * v[e] + (1 - BETA2) * g[e] ** 2
            d[e] = lr * (m[e] / (1 - BETA1 ** t[e])) / (math.sqrt(v[e] / (1 - BETA2 ** t[e])) + EPS)
        out.append(d)
    return out


def test_per_element_adam_matches_a_reference_and_skips_frozen_edges(make_world) -> None:
    graph, _, _, rng = make_world({"graph.depth": 2})
    gs = [rng.random(graph.nnz) * (rng.random(graph.nnz) < 0.5) for _ in range(6)]
    masks = [rng.random(graph.nnz) < 0.7 for _ in range(6)]
    opt = HebbianAdam(graph, coarse=False)
    ref = _reference_adam(gs, masks, 0.01)
    for g, mask, expected in zip(gs, masks, ref, strict=True):
        np.testing.assert_allclose(opt.step(g, 0.01, mask), expected, rtol=1e-12, atol=1e-15)
    first = HebbianAdam(graph, coarse=False).step(np.full(graph.nnz, 1e-4), 0.01)
    np.testing.assert_allclose(first, 0.01, rtol=1e-3)  # the first step is lr whatever the signal's size


def test_coarse_scaling_shares_one_second_moment_per_source_row(make_world) -> None:
    graph, _, _, rng = make_world({"graph.depth": 2})
    src = graph.edge_src
    opt = HebbianAdam(graph, coarse=True)
    assert opt.v.shape == (graph.n,) and opt.m.shape == (graph.nnz,)
    v_ref, t_ref = np.zeros(graph.n), np.zeros(graph.n, int)
    for _ in range(5):
        g = rng.random(graph.nnz)
        mask = rng.random(graph.nnz) < 0.8
        opt.step(g, 0.01, mask)
        for i in range(graph.n):  # independent: a loop over rows
            row = (src == i) & mask
            if row.any():
                v_ref[i] = BETA2 * v_ref[i] + (1 - BETA2) * np.mean(g[row] ** 2)
                t_ref[i] += 1
        np.testing.assert_allclose(opt.v, v_ref, rtol=1e-12)
        vhat = opt.second_moment()
        for i in range(graph.n):
            assert np.ptp(vhat[src == i]) == 0.0  # one value per row
    # within a row, a constant signal gives steps proportional to the signal (graded, not equalised)
    fresh = HebbianAdam(graph, coarse=True)
    g = np.where(src == 0, np.linspace(0.1, 1.0, graph.nnz), 0.0)
    d = fresh.step(g, 0.01)
    row = src == 0
    np.testing.assert_allclose(d[row] / g[row], d[row][0] / g[row][0], rtol=1e-9)
    flat = HebbianAdam(graph, coarse=False).step(g, 0.01)
    np.testing.assert_allclose(flat[row], 0.01, rtol=1e-6)


def test_the_budget_with_a_mask_rescales_only_plastic_edges(make_world) -> None:
    graph, _, _, rng = make_world({"graph.depth": 2})
    W = rng.random(graph.nnz)
    mask = rng.random(graph.nnz) < 0.5
    out = W.copy()
    apply_masked_budget(graph, out, 1.0, mask)
    np.testing.assert_array_equal(out[~mask], W[~mask])
    rows = np.bincount(graph.edge_src, weights=out, minlength=graph.n)
    frozen = np.bincount(graph.edge_src, weights=np.where(mask, 0.0, W), minlength=graph.n)
    assert np.all(rows <= np.maximum(1.0, frozen) + 1e-12)
    full = W.copy()
    apply_masked_budget(graph, full, 1.0, None)
    assert np.bincount(graph.edge_src, weights=full, minlength=graph.n).max() <= 1.0 + 1e-12


# ----------------------------------------------------------------------------- one test per defense


def test_coarse_scaling_changes_the_optimiser_only() -> None:
    base, coarse = finish(make(4)), finish(make(4, **{"defenses.coarse_scaling": True}))
    assert schedule(coarse) == schedule(base)
    assert coarse.plasticity.optimizer.v.shape == (coarse.graph.n,)
    assert base.plasticity.optimizer.v.shape == (base.graph.nnz,)
    assert not np.array_equal(coarse.state.W, base.state.W)


def test_frozen_context_learns_only_edges_into_the_trials_response_nodes() -> None:
    m = make(6, **{"defenses.frozen_context": True})
    W0 = m.state.W.copy()
    log = spy_learning(m)
    finish(m)
    dst = m.graph.edge_dst
    for entry in log:
        changed = entry["after"] != entry["before"]
        assert not changed[~np.isin(dst, entry["trial"].response)].any()
    responses = np.unique(np.concatenate([q.response for q in m.plasticity.patterns]))
    into_response = np.isin(dst, responses)
    np.testing.assert_array_equal(m.state.W[~into_response], W0[~into_response])  # bit-identical
    assert (m.state.W[into_response] != W0[into_response]).any()
    assert schedule(m) == schedule(finish(make(6)))


@pytest.mark.parametrize("ratio", [0.3, 0.5])
def test_diversity_interleaves_A_presentations_at_the_ratio(ratio: float) -> None:
    base = finish(make(7))
    m = finish(make(7, **{"defenses.diversity": True, "defenses.diversity_ratio": ratio}))
    n_a_phase = len(base.plasticity.plan_A)
    assert schedule(m)[:n_a_phase] == schedule(base)[:n_a_phase]
    b_phase = [label for _, label in schedule(m)[n_a_phase:]]
    base_b = [label for _, label in schedule(base)[n_a_phase:]]
    assert [x for x in b_phase if x.startswith("B")] == base_b  # B presentations unchanged
    a_share = sum(x.startswith("A") for x in b_phase) / len(b_phase)
    assert abs(a_share - ratio) <= 1 / len(b_phase)
    positions = [k for k, x in enumerate(b_phase) if x.startswith("A")]
    assert min(np.diff(positions)) >= 2 if ratio < 0.5 else True  # spread out, never bunched
    assert m.plasticity.lr_factor == 1.0


def test_interleave_spreads_presentations_evenly() -> None:
    out = curriculum.interleave([10] * 7, [1, 2], 0.3)
    assert out.count(1) + out.count(2) == 3 and out.count(10) == 7
    assert curriculum.interleave([10, 11], [1], 0.5) == [10, 1, 11, 1]
    assert curriculum.interleave([10, 11], [1], 0.0) == [10, 11]


def test_small_steps_scales_the_step_and_lengthens_every_learning_trial() -> None:
    base = finish(make(8))
    m = make(8, **{"defenses.small_steps": True, "defenses.step_factor": 0.1})
    lrs: list[float] = []
    step = m.plasticity.optimizer.step

    def spy(g: np.ndarray, lr: float, mask: np.ndarray | None = None) -> np.ndarray:
        lrs.append(lr)
        return step(g, lr, mask)

    m.plasticity.optimizer.step = spy
    finish(m)
    assert schedule(m) == schedule(base)
    assert {t["ticks"] for t in m.plasticity.trials} == {10 * base.plasticity.trial_ticks}
    np.testing.assert_allclose(lrs, 0.1 * base.params.learning.lr, rtol=1e-12)
    assert len(lrs) == 10 * base.plasticity.steps
    acq = [r["tick"] for r in (base, m) for r in r.plasticity.history if r["label"] == "acquisition_A"]
    assert acq[1] == 10 * acq[0]


def test_two_stage_changes_weights_only_during_replay() -> None:
    m = make(9, **{"defenses.two_stage": True})
    cap = m.params.episodic.capacity
    log = spy_learning(m)
    finish(m)
    kinds = [t["kind"] for t in m.plasticity.trials]
    assert kinds.count("replay") == kinds.count("present") * m.params.episodic.replays
    for entry in log:
        changed = bool((entry["after"] != entry["before"]).any())
        assert changed == (entry["trial"].kind == "replay"), entry["trial"].kind
    assert sum(e["trial"].kind == "replay" for e in log) == kinds.count("replay")
    # every replayed episode is one of the last K distinct presented patterns
    recent: list[str] = []
    for t in m.plasticity.trials:
        if t["kind"] == "present":
            recent = [x for x in recent if x != t["label"]] + [t["label"]]
            recent = recent[-cap:]
        else:
            assert t["label"] in recent
    assert m.plasticity.trials[0]["learn"] is False


def test_episodic_buffer_keeps_the_most_recent_k() -> None:
    buf = EpisodicBuffer(3)
    for ep in [1, 2, 3, 1, 4]:
        buf.store(ep)
    assert buf.items == [3, 1, 4]
    draws = buf.sample(np.random.default_rng(0), 200)
    assert set(draws) == {1, 3, 4}


def test_dream_loop_keeps_only_dreams_above_threshold_and_replays_exactly_those() -> None:
    m = make(10, **{"defenses.dream_loop": True})
    finish(m)
    p = m.params
    cycles = m.events.of("dream.cycle")
    assert cycles and len(cycles) == len(m.plasticity.dream_cycles)
    replayed = [t for t in m.plasticity.trials if t["kind"] == "dream"]
    kept_nodes = [nodes for c in m.plasticity.dream_cycles for nodes in c["kept_nodes"]]
    assert len(replayed) == len(kept_nodes) == sum(c["kept"] for c in cycles)
    for c in cycles:
        assert c["kept"] <= c["generated"] <= p.dream.count
        assert c["replayed"] == c["kept"] == sum(s > p.dream.threshold for s in c["scores"])
        assert len(c["scores"]) == c["generated"]
    assert sum(c["generated"] for c in cycles) > 0
    starts = [c["start"] for c in cycles]
    assert min(np.diff(starts)) >= p.dream.every
    dream_windows = [t["start"] for t in replayed]
    assert dream_windows == sorted(dream_windows)
    assert not make(10).events.of("dream.cycle")


def test_dreams_are_walks_on_the_memory_graph_that_join_two_episodes(make_world) -> None:
    graph, state, _, rng = make_world({"graph.depth": 4, "graph.lateral_k": 3.0})
    pats = grow_patterns(graph, rng, 8, 3, "free")
    episodes = [q.nodes for q in pats]
    from model.mechanisms.patterns import reverse_entries

    dreams = dream.generate(graph, rng, episodes, state.W, reverse_entries(graph), 8, 6, 20)
    member = np.zeros(graph.n, bool)
    member[np.concatenate(episodes)] = True
    starts = set(dream.collision_nodes(graph, episodes).tolist())
    for d in dreams:
        assert member[d].all() and int(d[0]) in starts and np.unique(d).size == d.size == 8
        assert sum(np.isin(ep, d).any() for ep in episodes) >= 2
        for k in range(1, d.size):
            assert np.isin(graph.neighbours(int(d[k])), d[:k]).any()


# ----------------------------------------------------------------------------- parameters, scenario, outputs


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"defenses.coarse_scalin": True}, "did you mean 'defenses.coarse_scaling'"),
        ({"defenses.diversity_ratio": 1.0}, "defenses.diversity_ratio"),
        ({"defenses.step_factor": 0.0}, "defenses.step_factor"),
        ({"patterns.overlap": "some"}, "patterns.overlap"),
        ({"dream.threshold": 1.5}, "dream.threshold"),
        ({"patterns.duration": 15}, "whole number of slow windows"),
        ({"learning.rule": "hebbian"}, 'learning.rule = "adam"'),
        ({"learning.rule": "sgd"}, "learning.rule"),
    ],
)
def test_experiment_parameters_are_validated(overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(ParameterError, match=None) as err:
        load_scenario(SCENARIO).resolve_params(overrides)
    assert needle in str(err.value)


def test_structural_experiment_parameters_cannot_change_mid_run() -> None:
    m = make(0)
    with pytest.raises(ParameterError):
        m.set_param("defenses.two_stage", True)
    m.set_param("learning.lr", 0.02)
    assert m.params.learning.lr == 0.02


def test_the_scenario_sweep_is_the_full_ablation() -> None:
    sc = load_scenario(SCENARIO)
    assert sc.sweep is not None
    assert set(sc.sweep.grid) == {f"defenses.{f}" for f in FLAGS}
    assert all(v == [False, True] for v in sc.sweep.grid.values())
    assert sc.sweep.replicates >= 2
    resolve(sc.params)  # valid as written


def test_summary_has_the_metrics_and_the_run_stops_at_the_end_of_the_schedule() -> None:
    res = run_scenario(SCENARIO, seed=11, overrides={"recall.every": 50})
    s = res.summary["stability_plasticity"]
    assert s["complete"] is True
    for key in ("acquisition_A", "retention_A", "acquisition_B", "chance", "chance_A", "chance_B", "chance_random"):
        assert isinstance(s[key], float) and 0.0 <= s[key] <= 1.0, key
    assert s["forgetting"] == pytest.approx(s["acquisition_A"] - s["retention_A"])
    assert res.ticks == res.model.tick < load_scenario(SCENARIO).scenario.ticks
    labels = [e["label"] for e in res.model.events.of("recall.test")]
    assert labels[0] == "chance" and "acquisition_A" in labels and labels[-1] == "final" and "periodic" in labels
    short = run_scenario(SCENARIO, seed=11, ticks=100).summary["stability_plasticity"]
    assert short["complete"] is False and short["retention_A"] is None


def test_same_seed_same_experiment() -> None:
    a = finish(make(12, **{"defenses.dream_loop": True, "defenses.two_stage": True}))
    b = finish(make(12, **{"defenses.dream_loop": True, "defenses.two_stage": True}))
    assert a.plasticity.history == b.plasticity.history
    np.testing.assert_array_equal(a.state.W, b.state.W)
    assert summarize(a)["stability_plasticity"] == summarize(b)["stability_plasticity"]


def test_other_scenarios_are_untouched_by_the_experiment() -> None:
    m = CoherenceModel(load_scenario("criticality"), seed=0)
    assert m.plasticity is None and m.params.learning.rule == "hebbian"


def test_ablation_tables_group_by_combination_and_measure_main_effects(tmp_path) -> None:
    import pandas as pd

    from analysis.ablation import FLAGS as AFLAGS
    from analysis.ablation import PREFIX, ablation_table, load_runs, main_effects

    rng = np.random.default_rng(0)
    rows = []
    for k in range(64):
        flags = {f"defenses.{f}": bool(k >> b & 1) for b, f in enumerate(AFLAGS)}
        for _ in range(3):
            retention = 0.4 + 0.2 * flags["defenses.frozen_context"] + 0.01 * rng.standard_normal()
            rows.append(
                flags
                | {"status": "ok", PREFIX + "complete": True, PREFIX + "acquisition_A": 0.6, PREFIX + "chance": 0.05}
                | {PREFIX + "retention_A": retention, PREFIX + "forgetting": 0.6 - retention}
                | {PREFIX + "acquisition_B": 0.5}
            )
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    ok = load_runs(tmp_path)
    table = ablation_table(ok)
    assert len(table) == 64 and set(table["n"]) == {3}
    assert table.iloc[0]["defenses"] == "baseline" and table.iloc[-1]["n_on"] == 6
    eff = main_effects(ok).set_index(["defense", "metric"])["effect"]
    assert eff["frozen_context", "retention_A"] == pytest.approx(0.2, abs=0.01)
    assert abs(eff["diversity", "retention_A"]) < 0.01


def test_cohlab_analyze_reports_the_ablation(tmp_path) -> None:
    """`cohlab analyze` on a defenses sweep adds the ablation table, the best single defense and a plot."""
    import json

    import pandas as pd

    from analysis.ablation import FLAGS as AFLAGS
    from analysis.ablation import PREFIX
    from analysis.analyze import analyze

    rows = []
    for k in range(64):
        flags = {f"defenses.{f}": bool(k >> b & 1) for b, f in enumerate(AFLAGS)}
        for r in range(2):
            # made-up numbers: frozen_context raises retention, two_stage lowers forgetting the most
            retention = 0.3 + 0.2 * flags["defenses.frozen_context"] + 0.01 * r
            forgetting = 0.2 - 0.15 * flags["defenses.two_stage"] - 0.05 * flags["defenses.frozen_context"] + 0.01 * r
            rows.append(
                {"run_id": 2 * k + r, "point": k, "replicate": r, "seed": r}
                | flags
                | {PREFIX + "complete": True, PREFIX + "acquisition_A": 0.6, PREFIX + "chance": 0.05}
                | {PREFIX + "retention_A": retention, PREFIX + "forgetting": forgetting, PREFIX + "acquisition_B": 0.5}
                | {"status": "ok", "error": "", "wall_s": 1.0}
            )
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    grid = {f"defenses.{f}": [False, True] for f in AFLAGS}
    (tmp_path / "spec.json").write_text(json.dumps({"grid": grid, "ranges": {}, "design": "grid", "replicates": 2}))
    report = analyze(tmp_path)
    text = report.text()
    assert "best single defense by retention_A: frozen_context" in text
    assert "best single defense by forgetting (lowest): two_stage" in text
    for name in ("ablation.csv", "ablation.md", "main_effects.csv", "ablation.png"):
        assert (tmp_path / "analysis" / name).stat().st_size > 0, name
    md = (tmp_path / "analysis" / "ablation.md").read_text()
    assert md.count("\n") == 2 + 64


def test_run_plots_include_recall_and_dreams(tmp_path) -> None:
    from analysis.plots import recall_plot

    m = finish(make(4, **{"defenses.dream_loop": True, "recall.every": 40}))
    assert recall_plot(m, tmp_path) == tmp_path / "recall.png"
    assert (tmp_path / "recall.png").stat().st_size > 10_000
    assert (
        recall_plot(CoherenceModel(load_scenario("criticality"), seed=0), tmp_path / "x") is None
    )  # no experiment, no plot
