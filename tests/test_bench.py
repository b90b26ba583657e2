"""`cohlab bench`: one JSON object per N with the fields the issue names, consistent with each other."""

from __future__ import annotations

import json

import pytest

from cohlab.cli import main

FIELDS = ("N", "node_updates_per_s", "mesa_loop_node_updates_per_s", "ratio", "build_s", "peak_rss_mb")


@pytest.mark.slow
def test_bench_json_has_one_consistent_row_per_size(cli) -> None:
    res = cli.invoke(main, ["bench", "--json", "--sizes", "300,1000", "--ticks", "2", "--mesa-max", "500"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [r["N"] for r in rows] == [300, 1000]
    for r in rows:
        assert set(FIELDS) <= set(r)
        assert r["node_updates_per_s"] == pytest.approx(r["N"] / (r["fast_tick_ms"] / 1e3))
        assert r["engine"] == "compiled" and r["threads"] >= 1
        assert r["engine_speedup"] == pytest.approx(r["node_updates_per_s"] / r["numpy_engine_node_updates_per_s"])
        assert r["build_s"] > 0 and r["peak_rss_mb"] > 0
    small, large = rows
    assert small["ratio"] == pytest.approx(small["node_updates_per_s"] / small["mesa_loop_node_updates_per_s"])
    assert large["mesa_loop_node_updates_per_s"] is None and large["ratio"] is None  # above --mesa-max


def test_bench_refuses_sizes_that_are_not_integers(cli) -> None:
    res = cli.invoke(main, ["bench", "--sizes", "1000,lots"])
    assert res.exit_code != 0
    assert "--sizes expects comma-separated integers" in res.output
