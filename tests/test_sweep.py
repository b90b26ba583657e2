"""Sweeps (SPEC 9.3): same bytes whatever the executor, resume, failures recorded, bad specs refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from cohlab.cli import main

BIN = Path(sys.executable).parent
SMALL = ["forgetting_curves", "--grid", "decay.delta_E=0.02,0.04", "--replicates", "2", "--ticks", "60", "--quiet"]


def _sweep(cli, out: Path, *extra: str) -> None:
    res = cli.invoke(main, ["sweep", *SMALL[:1], "--out", str(out), *SMALL[1:], *extra])
    assert res.exit_code == 0, res.output


def _runs(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "runs.csv").drop(columns=["wall_s"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("ref") / "sweep"
    _sweep(CliRunner(), out, "--workers", "1")
    return out


def test_outputs_are_tidy_and_seeds_distinct(reference: Path) -> None:
    runs = pd.read_csv(reference / "runs.csv")
    assert list(runs.columns[:4]) == ["run_id", "replicate", "seed", "decay.delta_E"]
    assert list(runs.columns[-3:]) == ["status", "error", "wall_s"]
    assert len(runs) == 4 and runs["seed"].nunique() == 4 and (runs["status"] == "ok").all()
    ts = pd.read_csv(reference / "timeseries.csv")
    assert ts.columns[0] == "run_id" and len(ts) == 4 * 60
    assert list(ts["run_id"].unique()) == list(runs["run_id"])


def test_two_workers_give_the_same_results(cli, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "two"
    _sweep(cli, out, "--workers", "2")
    pd.testing.assert_frame_equal(_runs(out), _runs(reference))
    assert (out / "timeseries.csv").read_bytes() == (reference / "timeseries.csv").read_bytes()


def test_dask_cluster_gives_the_same_results(cli, reference: Path, tmp_path: Path) -> None:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [
        subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    try:
        time.sleep(2)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
            )
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "dask"
        _sweep(cli, out, "--scheduler", address)
        pd.testing.assert_frame_equal(_runs(out), _runs(reference))
        assert (out / "timeseries.csv").read_bytes() == (reference / "timeseries.csv").read_bytes()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def test_interrupted_sweep_resumes_without_redoing_runs(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cmd = [str(BIN / "cohlab"), "sweep", *SMALL[:1], "--out", str(out), *SMALL[1:], "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "runs").glob("*.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    assert 2 <= len(done) < 4 and not (out / "runs.csv").exists()
    res = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    for name, mtime in done.items():
        assert (out / "runs" / name).stat().st_mtime_ns == mtime  # not redone
    pd.testing.assert_frame_equal(_runs(out), _runs(reference))
    assert (out / "timeseries.csv").read_bytes() == (reference / "timeseries.csv").read_bytes()


def test_a_dying_worker_is_retried_then_recorded(tmp_path: Path) -> None:
    out = tmp_path / "crash"
    cmd = [str(BIN / "cohlab"), "sweep", *SMALL[:1], "--out", str(out), *SMALL[1:], "--workers", "2"]
    env = {**os.environ, "COHLAB_SWEEP_CRASH_RUN": "r00002"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 4
    bad = runs[runs["run_id"] == "r00002"].iloc[0]
    assert bad["status"] == "failed" and "worker process died" in bad["error"]
    assert (runs[runs["run_id"] != "r00002"]["status"] == "ok").all()


def test_a_run_that_raises_is_recorded_and_the_others_go_on(cli, tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "scenarios" / "criticality.toml").read_text()
    scenario = tmp_path / "flaky.toml"
    scenario.write_text(
        text + '\n[[stimuli]]\nkind = "set"\nat = 5\nkey = "controller.delta_max"\nvalue = 0.01\nnote = "unreachable"\n'
    )
    out = tmp_path / "flaky"
    res = cli.invoke(
        main,
        [
            "sweep",
            str(scenario),
            "--out",
            str(out),
            "--grid",
            "controller.enabled=true,false",
            "--ticks",
            "20",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["status"]) == ["failed", "ok"]
    assert "delta_max" in runs["error"].iloc[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--grid", "decay.delt_E=0.1,0.2"], "did you mean 'decay.delta_E'"),
        (["--range", "decay.delta_E=0.5:0.1", "--lhs", "4"], "greater than hi"),
        (["--grid", "decay.delta_E=0.1,-1"], "decay.delta_E"),
        (["--range", "decay.delta_E=0.01:0.1"], "--lhs"),
        (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler"),
    ],
)
def test_bad_specifications_are_refused_before_any_run(cli, tmp_path: Path, args, needle) -> None:
    out = tmp_path / "bad"
    res = cli.invoke(main, ["sweep", "forgetting_curves", "--out", str(out), "--ticks", "10", "--quiet", *args])
    assert res.exit_code != 0 and needle in res.output
    assert not out.exists()


def test_lhs_design_and_analysis(cli, tmp_path: Path) -> None:
    out = tmp_path / "lhs"
    design = ["--range", "spread.alpha=0.02:0.1", "--lhs", "3", "--grid", "controller.enabled=true,false"]
    res = cli.invoke(main, ["sweep", "criticality", "--out", str(out), *design, "--ticks", "30", "--quiet"])
    assert res.exit_code == 0, res.output
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 6 and runs["spread.alpha"].between(0.02, 0.1).all()
    res = cli.invoke(main, ["analyze", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "analysis" / "by_controller.enabled.csv")
    assert set(table["n"]) == {3}


def test_mesa_batch_run_works_with_the_model() -> None:
    import mesa

    from model import CoherenceModel

    results = mesa.batch_run(
        CoherenceModel,
        parameters={"scenario": "criticality", "seed": [1, 2], "spread__alpha": [0.05, 0.1]},
        iterations=1,
        max_steps=20,
        number_processes=1,
        display_progress=False,
    )
    df = pd.DataFrame(results)
    assert len(df) == 4 and set(df["spread__alpha"]) == {0.05, 0.1}
    assert (df["Step"] == 20).all() and df["rho"].notna().all()
