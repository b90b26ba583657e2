"""`cohlab analyze` on a temperature sweep: order, E_phase, S_phase, F_coh against T and the link
alignment beside the exact lateral-free-tree curve (computed here with scipy's Bessel functions)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.special import iv

from cohlab.cli import main


def test_analyze_draws_the_curves_and_the_exact_tree_alignment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COHLAB_ENGINE", "numpy")
    out = tmp_path / "tsweep"
    args = ["sweep", "temperature_sweep", "--out", str(out), "--grid", "phase.T=0.1,0.5", "--replicates", "2"]
    args += ["--ticks", "1500", "--set", "graph.lateral_k=0", "--workers", "1", "--timeseries", "summary", "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["analyze", str(out)])
    assert res.exit_code == 0, res.output
    assert "temperature sweep (lateral-free tree" in res.output
    assert (out / "analysis" / "temperature.png").stat().st_size > 10_000
    table = pd.read_csv(out / "analysis" / "temperature.csv", index_col="phase.T")
    for T in (0.1, 0.5):
        exact = iv(1, 0.25 / T) / iv(0, 0.25 / T)  # K = 1, W̄ = w0 = 0.25
        assert table.loc[T, "alignment_exact_tree"] == pytest.approx(exact, rel=1e-5)  # the table keeps 6 digits
        assert table.loc[T, "alignment"] == pytest.approx(exact, rel=0.05)  # two runs of 1,500 ticks
    for col in ("order", "E_phase", "S_phase", "F_coh", "order_ci95"):
        assert table[col].notna().all()
    assert table.loc[0.1, "order"] > table.loc[0.5, "order"]
