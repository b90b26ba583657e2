"""Every scenario's story in a real browser at projector size (1024×768): the graph's colours, a pinned run.

Chromium (Debian's, through Playwright) opens each scenario from a link, plays it, and reads the
charts' rendered options back from ECharts. Screenshots go to ``test-artifacts/`` for a person
to look at; nothing here depends on timing except waiting for the run to get somewhere.
"""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from test_app_browser import ARGS, ARTIFACTS, CHROMIUM, server  # noqa: F401  (server is a fixture)

from scenarios.loader import list_scenarios, load_scenario
from ui import layout

pytestmark = pytest.mark.browser
CHARTS = """async () => {
  const echarts = await window.__cohlabEcharts;
  return [...document.querySelectorAll('.cohlab-echart')].map(el => echarts.getInstanceByDom(el))
    .filter(c => c).map(c => c.getOption());
}"""
GRAPH_COLOURS = """async () => {
  const echarts = await window.__cohlabEcharts;
  const opt = [...document.querySelectorAll('.cohlab-echart')].map(el => echarts.getInstanceByDom(el))
    .map(c => c?.getOption()).find(o => o?.title?.[0]?.text?.startsWith('The fractal graph'));
  // the node batches: one series per (colour, size) step; a batch holds real nodes when an id is >= 0
  const used = new Set();
  opt.series.slice(3).forEach(s => {
    if ((s.data || []).some(p => p[5] >= 0)) used.add(s.itemStyle.color);
  });
  return [...used];
}"""
CHART_PNG = """async (title) => {
  const echarts = await window.__cohlabEcharts;
  const c = [...document.querySelectorAll('.cohlab-echart')].map(el => echarts.getInstanceByDom(el))
    .find(c => c?.getOption()?.title?.[0]?.text?.startsWith(title));
  return c.getDataURL({type: 'png', pixelRatio: 1, backgroundColor: '#fff'});
}"""
TEXT_WIDTHS = """(texts) => {
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = '14px Roboto, Arial, Helvetica, sans-serif';  // 12 px labels × 1.2 in projector mode, rounded
  return texts.map(t => ctx.measureText(t).width);
}"""


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.set_default_timeout(90_000)
    page.goto(url)
    page.locator(".status-tick", has_text="tick 0 ").wait_for()
    page.wait_for_function("() => document.querySelectorAll('.cohlab-echart canvas').length >= 2")
    return page


def _play_until(page, tick: int) -> None:
    page.get_by_role("button", name="Play").first.click()
    page.wait_for_function(  # the tick reached, or the run stopped by itself (a scenario that ends early)
        """(n) => +document.querySelector('.status-tick').innerText.split(' ')[1] >= n
           || document.querySelector('.status-tick').innerText.includes('complete')
           || [...document.querySelectorAll('.v-alert')].some(a => a.innerText.includes('ticks are done'))""",
        arg=tick,
        timeout=180_000,
    )
    pause = page.get_by_role("button", name="Pause")
    if pause.count():  # (a scenario that reached its end has stopped by itself)
        try:
            pause.first.click(timeout=10_000)
        except PlaywrightTimeoutError:  # it ended, and the button went, between the count and the click
            assert page.get_by_role("button", name="Play").count(), "neither Pause nor Play is on the page"
    page.get_by_role("button", name="Play").first.wait_for()
    page.wait_for_timeout(600)


@pytest.mark.parametrize("scenario", list_scenarios())
def test_each_scenario_plays_with_its_graph_coloured_by_a_moving_quantity(server: str, browser, scenario: str) -> None:  # noqa: F811
    page = _open(browser, f"{server}?scenario={scenario}&seed=1")
    _play_until(page, min(60, load_scenario(scenario).scenario.ticks))  # play stops at a short scenario's end
    colours = page.evaluate(GRAPH_COLOURS)
    assert len(colours) >= 3, f"{scenario}: the graph's nodes show {len(colours)} colour(s): {colours}"
    options = page.evaluate(CHARTS)
    for opt in options:
        assert all(lg.get("type") != "scroll" for lg in opt.get("legend", [])), "legends never page"
    page.screenshot(path=str(ARTIFACTS / f"story_{scenario}.png"), full_page=True)
    assert not page.errors, page.errors


