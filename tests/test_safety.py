"""Nothing lost, nothing ignored (SPEC 8, 10): output directories, impossible inputs, clean failures.

Every test works as a user does: the command line in a sandbox folder (its own working
directory and home), or the Python API. A refused input must give one clear message, exit
non-zero and leave every folder exactly as it was.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from analysis import outdir
from cohlab.cli import main
from model import CoherenceModel, ParameterError
from model.graph import estimated_bytes, node_count
from model.keys import resolve
from model.model import SimulationError

RUN = ["run", "forgetting_curves", "--ticks", "5", "--quiet"]


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a user's file, with the home folder inside the sandbox too."""
    home = tmp_path / "home"
    work = home / "work"
    work.mkdir(parents=True)
    (work / "thesis.tex").write_text("three years of work")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))  # matplotlib's font cache, outside the snapshot
    monkeypatch.chdir(work)
    return work


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every directory (None), hidden ones included."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def refused(args: list[str], root: Path, *needles: str) -> str:
    """Invoke; assert a clean refusal (exit ≠ 0, no traceback, a short message) that changed nothing."""
    before = snapshot(root)
    res = CliRunner().invoke(main, args)
    assert res.exit_code not in (0, None), res.output
    assert res.exc_info is None or res.exc_info[0] is SystemExit, f"traceback: {res.exc_info}"
    assert "Traceback" not in res.output and len(res.output) < 700, res.output
    for needle in needles:
        assert needle in res.output, res.output
    assert snapshot(root) == before, "a refused input changed the folder"
    return res.output


# ----------------------------------------------------------------------------- --out and --force


@pytest.mark.parametrize(
    "command", [RUN, ["sweep", "forgetting_curves", "--grid", "learning.budget=1", "--ticks", "5"]]
)
def test_force_never_deletes_a_folder_cohlab_did_not_write(sandbox: Path, command: list[str]) -> None:
    home = sandbox.parent
    kind = command[0]
    for out in ("", "  "):
        refused([*command, "--out", out, "--force"], home, "empty")
    refused([*command, "--out", ".", "--force"], home, "current folder")
    refused([*command, "--out", "..", "--force"], home, "ancestor of the current folder")
    refused([*command, "--out", str(home), "--force"], home, "ancestor of the current folder")
    refused([*command, "--out", "/", "--force"], home, "ancestor")
    mine = home / "notes"
    mine.mkdir()
    (mine / "a.txt").write_text("mine")
    refused([*command, "--out", str(mine), "--force"], home, "not written by cohlab")
    refused([*command, "--out", "thesis.tex", "--force"], home, "not a directory")
    assert (sandbox / "thesis.tex").read_text() == "three years of work"
    # a directory cohlab wrote carries the marker and may be replaced with --force
    res = CliRunner().invoke(main, [*command, "--out", "results"])
    assert res.exit_code == 0, res.output
    marker = json.loads((sandbox / "results" / outdir.MARKER).read_text())
    assert marker == {"written_by": "coherence-lab", "kind": kind}
    res = CliRunner().invoke(main, [*command, "--out", "results", "--force"])
    assert res.exit_code == 0, res.output


def test_the_home_folder_is_refused_from_elsewhere(sandbox: Path, tmp_path: Path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    refused([*RUN, "--out", str(sandbox.parent), "--force"], tmp_path, "home folder")


def test_unwritable_places_are_refused_before_the_run(sandbox: Path) -> None:
    for place in ("/proc/cohlab-test", "/sys/cohlab-test/run"):
        refused([*RUN, "--out", place], sandbox.parent, "cannot write", place)


def test_a_read_only_filesystem_is_refused_cleanly(sandbox: Path, monkeypatch) -> None:
    """Creating anything fails with EROFS (simulated: making a read-only mount needs privileges)."""

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(outdir.tempfile, "mkdtemp", read_only)
    refused([*RUN, "--out", "ro/run"], sandbox.parent, "read-only filesystem")
    assert not (sandbox / "ro").exists()


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_get_the_modes_of_ordinary_files(sandbox: Path, mask: int, file_mode: int, dir_mode: int) -> None:
    old = os.umask(mask)
    try:
        assert CliRunner().invoke(main, [*RUN, "--out", "r"]).exit_code == 0
        sweep = ["sweep", "forgetting_curves", "--grid", "learning.budget=1", "--ticks", "5", "--out", "s", "--quiet"]
        assert CliRunner().invoke(main, sweep).exit_code == 0
    finally:
        os.umask(old)
    for root in (sandbox / "r", sandbox / "s"):
        assert stat.S_IMODE(root.stat().st_mode) == dir_mode, root
        for p in root.rglob("*"):
            want = dir_mode if p.is_dir() else file_mode
            assert stat.S_IMODE(p.stat().st_mode) == want, p


# ----------------------------------------------------------------------------- impossible inputs


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--seed", "-1"], ["--seed", "-1"]),
        (["--seed", "x"], ["--seed"]),
        (["--ticks", "1000000000000"], ["--ticks", "10000000"]),
        (["--ticks", "0"], ["--ticks"]),
        (["--set", "graph.depth=30"], ["PiB", "308,836,698,141,973 nodes", "available"]),
        (["--set", "graph.branching=64", "--set", "graph.depth=6"], ["TiB", "69,810,262,081 nodes"]),
        (["--set", "graph.n_nodes=20000000", "--set", "graph.lateral_k=50"], ["GiB", "20,000,000 nodes"]),
    ],
)
def test_impossible_inputs_are_refused_up_front(sandbox: Path, args: list[str], needles: list[str]) -> None:
    refused([*RUN, "--out", "r", *args], sandbox.parent, *needles)


