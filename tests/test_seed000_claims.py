"""Seed 000's claims experiments end to end: small versions of the three ready sweeps, their analyses,
the verdict logic on hand-made numbers, and bad input. Verdicts are checked against what independent
reasoning says they must be (an exact restoration, a paired control that changes nothing)."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import error_propagation, gamma_conditions, landscape, seed_table
from analysis.claims import VERDICTS, Claim, Estimate, dumps
from analysis.landscape import GRID, landscape_metric, plane_inputs, root_surface
from analysis.sweep.design import build_spec
from analysis.sweep.run import run_sweep
from model.model import CoherenceModel
from scenarios import load_scenario

YES, NO = Estimate(1.0, 0.5, 5), Estimate(0.1, 0.5, 5)  # an interval above 0, one containing 0
DOWN = Estimate(-1.0, 0.5, 5)


def _sweep(tmp_path: Path, scenario: str, name: str, ready: bool = True, **flags) -> Path:
    out = tmp_path / name
    run_sweep(build_spec(scenario, ready=ready, **flags), out, workers=2, progress=False)
    return out


def _state_bytes(st) -> dict[str, bytes]:
    return {f.name: np.asarray(getattr(st, f.name)).tobytes() for f in fields(st)}


# ----------------------------------------------------------------------------- verdict logic


def test_adjoint_verdict() -> None:
    v = error_propagation.verdict_adjoint
    assert v({0: {0: YES, 1: YES, 2: NO}}) == "confirmed"
    assert v({0: {0: YES, 1: NO, 2: YES}, 1: {1: YES}}) == "confirmed"  # the adjacent scale answers one lag later
    assert v({0: {0: NO, 1: NO, 2: YES}}) == "partly"
    assert v({0: {0: NO, 1: DOWN, 2: NO}}) == "refuted"  # a smaller |λ| is no adjoint signal


def test_transmission_verdict() -> None:
    v = error_propagation.verdict_transmitted
    assert v({0: DOWN, 1: DOWN, 2: DOWN}) == "confirmed"
    assert v({0: DOWN, 1: DOWN, 2: NO}) == "partly"
    assert v({0: DOWN, 1: NO, 2: YES}) == "refuted"
    assert v({0: NO, 1: DOWN}) == "refuted"  # the perturbed scale itself did not fall


def test_gamma_verdicts() -> None:
    assert gamma_conditions.verdict_all([YES, DOWN]) == "confirmed"
    assert gamma_conditions.verdict_all([YES, NO]) == "partly"
    assert gamma_conditions.verdict_all([NO, Estimate(0.0, math.nan, 1)]) == "refuted"
    assert gamma_conditions.verdict_increasing([YES, YES]) == "confirmed"
    assert gamma_conditions.verdict_increasing([YES, DOWN]) == "partly"
    assert gamma_conditions.verdict_increasing([DOWN, NO]) == "refuted"


def test_landscape_verdicts() -> None:
    assert landscape.verdict_deformed([NO, YES], YES) == "confirmed"
    assert landscape.verdict_deformed([NO, YES], NO) == "partly"
    assert landscape.verdict_deformed([NO, NO], YES) == "refuted"
    assert landscape.verdict_no_bank(0.0, 0.0, 0.1) == "confirmed"
    assert landscape.verdict_no_bank(0.0, 0.0, 0.0) == "partly"
    assert landscape.verdict_no_bank(1e-12, 0.0, 0.1) == "refuted"  # anything left means memory elsewhere
    assert landscape.verdict_history([YES, YES, NO]) == "confirmed"
    assert landscape.verdict_history([YES, NO, NO]) == "partly"
    assert landscape.verdict_history([NO]) == "refuted"


def test_seed_table_verdicts() -> None:
    near = [Estimate(g + 0.004, 0.001, 20) for g in seed_table.SEED_GAMMA]
    assert seed_table.verdict_table(near) == "confirmed"
    assert seed_table.verdict_table([Estimate(1.5, 0.0, 20), *near[1:-1], Estimate(1.9, 0.01, 20)]) == "partly"
    assert seed_table.verdict_table([Estimate(3.0, 0.1, 20)] * 5) == "refuted"
    assert seed_table.verdict_reduction(Estimate(0.894, 0.003, 20)) == "confirmed"
    assert seed_table.verdict_reduction(Estimate(0.5, 0.1, 20)) == "partly"
    assert seed_table.verdict_reduction(Estimate(0.05, 0.1, 20)) == "refuted"


def test_seed_table_small(tmp_path: Path) -> None:
    out = _sweep(tmp_path, "coherence_backprop", "chain", replicates=3, grid=("coherence.eta=0.2",))
    rows = _valid(seed_table.claims(out), {"000-S5a", "000-S5b", "000-P5"})
    assert rows["000-S5a"].verdict == "confirmed"  # SPEC 5.3: the seed's table within 0.01 for any seed
    assert rows["000-P5"].verdict == "not testable"


# ----------------------------------------------------------------------------- the probe plane and the metric


def test_plane_inputs_split_the_leaves_between_the_two_axes() -> None:
    g = CoherenceModel(load_scenario("landscape_memory"), seed=3, engine="numpy").graph
    x = plane_inputs(g)
    first = set(g.subtree(int(g.first_child[0])).tolist())
    a_leaves = [i for i in np.flatnonzero(g.is_leaf) if i in first]
    b_leaves = [i for i in np.flatnonzero(g.is_leaf) if i not in first]
    row = 2 * len(GRID) + 5  # x_a = GRID[2], x_b = GRID[5]
    assert np.all(x[row, a_leaves] == GRID[2]) and np.all(x[row, b_leaves] == GRID[5])
    assert (len(a_leaves), len(b_leaves)) == (27, 54)


def test_the_landscape_metric_leaves_the_live_model_alone_and_finds_the_memory_in_gamma() -> None:
    m = CoherenceModel(load_scenario("landscape_memory"), seed=8, engine="numpy")
    m.run(200)
    before = _state_bytes(m.state)
    out = landscape_metric(m)
    assert _state_bytes(m.state) == before
    assert out["restored_max_abs"] == 0.0 and out["transplant_max_abs"] == 0.0 and out["w_changed"] == 0.0
    assert out["dC_max_abs"] > 0 and out["err_after_at_training"] < out["err_before_at_training"]
    assert out["C_after"]["a0"]["b0"] == pytest.approx(root_surface(m.graph, m.state)[0, 0])


# ----------------------------------------------------------------------------- small sweeps end to end


def _valid(rows: list[Claim], ids: set[str]) -> dict[str, Claim]:
    by_id = {c.id: c for c in rows}
    assert set(by_id) == ids
    for c in rows:
        assert c.verdict in VERDICTS and c.source == "000"
        assert (c.command.startswith("cohlab sweep ") and "cohlab analyze" in c.command) or c.verdict == "not testable"
    return by_id


def test_error_propagation_small(tmp_path: Path) -> None:
    out = _sweep(tmp_path, "error_propagation", "ep", ticks=710, replicates=3)  # one event and its lag window
    rows = _valid(error_propagation.claims(out), {"000-P2", "000-P2b"})
    table = pd.read_csv(out / "analysis" / "error_propagation.csv")
    before = table[table["lag"] < 0]
    assert (before["dlam"] == 0).all() and (before["dC"] == 0).all()  # the exact control: nothing before the event
    assert rows["000-P2"].verdict == "confirmed" and rows["000-P2b"].verdict == "confirmed"
    assert (out / "analysis" / "error_propagation.png").stat().st_size > 0


def test_landscape_small_and_same_seed_same_bytes(tmp_path: Path) -> None:
    texts = []
    for name in ("a", "b"):
        out = _sweep(tmp_path, "landscape_memory", name, ticks=200, replicates=2)
        rows = _valid(landscape.claims(out), {"000-TC", "000-P3", "000-P3c"})
        assert rows["000-P3"].verdict == "confirmed"  # restoring γ must remove ΔC exactly
        assert "max |ΔC| = 0;" in rows["000-P3"].numbers
        texts.append((dumps(list(rows.values())), (out / "analysis" / "landscape.csv").read_bytes()))
        runs = pd.read_csv(out / "runs.csv").drop(columns="wall_s")
        texts.append(runs.to_csv(index=False))
    assert texts[0] == texts[2] and texts[1] == texts[3]


def test_gamma_conditions_small(tmp_path: Path) -> None:
    grids = ("coherence.input=phase,0.6", "phase.T=0.05,1.0")
    noiseless = ("coherence.input_noise=0",)  # then a fixed level's runs cannot differ at all
    out = _sweep(tmp_path, "coherence_tree", "ct", ticks=200, replicates=2, grid=grids, sets=noiseless)
    rows = _valid(gamma_conditions.claims(out), {"000-P1a", "000-P1b", "000-P1c", "000-S5c"})
    assert rows["000-P1c"].verdict == "not testable" and rows["000-P1c"].why
    assert "moves by +0.0000 ± 0.0000 at most (0 of 4 differences exclude 0)" in rows["000-P1b"].numbers
    table = pd.read_csv(out / "analysis" / "gamma_conditions.csv", dtype={"input": str})
    fixed = table[table["input"] == "0.6"]
    assert fixed["gamma_4"].nunique() == 1


def test_a_sweep_without_the_experiments_grid_has_no_claims(tmp_path: Path) -> None:
    out = _sweep(tmp_path, "error_propagation", "plain", ready=False, ticks=30, grid=("phase.K=1,2",))
    assert error_propagation.claims(out) == []


def test_a_crossed_parameter_keeps_the_pairs_apart(tmp_path: Path) -> None:
    """Crossing the paired design with another parameter must pair event and control runs of the same
    seed *and* the same value of that parameter (common seeds repeat across its values)."""
    out = _sweep(tmp_path, "error_propagation", "crossed", ticks=710, replicates=2, grid=("phase.K=1,2",))
    error_propagation.claims(out)
    table = pd.read_csv(out / "analysis" / "error_propagation.csv")
    assert (table["n_pairs"] == 4).all()
    assert (table.loc[table["lag"] < 0, "dlam"] == 0).all()


def test_bad_strength_on_the_command_line_writes_nothing(cli, tmp_path: Path) -> None:
    from cohlab.cli import main

    out = tmp_path / "run"
    res = cli.invoke(main, ["run", "error_propagation", "--out", str(out), "--set", "decoherence.strength=2"])
    assert res.exit_code != 0 and "decoherence.strength" in res.output
    assert not out.exists()
    sweep_out = tmp_path / "sweep"
    args = ["sweep", "error_propagation", "--ready", "--out", str(sweep_out), "--grid", "decoherence.strength=0,3"]
    res = cli.invoke(main, args)
    assert res.exit_code != 0 and "decoherence.strength" in res.output
    assert not sweep_out.exists()