def test_the_label_width_estimate_holds_in_the_browser(server: str, browser) -> None:  # noqa: F811
    page = _open(browser, f"{server}?scenario=persistence&seed=1")
    texts = ["volatile from here", "world shift", "learn A", "schedule done", "reinforcement from here", "T → 0.5"]
    measured = page.evaluate(TEXT_WIDTHS, texts)
    for text, width in zip(texts, measured, strict=True):
        assert layout.text_px(text) >= width, (text, width)


def test_a_pinned_run_stays_drawn_beside_the_new_one(server: str, browser) -> None:  # noqa: F811
    page = _open(browser, f"{server}?scenario=criticality&seed=1")
    _play_until(page, 120)
    page.get_by_role("button", name="Pin this run").click()
    page.locator(".status-tick", has_text="tick 0 ").wait_for()
    page.locator(".story-bar").get_by_label("controller.enabled").click(
        force=True
    )  # the controller off for the new run
    page.get_by_text("pinned: controller.enabled on").first.wait_for()
    _play_until(page, 60)

    def pinned_and_live() -> tuple[int, int]:
        crit = next(o for o in page.evaluate(CHARTS) if o["title"][0]["text"].startswith("Criticality"))
        ghost = [s for s in crit["series"] if s.get("name", "").startswith("pinned: controller.enabled on")]
        live = next(s for s in crit["series"] if s.get("name") == "ρ")
        return max(len(s["data"]) for s in ghost), len(live["data"])

    ghost, live = pinned_and_live()
    assert ghost >= 120 and live >= 60, (ghost, live)
    page.screenshot(path=str(ARTIFACTS / "story_pinned_criticality.png"), full_page=True)
    png = page.evaluate(CHART_PNG, "Criticality")
    (ARTIFACTS / "story_pinned_criticality_chart.png").write_bytes(base64.b64decode(png.split(",", 1)[1]))
    _play_until(page, 90)
    assert pinned_and_live()[0] == ghost, "the pinned run stays as it was while the new one runs"
    assert not page.errors, page.errors


def test_temperature_applied_mid_run_adds_a_point_and_a_line(server: str, browser) -> None:  # noqa: F811
    page = _open(browser, f"{server}?scenario=temperature_sweep&seed=1")
    _play_until(page, 100)
    if not page.get_by_label("phase.T", exact=True).is_visible():
        page.get_by_role("button", name="Controls").click()  # projector mode: the sidebar opens on request
    page.get_by_label("phase.T", exact=True).fill("0.5")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Applied at tick").first.wait_for()
    _play_until(page, 200)
    charts = {o["title"][0]["text"]: o for o in page.evaluate(CHARTS)}
    order = charts["Order against temperature T"]
    settled = order["series"][0]["data"]
    assert len(settled) == 1 and settled[0][0] == pytest.approx(0.1), settled
    now = [p["value"][0] for p in order["series"][2]["data"]]
    assert now == [0.5, 0.5], "the new temperature's point is settling"
    for title, opt in charts.items():  # the Apply moment on every time chart
        if any(axis.get("name") == "tick" for axis in opt.get("xAxis", [])):
            names = [d.get("name") for s in opt["series"] for d in s.get("markLine", {}).get("data", [])]
            assert "T → 0.5" in names, title
    png = page.evaluate(CHART_PNG, "Order against temperature")
    (ARTIFACTS / "story_order_vs_T.png").write_bytes(base64.b64decode(png.split(",", 1)[1]))
    png = page.evaluate(CHART_PNG, "Coherence free energy")
    (ARTIFACTS / "story_free_energy_T.png").write_bytes(base64.b64decode(png.split(",", 1)[1]))
    assert not page.errors, page.errors
