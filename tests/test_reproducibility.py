"""Same seed, same bytes (SPEC 10); different seeds differ."""

from __future__ import annotations

from pathlib import Path

from cohlab.cli import main

FILES = ("params.json", "timeseries.csv", "scales.csv", "nodes.csv", "events.jsonl", "summary.json")


def _run(cli, out: Path, seed: int) -> dict[str, bytes]:
    res = cli.invoke(main, ["run", "criticality", "--out", str(out), "--seed", str(seed), "--ticks", "120", "--quiet"])
    assert res.exit_code == 0, res.output
    return {f: (out / f).read_bytes() for f in FILES}


def test_same_seed_gives_identical_bytes(cli, tmp_path: Path) -> None:
    a = _run(cli, tmp_path / "a", 7)
    b = _run(cli, tmp_path / "b", 7)
    assert a == b


def test_different_seeds_differ(cli, tmp_path: Path) -> None:
    a = _run(cli, tmp_path / "a", 7)
    b = _run(cli, tmp_path / "b", 8)
    assert a["timeseries.csv"] != b["timeseries.csv"]
