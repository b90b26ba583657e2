"""The page: scenario picker, narrative, run controls, parameters and the live views (Solara).

State lives in component hooks only: each browser session gets its own :class:`Session`
(model, lock, history), built by ``use_memo`` in :func:`Page`. Components render when the user
changes something; the running model never re-renders them. Instead the live charts and the status
line attach their widgets to the session, and after every step batch :meth:`Session.refresh` sends
each chart only its changed arrays.

Play runs in a thread (``use_thread``): step a batch of ticks under the session's lock, refresh,
then wait until the browser has drawn the frame (the charts acknowledge each update) before the
next batch, so a slow browser slows the play down instead of piling up messages.
"""

from __future__ import annotations

import html
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import ipyvuetify as v
import solara
import traitlets

from analysis.export import timeseries_frame, to_csv_bytes
from scenarios.loader import NARRATIVE_SECTIONS, NARRATIVE_TITLES, Scenario, list_scenarios

from .compare import StoryBar
from .echart import EChart
from .params_form import SPECS, ParamForm
from .session import Session
from .views import (
    FULL_GRAPH_LIMIT,
    GraphView,
    SubtreeView,
    View,
    default_colouring,
    story_views,
)

DEFAULT_SCENARIO = "criticality"
MIN_FRAME_SECONDS = 1 / 25  # at most 25 frames per second
ACK_TIMEOUT = 2.0  # seconds to wait for the browser to draw a frame
NO_BROWSER_WAIT = 0.2  # before the first acknowledgement (and in tests without a browser)
SIDEBAR_STYLE = {
    "width": "380px",
    "min-width": "380px",
    "position": "sticky",
    "top": "0",
    "align-self": "flex-start",
    "max-height": "100vh",
    "overflow-y": "auto",
    "padding": "12px 16px",
    "background": "#f7f8fa",
    "border-right": "1px solid #e0e0e0",
}
BIG = {"font-size": "16px", "min-width": "96px", "height": "44px"}


# ----------------------------------------------------------------------------- live plots


@solara.component
def LivePlot(view_cls: type[View], session: Session, options: dict[str, Any]) -> Any:
    """A chart built once per model and options, then kept up to date by the session (no re-render)."""
    rebuilds, set_rebuilds = solara.use_state(0)
    opts_key = tuple(sorted(options.items()))
    view = solara.use_memo(lambda: view_cls(session, **options), dependencies=[session, view_cls, opts_key, rebuilds])
    element = EChart.element(height=view_cls.height)

    def attach() -> Any:
        chart: EChart = solara.get_widget(element)
        with session.lock:
            chart.show(view.option())
            session.attach(id(chart), view, chart, lambda: set_rebuilds(rebuilds + 1))
        return lambda: session.detach(id(chart))

    solara.use_effect(attach, [view])
    return element


@solara.component
def ViewCard(view_cls: type[View], session: Session, defaults: dict[str, Any]) -> None:
    """A live plot with its own options (colouring, log scale, quantity …) above it."""
    options, set_options = solara.use_state(dict(defaults))
    with solara.Card(margin=0, style={"height": "100%"}):
        if view_cls.options:
            with solara.Row(style={"align-items": "center", "flex-wrap": "wrap", "gap": "8px"}):
                for name, values in view_cls.options.items():
                    current = options.get(name, values[0])
                    if len(values) <= 3:
                        solara.Text(f"{name}:", style={"font-size": "14px", "color": "#555"})
                        solara.ToggleButtonsSingle(
                            value=current,
                            values=values,
                            on_value=lambda v, n=name: set_options({**options, n: v}),
                            dense=True,
                        )
                    else:
                        solara.Select(
                            name,
                            values=values,
                            value=current,
                            on_value=lambda v, n=name: set_options({**options, n: v}),
                            dense=True,
                            style={"max-width": "240px"},
                        )
        LivePlot(view_cls, session, options)


@solara.component
def GraphCard(session: Session) -> None:
    """The graph node by node (up to FULL_GRAPH_LIMIT nodes) or aggregated per subtree and scale."""
    n = session.model.graph.n
    small = n <= FULL_GRAPH_LIMIT
    mode, set_mode = solara.use_state("nodes" if small else "per subtree & scale")
    if not small:
        mode = "per subtree & scale"
    with solara.Column(gap="4px", style={"height": "100%"}):
        with solara.Row(style={"align-items": "center"}):
            solara.Text("show:", style={"font-size": "14px", "color": "#555"})
            solara.ToggleButtonsSingle(
                value=mode, values=["nodes", "per subtree & scale"] if small else [mode], on_value=set_mode, dense=True
            )
            if not small:
                solara.Text(f"{n:,} nodes: more than {FULL_GRAPH_LIMIT:,}, so shown aggregated")
        colour = {"colour": default_colouring(session)}
        name = session.scenario.name
        if mode == "nodes":
            ViewCard(GraphView, session, colour).key(f"graph-{name}")
        else:
            ViewCard(SubtreeView, session, colour).key(f"subtrees-{name}")


chosen_views = story_views  # the scenario's own charts ([view] charts) first, then the relevant ones


