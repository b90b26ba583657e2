"""The app in a real browser: Playwright driving Debian's chromium, headless, on loopback only.

The app is started as a subprocess (``cohlab app --host 127.0.0.1 --port N``, i.e. ``solara run
app.py --production``) and always stopped at the end. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.recorder import TIMESERIES_COLUMNS

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CHART_TITLES = """async () => {
  const echarts = await window.__cohlabEcharts;
  const charts = [...document.querySelectorAll('.cohlab-echart')].map(el => echarts.getInstanceByDom(el));
  return charts.map(chart => chart.getOption().title[0].text);
}"""
CHART_PIXELS = """async (index) => {
  const echarts = await window.__cohlabEcharts;
  const el = document.querySelectorAll('.cohlab-echart')[index];
  return echarts.getInstanceByDom(el).getDataURL({type: 'png', pixelRatio: 1});
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; ./dev.sh test does)")
    cohlab = shutil.which("cohlab", path=str(Path(sys.executable).parent))
    if cohlab is None:
        pytest.fail("the cohlab command is missing: install the project (pip install -e '.[test]')")
    port = _free_port()
    proc = subprocess.Popen(
        [cohlab, "app", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the app did not start (no HTTP 200)") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def page(server: str):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1100}, accept_downloads=True)
            pg = context.new_page()
            pg.errors = []
            pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
            pg.set_default_timeout(60_000)
            pg.goto(server)
            pg.locator(".status-tick", has_text="tick 0 ").wait_for()
            _charts_drawn(pg, 4)
            yield pg
            assert not pg.errors, f"JavaScript errors in the page: {pg.errors}"
        finally:
            browser.close()


def _charts_drawn(page, n: int) -> None:
    page.wait_for_function(
        "(n) => document.querySelectorAll('.cohlab-echart canvas').length >= n", arg=n, polling="raf"
    )


def _tick(page) -> int:
    return int(page.locator(".status-tick").first.inner_text().split()[1])


def test_pick_a_scenario_play_and_see_the_views_change(page) -> None:
    page.get_by_text("WHAT IT IS").first.wait_for()
    titles = page.evaluate(CHART_TITLES)
    assert titles[0].startswith("Criticality") and titles[1] == "The fractal graph: 121 nodes", titles
    page.screenshot(path=str(ARTIFACTS / "01_first_screen.png"))

    page.locator(".v-select", has_text="Scenario").first.click()
    page.get_by_role("option", name="persistence", exact=True).click()
    page.get_by_text("The fractal persistence law").first.wait_for()
    page.locator(".status-tick", has_text="tick 0 of 2500").wait_for()
    page.get_by_text("364 nodes").first.wait_for()
    _charts_drawn(page, 4)
    page.wait_for_timeout(500)
    graph_before = page.evaluate(CHART_PIXELS, 1)  # the key chart (persistence) first, then the graph
    other_before = page.evaluate(CHART_PIXELS, 0)

    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "() => +document.querySelector('.status-tick').innerText.split(' ')[1] >= 40", timeout=90_000
    )
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Play").wait_for()
    page.wait_for_timeout(800)
    stopped = _tick(page)
    assert stopped >= 40
    page.wait_for_timeout(800)
    assert _tick(page) == stopped, "Pause stops the run"
    assert page.evaluate(CHART_PIXELS, 1) != graph_before, "the graph is redrawn as the model runs"
    assert page.evaluate(CHART_PIXELS, 0) != other_before, "and so are the plots"
    page.set_viewport_size({"width": 1600, "height": 2300})
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "02_after_play.png"))


def test_an_invalid_parameter_is_refused_with_a_message(page) -> None:
    page.get_by_role("button", name="Step").click()
    page.locator(".status-tick", has_text="tick 1 ").wait_for()
    page.get_by_label("spread.alpha", exact=True).fill("-1")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Not applied: parameter 'spread.alpha' = -1").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "03_invalid_parameter.png"))
    assert _tick(page) == 1, "the model was neither rebuilt nor stepped"


def test_the_csv_download_has_the_timeseries_columns(page) -> None:
    for k in (1, 2):
        page.get_by_role("button", name="Step").click()
        page.locator(".status-tick", has_text=f"tick {k} ").wait_for()
    with page.expect_download() as info:
        page.get_by_text("Download this run as CSV").click()
    lines = Path(info.value.path()).read_text().splitlines()
    assert lines[0] == ",".join(TIMESERIES_COLUMNS)
    assert len(lines) == 3, "one row per tick run so far"


