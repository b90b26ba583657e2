"""The thermodynamics scenario (SPEC 5.6): Jarzynski, Crooks, BAR and TI against the exact ΔF of a
lateral-free tree, computed here from the link weights with scipy.special.i0e."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.special import i0e, i1e

from analysis.thermo_outputs import KEYS, thermo_estimates
from cohlab.cli import main
from model import CoherenceModel
from model.graph import build_graph
from model.keys import resolve
from model.mechanisms.thermo import parent_weights, sample_tree
from scenarios import load_scenario

ESTIMATES = ("delta_F_jarzynski_forward", "delta_F_jarzynski_reverse", "delta_F_bar", "delta_F_ti")


def exact_delta_F(m: CoherenceModel) -> float:
    """−T·Σ_links [ln I₀(K_to·W̄/T) − ln I₀(K_from·W̄/T)], ln I₀(x) = ln i0e(x) + x, from the model's W."""
    g, W = m.graph, m.state.W
    p = m.params
    w = W[g.edge_src < g.edge_dst]  # one entry per link; all links carry graph.w0 in both directions
    assert np.all(p.graph.w0 == W)
    T = p.phase.T

    def log_z(K: float) -> float:
        x = K * w / T
        return float(np.sum(np.log(i0e(x)) + x))

    return -T * (log_z(p.thermo.K_to) - log_z(p.thermo.K_from))


def run(seed: int = 1, **overrides) -> tuple[CoherenceModel, dict]:
    m = CoherenceModel(load_scenario("thermodynamics"), seed=seed, params=overrides, engine="numpy")
    while m.running:
        m.step()
    return m, thermo_estimates(m)


def tolerance(est: dict, key: str, reference: float, T: float) -> float:
    return max(3 * est[f"{key}_se"], 0.03 * abs(reference), 0.05 * T)


TREES = {
    "default": {},
    "hot, wide, shallow, K up to 3": {
        "phase.T": 0.5,
        "graph.depth": 3,
        "graph.branching": 4,
        "thermo.K_to": 3.0,
        "thermo.trajectories": 600,
    },
    "cold, binary, deep, K down to 0.5": {
        "phase.T": 0.1,
        "graph.depth": 5,
        "graph.branching": 2,
        "thermo.K_to": 0.5,
        "thermo.switch_ticks": 80,
        "thermo.trajectories": 600,
    },
}


@pytest.mark.parametrize("name", list(TREES))
def test_every_estimate_finds_the_exact_delta_F_on_lateral_free_trees(name: str) -> None:
    m, est = run(**TREES[name])
    T = m.params.phase.T
    exact = exact_delta_F(m)
    assert est["delta_F_exact"] == pytest.approx(exact, rel=1e-9)
    for key in ESTIMATES:
        assert abs(est[key] - exact) <= tolerance(est, key, exact, T), (key, est[key], exact)
    assert est["mean_work_forward"] >= exact  # the second law, both ways
    assert -est["mean_work_reverse"] <= exact
    assert est["dissipated_work"] == pytest.approx(est["mean_work_forward"] - exact)
    assert est["crooks_slope"] == pytest.approx(1 / T, rel=0.10)
    assert abs(est["crooks_crossing"] - exact) <= max(0.03 * abs(exact), 0.05 * T, 0.5 * T)


def test_with_loops_jarzynski_and_bar_agree_with_thermodynamic_integration() -> None:
    m, est = run(**{"graph.lateral_k": 1.6, "thermo.trajectories": 400, "thermo.burn_in": 100})
    T = m.params.phase.T
    assert est["delta_F_exact"] is None and m.thermo.burn_in == 100
    ti = est["delta_F_ti"]
    for key in ("delta_F_jarzynski_forward", "delta_F_jarzynski_reverse", "delta_F_bar"):
        se = math.hypot(est[f"{key}_se"], est["delta_F_ti_se"])
        assert abs(est[key] - ti) <= max(3 * se, 0.03 * abs(ti), 0.05 * T), (key, est[key], ti)
    assert est["mean_work_forward"] >= est["delta_F_bar"]
    # loops add coupling: more free energy is released than on the bare tree
    assert ti < exact_delta_F(run(**{"thermo.trajectories": 2, "thermo.switch_ticks": 1})[0])


def test_exact_tree_samples_have_the_von_mises_link_alignment() -> None:
    p = resolve({"graph.lateral_k": 0.0, "graph.depth": 3})
    g = build_graph(p.graph, np.random.default_rng(0))
    w = np.full(g.nnz, 0.5)
    K, T = np.array([0.4] * 3000 + [2.0] * 3000), 0.25
    phi = sample_tree(g, parent_weights(g, w), K, T, np.random.default_rng(1))
    assert phi.shape == (g.n, 6000) and np.all(np.abs(phi) <= np.pi)
    child = np.arange(1, g.n)
    cos = np.cos(phi[child] - phi[g.parent[child]])
    for cols, k in ((slice(0, 3000), 0.4), (slice(3000, None), 2.0)):
        kappa = k * 0.5 / T
        assert cos[:, cols].mean() == pytest.approx(i1e(kappa) / i0e(kappa), abs=4 / math.sqrt(cos[:, cols].size))
    assert abs(np.exp(1j * phi[0]).mean()) < 0.05  # the root is uniform


