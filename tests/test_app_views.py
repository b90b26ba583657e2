"""The app's live views without solara: history, chart options and updates for every scenario."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.export import timeseries_frame
from scenarios.loader import list_scenarios
from ui.echart import EChart, encode, merge
from ui.history import TS_NUMERIC
from ui.session import Session, needs_restart
from ui.views import REBUILD, VIEWS, GraphView, SubtreeView


def _json(option) -> None:
    buffers: list = []
    json.dumps(encode(option, buffers))  # what goes over the websocket (arrays as buffers)


@pytest.mark.parametrize("scenario", list_scenarios())
def test_every_view_builds_and_updates_for_every_scenario(scenario: str) -> None:
    s = Session(scenario, 3)
    views = [cls(s) for cls in VIEWS]
    charts = []
    for view in views:
        chart = EChart(height=view.height)
        option = view.option()
        _json(option)
        chart.show(option)
        charts.append(chart)
    s.step(12)
    for view, chart in zip(views, charts, strict=True):
        upd = view.update()
        assert upd is not REBUILD
        if upd:
            _json(upd)
            chart.update(upd)
            assert len(chart.option["series"]) == len(view.option()["series"]), "updates never add series"


def test_history_matches_the_recorded_timeseries() -> None:
    s = Session("persistence", 2)
    for k in (3, 17, 1, 30):
        s.step(k)
    frame = timeseries_frame(s.model)
    for col in TS_NUMERIC:
        want = frame[col].to_numpy(dtype=float)
        assert np.allclose(s.history.ts[col], want, equal_nan=True), col
    assert s.history.scales.n == s.model.slow_ticks
    assert s.history.nodes.n == s.model.tick


def test_graph_view_sends_every_node_and_the_aggregate_every_cell() -> None:
    s = Session("criticality", 1, {"graph.depth": 6, "graph.n_nodes": 1000})
    s.step(3)
    batches = [x["data"] for x in GraphView(s).update()["series"][GraphView.first_batch :]]
    nodes = np.concatenate(batches)
    nodes = nodes[nodes[:, 5] >= 0]  # empty batches hold one parked point (id −1) off the grid
    assert nodes.shape == (1000, 6) and sorted(nodes[:, 5]) == list(range(1000)), "every node, once"
    node = nodes[:, 5].astype(int)
    assert np.allclose(nodes[:, 2], s.model.state.E[node]) and np.allclose(nodes[:, 3], s.model.state.R[node])
    cells = SubtreeView(s).update()["series"][0]["data"]
    assert cells[:, 6].sum() > 0 and np.isfinite(cells[:, 2]).all()


def test_a_changed_target_rebuilds_the_criticality_chart() -> None:
    from ui.views import CriticalityView

    s = Session("criticality", 1)
    view = CriticalityView(s)
    view.option()
    s.apply_live({"controller.rho_target": 0.9})
    assert view.update() is REBUILD


def test_live_changes_are_validated_and_structural_ones_refused() -> None:
    from model import ParameterError

    s = Session("criticality", 1)
    s.step(2)
    s.apply_live({"load.rate": 8.0})
    assert s.model.params.load.rate == 8.0 and s.overrides["load.rate"] == 8.0 and s.tick == 2
    with pytest.raises(ParameterError, match=r"spread\.alpha"):
        s.apply_live({"spread.alpha": -1})
    assert s.model.params.spread.alpha == 0.1
    assert needs_restart("graph.depth") and needs_restart("clock.dt_slow") and not needs_restart("load.rate")
    with pytest.raises(ParameterError, match="restart"):
        s.apply_live({"graph.depth": 2})


def test_chart_merge_and_binary_encoding() -> None:
    base = {"series": [{"data": [1], "name": "a"}, {"data": [2]}], "xAxis": [{"max": 1}], "title": [{"text": "t"}]}
    merge(base, {"series": [{}, {"data": np.arange(3.0)}], "xAxis": [{"max": 5}]})
    assert base["series"][0] == {"data": [1], "name": "a"} and base["xAxis"][0]["max"] == 5
    buffers: list = []
    out = encode({"a": np.ones((2, 3)), "b": [np.float64(2.5)], "c": np.empty(0)}, buffers)
    assert out == {"a": {"__nd__": 0, "shape": [2, 3]}, "b": [2.5], "c": []}
    assert np.frombuffer(buffers[0], dtype=np.float64).tolist() == [1.0] * 6


def test_a_chart_acknowledges_only_what_the_browser_has_drawn() -> None:
    chart = EChart()
    seen = []
    chart.on_drawn(lambda: seen.append("idle"))
    assert seen == ["idle"], "nothing pending: at once"
    chart.send = lambda *a, **k: None  # no browser here: swallow the messages
    chart.vue_ready()
    chart.update({"series": [{"data": np.arange(3.0)}]})
    chart.on_drawn(lambda: seen.append("drawn"))
    assert seen == ["idle"]
    chart.vue_drawn(1)
    assert seen == ["idle", "drawn"]


def test_history_and_views_with_one_scale_and_one_tracked_node() -> None:
    s = Session("forgetting_curves", 1, {"graph.depth": 0})
    assert s.model.graph.n == 1 and s.history.tracked.size == 1
    views = [cls(s) for cls in VIEWS]
    for view in views:
        _json(view.option())
    s.step(25)
    for view in views:
        upd = view.update()
        if upd and upd is not REBUILD:
            _json(upd)


def test_recall_view_follows_the_experiment_and_play_stops_at_its_end() -> None:
    from ui.views import RecallView

    s = Session("stability_plasticity", 2, {"defenses.dream_loop": True})
    view = RecallView(s)
    assert RecallView.relevant(s)
    view.option()
    s.step(100_000)  # far past the schedule: the session stops where the model stops
    exp = s.model.plasticity
    assert not s.model.running and s.tick == exp.results["end_tick"] + 1
    assert "complete" in s.status()["tick"]
    upd = view.update()
    a, b, generated, kept = (np.asarray(x["data"]) for x in upd["series"])
    acq = next(r for r in exp.history if r["label"] == "acquisition_A")
    assert [acq["time"], exp.results["acquisition_A"]] in a.tolist()
    assert b[-1, 1] == exp.results["acquisition_B"]
    assert len(generated) == len(exp.dream_cycles) > 0 and (kept[:, 1] <= generated[:, 1]).all()
    phases = [m["name"] for m in upd["series"][1]["markLine"]["data"]]
    assert phases == ["learn A", "learn B", "schedule done"]
    assert view.update() is None  # nothing new, nothing sent


def test_recall_view_only_for_the_experiment() -> None:
    from ui.views import RecallView

    assert not RecallView.relevant(Session("criticality", 1))
