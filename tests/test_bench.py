"""`cohlab bench`: one JSON object per N and per contended size, with the fields the issue names,
consistent with each other."""

from __future__ import annotations

import json

import pytest

from cohlab.cli import main

FIELDS = (
    "N",
    "whole_run_node_updates_per_s",
    "node_updates_per_s",
    "fast_tick_ms",
    "slow_tick_s",
    "slow_tick_x_fast",
    "numpy_engine_whole_run_node_updates_per_s",
    "engine_speedup",
    "mesa_loop_node_updates_per_s",
    "ratio",
    "threads",
    "build_s",
    "build_cpu_s",
    "peak_rss_mb",
    "load",
)
CONTENDED = ("N", "busy_processes", "load", "default_ms_per_step", "numpy_ms_per_step", "default_over_numpy")


@pytest.mark.slow
def test_bench_json_has_one_consistent_row_per_size_and_contended_size(cli) -> None:
    args = ["bench", "--json", "--sizes", "300,1000", "--ticks", "10", "--repeats", "1", "--mesa-max", "500"]
    res = cli.invoke(main, [*args, "--numpy-max", "500", "--contended", "121"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    sizes = [r for r in rows if r["kind"] == "size"]
    assert [r["N"] for r in sizes] == [300, 1000]
    for r in sizes:
        assert set(FIELDS) <= set(r)
        assert r["node_updates_per_s"] == pytest.approx(r["N"] / (r["fast_tick_ms"] / 1e3))
        assert r["slow_tick_x_fast"] == pytest.approx(r["slow_tick_s"] / (r["fast_tick_ms"] / 1e3))
        assert r["engine"] == "compiled" and r["threads"] == 1  # small graphs run serially
        assert r["dt_slow"] == 10 and r["build_s"] > 0 and r["peak_rss_mb"] > 0
        # a whole run of 10 ticks holds one slow tick: slower than 10 fast ticks alone
        assert r["whole_run_node_updates_per_s"] < r["node_updates_per_s"]
    small, large = sizes
    assert small["engine_speedup"] == pytest.approx(
        small["whole_run_node_updates_per_s"] / small["numpy_engine_whole_run_node_updates_per_s"]
    )
    assert small["ratio"] == pytest.approx(small["node_updates_per_s"] / small["mesa_loop_node_updates_per_s"])
    assert large["mesa_loop_node_updates_per_s"] is None and large["ratio"] is None  # above --mesa-max
    assert large["numpy_engine_whole_run_node_updates_per_s"] is None and large["engine_speedup"] is None
    busy = [r for r in rows if r["kind"] == "contended"]
    assert [(r["N"], r["busy_processes"]) for r in busy] == [(121, 0), (121, 1)]
    for r in busy:
        assert set(CONTENDED) <= set(r)
        assert r["default_over_numpy"] == pytest.approx(r["default_ms_per_step"] / r["numpy_ms_per_step"])


@pytest.mark.parametrize("option", ["--sizes", "--contended"])
def test_bench_refuses_sizes_that_are_not_integers(cli, option: str) -> None:
    res = cli.invoke(main, ["bench", option, "1000,lots"])
    assert res.exit_code != 0
    assert f"{option} expects comma-separated integers" in res.output


def test_bench_refuses_a_size_below_one(cli) -> None:
    res = cli.invoke(main, ["bench", "--sizes", "1000,0"])
    assert res.exit_code != 0
    assert "--sizes expects node counts of at least 1" in res.output
