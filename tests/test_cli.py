"""The command line (SPEC 9.1, 10): usage and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohlab.cli import main
from model.model import CoherenceModel


def _err(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code != 0
    assert len(lines) == 1, res.output  # one clear line
    return lines[0]


def test_list_and_info(cli) -> None:
    res = cli.invoke(main, ["list"])
    assert res.exit_code == 0 and "forgetting_curves" in res.output and "criticality" in res.output
    res = cli.invoke(main, ["info", "forgetting_curves"])
    assert res.exit_code == 0
    for heading in ("WHAT IT IS", "HOW IT WORKS", "HOW TO USE IT", "THINGS TO NOTICE", "THINGS TO TRY", "SOURCES"):
        assert heading in res.output
    assert "decay.delta_E" in res.output


def test_run_writes_the_run_directory(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = cli.invoke(main, ["run", "forgetting_curves", "--out", str(out), "--seed", "1", "--plots", "--quiet"])
    assert res.exit_code == 0, res.output
    for f in ("params.json", "timeseries.csv", "scales.csv", "nodes.csv", "events.jsonl", "summary.json"):
        assert (out / f).is_file(), f
    assert (out / "forgetting_curves.png").stat().st_size > 10_000
    params = json.loads((out / "params.json").read_text())
    assert params["seed"] == 1 and params["params"]["decay.delta_E"] > 0 and "mesa" in params["versions"]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["forgetting_curves"]["types"]) == {"default", "memory", "task", "principle", "goal"}
    header = (out / "timeseries.csv").read_text().splitlines()[0]
    assert header.startswith("tick,time,E_total,E_mean_default")


def test_set_overrides_and_seed(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = cli.invoke(
        main, ["run", "criticality", "--out", str(out), "--ticks", "20", "--set", "spread.alpha=0.05", "--quiet"]
    )
    assert res.exit_code == 0, res.output
    params = json.loads((out / "params.json").read_text())
    assert params["params"]["spread.alpha"] == 0.05 and isinstance(params["seed"], int)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "decay.delta_E=-1"], "decay.delta_E"),
        (["--set", "decay.delt_E=0.1"], "did you mean 'decay.delta_E'"),
        (["--set", "graph.branching=three"], "graph.branching"),
        (["--set", "nonsense"], "key=value"),
        (["--set", "controller.delta_max=0.01"], "delta_max"),
    ],
)
def test_bad_parameters_are_refused_and_nothing_is_written(cli, tmp_path: Path, args, needle) -> None:
    out = tmp_path / "run"
    res = cli.invoke(main, ["run", "criticality", "--out", str(out), "--quiet", *args])
    assert needle in _err(res)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unknown_scenario_suggests_the_nearest(cli, tmp_path: Path) -> None:
    res = cli.invoke(main, ["run", "criticalty", "--out", str(tmp_path / "x")])
    assert "did you mean 'criticality'" in _err(res)


def test_broken_toml_names_the_line(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\ntitle = \n')
    res = cli.invoke(main, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert "line 3" in _err(res)
    assert not (tmp_path / "out").exists()


def test_unknown_key_in_scenario_file(cli, tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "scenarios" / "criticality.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[params.load]\nrate", "[params.load]\nrat"))
    res = cli.invoke(main, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert "did you mean 'load.rate'" in _err(res)


def test_nonempty_output_directory_needs_force(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    for force in ([], ["--force"]):  # not a directory cohlab wrote: never replaced, even with --force
        res = cli.invoke(main, ["run", "criticality", "--out", str(out), "--ticks", "5", "--quiet", *force])
        assert "not written by cohlab" in _err(res)
        assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"
    mine = tmp_path / "mine"
    res = cli.invoke(main, ["run", "criticality", "--out", str(mine), "--ticks", "5", "--quiet"])
    assert res.exit_code == 0
    res = cli.invoke(main, ["run", "criticality", "--out", str(mine), "--ticks", "5", "--quiet"])
    assert "--force" in _err(res)
    (mine / "old-plot.png").write_bytes(b"left by an earlier run")
    res = cli.invoke(main, ["run", "criticality", "--out", str(mine), "--ticks", "7", "--quiet", "--force"])
    assert res.exit_code == 0 and not (mine / "old-plot.png").exists()
    assert json.loads((mine / "params.json").read_text())["ticks"] == 7


def test_nan_in_the_state_stops_the_run_cleanly(cli, tmp_path: Path, monkeypatch) -> None:
    original = CoherenceModel._fast_tick

    def poisoned(self) -> None:
        if self.tick == 30:
            self.state.E[3] = float("nan")
        original(self)

    monkeypatch.setattr(CoherenceModel, "_fast_tick", poisoned)
    out = tmp_path / "run"
    res = cli.invoke(main, ["run", "criticality", "--out", str(out), "--ticks", "50", "--quiet"])
    line = _err(res)
    assert "tick 31" in line and "NaN" in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_failed_run_leaves_earlier_outputs_intact(cli, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    assert cli.invoke(main, ["run", "criticality", "--out", str(out), "--ticks", "5", "--quiet"]).exit_code == 0
    before = (out / "timeseries.csv").read_bytes()
    monkeypatch.setattr(CoherenceModel, "_slow_tick", lambda self: (_ for _ in ()).throw(RuntimeError("boom")))
    res = cli.invoke(main, ["run", "criticality", "--out", str(out), "--ticks", "20", "--quiet", "--force"])
    assert res.exit_code != 0
    assert (out / "timeseries.csv").read_bytes() == before


def test_missing_parent_directories_are_created_like_mkdir_p(cli, tmp_path: Path) -> None:
    """Bug: `cohlab run … --out runs/fc` (the README's example) was refused on a fresh clone."""
    out = tmp_path / "runs" / "deeper" / "fc"
    res = cli.invoke(main, ["run", "forgetting_curves", "--out", str(out), "--ticks", "5", "--quiet"])
    assert res.exit_code == 0, res.output
    assert (out / "summary.json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["fc"]  # no temporary directory left beside it


def test_an_output_path_through_a_file_is_refused(cli, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("keep me")
    out = tmp_path / "afile" / "run"
    res = cli.invoke(main, ["run", "forgetting_curves", "--out", str(out), "--ticks", "5", "--quiet"])
    assert "is a file, not a directory" in _err(res)
    assert (tmp_path / "afile").read_text() == "keep me"
    res = cli.invoke(main, ["sweep", "criticality", "--out", str(out), "--grid", "learning.budget=1,2", "--quiet"])
    assert "is a file, not a directory" in _err(res)
