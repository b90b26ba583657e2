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
    assert titles[0] == "The fractal graph: 121 nodes" and titles[1].startswith("Criticality"), titles
    page.screenshot(path=str(ARTIFACTS / "01_first_screen.png"))

    page.locator(".v-select", has_text="Scenario").first.click()
    page.get_by_role("option", name="persistence", exact=True).click()
    page.get_by_text("The fractal persistence law").first.wait_for()
    page.locator(".status-tick", has_text="tick 0 of 2500").wait_for()
    page.get_by_text("364 nodes").first.wait_for()
    _charts_drawn(page, 4)
    page.wait_for_timeout(500)
    graph_before = page.evaluate(CHART_PIXELS, 0)
    other_before = page.evaluate(CHART_PIXELS, 1)

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
    assert page.evaluate(CHART_PIXELS, 0) != graph_before, "the graph is redrawn as the model runs"
    assert page.evaluate(CHART_PIXELS, 1) != other_before, "and so are the plots"
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