@solara.component
def Views(session: Session) -> None:
    """The scenario's relevant live charts, and the others on request."""
    shown, more = solara.use_memo(lambda: chosen_views(session), dependencies=[session])
    show_more, set_show_more = solara.use_state(False)
    with solara.ColumnsResponsive(default=12, large=6, xlarge=6):
        GraphCard(session)
        for cls, opts in shown:
            ViewCard(cls, session, opts).key(f"{cls.key}-{opts}-{session.scenario.name}")
    solara.Switch(
        label=f"More views ({', '.join(cls.label if not o else o['quantity'] + ' per scale' for cls, o in more)})",
        value=show_more,
        on_value=set_show_more,
    )
    if show_more:
        with solara.ColumnsResponsive(default=12, large=6, xlarge=6):
            for cls, opts in more:
                ViewCard(cls, session, opts).key(f"more-{cls.key}-{opts}-{session.scenario.name}")


# ----------------------------------------------------------------------------- narrative


BULLET = re.compile(r"^(\d+\.|[-•])\s+")
NARRATIVE_STYLE = "font-size: 17px; line-height: 1.55; max-width: 70em; padding: 8px 4px"


def narrative_html(text: str) -> str:
    """Plain narrative text → HTML: paragraphs at blank lines, ``1.``/``-`` lines as lists, parameter keys
    and `code spans` as code; everything else escaped. (solara.Markdown would fetch KaTeX, which the
    offline assets lack.)"""
    blocks = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        items: list[str] = []
        for ln in lines:
            if BULLET.match(ln) or not items:
                items.append(ln)
            else:
                items[-1] += " " + ln
        if len(items) > 1 and all(BULLET.match(it) for it in items):
            tag = "ol" if items[0][0].isdigit() else "ul"
            body = "".join(f"<li>{_inline(BULLET.sub('', it))}</li>" for it in items)
            blocks.append(f"<{tag}>{body}</{tag}>")
        else:
            blocks.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "".join(blocks)


def _inline(text: str) -> str:
    out = []
    for i, part in enumerate(re.split(r"(`[^`]*`)", text)):
        if i % 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        pos = 0
        for m in re.finditer(r"\b[a-z_]+\.[A-Za-z_]+\b", part):
            if m.group(0) in SPECS:
                out.append(html.escape(part[pos : m.start()]))
                out.append(f"<code>{m.group(0)}</code>")
                pos = m.end()
        out.append(html.escape(part[pos:]))
    return "".join(out)


@solara.component
def Narrative(sc: Scenario) -> None:
    tab, set_tab = solara.use_state(0)
    with solara.Card(margin=0, style={"margin-bottom": "12px"}):
        solara.v.Html(tag="h2", children=[sc.scenario.title], style_="font-weight: 400; margin-bottom: 2px")
        solara.Text(sc.scenario.source, style={"color": "#666", "font-style": "italic"})
        with solara.lab.Tabs(value=tab, on_value=set_tab, lazy=True, color="primary"):
            for key in NARRATIVE_SECTIONS:
                with solara.lab.Tab(NARRATIVE_TITLES[key]):
                    solara.HTML(
                        tag="div",
                        unsafe_innerHTML=narrative_html(getattr(sc.narrative, key)),
                        style=NARRATIVE_STYLE,
                        classes=["narrative"],
                    )
        marks = [(s.at, s.note, s.every) for s in sc.stimuli if s.note]
        if marks:
            items = " · ".join(
                f"tick {at:g}{f' (then every {ev:g})' if ev else ''}: {html.escape(note)}" for at, note, ev in marks[:8]
            )
            solara.HTML(tag="div", unsafe_innerHTML=f"<b>Schedule:</b> {items}", style="font-size: 14px; color: #444")


# ----------------------------------------------------------------------------- status and controls


class LiveStatus(v.VuetifyTemplate):
    """The status line (tick, ρ, size, progress), updated by the session after every step."""

    template = traitlets.Unicode(
        """<template><div>
<h2 class="status-tick" style="margin: 4px 0; font-weight: 500">{{ tick }}</h2>
<div style="font-size: 16px">{{ detail }}</div>
<v-progress-linear :value="progress" height="6" class="mt-2"></v-progress-linear>
</div></template>"""
    ).tag(sync=True)
    tick = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Unicode("").tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)


@solara.component
def Status(session: Session) -> Any:
    element = LiveStatus.element()

    def attach() -> Any:
        widget: LiveStatus = solara.get_widget(element)

        def show(status: dict[str, Any]) -> None:
            with widget.hold_sync():
                widget.tick, widget.detail, widget.progress = status["tick"], status["detail"], status["progress"]

        show(session.status())
        session.watch(id(widget), show)
        return lambda: session.unwatch(id(widget))

    solara.use_effect(attach, [session])
    return element