def test_the_experiment_shows_recall_of_A_and_B_and_stops_at_its_end(page) -> None:
    # a second tab opened on a link that picks the scenario (navigating the first tab away would
    # make its own still-open connection complain)
    tab = page.context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(page.url.split("?")[0] + "?scenario=stability_plasticity&seed=2")
    tab.locator(".status-tick", has_text="tick 0 ").wait_for()
    recall_pixels = (  # the recall chart's image, found by its title (null until it is drawn)
        "async () => { const e = await window.__cohlabEcharts;"
        " const c = [...document.querySelectorAll('.cohlab-echart')].map(el => e.getInstanceByDom(el))"
        ".find(c => c?.getOption()?.title?.[0]?.text?.startsWith('Recall of A and B'));"
        " return c ? c.getDataURL({type: 'png', pixelRatio: 1}) : null; }"
    )
    tab.wait_for_function(recall_pixels)
    before = tab.evaluate(recall_pixels)
    tab.get_by_role("button", name="Play").click()
    tab.locator(".status-tick", has_text="schedule is complete").wait_for(timeout=120_000)
    tab.get_by_role("button", name="Play").wait_for()  # play stopped by itself
    tab.wait_for_timeout(500)
    assert tab.evaluate(recall_pixels) not in (None, before), "recall of A and B is drawn as the run goes"
    tab.screenshot(path=str(ARTIFACTS / "05_stability_plasticity.png"))
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert _tick(page) == 0, "the first tab's model is untouched by the second's"


# ----------------------------------------------------------------------------- the classroom (a 1024×768 projector)

PROJECTOR = {"width": 1024, "height": 768}
KEY_CHART_BOX = """() => {
  const el = document.querySelector('.cohlab-echart[data-role=key]');
  if (!el || !el.querySelector('canvas')) return null;
  const r = el.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};
}"""
KEY_CHART_OPTION = """async () => {
  const echarts = await window.__cohlabEcharts;
  const option = echarts.getInstanceByDom(document.querySelector('.cohlab-echart[data-role=key]')).getOption();
  return {title: option.title[0].text, series: option.series.map(s => s.data)};
}"""


