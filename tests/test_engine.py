"""The two engines of the fast tick's core (model/fast_tick.py, model/kernels.py).

The compiled engine must be built by the set-up, agree with the numpy reference (the mechanism
modules) to rounding, find the same ρ as ARPACK, and give the same bytes on any number of threads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st_
from scipy.sparse.linalg import eigs

from analysis.export import scales_frame, timeseries_frame
from model import CoherenceModel, kernels
from model.node_types import NODE_TYPES
from model.params import ParameterError
from scenarios import load_scenario

pytestmark = pytest.mark.skipif(not kernels.available(), reason="compiled engine not built")

CASES: dict[str, tuple[str | None, dict[str, Any], int]] = {
    "criticality, controller on": ("criticality", {}, 200),
    "controller off: runaway and saturation": ("criticality", {"controller.enabled": False}, 200),
    "consolidation and resistance": ("consolidation", {"resistance.enabled": True}, 200),
    "dormant nodes": ("persistence", {"persistence.survival": True}, 1000),
    "phase dynamics on": (None, {"graph.n_nodes": 400, "phase.enabled": True, "load.rate": 4.0}, 100),
    "no spreading": ("forgetting_curves", {"spread.alpha": 0.0}, 100),
    # the slow tick's compiled passes: learning with a binding budget, coherence, persistence
    "learning, budget binding, coherence and persistence": (
        None,
        {"graph.n_nodes": 3000, "load.rate": 60.0, "learning.eta_W": 0.5, "learning.budget": 0.6,
         "coherence.enabled": True, "coherence.input": "activation", "persistence.enabled": True},
        200,
    ),
    "persistence with sampling noise, self baseline": (
        "persistence",
        {"environment.samples": 20, "persistence.baseline": "self", "persistence.coupling": 0.8},
        300,
    ),
    # M = 3: the compiled persistence takes its scalar path (the four-lane one needs M = 4)
    "persistence with three categories, survival": (
        "persistence",
        {"environment.categories": 3, "persistence.survival": True, "persistence.grace": 3, "persistence.patience": 2},
        200,
    ),
    "learning off, survival with a short grace": (
        "persistence",
        {"learning.enabled": False, "persistence.survival": True, "persistence.grace": 3, "persistence.patience": 2},
        200,
    ),
}  # fmt: skip
STATE = ("E", "E_sum", "received_sum", "power_v", "W", "w", "alive", "inject")
SLOW_STATE = ("q", "theta", "dkl", "income", "baseline", "R", "pressure", "below_count", "C", "gamma", "lam")


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before, rows = kernels.threads(), kernels.min_rows()
    kernels.set_min_rows(1000)  # threads from 1,000 rows each: a 20,000-node graph really runs in parallel
    yield
    kernels.set_threads(before)
    kernels.set_min_rows(rows)


def _pair(scenario: str | None, params: dict[str, Any], ticks: int, seed: int = 5) -> list[CoherenceModel]:
    models = [
        CoherenceModel(scenario and load_scenario(scenario), params=params, seed=seed, engine=e)
        for e in ("numpy", "compiled")
    ]
    for m in models:
        m.run(ticks)
    return models


def test_the_compiled_engine_is_built_and_default() -> None:
    assert kernels.available(), "model/_fastcore.c was not built: run `pip install -e .` (needs a C compiler)"
    assert CoherenceModel(seed=0).engine == "compiled"


@pytest.mark.parametrize("case", CASES)
def test_compiled_engine_agrees_with_the_numpy_reference(case: str) -> None:
    scenario, params, ticks = CASES[case]
    ref, fast = _pair(scenario, params, ticks)
    if case == "dormant nodes" or "survival" in case:
        assert not ref.state.alive.all(), "the case must reach dormant nodes to test them"
    if case.startswith("controller off"):
        assert (ref.params.decay.E_max <= ref.state.E).mean() > 0.5, "the case must saturate to test the clamp"
    if case.startswith("learning, budget"):
        out = np.bincount(ref.graph.edge_src, weights=ref.state.W, minlength=ref.graph.n)
        assert (out > ref.params.learning.budget * (1 - 1e-12)).any(), "the case must reach the budget to test it"
    for name in STATE + SLOW_STATE:
        a, b = getattr(ref.state, name), getattr(fast.state, name)
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"state.{name}")
    assert fast.state.rho == pytest.approx(ref.state.rho, rel=1e-9)
    assert fast.state.delta_E == pytest.approx(ref.state.delta_E, rel=1e-9)
    ts_ref, ts_fast = timeseries_frame(ref), timeseries_frame(fast)
    assert list(ts_ref["band"]) == list(ts_fast["band"])
    for col in ("active", "saturated"):
        assert list(ts_ref[col]) == list(ts_fast[col]), col
    numeric = ts_ref.select_dtypes("number").columns
    np.testing.assert_allclose(ts_fast[numeric], ts_ref[numeric], rtol=1e-9, atol=1e-12)
    sc_ref, sc_fast = scales_frame(ref), scales_frame(fast)
    np.testing.assert_allclose(sc_fast.to_numpy(float), sc_ref.to_numpy(float), rtol=1e-9, atol=1e-12)


def _perron_root(m: CoherenceModel) -> float:
    """|λ_max| of diag(ret·alive)·(I + α·Wᵀ), by ARPACK: independent of the power iteration."""
    st = m.state
    A = sp.diags(np.where(st.alive, st.ret, 0.0)) @ (sp.identity(m.graph.n) + m.params.spread.alpha * m.Wt)
    return float(abs(eigs(A.tocsc(), k=1, which="LM", return_eigenvectors=False, tol=1e-12, maxiter=100_000)[0]))


@pytest.mark.parametrize("dormant", [False, True])
def test_compiled_power_iteration_finds_the_spectral_radius(dormant: bool) -> None:
    m = CoherenceModel(
        params={"graph.depth": 3, "controller.enabled": False, "load.rate": 0.0, "clock.dt_slow": 1e9},
        seed=2,
        engine="compiled",
    )
    rng = np.random.default_rng(2)
    m.state.W[:] = rng.uniform(0.0, 0.6, m.state.W.size)  # learned, asymmetric weights
    if dormant:
        m.state.alive[rng.choice(m.graph.n, 20, replace=False)] = False
    m.run(1000)  # two power steps per tick, warm-started: 2,000 iterations
    assert m.state.rho == pytest.approx(_perron_root(m), rel=0.01)


@pytest.mark.parametrize("engine", ["numpy", "compiled"])
@pytest.mark.parametrize("scenario", ["criticality", "persistence", None])
def test_early_stopped_reconvergence_stays_within_1e_4_of_50_steps(engine: str, scenario: str | None) -> None:
    """SPEC 4.6: the re-convergence may stop early as long as ρ̂ stays within 1e-4 of 50 full steps."""
    params = {} if scenario else {"graph.n_nodes": 5000, "load.rate": 50.0, "persistence.enabled": True}
    m = CoherenceModel(scenario and load_scenario(scenario), params=params, seed=3, engine=engine)
    core, checked = m._core, []
    early_stop = core.power_iterate

    def both(st, Wt, alpha, ret, iterations, tol=0.0):
        start = st.power_v.copy()
        rho = early_stop(st, Wt, alpha, ret, iterations, tol)
        kept, st.power_v = st.power_v, start
        full = early_stop(st, Wt, alpha, ret, 50, 0.0)
        st.power_v = kept
        checked.append((rho, full))
        return rho

    core.power_iterate = both
    m.run(200)
    assert len(checked) == 20  # after every slow tick
    for rho, full in checked:
        assert abs(rho - full) <= 1e-4
    assert any(rho != full for rho, full in checked), "it never stopped early: the test would not see a bad rule"


def test_results_do_not_depend_on_the_number_of_threads(restore_threads: None) -> None:
    runs = []
    for threads in (1, 2, 3):
        kernels.set_threads(threads)
        params = {"graph.n_nodes": 20_000, "load.rate": 200.0, "persistence.enabled": True, "coherence.enabled": True}
        m = CoherenceModel(load_scenario("criticality"), params=params, seed=9)
        m.run(60)
        state = {k: getattr(m.state, k).tobytes() for k in STATE + SLOW_STATE}
        runs.append((timeseries_frame(m).to_csv(), scales_frame(m).to_csv(), state))
    assert runs[0] == runs[1] == runs[2]


def test_an_unknown_engine_is_refused_with_the_allowed_names() -> None:
    with pytest.raises(ParameterError, match=r"unknown engine 'fortran'; allowed: compiled, numpy"):
        CoherenceModel(seed=0, engine="fortran")


def test_the_environment_chooses_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHLAB_ENGINE", "numpy")
    assert CoherenceModel(seed=0).engine == "numpy"
    monkeypatch.setenv("COHLAB_ENGINE", "gpu")
    with pytest.raises(ParameterError, match="unknown engine 'gpu'"):
        CoherenceModel(seed=0)


def test_the_compiled_passes_check_their_arrays() -> None:
    m = CoherenceModel(seed=0, engine="compiled")
    Wt, n = m.Wt, m.graph.n
    alive = m.state.alive.view(np.uint8)
    short = np.zeros(n - 1)
    types = m.state.node_type
    with pytest.raises(ValueError, match="ret: expected"):
        kernels.power_step(Wt.indptr, Wt.indices, Wt.data, np.ones(n), 1.0, alive, short, 0.1, np.zeros(n),
                           np.zeros(1), types, False)  # fmt: skip
    with pytest.raises(ValueError, match=r"ret \(by type\): expected 128 items"):
        kernels.power_step(Wt.indptr, Wt.indices, Wt.data, np.ones(n), 1.0, alive, np.ones(5), 0.1, np.zeros(n),
                           np.zeros(1), types, True)  # fmt: skip
    av = np.ones(n)
    with pytest.raises(ValueError, match="different arrays"):
        kernels.power_step(
            Wt.indptr, Wt.indices, Wt.data, av, 1.0, alive, np.ones(n), 0.1, av, np.zeros(1), types, False
        )
    with pytest.raises(ValueError, match="threads must be at least 1"):
        kernels.set_threads(0)


def test_params_json_records_the_engine(cli, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from cohlab.cli import main

    monkeypatch.setenv("COHLAB_ENGINE", "numpy")
    res = cli.invoke(main, ["run", "forgetting_curves", "--out", str(tmp_path / "r"), "--ticks", "5", "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r" / "params.json").read_text())["engine"] == "numpy"


def test_compiled_scale_means_are_the_bincount_formula_with_the_same_bits_on_any_thread_count(
    restore_threads: None,
) -> None:
    """Per-scale counts exactly, means to rounding (blocks of 4,096 nodes in four chains, then the
    blocks in order, instead of one chain in node order), and the same bytes on 1 or 2 threads."""
    from model.mechanisms.levels import scale_means

    m = CoherenceModel(params={"graph.n_nodes": 30_000}, seed=4)
    g, rng = m.graph, np.random.default_rng(4)
    mask = rng.random(g.n) < 0.7
    mask[g.level(2)] = False  # a scale without selected nodes: NaN
    values = [rng.standard_normal(g.n), rng.random(g.n) * 1e6, np.where(mask, 1.0, np.nan)]  # dormant NaN ignored
    want_counts = np.bincount(g.scale, weights=mask.astype(float), minlength=g.n_scales)
    results = []
    for threads in (1, 2):
        kernels.set_threads(threads)
        counts, means = scale_means(g, mask, *values)
        results.append(np.concatenate([counts, *means]).tobytes())
        np.testing.assert_array_equal(counts, want_counts)
        for v, got in zip(values, means, strict=True):
            totals = np.bincount(g.scale, weights=np.where(mask, v, 0.0), minlength=g.n_scales)
            want = np.divide(totals, want_counts, out=np.full(g.n_scales, np.nan), where=want_counts > 0)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert np.isnan(means[0][g.max_depth - 2])
    assert results[0] == results[1]


def test_the_compiled_slow_passes_check_their_arrays() -> None:
    m = CoherenceModel(params={"persistence.enabled": True}, seed=0, engine="compiled")
    g, st = m.graph, m.state
    alive = st.alive.view(np.uint8)
    with pytest.raises(ValueError, match="q: expected"):
        kernels.observe(
            g.level_start, g.first_child, g.n_children, alive, st.w, st.z, st.q[:-1], 4, 1.0, 1, np.zeros(g.n)
        )
    with pytest.raises(ValueError, match=r"categories must be in 1\.\.1000"):
        kernels.observe(g.level_start, g.first_child, g.n_children, alive, st.w, st.z, st.q, 0, 1.0, 1, np.zeros(g.n))
    with pytest.raises(TypeError, match="slow_weights takes 19 arguments"):
        kernels.slow_weights(m.Wt.indptr)
    with pytest.raises(ValueError, match="values: expected"):
        kernels.level_sums(g.level_start, alive, np.zeros((g.n_scales, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="rows per thread must be at least 1"):
        kernels.set_min_rows(0)


def test_the_finiteness_check_names_the_bad_array_and_ignores_an_overflowing_sum() -> None:
    from model.model import SimulationError

    m = CoherenceModel(params={"persistence.enabled": True}, seed=1)
    st = m.state
    st.income[:] = 1e308  # finite, but its sum overflows: checked item by item, and fine
    assert st.check_finite() is None
    st.income[:] = 0.0
    st.theta[3, 1] = np.inf
    assert st.check_finite() == "theta"
    st.theta[3, 1] = 0.0
    st.gamma[7] = np.nan
    with pytest.raises(SimulationError, match=r"tick 10 \(time 10\): coherence .* made state array 'gamma' NaN"):
        m.run(10)


@pytest.mark.parametrize("change", ["z", "tau", "samples"])
def test_the_compiled_engine_sees_every_change_of_the_leaves_reality(change: str) -> None:
    """The compiled slow tick reuses the leaves' softmax(z/τ) while z and τ are unchanged: a write
    to z, a new τ or a switch to sampled observations must still reach q at the next slow tick."""
    params = {"graph.n_nodes": 3000, "persistence.enabled": True, "clock.dt_slow": 5}
    m = CoherenceModel(params=params, seed=8, engine="compiled")
    m.run(10)
    st, leaves = m.state, np.flatnonzero(m.graph.is_leaf)
    if change == "z":
        st.z[leaves[:50]] = np.random.default_rng(0).normal(size=(50, st.z.shape[1]))
    elif change == "tau":
        m.set_param("environment.tau", 0.5)
    else:
        m.set_param("environment.samples", 3)
    m.run(5)
    tau = m.params.environment.tau
    exact = np.exp(st.z[leaves] / tau)
    exact /= exact.sum(axis=1, keepdims=True)
    if change == "samples":  # sampled frequencies, not the exact softmax, at every alive leaf
        assert not np.allclose(st.q[leaves], exact, atol=1e-3)
        m.set_param("environment.samples", 0)
        m.run(5)  # and back to the exact reality
    np.testing.assert_allclose(st.q[leaves], exact, rtol=1e-12)


@pytest.mark.parametrize("chosen", [None, "2"])
def test_blas_runs_on_one_thread_unless_the_user_chose(chosen: str | None) -> None:
    """OpenBLAS's idle threads busy-wait beside the compiled core's: the model keeps BLAS on one
    thread, unless OPENBLAS_NUM_THREADS (or OMP_/MKL_NUM_THREADS) says otherwise."""
    import json
    import os
    import subprocess
    import sys

    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    if chosen:
        env["OPENBLAS_NUM_THREADS"] = chosen
    code = (
        "import json, scipy.sparse.linalg; from threadpoolctl import threadpool_info; import model.kernels; "
        "print(json.dumps([p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    threads = json.loads(out.stdout)
    assert threads, "no BLAS library found"
    assert set(threads) == {min(int(chosen), os.cpu_count() or 1) if chosen else 1}


def test_the_budget_gathered_from_reverse_edges_gives_the_serial_scatters_bits(restore_threads: None) -> None:
    """5.2's outgoing sums: the parallel gather over reverse edges adds in the serial scatter's order."""
    from model.fast_tick import reverse_edges

    m = CoherenceModel(params={"graph.n_nodes": 20_000, "learning.budget": 0.3}, seed=11, engine="compiled")
    g, st, lp = m.graph, m.state, m.params.learning
    reverse = reverse_edges(g)
    assert reverse.size == g.nnz and np.array_equal(g.edge_dst[reverse], g.indices)  # each entry's reverse edge
    rng = np.random.default_rng(11)
    W0, E_sum = rng.uniform(0.0, 1.0, g.nnz), rng.uniform(0.0, 3.0, g.n)
    results = []
    for rev, threads in ((np.empty(0, np.int32), 1), (reverse, 1), (reverse, 2)):
        kernels.set_threads(threads)
        W, w = W0.copy(), np.ones(g.n)
        x, out, sums = np.empty(g.n), np.empty(g.n), np.zeros((kernels.n_blocks(g.n), 4))
        kernels.slow_weights(
            m.Wt.indptr, m.Wt.indices, W, w, st.node_type, np.ones(len(NODE_TYPES)), E_sum, 10, 1.0, lp.eta_W, lp.eta_w,
            lp.W_max, 0.3, True, True, x, out, sums, rev,
        )  # fmt: skip
        results.append(W.tobytes())
        outgoing = np.bincount(g.indices, weights=W, minlength=g.n)
        assert outgoing.max() <= 0.3 * (1 + 1e-12)  # the budget holds
    assert results[0] == results[1] == results[2]


@settings(max_examples=400, deadline=None)
@given(
    values=st_.lists(
        st_.one_of(st_.floats(allow_nan=False, allow_infinity=False, width=64), st_.sampled_from([0.0, 1.0, 1.0, 2.5])),
        min_size=1,
        max_size=80,
    ),
    alive_bits=st_.integers(min_value=0),
    dormant_value=st_.sampled_from([0.5, math.nan, math.inf, -1e308]),
)
def test_the_compiled_median_is_numpys_over_alive_nodes(values, alive_bits: int, dormant_value: float) -> None:
    x = np.array(values, dtype=float)
    alive = np.array([(alive_bits >> k) & 1 == 0 for k in range(x.size)])
    x[~alive] = dormant_value  # whatever dormant nodes hold must not matter
    got = kernels.median(x, alive.view(np.uint8))
    if got is None:  # it left this one to np.median (infinities, or a range made of outliers)
        return
    with np.errstate(over="ignore"):  # numpy's mean of two huge middle items overflows, and so must ours
        want = float(np.median(x[alive])) if alive.any() else math.nan
    assert got == want or (math.isnan(got) and math.isnan(want))


def test_the_compiled_median_on_a_large_skewed_sample_and_with_nan() -> None:
    rng = np.random.default_rng(12)
    outliers = np.r_[rng.normal(1.0, 1e-6, 50_000), 1e6, -1e6]  # nearly every item in the middle bin
    samples = (rng.normal(1.0, 0.2, 100_001), rng.lognormal(0.0, 2.0, 100_000), rng.integers(0, 3, 50_000) * 1.0)
    for x in (*samples, outliers):
        alive = rng.random(x.size) < 0.9
        alive[-2:] = True
        assert kernels.median(x, alive.view(np.uint8)) == np.median(x[alive])
    x = rng.normal(size=1000)
    x[7] = math.nan
    assert math.isnan(kernels.median(x, np.ones(1000, np.uint8)))


def test_the_compiled_median_from_a_sampled_window_and_where_the_sample_misses() -> None:
    """Past 65,536 items the median comes from one pass over a window guessed from a sample of
    4,096 evenly spaced items; a guess that misses falls back to the histograms, same value."""
    rng = np.random.default_rng(3)
    n = 300_000
    spaced = (np.arange(4096) * n / 4096).astype(np.int64)  # where the sample looks
    cases = {"smooth": rng.normal(1.0, 0.3, n), "ties": rng.integers(0, 5, n) * 0.5}
    for share in (0.52, 0.5, 0.4999, 0.47):  # R = 0 at every node nothing has reached yet: a repeated value
        cases[f"zeros {share}"] = np.where(np.arange(n) < share * n, 0.0, rng.lognormal(0.0, 1.0, n))
    fooled = rng.normal(size=n)
    fooled[spaced] = 1e6  # every sampled item is an outlier: the window misses the middle
    cases["fooled"] = fooled
    for name, x in cases.items():
        for alive in (np.ones(n, bool), rng.random(n) < 0.7):
            dead = x.copy()
            dead[~alive] = math.nan  # dormant values must not matter, even NaN
            assert kernels.median(dead, alive.view(np.uint8)) == np.median(x[alive]), name
    x = rng.normal(size=n)
    x[123] = math.inf  # an alive infinity: left to np.median
    assert kernels.median(x, np.ones(n, np.uint8)) is None
    x[123] = math.nan
    assert math.isnan(kernels.median(x, np.ones(n, np.uint8)))


def test_the_compiled_shortfall_is_the_numpy_formula() -> None:
    """persistence.statistics' counts below 1 and in [0.5, 2] and Σ relu(1 − R)², over alive nodes."""
    from model.mechanisms.persistence import BAND, _shortfall

    rng = np.random.default_rng(4)
    r = rng.lognormal(0.0, 0.8, 100_003)
    r[:5] = (1.0, 0.5, 2.0, 0.0, math.inf)  # the edges of each count
    alive = rng.random(r.size) < 0.8
    alive[:5] = True
    dead = np.where(alive, r, math.nan)
    n_short, in_band, squares = kernels.shortfall(dead, alive.view(np.uint8), *BAND)
    want = _shortfall(r[alive])
    assert (n_short, in_band) == want[:2]
    assert squares == pytest.approx(want[2], rel=1e-12)
    dead[7] = math.nan
    alive[7] = True
    assert kernels.shortfall(dead, alive.view(np.uint8), *BAND) is None  # numpy's formula says what NaN gives