def test_graph_memory_is_estimated_before_building() -> None:
    p = resolve({"graph.depth": 30})
    assert node_count(p.graph) == (3**31 - 1) // 2  # a full ternary tree of depth 30, counted, never built
    assert node_count(resolve({"graph.kind": "chain", "graph.depth": 7}).graph) == 8
    assert node_count(resolve({"graph.n_nodes": 1000}).graph) == 1000
    small, large = (
        estimated_bytes(resolve({"graph.n_nodes": 10_000})),
        estimated_bytes(resolve({"graph.n_nodes": 10**6})),
    )
    assert large == pytest.approx(100 * small, rel=0.01)  # linear in N
    assert 300 < large / 10**6 < 3000, "bytes per node: hundreds (state and graph arrays), not more"
    with pytest.raises(ParameterError, match="PiB"):
        CoherenceModel(params={"graph.depth": 30}, seed=0)


def test_negative_seed_from_the_python_api() -> None:
    for seed in (-1, 1.5, True, "3"):
        with pytest.raises(ParameterError, match="seed"):
            CoherenceModel(seed=seed)  # type: ignore[arg-type]


def test_a_scenario_path_that_is_a_directory_says_so(sandbox: Path) -> None:
    (sandbox / "myscenarios").mkdir()
    refused(["run", "myscenarios", "--out", "r"], sandbox.parent, "is a directory")
    refused(["run", "missing.toml", "--out", "r"], sandbox.parent, "does not exist")
    # a folder named like a bundled scenario (say, an earlier --out) does not hide the scenario
    (sandbox / "criticality").mkdir()
    assert CliRunner().invoke(main, ["run", "criticality", "--ticks", "3", "--quiet", "--out", "c"]).exit_code == 0


# ----------------------------------------------------------------------------- NaN: tick, mechanism, no warnings


@pytest.mark.parametrize("engine", ["numpy", "compiled"])
def test_nan_names_the_tick_and_the_mechanism_without_numpy_warnings(engine: str) -> None:
    m = CoherenceModel(params={"graph.depth": 3}, engine=engine, seed=0)
    m.run(4)
    m.state.W[4] = np.inf  # a bad weight written through the Python API
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning (overflow, invalid) would fail here
        with pytest.raises(SimulationError) as err:
            m.step()
    text = str(err.value)
    assert "tick 5" in text and "spreading (SPEC 4.2)" in text and "'E'" in text


def test_nan_in_the_slow_tick_names_the_mechanism() -> None:
    m = CoherenceModel(params={"graph.depth": 3, "coherence.enabled": True, "coherence.input": "0.8"}, seed=0)
    m.run(3)
    m.state.gamma[0] = np.nan  # poisons the root's coherence at the next slow tick
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SimulationError, match=r"tick 10 .*coherence backpropagation \(SPEC 5.3\)"):
            m.run(10)


def test_a_nan_run_writes_nothing_and_prints_no_warning(sandbox: Path, monkeypatch) -> None:
    original = CoherenceModel._slow_tick

    def poisoned(self) -> None:
        self.state.w[0] = np.nan  # a node weight the slow tick's first mechanism reads
        original(self)

    monkeypatch.setattr(CoherenceModel, "_slow_tick", poisoned)
    out = refused(["run", "criticality", "--ticks", "30", "--quiet", "--out", "r"], sandbox.parent, "tick 10")
    assert "weight decay and Hebbian learning (SPEC 5.1–5.2)" in out and "Warning" not in out


# ----------------------------------------------------------------------------- kinds of values


@pytest.mark.parametrize(
    "assignment, needle",
    [
        ("controller.enabled=yes", "true or false"),
        ("controller.enabled=1", "true or false"),
        ("defenses.dream_loop='on'", "true or false"),
        ("thermo.enabled=no", "true or false"),
        ("graph.depth=true", "must be a number"),
        ("decay.delta_E='0.1'", "must be a number"),
    ],
)
def test_switches_take_only_true_or_false_and_numbers_only_numbers(sandbox: Path, assignment: str, needle: str) -> None:
    refused([*RUN, "--out", "r", "--set", assignment], sandbox.parent, assignment.split("=")[0], needle)


def test_a_numeric_coherence_input_is_accepted(sandbox: Path) -> None:
    res = CliRunner().invoke(
        main, [*RUN, "--out", "r", "--set", "coherence.input=0.5", "--set", "coherence.enabled=true"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads((sandbox / "r" / "params.json").read_text())["params"]["coherence.input"] == "0.5"