@pytest.fixture
def browser_context(server: str):
    """A fresh browser; ``open(query, viewport)`` opens the app in a new tab and waits for its first charts."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)

        def open_tab(query: str = "", viewport: dict | None = None):
            context = browser.new_context(viewport=viewport or PROJECTOR, accept_downloads=True)
            tab = context.new_page()
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.set_default_timeout(60_000)
            tab.goto(server + query)
            tab.locator(".status-tick", has_text="tick 0 ").wait_for()
            _charts_drawn(tab, 2)
            return tab

        try:
            yield open_tab
            assert not errors, f"JavaScript errors in the page: {errors}"
        finally:
            browser.close()


def _projector_on(tab) -> bool:
    return tab.locator(".cohlab-projector-switch input").get_attribute("aria-checked") == "true"


def test_on_a_projector_every_scenarios_key_chart_is_above_the_fold(browser_context) -> None:
    from scenarios.loader import list_scenarios

    for name in list_scenarios():
        tab = browser_context(f"?scenario={name}")
        tab.wait_for_function(KEY_CHART_BOX)
        tab.wait_for_timeout(500)
        assert _projector_on(tab), "projector mode is the default below 1100 px"
        assert not tab.locator(".cohlab-sidebar").is_visible(), "the sidebar is collapsed"
        assert tab.get_by_text("runs on Solara").count() == 0, "no badge over the charts"
        box = tab.evaluate(KEY_CHART_BOX)
        assert box["top"] >= 0 and box["bottom"] <= PROJECTOR["height"], f"{name}: key chart at {box}"
        assert box["left"] >= 0 and box["right"] <= PROJECTOR["width"], f"{name}: key chart at {box}"
        tab.screenshot(path=str(ARTIFACTS / f"projector_{name}.png"))
        tab.context.close()


def test_keys_space_plays_and_pauses_arrow_steps_and_typing_is_left_alone(browser_context) -> None:
    tab = browser_context()
    tab.keyboard.press("ArrowRight")
    tab.locator(".status-tick", has_text="tick 1 ").wait_for()
    tab.keyboard.press(" ")
    tab.get_by_role("button", name="Pause").wait_for()
    tab.wait_for_function("() => +document.querySelector('.status-tick').innerText.split(' ')[1] >= 5")
    tab.keyboard.press(" ")
    tab.get_by_role("button", name="Play").wait_for()
    tab.wait_for_timeout(500)
    stopped = _tick(tab)
    tab.keyboard.press("r")
    tab.locator(".status-tick", has_text="tick 0 ").wait_for()

    tab.get_by_role("button", name="Controls").click()  # the sidebar opens on request
    field = tab.get_by_label("load.rate", exact=True)
    field.click()
    field.press("End")
    field.type(" r")  # Space and R typed into a field are text, not commands
    tab.wait_for_timeout(800)
    assert field.input_value().endswith(" r")
    assert _tick(tab) == 0 and tab.get_by_role("button", name="Play").count() == 1
    assert stopped >= 5

    tab.get_by_role("button", name="Keyboard shortcuts").hover()
    tab.get_by_text("Space play / pause").wait_for()
    tab.screenshot(path=str(ARTIFACTS / "keys_help.png"))


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_chart_and_the_whole_view_save_as_png(browser_context) -> None:
    tab = browser_context()
    for k in (1, 2, 3):
        tab.keyboard.press("ArrowRight")
        tab.locator(".status-tick", has_text=f"tick {k} ").wait_for()
    buttons = tab.get_by_role("button", name="PNG", exact=True)
    assert buttons.count() == tab.locator(".cohlab-echart").count(), "one PNG button per chart"
    with tab.expect_download() as info:
        buttons.first.click()
    assert info.value.suggested_filename == "criticality_seed1_t3_rho.png"
    width, height = _png_size(Path(info.value.path()).read_bytes())
    assert width > 500 and height > 300
    with tab.expect_download() as info:
        tab.get_by_role("button", name="Whole view PNG").click()
    assert info.value.suggested_filename == "criticality_seed1_t3_view.png"
    whole = Path(info.value.path()).read_bytes()
    w, h = _png_size(whole)
    assert w >= width and h > 2 * height, "every chart of the view, one below the other"
    (ARTIFACTS / "whole_view.png").write_bytes(whole)


def test_a_changed_seed_goes_into_the_address_and_the_link_reopens_the_same_run(browser_context) -> None:
    desk = {"width": 1600, "height": 1000}
    tab = browser_context("", desk)
    assert not _projector_on(tab), "a wide window opens in the desk layout"
    seed_one = tab.locator(".status-detail").inner_text()
    field = tab.get_by_label("Seed (Reset keeps it; a new seed restarts)")
    field.fill("7")
    field.press("Enter")
    tab.wait_for_function("() => new URLSearchParams(location.search).get('seed') === '7'")
    tab.locator(".status-tick", has_text="tick 0 ").wait_for()
    tab.wait_for_timeout(500)
    detail = tab.locator(".status-detail").inner_text()
    assert detail != seed_one, "seed 7's network differs from seed 1's (ρ at tick 0)"

    again = browser_context("?" + tab.url.split("?", 1)[1], desk)  # the link, opened afresh
    assert again.url == tab.url
    assert again.locator(".status-detail").inner_text() == detail, "the same tick-0 state"
    for k in (1, 2, 3):
        for t in (tab, again):
            t.get_by_role("button", name="Step").click()
            t.locator(".status-tick", has_text=f"tick {k} ").wait_for()
    for t in (tab, again):
        t.wait_for_function("() => document.querySelector('.status-tick').innerText.startsWith('tick 3 ')")
    tab.wait_for_timeout(500)
    again.wait_for_timeout(500)
    assert again.evaluate(KEY_CHART_OPTION) == tab.evaluate(KEY_CHART_OPTION), "and the same run from there"


def test_a_link_to_an_unknown_scenario_says_so_and_opens_the_default(browser_context) -> None:
    tab = browser_context("?scenario=bogus&seed=2")
    warning = tab.locator(".v-alert", has_text="'bogus'")
    warning.wait_for()
    assert "does not exist" in warning.inner_text() and "criticality" in warning.inner_text()
    assert tab.evaluate(KEY_CHART_OPTION)["title"].startswith("Criticality")
    assert "scenario=criticality" in tab.url and "seed=2" in tab.url
    tab.screenshot(path=str(ARTIFACTS / "bogus_link.png"))