@solara.component
def Page() -> None:
    """The whole app. ``?scenario=NAME&seed=N`` in the address opens a scenario directly (for a class link)."""
    scenarios = solara.use_memo(list_scenarios, dependencies=[])
    router = solara.use_router()
    query = solara.use_memo(lambda: parse_qs(router.search or ""), dependencies=[])
    first = query.get("scenario", [DEFAULT_SCENARIO])[0]
    scenario, set_scenario = solara.use_state(first if first in scenarios else scenarios[0])
    seed, set_seed = solara.use_state(_int(query.get("seed", ["1"])[0], 1))
    overrides, set_overrides = solara.use_state({})
    generation, set_generation = solara.use_state(0)
    playing, set_playing = solara.use_state(False)
    notice, set_notice = solara.use_state("")
    error, set_error = solara.use_state("")
    speed = solara.use_reactive(5)
    session: Session = solara.use_memo(
        lambda: Session(scenario, seed, overrides), dependencies=[scenario, seed, repr(overrides), generation]
    )
    pinned, set_pinned = solara.use_state(None)
    session.pinned = pinned if pinned is not session else None

    def play_loop(cancel: threading.Event) -> None:
        if not playing:
            return
        start_tick = session.tick
        while not cancel.is_set():
            t0 = time.perf_counter()
            before = session.tick
            try:
                session.step(max(1, int(speed.value)))
                session.refresh()
            except Exception as exc:  # a SimulationError (NaN) or any failure: stop and say why
                set_error(f"The run stopped at tick {session.tick}: {exc}")
                set_playing(False)
                return
            if not session.model.running:  # the scenario's own end (e.g. stability_plasticity's schedule)
                set_notice(f"The scenario's schedule is complete at tick {session.tick}: press Reset to run it again.")
                set_playing(False)
                return
            if before < session.length <= session.tick and start_tick < session.length:
                set_notice(f"The scenario's {session.length} ticks are done: press Play to continue.")
                set_playing(False)
                return
            session.wait_for_browser(ACK_TIMEOUT if session.acks_seen else NO_BROWSER_WAIT)
            rest = MIN_FRAME_SECONDS - (time.perf_counter() - t0)
            if rest > 0:
                cancel.wait(rest)

    solara.use_thread(play_loop, dependencies=[playing, session], intrusive_cancel=False)

    def restart(new_overrides: dict[str, Any] | None = None, note: str = "") -> None:
        set_playing(False)
        set_error("")
        if new_overrides is not None:
            set_overrides(new_overrides)
        set_generation(generation + 1)
        set_notice(note)

    def choose(name: str) -> None:
        set_playing(False)
        set_error("")
        set_overrides({})
        set_notice("")
        set_scenario(name)

    def step() -> None:
        try:
            session.step(1)
            session.refresh()
        except Exception as exc:
            set_error(f"The run stopped at tick {session.tick}: {exc}")

    def live(changes: dict[str, Any]) -> None:
        session.apply_live(changes)  # the session keeps them: Reset restarts with them
        session.refresh()

    solara.Title("Coherence Lab")
    with solara.Row(gap="0px", style={"align-items": "flex-start", "width": "100%"}):
        with solara.Column(style=SIDEBAR_STYLE, gap="10px"):
            solara.v.Html(tag="h1", children=["Coherence Lab"], style_="font-weight: 400; font-size: 30px")
            solara.Select("Scenario", values=scenarios, value=scenario, on_value=choose)
            with solara.Row():
                solara.Button(
                    "Pause" if playing else "Play",
                    icon_name="mdi-pause" if playing else "mdi-play",
                    on_click=lambda: (set_notice(""), set_playing(not playing)),
                    color="primary",
                    style=BIG,
                )
                solara.Button("Step", icon_name="mdi-step-forward", on_click=step, disabled=playing, style=BIG)
                solara.Button(
                    "Reset",
                    icon_name="mdi-restart",
                    on_click=lambda: restart(session.overrides, ""),
                    style=BIG,
                )
            solara.SliderInt("Speed (ticks per frame)", value=speed, min=1, max=50)
            Status(session)
            if error:
                solara.Error(error)
            elif notice:
                solara.Info(notice)
            solara.InputInt(
                "Seed (Reset keeps it; a new seed restarts)",
                value=seed,
                on_value=lambda s: (set_playing(False), set_seed(int(s or 0))),
            )
            solara.FileDownload(
                lambda: _csv(session),
                filename=f"{scenario}_seed{seed}_timeseries.csv",
                label="Download this run as CSV",
            )
            ParamForm(session, on_live=live, on_restart=restart).key(f"form-{id(session)}")
        with solara.Column(style={"flex": "1 1 auto", "min-width": "0", "padding": "12px 16px"}):
            Narrative(session.scenario)
            StoryBar(
                session,
                pinned,
                on_pin=lambda: (
                    set_pinned(session),
                    restart(session.overrides, "Pinned: the new run is drawn over it."),
                ),
                on_unpin=lambda: set_pinned(None),
                on_live=live,
                on_restart=restart,
            ).key(f"story-{id(session)}")
            Views(session).key(f"views-{id(pinned)}")  # unpinning redraws the charts without the ghost


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _csv(session: Session) -> bytes:
    """The current run's timeseries.csv (the same columns and format as ``cohlab run``)."""
    with session.lock:
        return to_csv_bytes(timeseries_frame(session.model))