def test_an_instantaneous_switch_is_free_energy_perturbation() -> None:
    # one step of K at the exact starting samples: ⟨e^{−W/T}⟩ = Z(K_to)/Z(K_from) with no dynamics involved
    m, est = run(**{"thermo.K_to": 1.2, "thermo.switch_ticks": 1, "thermo.trajectories": 4000})
    exact = exact_delta_F(m)
    assert est["delta_F_jarzynski_forward"] == pytest.approx(exact, abs=4 * est["delta_F_jarzynski_forward_se"])
    assert est["dissipated_work"] > 0


def test_fast_switching_dissipates_more(tmp_path: Path) -> None:
    slow = run(**{"thermo.switch_ticks": 40, "thermo.trajectories": 300})[1]["dissipated_work"]
    fast = run(**{"thermo.switch_ticks": 4, "thermo.trajectories": 300})[1]["dissipated_work"]
    assert 0 < slow < fast


# ----------------------------------------------------------------------------- the command line


def cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


SMALL = ["--set", "graph.depth=2", "--set", "thermo.trajectories=40", "--set", "thermo.switch_ticks=5", "--quiet"]


def test_run_writes_work_csv_and_the_summary_keys(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COHLAB_ENGINE", "numpy")
    out = tmp_path / "t"
    res = cli("run", "thermodynamics", "--out", str(out), "--seed", "3", "--plots", *SMALL)
    assert res.exit_code == 0, res.output
    work = pd.read_csv(out / "work.csv")
    assert list(work.columns) == ["direction", "trajectory", "work"]
    assert (work["direction"] == "forward").sum() == 40 and (work["direction"] == "reverse").sum() == 40
    assert work.groupby("direction")["trajectory"].agg(list).map(sorted).tolist() == [list(range(40))] * 2
    summary = json.loads((out / "summary.json").read_text())["thermo"]
    assert sorted(summary) == sorted(KEYS)
    assert summary["mean_work_forward"] == pytest.approx(work[work["direction"] == "forward"]["work"].mean())
    assert (out / "thermo.png").stat().st_size > 10_000
    again = tmp_path / "t2"
    assert cli("run", "thermodynamics", "--out", str(again), "--seed", "3", *SMALL).exit_code == 0
    for name in ("work.csv", "summary.json", "timeseries.csv"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("thermo.switch_ticks=0", "at least one"),
        ("thermo.trajectories=1", "at least 2"),
        ("thermo.K_to=1.0", "k_from and thermo.k_to are both 1"),
        ("phase.enabled=false", "needs phase.enabled = true"),
        ("phase.omega_sd=0.1", "phase.omega_sd = 0"),
        ("thermo.trajectories=5000000", "gib"),
    ],
)
def test_bad_inputs_are_refused_and_nothing_is_written(tmp_path: Path, setting: str, needle: str) -> None:
    out = tmp_path / "bad"
    res = cli("run", "thermodynamics", "--out", str(out), "--set", setting, "--quiet")
    assert res.exit_code == 2
    assert needle in res.output.lower() and len(res.output) < 600
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_sweep_gives_the_same_bytes_on_one_and_two_workers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COHLAB_ENGINE", "numpy")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        args = ["sweep", "thermodynamics", "--out", str(out), "--grid", "thermo.switch_ticks=1,5", "--workers"]
        res = cli(*args, workers, "--set", "graph.depth=2", "--set", "thermo.trajectories=30", "--quiet")
        assert res.exit_code == 0, res.output
        outs.append(pd.read_csv(out / "runs.csv").drop(columns=["wall_s"]))
    pd.testing.assert_frame_equal(*outs)
    assert outs[0]["thermo.delta_F_bar"].notna().all()
    res = cli("analyze", str(tmp_path / "w1"))  # dissipated work and bias against the switching time
    assert res.exit_code == 0, res.output
    assert "switching time" in res.output and (tmp_path / "w1" / "analysis" / "switching.png").exists()
    table = pd.read_csv(tmp_path / "w1" / "analysis" / "switching.csv", index_col="thermo.switch_ticks")
    assert table.loc[1, "dissipated_work"] > table.loc[5, "dissipated_work"] > 0  # the second law
    exact = outs[0]["thermo.delta_F_exact"]
    bias = (outs[0]["thermo.delta_F_bar"] - exact).groupby(outs[0]["thermo.switch_ticks"]).mean()
    assert table["bias_bar"].to_numpy() == pytest.approx(bias.to_numpy(), abs=1e-5)