@pytest.mark.skipif(not kernels.vector_maths(), reason="no AVX2 or libmvec here: only the scalar path is built")
def test_the_four_lane_persistence_agrees_with_the_scalar_path() -> None:
    """Rows of M = 4 run four numbers at a time; the scalar path is the same arithmetic with glibc's
    exp and log, which libmvec's match to a few ulp. Dormant nodes mix both paths within a depth."""
    params = {"persistence.survival": True, "persistence.grace": 3, "persistence.patience": 2}
    runs = []
    try:
        for on in (False, True):
            kernels.set_vector_maths(on)
            m = CoherenceModel(load_scenario("persistence"), params=params, seed=9, engine="compiled")
            m.run(300)
            runs.append(m)
    finally:
        kernels.set_vector_maths(True)
    scalar, lanes = runs
    assert 0 < lanes.state.alive.sum() < lanes.graph.n, "the case must mix dormant and alive nodes"
    for name in ("q", "theta", "dkl", "income", "baseline", "R", "pressure"):
        a, b = getattr(scalar.state, name), getattr(lanes.state, name)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15, err_msg=f"state.{name}")
    assert np.array_equal(scalar.state.alive, lanes.state.alive)


@pytest.mark.parametrize(
    ("poison", "named"),
    [("w", "weight decay .* 'w'"), ("gamma", "coherence .* 'C'"), ("theta", "persistence .* 'theta'"),
     ("income", "persistence .* 'income'")],
)  # fmt: skip
def test_a_slow_pass_that_writes_a_non_finite_value_says_so_and_the_check_names_it(poison: str, named: str) -> None:
    """The compiled slow passes vouch for what they write, so that the model skips its own check;
    a NaN they read and propagate makes them say so, and the model's check then names the array
    (C for a NaN γ: the forward pass spreads it to C, checked first)."""
    from model.model import SimulationError

    params = {"graph.n_nodes": 2000, "load.rate": 20.0, "coherence.enabled": True, "persistence.enabled": True,
              "clock.dt_slow": 5}  # fmt: skip
    m = CoherenceModel(params=params, seed=2, engine="compiled")
    m.run(5)  # the first slow tick: the income EMA starts at its measurement
    assert m._core.wrote_finite, "a healthy slow tick vouches for what it wrote"
    getattr(m.state, poison).flat[5 * m.state.q.shape[1] if poison == "theta" else 5] = math.nan  # node 5: internal
    with pytest.raises(SimulationError, match=rf"tick 10 .*{named} NaN"):
        m.run(5)


