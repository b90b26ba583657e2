"""The app in a real browser: Playwright driving Debian's chromium, headless, loopback only."""

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./dev.sh test does it)")
    port = _free_port()
    cohlab = shutil.which("cohlab", path=str(Path(sys.executable).parent))
    proc = subprocess.Popen(
        [cohlab, "app", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def page(server: str):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1600, "height": 1100}, accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        pg.goto(server)
        pg.get_by_text("tick 0").first.wait_for()
        yield pg
        browser.close()


def _tick(page) -> int:
    text = page.locator("h3", has_text="tick").first.inner_text()
    return int(text.split()[1])


def test_pick_play_and_see_the_views_change(page) -> None:
    page.screenshot(path=str(ARTIFACTS / "01_first_screen.png"))
    page.get_by_role("button", name="Scenario").or_(page.locator(".v-select").first).first.click()
    page.get_by_role("option", name="persistence").click()
    page.get_by_text("The fractal persistence law").first.wait_for()
    page.get_by_text("WHAT IT IS").first.wait_for()
    graph_before = page.locator(".js-plotly-plot").first.inner_html()
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "() => { const h = [...document.querySelectorAll('h3')].find(e => e.innerText.startsWith('tick'));"
        " return h && parseInt(h.innerText.split(' ')[1]) >= 20; }",
        timeout=60_000,
    )
    page.get_by_role("button", name="Pause").click()
    assert _tick(page) >= 20
    page.wait_for_timeout(500)
    assert page.locator(".js-plotly-plot").first.inner_html() != graph_before
    page.screenshot(path=str(ARTIFACTS / "02_after_play.png"), full_page=True)


def test_invalid_parameter_shows_the_message(page) -> None:
    field = page.get_by_label("spread.alpha")
    field.fill("-1")
    page.get_by_role("button", name="Apply and reset").click()
    page.get_by_text("parameter 'spread.alpha' = -1").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "03_invalid_parameter.png"))


def test_csv_download_has_the_timeseries_header(page) -> None:
    page.get_by_role("button", name="Step").click()
    page.get_by_text("tick 1 ").first.wait_for()
    with page.expect_download() as info:
        page.get_by_text("Download run as CSV").click()
    path = info.value.path()
    header = Path(path).read_text().splitlines()[0]
    assert header == ",".join(TIMESERIES_COLUMNS)
