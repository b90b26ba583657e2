"""Each scenario's story in the app (SPEC 9.4): its colouring, its key charts, its numbers, pinned runs, the T panel."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from scenarios.loader import ScenarioError, list_scenarios, load_scenario, parse_scenario
from ui import layout
from ui.session import Session
from ui.views import (
    REBUILD,
    VIEWS,
    CriticalityView,
    ForgettingView,
    GraphView,
    GroupsView,
    OrderVsTView,
    RecallView,
    alignment_exact,
    default_colouring,
    story_views,
)


def _labels(option: dict) -> list[tuple[float, int, str]]:
    """(x, row, text) of every shown markLine label on a vertical line."""
    out = []
    for series in option["series"]:
        for item in series.get("markLine", {}).get("data", []):
            label = item.get("label", {})
            if "xAxis" in item and label.get("show", True):
                text = label.get("formatter", item.get("name", ""))
                out.append((float(item["xAxis"]), text.count("\n"), text.strip("\n")))
    return out


def _assert_no_overlap(option: dict) -> None:
    span = option["xAxis"][0]["max"]
    by_row: dict[int, list[tuple[float, str]]] = {}
    for x, row, text in _labels(option):
        by_row.setdefault(row, []).append((x / span * layout.PLOT_PX, text))
    for row, items in by_row.items():
        items.sort()
        for (x0, t0), (x1, _) in itertools.pairwise(items):
            assert x1 - x0 >= layout.text_px(t0), f"labels {t0!r} and the next overlap in row {row}"


@pytest.mark.parametrize("scenario", list_scenarios())
def test_every_scenario_colours_its_graph_by_a_quantity_that_varies(scenario: str) -> None:
    s = Session(scenario, 1)
    shown, _ = story_views(s)
    declared = s.scenario.view.charts
    assert declared, "every scenario declares the charts that carry its point"
    assert [cls.key for cls, _ in shown[: len(declared)]] == [k.split(".")[0] for k in declared]
    s.step(60)
    view = GraphView(s, colour=default_colouring(s))
    view.option()
    batches = view.update()["series"][GraphView.first_batch :]
    n_sizes = len(batches) // (len(view.palette) + 1)
    used = {i // n_sizes for i, b in enumerate(batches) if (np.asarray(b["data"])[:, 5] >= 0).any()}
    assert len(used) >= 3, f"{scenario}: the graph shows {len(used)} colour(s) at tick 60"


@pytest.fixture(scope="module")
def persistence() -> Session:
    s = Session("persistence", 2)
    s.step(1400)  # past both events (600 and 1000) and the recovery
    return s


def test_legends_never_page_and_event_labels_never_overlap(persistence: Session) -> None:
    s = persistence
    for cls in VIEWS:
        if not cls.relevant(s):
            continue
        opt = cls(s).option()
        if opt.get("legend"):
            assert all(lg["type"] == "plain" for lg in opt["legend"]), cls.key
            rows = layout.legend_rows([x["name"] for x in opt["series"] if x.get("name")])
            assert min(g["top"] for g in opt["grid"]) >= opt["legend"][0]["top"] + rows * layout.LEGEND_ROW_PX
        if cls.key in ("groups", "persistence"):
            labels = _labels(opt)
            assert {t for _, _, t in labels} == {"volatile from here", "world shift"}
            _assert_no_overlap(opt)


def test_label_rows_stack_close_labels_and_drop_none_that_fit() -> None:
    rows = layout.label_rows([100, 1000, 1010, 2000], ["a long label", "world shift", "x", "end"], 2500, 3)
    assert rows[0] == 0 and rows[1] == 0 and rows[2] == 1 and rows[3] == 0
    assert layout.label_rows([0, 1, 2], ["wide label"] * 3, 2500, 2) == [0, 1, None]
    assert layout.legend_rows(["a"] * 10) == 1, "duplicate names share one legend entry"
    assert layout.legend_rows([f"a rather long legend entry {i}" for i in range(6)]) >= 3


def test_forgetting_curves_show_the_fitted_half_lives_of_every_type() -> None:
    s = Session("forgetting_curves", 3)
    view = ForgettingView(s)
    view.option()
    s.step(120)
    text = view.update()["title"][0]["subtext"]
    fitted = dict(re.findall(r"(\w+) ([\d.]+)", text.replace("\n", " ").split("of w:")[0].split(":", 1)[1]))
    assert set(fitted) == {"default", "memory", "task", "principle", "goal"}
    p = s.model.params
    from model.node_types import M_E

    for t, h in fitted.items():  # ln2/(δ_E·m_E): the analytic half-life of free exponential decay
        want = math.log(2) / (p.decay.delta_E * M_E[t])
        assert float(h) == pytest.approx(want, rel=0.02), (t, h, want)
    assert "of w:" in text


def test_consolidation_groups_are_coloured_named_and_decay_slower_than_the_control() -> None:
    s = Session("consolidation", 3)
    view = GroupsView(s, quantity="E")
    opt = view.option()
    names = [x["name"] for x in opt["series"][: len(view.groups)]]
    assert [n.split(" (")[0] for n in names] == ["retrieved", "affective", "goal", "control"]
    colours = [x["lineStyle"]["color"] for x in opt["series"][: len(view.groups)]]
    assert len(set(colours)) == 4
    s.step(70)
    text = view.update()["title"][0]["subtext"]
    h = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)", text.replace("\n", " ").split(":", 1)[1])}
    assert min(h["retrieved"], h["affective"], h["goal"]) > h["control"], h


def test_persistence_groups_show_the_dip_and_the_recovery_after_the_shift(persistence: Session) -> None:
    view = GroupsView(persistence, quantity="R")
    opt = view.option()
    assert [x["name"].split(" (")[0] for x in opt["series"][:3]] == ["shifted", "volatile", "calm"]
    assert len({x["lineStyle"]["color"] for x in opt["series"][:3]}) == 3
    assert view.shift == (1000.0, 0)
    text = opt["title"][0]["subtext"]
    assert text.startswith("after the shift at tick 1000, R of 'shifted'"), text


def test_criticality_claims_the_share_of_ticks_in_the_band() -> None:
    s = Session("criticality", 1)
    view = CriticalityView(s)
    view.option()
    s.step(300)
    text = view.update()["title"][0]["subtext"].replace("\n", " ")
    band = s.history.band[100:]
    want = sum(b == "critical" for b in band) / len(band)
    assert f"{want:.0%} of the 200 ticks" in text


def test_recall_starts_at_the_untrained_test_and_names_its_period() -> None:
    s = Session("stability_plasticity", 1)
    view = RecallView(s)
    opt = view.option()
    assert "recall.every" not in opt["title"][0]["subtext"] and "tested every 20 ticks" in opt["title"][0]["subtext"]
    assert opt["series"][0]["lineStyle"]["width"] > opt["series"][1]["lineStyle"]["width"], "A stays visible under B"
    s.step(100)
    a = np.asarray(view.update()["series"][0]["data"])
    assert a[0].tolist() == [0.0, s.model.plasticity.results["chance"]]


def test_a_pinned_run_is_drawn_dashed_beside_the_new_one_and_relabelled_when_a_switch_changes() -> None:
    first = Session("criticality", 1)
    first.step(40)
    second = Session("criticality", 1, {"controller.enabled": False})
    second.pinned = first
    view = CriticalityView(second)
    opt = view.option()
    ghosts = [x for x in opt["series"] if x["name"].startswith("pinned: ")]
    assert {g["name"] for g in ghosts} == {"pinned: controller.enabled on"}
    assert all(g["lineStyle"]["type"] == "dashed" for g in ghosts)
    rho = next(g for g in ghosts if g["yAxisIndex"] == 0)
    assert np.allclose(np.asarray(rho["data"])[:, 1], first.history.ts["rho"][: len(rho["data"])])
    second.step(5)
    upd = view.update()
    assert len(upd["series"]) <= 3, "updates leave the ghost alone"
    second.apply_live({"controller.enabled": True})
    assert view.update() is REBUILD
    assert "the same settings" in next(x["name"] for x in view.option()["series"] if x["name"].startswith("pinned"))


def test_order_vs_temperature_fills_as_T_is_applied_and_draws_the_exact_tree_curve() -> None:
    s = Session("temperature_sweep", 1, {"graph.lateral_k": 0.0})
    view = OrderVsTView(s)
    assert view.exact_applies
    view.option()
    s.step(100)
    s.apply_live({"phase.T": 0.5})
    s.step(100)
    upd = view.update()
    settled = np.asarray(upd["series"][0]["data"])
    assert settled.shape == (1, 2) and settled[0, 0] == 0.1
    assert [p["value"][0] for p in upd["series"][2]["data"]] == [0.5, 0.5]
    from ui.views import FreeEnergyView

    fe = FreeEnergyView(s)
    opt = fe.option()
    assert "T → 0.5" in [label for _, _, label in _labels(opt)], "the Apply moment is marked"


def test_the_exact_alignment_follows_the_bessel_ratio_limits() -> None:
    w = np.full(10, 0.25)
    small = alignment_exact(None, w, 1.0, np.array([10.0]))[0]  # x = 0.025: I1/I0 ≈ x/2
    large = alignment_exact(None, w, 1.0, np.array([0.005]))[0]  # x = 50: I1/I0 ≈ 1 − 1/(2x)
    assert small == pytest.approx(0.0125, rel=1e-3) and large == pytest.approx(0.99, abs=1e-3)


def test_the_view_table_is_validated() -> None:
    sc = load_scenario("persistence")
    data = sc.model_dump(exclude={"path"})
    with pytest.raises(ScenarioError, match=r"persistence\.survivl.*did you mean 'persistence\.survival'"):
        parse_scenario({**data, "view": {"switches": ["persistence.survivl"]}})
    with pytest.raises(ScenarioError, match="not a true/false parameter"):
        parse_scenario({**data, "view": {"switches": ["persistence.kappa"]}})
    bad = parse_scenario({**data, "view": {"charts": ["no_such_chart"]}})
    with pytest.raises(ValueError, match="unknown chart 'no_such_chart'"):
        story_views(Session(bad, 1))


def test_scenario_texts_do_not_confuse_a_class() -> None:
    for name in list_scenarios():
        sc = load_scenario(name)
        assert "#" not in sc.scenario.title, sc.scenario.title
        assert sc.scenario.source.startswith("seed document"), "not to be read as the random seed"