def test_retention_by_type_is_the_per_node_retention(restore_threads: None) -> None:
    """Without resistance or consolidated nodes the compiled engine passes retention as a table per
    type: the run's bytes are those of the per-node array."""
    from model.mechanisms import decay

    params = {"graph.n_nodes": 20_000, "types.fractions": {"memory": 0.3, "task": 0.2}, "load.rate": 200.0}
    runs = []
    for by_type in (True, False):
        m = CoherenceModel(params=params, seed=13, engine="compiled")
        if not by_type:  # the same engine, given the per-node array every tick
            m._core.retention = lambda st, p, chosen: decay.retention(st, p, chosen)
        m.run(25)
        runs.append((timeseries_frame(m).to_csv(), m.state.E.tobytes(), m.state.power_v.tobytes()))
        if by_type:
            assert isinstance(m.state.ret, decay.TypeRetention)  # the by-type path did run
    assert runs[0] == runs[1]


def test_a_compiled_core_older_than_its_source_is_set_aside_with_a_warning() -> None:
    import subprocess
    import sys

    code = (
        "import warnings, sys; warnings.simplefilter('error')\n"
        "import model._fastcore as f; f.API_VERSION = -1\n"
        "try:\n    import model.kernels\nexcept RuntimeWarning as w:\n    print(w)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "built from an older model/_fastcore.c" in out and "pip install -e ." in out


@pytest.mark.parametrize("engine", ["numpy", "compiled"])
def test_the_scale_rows_reuse_the_mechanisms_means_with_the_same_bits(engine: str) -> None:
    """scales.csv takes C, γ, λ, R, D_KL and pressure per scale from the slow tick's mechanisms
    (dropping coherence's where persistence made nodes dormant after it): the rows are those of
    summing everything again over the state, bit for bit, deaths included."""
    params = {"coherence.enabled": True, "persistence.survival": True, "persistence.grace": 3}
    params["persistence.patience"] = 2
    m = CoherenceModel(load_scenario("persistence"), params=params, seed=4, engine=engine)
    recorder, n_scales, reused = m.recorder, m.graph.n_scales, []
    rows = recorder.scale_rows

    def rows_both_ways(tick: int, time: float, st: Any, known: dict[str, np.ndarray] | None = None) -> None:
        rows(tick, time, st)  # everything summed again
        again = [list(r.values()) for r in recorder.scales[-n_scales:]]
        del recorder.scales[-n_scales:]
        rows(tick, time, st, known)
        reused.append(frozenset(known or {}))
        got = [list(r.values()) for r in recorder.scales[-n_scales:]]
        assert np.array_equal(np.array(got, float), np.array(again, float), equal_nan=True)

    recorder.scale_rows = rows_both_ways
    alive_before = m.state.alive.sum()
    m.run(200)
    assert m.state.alive.sum() < alive_before, "the case must make nodes dormant"
    persistence_only = frozenset({"R", "dkl", "pressure"})  # where nodes died
    assert set(reused) == {persistence_only | {"C", "gamma", "lam"}, persistence_only}
