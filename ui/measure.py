"""Measure the app's responsiveness (SPEC 9.4: one step plus redraw under 100 ms at 1,000 nodes).

    .venv/bin/python -m ui.measure                 # server side, then a real browser
    .venv/bin/python -m ui.measure --no-browser    # server side only

Server side: one fast tick plus the update of every view of the first screen (the partial options
and arrays each chart sends, encoded), at 1,000 nodes, without a browser. Browser: the app is
started with ``solara run app.py --production`` on a free loopback port and driven by Playwright
with Debian's chromium: (1) first page load in a fresh browser context — time until the page
(narrative, controls, status) is shown and until every first-screen chart is drawn; (2) a
1,000-node graph (graph.depth = 6, graph.n_nodes = 1000, set through the page's own parameter
form), then the Step button: time from the click (dispatched in the page) until the status shows
the new tick and the graph's chart has finished rendering, plus the next painted frame — the model
step, the server's refresh, the websocket and ECharts' redraw all included — and the CPU time the
browser's main thread and the app server spent per step; (3) Play for a few seconds: ticks and
graph redraws per second.
Prints medians and 90th percentiles. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
APP = Path(__file__).resolve().parents[1] / "app.py"
SIZE = {"graph.depth": 6, "graph.n_nodes": 1000}


def stats(xs: list[float]) -> str:
    a = np.asarray(xs) * 1e3
    return f"median {np.median(a):6.1f} ms · p90 {np.percentile(a, 90):6.1f} ms · max {a.max():6.1f} ms (n = {a.size})"


# ----------------------------------------------------------------------------- server side


def server_side(nodes: int, frames: int) -> None:
    import json

    from ui.components import chosen_views
    from ui.echart import EChart, encode
    from ui.session import Session
    from ui.views import REBUILD, GraphView

    overrides = {**SIZE, "graph.n_nodes": nodes}
    s = Session("criticality", 1, overrides)
    s.step(20)
    views = [GraphView(s)] + [cls(s, **opts) for cls, opts in chosen_views(s)[0]]
    widgets = []
    for view in views:
        chart = EChart(height=view.height)
        chart.show(view.option())
        widgets.append(chart)
    step, total = [], []
    for _ in range(frames):
        t0 = time.perf_counter()
        s.step(1)
        t1 = time.perf_counter()
        for view, chart in zip(views, widgets, strict=True):
            u = view.update()
            if u and u is not REBUILD:
                chart.update(u)
                json.dumps(encode(u, []))  # the message as it goes out (arrays as buffers)
        t2 = time.perf_counter()
        step.append(t1 - t0)
        total.append(t2 - t0)
    print(f"server side, {s.model.graph.n:,} nodes, views: {', '.join(v.key for v in views)}")
    print(f"  model step            {stats(step)}")
    print(f"  step + figure updates {stats(total)}")


# ----------------------------------------------------------------------------- browser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def app_server(port: int) -> Iterator[tuple[str, int]]:
    """``solara run app.py`` on loopback; killed (by its pid) on exit."""
    solara = Path(sys.executable).with_name("solara")
    cmd = [str(solara), "run", str(APP), "--no-open", "--production", "--port", str(port), "--host", "127.0.0.1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=APP.parent)
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
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.3)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


ALL_PLOTS_DRAWN = """(n) => document.querySelectorAll('.cohlab-echart canvas').length >= n"""
# the graph's chart (found by its title: the scenario's key chart comes first)
GRAPH_CHART = """(echarts) => [...document.querySelectorAll('.cohlab-echart')].map(el => echarts.getInstanceByDom(el))
  .find(c => c && c.getOption().title[0].text.startsWith('The fractal graph'))"""

STEP_AND_PAINT = (
    """async (k) => {
  // click Step; wait until the status shows tick k and the graph (the first chart) has rendered the new
  // data ('finished' after its setOption), then for the next painted frame
  const echarts = await window.__cohlabEcharts;
  const chart = ("""
    + GRAPH_CHART
    + """)(echarts);
  let drawn = false;
  const done = () => { drawn = true; };
  chart.on('finished', done);
  const btn = [...document.querySelectorAll('button')].find(b => b.innerText.trim().toUpperCase() === 'STEP');
  const t0 = performance.now();
  btn.click();
  const status = () => +(/tick (\\d+)/.exec(document.querySelector('.status-tick').innerText) || [0, -1])[1];
  await new Promise(res => { const f = () => (drawn && status() >= k) ? res() : requestAnimationFrame(f); f(); });
  await new Promise(res => requestAnimationFrame(() => requestAnimationFrame(res)));
  chart.off('finished', done);
  return performance.now() - t0;
}"""
)


def status_tick(page) -> int:
    return int(page.locator(".status-tick").first.inner_text().split()[1])


def browser(nodes: int, steps: int, loads: int, play_seconds: float) -> None:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with app_server(free_port()) as (url, pid), sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            shown, drawn = [], []
            for _ in range(loads):
                ctx = b.new_context(viewport={"width": 1600, "height": 1000})
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(url)
                page.locator(".status-tick").first.wait_for(timeout=60_000)
                shown.append(time.perf_counter() - t0)
                page.wait_for_function(ALL_PLOTS_DRAWN, arg=4, timeout=60_000, polling="raf")
                drawn.append(time.perf_counter() - t0)
                ctx.close()
            print(f"first page load ({loads} fresh browser contexts, default scenario):")
            print(f"  page shown (narrative, controls) {stats(shown)}")
            print(f"  all first-screen plots drawn     {stats(drawn)}")

            ctx = b.new_context(viewport={"width": 1600, "height": 1000})
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.wait_for_function(ALL_PLOTS_DRAWN, arg=4, polling="raf")
            for key, value in {**SIZE, "graph.n_nodes": nodes}.items():
                field = page.get_by_label(key, exact=True)
                if not field.count():
                    page.get_by_text("Show all parameters").click()
                    field = page.get_by_label(key, exact=True)
                field.fill(str(value))
            page.get_by_role("button", name="Apply").click()
            page.get_by_text(f"{nodes:,} nodes").first.wait_for()
            page.wait_for_function(ALL_PLOTS_DRAWN, arg=4, polling="raf")
            page.wait_for_timeout(1000)
            cdp = ctx.new_cdp_session(page)
            cdp.send("Performance.enable")

            def busy() -> float:
                metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                return metrics["TaskDuration"]

            times = []
            b0, s0 = busy(), cpu_seconds(pid)
            for _ in range(steps):
                k = status_tick(page) + 1
                times.append(page.evaluate(STEP_AND_PAINT, k) / 1e3)
                page.wait_for_timeout(300)
            browser_cpu = (busy() - b0) / steps
            server_cpu = (cpu_seconds(pid) - s0) / steps
            print(f"browser, {nodes:,} nodes: Step click → model step, redraw, graph painted (wall clock)")
            print(f"  {stats(times)}")
            print(
                f"  CPU per step: browser main thread {browser_cpu * 1e3:.0f} ms, "
                f"app server {server_cpu * 1e3:.0f} ms (load average {os.getloadavg()[0]:.1f} "
                f"on {os.cpu_count()} CPUs)"
            )

            start = status_tick(page)
            page.evaluate(
                """async () => {
                   window.__frames = 0; window.__graph = 0; window.__key = 0;
                   const echarts = await window.__cohlabEcharts;
                   ("""
                + GRAPH_CHART
                + """)(echarts).on('finished', () => window.__graph++);
                   echarts.getInstanceByDom(document.querySelector('.cohlab-echart'))
                       .on('finished', () => window.__key++);
                   new MutationObserver(() => window.__frames++).observe(
                       document.querySelector('.status-tick'), {childList: true, characterData: true, subtree: true});
                }"""
            )
            page.get_by_role("button", name="Play").click()
            t0 = time.perf_counter()
            page.wait_for_timeout(play_seconds * 1e3)
            page.get_by_role("button", name="Pause").click()
            elapsed = time.perf_counter() - t0
            page.wait_for_timeout(1000)
            ticks = status_tick(page) - start
            frames, graph, key = page.evaluate("() => [window.__frames, window.__graph, window.__key]")
            print(f"browser, {nodes:,} nodes, Play (speed 5 ticks per frame) for {elapsed:.1f} s:")
            print(
                f"  {frames / elapsed:.1f} frames/s (status line updates), {ticks / elapsed:.0f} ticks/s; "
                f"redraws/s: key chart {key / elapsed:.1f}, graph {graph / elapsed:.1f} "
                f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
            )
            ctx.close()
        finally:
            b.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=100, help="server-side frames")
    ap.add_argument("--steps", type=int, default=30, help="Step clicks in the browser")
    ap.add_argument("--loads", type=int, default=5, help="first page loads")
    ap.add_argument("--play", type=float, default=8.0, help="seconds of Play")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    server_side(args.nodes, args.frames)
    if not args.no_browser:
        browser(args.nodes, args.steps, args.loads, args.play)


if __name__ == "__main__":
    main()
