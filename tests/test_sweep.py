"""Sweeps (SPEC 9.3): same bytes whatever the executor, resume, failures recorded, bad specs refused, analysis."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.sweep.design import build_spec, derive_seed, design_points
from cohlab.cli import main

BIN = Path(sys.executable).parent
SMALL = ["forgetting_curves", "--grid", "decay.delta_E=0.02,0.04", "--replicates", "2", "--ticks", "30", "--quiet"]


def _sweep(out: Path, *extra: str, args: list[str] = SMALL, code: int = 0) -> str:
    res = CliRunner().invoke(main, ["sweep", args[0], "--out", str(out), *args[1:], *extra])
    assert res.exit_code == code, res.output
    return res.output


def _runs(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "runs.csv").drop(columns=["wall_s"])


def _same_results(out: Path, ref: Path) -> None:
    pd.testing.assert_frame_equal(_runs(out), _runs(ref))
    assert (out / "timeseries.csv").read_bytes() == (ref / "timeseries.csv").read_bytes()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_gone(pgid: int, timeout: float = 10.0) -> None:
    """Every process of a session started with start_new_session=True ends (no orphaned workers)."""
    deadline = time.time() + timeout
    while time.time() < deadline and subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).stdout:
        time.sleep(0.1)
    left = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    for pid in left:  # do not leave them to the next test, but fail
        os.kill(int(pid), signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


@pytest.fixture
def dying_workers(monkeypatch, tmp_path: Path) -> Callable[[list[str], bool], list[str]]:
    """``plan(die, once)``: the worker running one of the ``die`` runs exits at once with code 13
    (with ``once``, only the first to get there); returns SMALL's arguments with the scenario
    copied beside the plan (tests/sweep_chaos.py reads it there, in the worker)."""
    import sweep_chaos

    monkeypatch.setattr("analysis.sweep.execute.run_task", sweep_chaos.run_or_die)

    def plan(die: list[str], once: bool) -> list[str]:
        scenario = tmp_path / "forgetting_curves.toml"
        scenario.write_text((Path(__file__).parents[1] / "scenarios" / "forgetting_curves.toml").read_text())
        (tmp_path / "chaos.json").write_text(json.dumps({"die": die, "once": once, "exit_code": 13}))
        return [str(scenario), *SMALL[1:]]

    return plan


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "sweep"
    _sweep(out, "--workers", "1")
    return out


# ----------------------------------------------------------------------------- outputs and determinism


def test_outputs_are_tidy_and_seeds_distinct(reference: Path) -> None:
    runs = pd.read_csv(reference / "runs.csv")
    assert list(runs.columns[:5]) == ["run_id", "point", "replicate", "seed", "decay.delta_E"]
    assert list(runs.columns[-3:]) == ["status", "error", "wall_s"]
    assert list(runs["run_id"]) == ["r00001", "r00002", "r00003", "r00004"]
    assert list(runs["point"]) == [1, 1, 2, 2] and list(runs["replicate"]) == [0, 1, 0, 1]
    assert runs["seed"].nunique() == 4 and (runs["status"] == "ok").all()
    assert "forgetting_curves.types.default.half_life_E" in runs.columns  # nested summary keys joined with '.'
    ts = pd.read_csv(reference / "timeseries.csv")
    assert ts.columns[0] == "run_id" and ts.columns[1] == "tick" and len(ts) == 4 * 30
    assert list(ts["run_id"].unique()) == list(runs["run_id"])
    spec = json.loads((reference / "spec.json").read_text())
    assert spec["grid"] == {"decay.delta_E": [0.02, 0.04]} and len(spec["scenario_sha256"]) == 64


def test_seeds_derive_from_the_sweep_seed_parameters_and_replicate() -> None:
    a = derive_seed(0, {"x": 1.0}, 0)
    assert a == derive_seed(0, {"x": 1.0}, 0) and 0 <= a < 2**63
    assert len({a, derive_seed(0, {"x": 1.0}, 1), derive_seed(1, {"x": 1.0}, 0), derive_seed(0, {"x": 2.0}, 0)}) == 4
    from analysis.sweep.design import make_tasks

    grid = ["decay.delta_E=0.02,0.04"]
    seeds = [t.seed for t in make_tasks(build_spec("forgetting_curves", grid=grid, replicates=2))]
    assert len(set(seeds)) == 4
    paired = [t.seed for t in make_tasks(build_spec("forgetting_curves", grid=grid, replicates=2, common_seeds=True))]
    assert paired[:2] == paired[2:] and paired[0] != paired[1]  # the same seeds at every point, one per replicate


def test_two_workers_give_the_same_results(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "two"
    _sweep(out, "--workers", "2")
    _same_results(out, reference)


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """A real local cluster: `dask scheduler` and two one-thread `dask worker`s, on loopback, always stopped."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}  # a run whose worker dies: one retry
    env["PYTHONPATH"] = str(Path(__file__).parent)  # the workers import tests/sweep_chaos.py (dying_workers)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    procs = [
        subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
        )
    ]
    try:
        procs += [
            subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"], **quiet
            )
            for _ in range(2)
        ]
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        from distributed import Client

        try:  # a quick, orderly stop of the scheduler and its workers; signals if that fails
            with Client(address, timeout=5) as client:
                client.shutdown()
        except Exception:
            pass
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.mark.slow
def test_dask_cluster_gives_the_same_results(dask_cluster: str, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "dask"
    _sweep(out, "--scheduler", dask_cluster)
    _same_results(out, reference)


@pytest.mark.slow
def test_a_dask_worker_that_dies_has_its_run_retried(
    dying_workers, dask_cluster: str, reference: Path, tmp_path: Path
) -> None:
    args = dying_workers(["r00002"], once=True)
    out = tmp_path / "dask_chaos"
    _sweep(out, "--scheduler", dask_cluster, args=args)
    assert (tmp_path / "chaos.json.fired").exists()  # a worker really died
    _same_results(out, reference)


@pytest.mark.slow
def test_a_killed_scheduler_ends_the_sweep_with_one_paragraph(tmp_path: Path) -> None:
    """SIGKILL to the scheduler mid-sweep: the finished runs stay, stderr is the one clean message."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    scheduler = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    worker = subprocess.Popen(
        [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"], **quiet
    )
    try:
        out = tmp_path / "lost"
        cmd = [str(BIN / "cohlab"), "sweep", "forgetting_curves", "--out", str(out), "--scheduler", address]
        cmd += ["--grid", "decay.delta_E=0.01,0.02,0.03", "--replicates", "4", "--ticks", "300", "--quiet"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 180
        while time.time() < deadline and not list((out / "runs").glob("r*.json")) and proc.poll() is None:
            time.sleep(0.02)
        scheduler.kill()
        assert proc.wait(180) == 2
        err = proc.stderr.read()
        assert err.startswith("cohlab: error: lost the Dask cluster") and "--resume" in err, err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert list((out / "runs").glob("r*.json"))  # what finished is kept
    finally:
        for p in (scheduler, worker):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


# ----------------------------------------------------------------------------- resume and failures


@pytest.mark.slow
def test_interrupted_sweep_resumes_without_redoing_runs(tmp_path: Path) -> None:
    args = ["forgetting_curves", "--grid", "decay.delta_E=0.02,0.03,0.04", "--replicates", "2", "--ticks", "250"]
    ref = tmp_path / "uninterrupted"
    _sweep(ref, "--workers", "1", "--quiet", args=args)
    out = tmp_path / "killed"
    cmd = [str(BIN / "cohlab"), "sweep", args[0], "--out", str(out), *args[1:], "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "runs").glob("r*.json"))) < 2:
        time.sleep(0.01)
    proc.kill()  # SIGKILL to the sweep's process alone: no cleanup, its workers must notice by themselves
    proc.wait()
    _wait_until_gone(proc.pid)
    done = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("r*.json")}
    assert 2 <= len(done) < 6 and not (out / "runs.csv").exists()
    res = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert "6 runs, 6 ok" in res.stdout
    for name, mtime in done.items():
        assert (out / "runs" / name).stat().st_mtime_ns == mtime  # not redone
    _same_results(out, ref)
    table = (out / "timeseries.csv").read_bytes()
    again = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, check=False)  # nothing left to run
    assert again.returncode == 0 and (out / "timeseries.csv").read_bytes() == table


@pytest.mark.slow
@pytest.mark.parametrize("when", ["at_start", "pool_starting"])
def test_ctrl_c_early_prints_one_clean_message(tmp_path: Path, when: str) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the program imports
    its libraries, or as the sweep directory appears and the pool starts: no traceback from any process."""
    out = tmp_path / "early"
    cmd = [str(BIN / "cohlab"), "sweep", "forgetting_curves", "--out", str(out), "--grid", "decay.delta_E=0.01,0.02"]
    cmd += ["--replicates", "3", "--ticks", "300", "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if when == "pool_starting":
        deadline = time.time() + 120
        while time.time() < deadline and not (out / "spec.json").exists() and proc.poll() is None:
            time.sleep(0.005)
    else:
        time.sleep(0.5)  # the interpreter has started; importing the libraries takes seconds more
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(60) == 130
    err = proc.stderr.read()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().count("\n") == 0, err  # one line
    assert ("nothing was written" in err) if not out.exists() else ("--resume" in err), err
    _wait_until_gone(proc.pid)


@pytest.mark.slow
def test_sigterm_stops_the_sweep_and_its_workers(tmp_path: Path) -> None:
    out = tmp_path / "term"
    cmd = [str(BIN / "cohlab"), "sweep", "forgetting_curves", "--out", str(out), "--grid", "decay.delta_E=0.01,0.02"]
    cmd += ["--replicates", "20", "--ticks", "400", "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "runs").glob("r*.json")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)  # the parent only
    assert proc.wait(30) == 130
    assert "--resume" in proc.stderr.read()
    _wait_until_gone(proc.pid)
    assert not list((out / "runs").glob(".*"))  # no half-written files


@pytest.mark.slow
@pytest.mark.parametrize(("once", "status"), [(True, "ok"), (False, "failed")])
def test_a_dying_worker_is_retried_alone_then_recorded(
    dying_workers, reference: Path, tmp_path: Path, once: bool, status: str
) -> None:
    args = dying_workers(["r00002"], once=once)
    out = tmp_path / "crash"
    _sweep(out, "--workers", "2", args=args, code=0 if once else 1)  # a failed run: exit 1, runs.csv written
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 4
    bad = runs.set_index("run_id").loc["r00002"]
    assert bad["status"] == status
    if once:  # the retry succeeded: the same results as without the crash
        _same_results(out, reference)
    else:
        assert bad["error"].startswith("worker process died") and "exit code 13" in bad["error"]
        assert (runs[runs["run_id"] != "r00002"]["status"] == "ok").all()
        assert not (out / "runs" / "r00002.csv").exists()


def test_a_run_that_raises_is_recorded_and_the_others_go_on(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "scenarios" / "criticality.toml").read_text()
    scenario = tmp_path / "flaky.toml"
    scenario.write_text(  # a mid-run parameter change the controller's check refuses (only when it is on)
        text + '\n[[stimuli]]\nkind = "set"\nat = 5\nkey = "controller.delta_max"\nvalue = 0.01\nnote = "unreachable"\n'
    )
    out = tmp_path / "flaky"
    said = _sweep(
        out, args=[str(scenario), "--grid", "controller.enabled=true,false", "--ticks", "20", "--quiet"], code=1
    )
    assert "1 of 2 runs failed" in said and said.count("Traceback") == 0  # exit 1, after writing runs.csv
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["status"]) == ["failed", "ok"]
    assert runs["error"].iloc[0].startswith("ParameterError") and "delta_max" in runs["error"].iloc[0]
    ts = pd.read_csv(out / "timeseries.csv")
    assert set(ts["run_id"]) == {"r00002"}


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--grid", "decay.delt_E=0.1,0.2"], "did you mean 'decay.delta_E'"),
        (["--set", "sprad.alpha=0.1", "--grid", "decay.delta_E=0.1,0.2"], "did you mean 'spread.alpha'"),
        (["--range", "decay.delta_E=0.5:0.1", "--lhs", "4"], "lo (0.5) is greater than hi (0.1)"),
        (["--grid", "decay.delta_E=0.1,-1"], "decay.delta_E"),
        (["--range", "decay.delta_E=-1:0.1", "--lhs", "4"], "out of the parameter's range"),
        (["--grid", "decay.delta_E=0.1,0.1"], "listed twice"),
        (["--grid", "decay.delta_E=0.1,0.2", "--set", "decay.delta_E=0.3"], "both --grid and --set"),
        (["--range", "decay.delta_E=0.01:0.1"], "--lhs N or --sobol N"),
        (["--range", "decay.delta_E=0.01:0.1", "--sobol", "6"], "power of 2"),
        (["--range", "controller.enabled=0:1", "--lhs", "4"], "only numeric parameters"),
        (["--lhs", "4"], "--range"),
        (["--scheduler", "tcp://127.0.0.1:{closed}"], "cannot reach the Dask scheduler"),
        (["--ready", "--grid", "x"], "--grid expects key=v1,v2"),
        (["--grid", "decay.delta_E=0.1,0.2", "--grid", "decay.delta_E=0.3"], "--grid decay.delta_E is given twice"),
        (["--range", "decay.delta_E=0.01:0.1", "--lhs", "10000000"], "10,000,000 runs"),
        (["--range", "decay.delta_E=0.01:0.1", "--sobol", "4194304"], "at most 100,000"),
        (
            ["--grid", "decay.delta_E=" + ",".join(f"0.{i:04d}" for i in range(1, 501)), "--replicates", "500"],
            "250,000 runs",
        ),
        (["--scheduler", "bogus://x"], "unknown protocol 'bogus://'"),
    ],
)
def test_bad_specifications_are_refused_before_any_run(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "bad"
    args = [a.replace("{closed}", str(_free_port())) for a in args]
    res = CliRunner().invoke(main, ["sweep", "forgetting_curves", "--out", str(out), "--ticks", "10", "--quiet", *args])
    assert res.exit_code == 2, res.output
    assert needle in res.output and res.output.startswith("cohlab: error:") and res.output.count("\n") == 1
    assert not out.exists()


def test_existing_directories_are_protected(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for force in ([], ["--force"]):  # a folder cohlab did not write is never replaced, --force or not
        res = CliRunner().invoke(main, ["sweep", *SMALL[:1], "--out", str(out), *SMALL[1:], *force])
        assert res.exit_code == 2 and "not written by cohlab" in res.output
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
    res = CliRunner().invoke(main, ["sweep", *SMALL[:1], "--out", str(out), *SMALL[1:], "--resume"])
    assert res.exit_code == 2 and "not a sweep directory" in res.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    # resuming with another specification is refused, naming what differs
    before = {p.name: p.stat().st_mtime_ns for p in reference.rglob("*")}
    other = ["sweep", *SMALL[:1], "--out", str(reference), *SMALL[1:], "--seed", "3", "--resume"]
    res = CliRunner().invoke(main, other)
    assert res.exit_code == 2 and "differs in seed" in res.output
    assert {p.name: p.stat().st_mtime_ns for p in reference.rglob("*")} == before
    # a sweep directory cohlab wrote is replaced with --force, and only with it
    mine = tmp_path / "mine"
    _sweep(mine)
    (mine / "runs" / "stale.txt").write_text("left by cohlab's earlier sweep")
    res = CliRunner().invoke(main, ["sweep", *SMALL[:1], "--out", str(mine), *SMALL[1:]])
    assert res.exit_code == 2 and "--resume or --force" in res.output
    _sweep(mine, "--force")
    assert not (mine / "runs" / "stale.txt").exists() and (mine / "runs.csv").exists()


# ----------------------------------------------------------------------------- designs, ready sweeps, formats


def test_ready_sweep_and_flags_that_override_it(tmp_path: Path) -> None:
    spec = build_spec("forgetting_curves", ready=True)
    assert list(spec.grid) == ["decay.delta_E", "decay.delta_W"] and len(design_points(spec)) == 9
    spec = build_spec("forgetting_curves", ready=True, sets=["decay.delta_W=0.002"], grid=["decay.delta_E=0.02,0.04"])
    assert spec.grid == {"decay.delta_E": [0.02, 0.04]} and spec.fixed == {"decay.delta_W": 0.002}
    out = tmp_path / "ready"
    _sweep(out, args=["forgetting_curves", "--ready", "--ticks", "30", "--timeseries", "summary", "--quiet"])
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 9 and list(runs.columns[4:6]) == ["decay.delta_E", "decay.delta_W"]
    assert not (out / "timeseries.csv").exists()


@pytest.mark.parametrize("name", ["criticality", "temperature_sweep"])
def test_other_ready_tables_expand(name: str) -> None:
    from analysis.sweep.design import make_tasks

    spec = build_spec(name, ready=True, ticks=10)
    tasks = make_tasks(spec)  # validated, every point
    assert len(tasks) == len(design_points(spec)) * spec.replicates > 1


def test_every_and_parquet(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "pq"
    _sweep(out, "--format", "parquet", "--every", "10")
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert list(ts["tick"].unique()) == [10, 20, 30] and len(ts) == 4 * 3
    csv = pd.read_csv(out / "timeseries.csv")
    assert list(csv.columns) == list(ts.columns) and len(csv) == len(ts)
    runs = pd.read_parquet(out / "runs.parquet").drop(columns="wall_s")
    assert (runs.pop("error") == "").all()  # parquet keeps empty strings (and 600.0 a float)
    pd.testing.assert_frame_equal(runs, _runs(reference).drop(columns="error"), check_dtype=False)


def test_lhs_design_and_analysis(tmp_path: Path) -> None:
    out = tmp_path / "lhs"
    design = ["--range", "spread.alpha=0.02:0.1", "--lhs", "3", "--grid", "controller.enabled=true,false"]
    _sweep(out, args=["criticality", *design, "--ticks", "30", "--quiet"])
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 6 and runs["spread.alpha"].between(0.02, 0.1).all()
    assert all(float(f"{v:.12g}") == v for v in runs["spread.alpha"])  # runs.csv holds the values that were run
    res = CliRunner().invoke(main, ["analyze", str(out)])
    assert res.exit_code == 0, res.output
    assert "by controller.enabled" in res.output and "±" in res.output
    table = pd.read_csv(out / "analysis" / "by_controller.enabled.csv")
    assert set(table["n"]) == {3} and "final_rho.mean" in table.columns and "final_rho.ci95" in table.columns
    for name in ["by_spread.alpha.csv", "by_spread.alpha.png", "by_point.csv", "by_controller.enabled.png"]:
        assert (out / "analysis" / name).exists(), name
    assert (out / "analysis" / "heatmap_controller.enabled_spread.alpha.png").exists()


def test_sobol_design_and_indices(tmp_path: Path) -> None:
    out = tmp_path / "sobol"
    design = ["--range", "spread.alpha=0.02:0.1", "--range", "graph.lateral_k=0:3", "--sobol", "4"]
    _sweep(out, args=["criticality", *design, "--ticks", "30", "--quiet"])
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 4 * (2 + 2)  # Saltelli: N·(D + 2)
    res = CliRunner().invoke(main, ["analyze", str(out)])
    assert res.exit_code == 0, res.output
    sob = pd.read_csv(out / "analysis" / "sobol_indices.csv")
    assert set(sob["parameter"]) == {"spread.alpha", "graph.lateral_k"} and "ST" in sob.columns
    assert "Sobol indices" in res.output


def test_analyze_refuses_a_non_sweep(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["analyze", str(tmp_path)])
    assert res.exit_code == 2 and "not a finished sweep directory" in res.output


# ----------------------------------------------------------------------------- mesa.batch_run


@pytest.mark.parametrize("processes", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_mesa_batch_run_works_with_the_model(processes: int) -> None:
    import mesa

    from model import CoherenceModel
    from scenarios import load_scenario

    results = mesa.batch_run(  # a loaded scenario is a parameter value like any other (in a list: one value)
        CoherenceModel,
        parameters={"scenario": [load_scenario("criticality")], "seed": [1, 2], "spread__alpha": [0.05, 0.1]},
        iterations=1,
        max_steps=20,
        number_processes=processes,
        data_collection_period=1,
        display_progress=False,
    )
    df = pd.DataFrame(results)
    assert set(df["spread__alpha"]) == {0.05, 0.1} and set(df["seed"]) == {1, 2}
    assert len(df) == 4 * 21 and df.groupby(["seed", "spread__alpha"])["Step"].max().eq(20).all()  # every step
    assert df["rho"].notna().all() and df["E_total"].ge(0).all()
    last = df[df["Step"] == 20].set_index(["seed", "spread__alpha"])["E_total"]
    assert last.nunique() == 4  # seeds and parameters really reach the model


def test_resume_accepts_a_spec_written_before_new_fields(tmp_path: Path) -> None:
    from analysis.sweep.store import prepare, spec_document

    spec = build_spec("forgetting_curves", grid=["decay.delta_E=0.02,0.04"])
    doc = spec_document(spec)
    out = tmp_path / "old"
    out.mkdir()
    (out / "spec.json").write_text(json.dumps({k: v for k, v in doc.items() if k != "common_seeds"}))
    prepare(out, doc, resume=True, force=False)  # a missing field means its default
    (out / "spec.json").write_text(json.dumps({**doc, "common_seeds": True}))
    with pytest.raises(ValueError, match="differs in common_seeds"):
        prepare(out, doc, resume=True, force=False)


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"grid": {"spread.alpah": [0.1]}}, "did you mean 'spread.alpha'"),
        ({"ranges": {"spread.alpha": [0.2, 0.1]}, "design": "lhs", "samples": 4}, "lo ≤ hi"),
        ({"ranges": {"spread.alpha": [0.1, 0.2]}}, 'design = "lhs" or "sobol"'),
        ({"design": "halton"}, "sweep.design"),
        ({"timeseries": "some"}, "sweep.timeseries"),
    ],
)
def test_ready_tables_are_validated_with_the_scenario(table: dict, needle: str) -> None:
    import tomllib

    from scenarios.loader import ScenarioError, parse_scenario

    data = tomllib.loads((Path(__file__).parents[1] / "scenarios" / "criticality.toml").read_text())
    data["sweep"] = table
    with pytest.raises(ScenarioError, match="sweep") as err:
        parse_scenario(data, "criticality.toml")
    assert needle in str(err.value)


def test_ctrl_c_while_the_fork_server_starts_is_delivered_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C that arrives while the pool's fork server starts waits and reaches the sweep after:
    ignored there (as before), it was lost and the sweep ran to its end."""
    from multiprocessing import forkserver

    from analysis.sweep import execute

    monkeypatch.setattr(forkserver, "ensure_running", lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        execute._start_fork_server_deaf_to_ctrl_c()
