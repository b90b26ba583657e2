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

import contextlib
import html
import re
import threading
import time
from typing import Any

import ipyvuetify as v
import solara
import traitlets

from analysis.export import timeseries_frame, to_csv_bytes
from scenarios.loader import NARRATIVE_SECTIONS, NARRATIVE_TITLES, Scenario, list_scenarios

from .browser import KEYS_HELP, BrowserLink, command
from .compare import StoryBar
from .echart import EChart
from .link import make_query, read_link
from .params_form import SPECS, ParamForm
from .session import Session
from .views import (
    FULL_GRAPH_LIMIT,
    GraphView,
    SubtreeView,
    View,
    default_colouring,
    key_view,
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
BIG = {"font-size": "16px", "min-width": "88px", "height": "44px"}
RUNBAR_STYLE = {"align-items": "center", "flex-wrap": "wrap", "gap": "8px", "margin": "0"}
PROJECTOR_BELOW = 1100  # projector mode is the default in a window narrower than this (pixels)
PROJECTOR_CHART_HEIGHT = 480  # chart heights in projector mode (the key chart fits above the fold at 768 px)
PROJECTOR_FONT_SCALE = 1.2  # chart text in projector mode
PAGE_CSS = """
.cohlab-page .cohlab-hidden.cohlab-hidden { display: none !important; }
.cohlab-runbar .v-btn { text-transform: none; letter-spacing: normal; }
.cohlab-status { flex: 1 1 180px; min-width: 180px; white-space: nowrap; overflow: hidden; }
.cohlab-runbar .v-input--switch { margin-top: 0; padding-top: 0; }
.cohlab-runbar .v-input--switch .v-messages { display: none; }
.cohlab-projector { font-size: 18px; }
.cohlab-projector .story-bar .v-input--switch { margin-top: 0; padding-top: 0; }
.cohlab-projector .story-bar .v-input--switch .v-messages { display: none; }
.cohlab-projector .v-btn { font-size: 16px; }
.cohlab-projector .cohlab-narrative-line { font-size: 19px; }
.cohlab-projector .narrative { font-size: 19px; }
.cohlab-projector .status-tick { font-size: 24px; }
.cohlab-projector .status-detail { font-size: 17px; }
.cohlab-projector .v-label, .cohlab-projector .v-select__selection { font-size: 17px; }
"""
GRAPH_THROTTLE_NODES = 400  # a graph with more nodes is redrawn at most GRAPH_REDRAWS_PER_SECOND times a second
GRAPH_REDRAWS_PER_SECOND = 5
PNG_NAMES = {"criticality": "rho", "graph": "graph", "subtrees": "subtrees"}


# ----------------------------------------------------------------------------- live plots


@solara.component
def LivePlot(
    view_cls: type[View],
    session: Session,
    options: dict[str, Any],
    chart_ref: Any = None,
    height: int | None = None,
    font_scale: float = 1.0,
    role: str = "",
    fit: bool = False,
) -> Any:
    """A chart built once per model and options, then kept up to date by the session (no re-render).

    ``height`` overrides the view's own height (the view lays its plots out in pixels for it). With
    ``fit`` the browser shortens the chart so that it ends inside the window (the key chart on a
    projector) and reports the height it chose; the view is then laid out again for that height.
    """
    rebuilds, set_rebuilds = solara.use_state(0)
    fitted, set_fitted = solara.use_state(0)
    opts_key = tuple(sorted(options.items()))
    wanted = height or view_cls.height
    drawn = min(fitted, wanted) if fit and fitted else wanted

    def make_view() -> View:
        view = view_cls(session, **options)
        view.height = drawn  # type: ignore[misc]  # this chart's height, not the class default
        return view

    view = solara.use_memo(make_view, dependencies=[session, view_cls, opts_key, rebuilds, drawn])
    element = EChart.element(height=wanted, font_scale=font_scale, role=role, fit=fit, on_fitted=set_fitted)

    def attach() -> Any:
        chart: EChart = solara.get_widget(element)
        if chart_ref is not None:
            chart_ref.current = chart
        key = id(chart)

        def scrolled(change: dict[str, Any]) -> None:
            if change["new"]:
                session.refresh_chart(key)  # skipped while off screen: bring it up to date

        with session.lock:
            chart.show(view.option())
            session.attach(key, view, chart, lambda: set_rebuilds(rebuilds + 1), min_redraw_interval(session, view))
        chart.observe(scrolled, "visible")

        def cleanup() -> None:
            chart.unobserve(scrolled, "visible")
            session.detach(key)

        return cleanup

    solara.use_effect(attach, [view])
    return element


def min_redraw_interval(session: Session, view: View) -> float:
    """Seconds between two redraws of a chart during Play: the node-by-node graph of a big model is the
    browser's heaviest drawing per frame (a batch of points per colour and size), so it is redrawn at most
    GRAPH_REDRAWS_PER_SECOND times a second above GRAPH_THROTTLE_NODES nodes; everything else every frame."""
    if isinstance(view, GraphView) and session.model.graph.n > GRAPH_THROTTLE_NODES:
        return 1.0 / GRAPH_REDRAWS_PER_SECOND
    return 0.0


def png_name(session: Session, view_cls: type[View], options: dict[str, Any]) -> str:
    """``criticality_seed1_t120_rho.png``: scenario, seed, tick and chart."""
    chart = PNG_NAMES.get(view_cls.key, view_cls.key)
    if options.get("quantity"):
        chart = f"{options['quantity']}_per_scale"
    return f"{session.scenario.name}_seed{session.seed}_t{session.tick}_{chart}.png"


@solara.component
def ViewCard(
    view_cls: type[View], session: Session, defaults: dict[str, Any], projector: bool = False, key_chart: bool = False
) -> None:
    """A live plot with its own options (colouring, log scale, quantity …) and a PNG button above it."""
    options, set_options = solara.use_state(dict(defaults))
    chart_ref = solara.use_ref(None)

    def save_png() -> None:
        if chart_ref.current is not None:
            chart_ref.current.save_png(png_name(session, view_cls, options))

    with solara.Card(margin=0, style={"height": "100%"}):
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
            solara.v.Spacer()
            solara.Button(
                "PNG",
                icon_name="mdi-download",
                on_click=save_png,
                outlined=True,
                small=True,
                classes=["cohlab-png"],
                style={"font-size": "13px"},
            )
        height = min(view_cls.height, PROJECTOR_CHART_HEIGHT) if projector else view_cls.height
        LivePlot(
            view_cls,
            session,
            options,
            chart_ref=chart_ref,
            height=height,
            font_scale=PROJECTOR_FONT_SCALE if projector else 1.0,
            role="key" if key_chart else "",
            fit=projector and key_chart,
        )


@solara.component
def GraphCard(session: Session, projector: bool = False) -> None:
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
            ViewCard(GraphView, session, colour, projector).key(f"graph-{name}")
        else:
            ViewCard(SubtreeView, session, colour, projector).key(f"subtrees-{name}")


chosen_views = story_views  # the scenario's own charts ([view] charts) first, then the relevant ones


@solara.component
def Views(session: Session, projector: bool = False) -> None:
    """The scenario's key chart, the graph and its other relevant charts; the rest on request."""
    shown, more = solara.use_memo(lambda: chosen_views(session), dependencies=[session])
    show_more, set_show_more = solara.use_state(False)
    key = key_view(session)
    name = session.scenario.name
    with solara.Column(classes=["cohlab-views"], gap="12px"):
        with solara.ColumnsResponsive(default=12, large=6, xlarge=6):
            # the key chart (the first of the scenario's own charts) leads, then the graph beside (or below) it
            lead = bool(shown) and key is not None and shown[0][0] is key
            if not lead:
                GraphCard(session, projector)
            for i, (cls, opts) in enumerate(shown):
                ViewCard(cls, session, opts, projector, lead and i == 0).key(f"{cls.key}-{opts}-{name}")
                if lead and i == 0:
                    GraphCard(session, projector)
        solara.Switch(
            label=f"More views ({', '.join(cls.label if not o else o['quantity'] + ' per scale' for cls, o in more)})",
            value=show_more,
            on_value=set_show_more,
        )
        if show_more:
            with solara.ColumnsResponsive(default=12, large=6, xlarge=6):
                for cls, opts in more:
                    ViewCard(cls, session, opts, projector).key(f"more-{cls.key}-{opts}-{name}")


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


def first_sentence(text: str) -> str:
    """The narrative's opening sentence (for the folded, one-line narrative)."""
    flat = " ".join(text.split())
    m = re.search(r"(?<=[.!?])\s", flat)
    return flat[: m.start()] if m else flat


@solara.component
def Narrative(sc: Scenario, folded: bool = False) -> None:
    """The scenario's title and six narrative tabs; folded (projector mode): one line that unfolds on request."""
    tab, set_tab = solara.use_state(0)
    unfolded, set_unfolded = solara.use_state(False)
    if folded and not unfolded:
        with solara.Row(classes=["cohlab-narrative-line"], style={"align-items": "center", "flex-wrap": "nowrap"}):
            solara.HTML(
                tag="div",
                unsafe_innerHTML=f"<b>{html.escape(sc.scenario.title)}</b> — "
                f"{_inline(first_sentence(sc.narrative.what_it_is))}",
                style="flex: 1 1 auto; min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis",
            )
            solara.Button("More", icon_name="mdi-chevron-down", on_click=lambda: set_unfolded(True), text=True)
        return
    with solara.Card(margin=0, style={"margin-bottom": "12px"}):
        with solara.Row(style={"align-items": "center"}):
            solara.v.Html(tag="h2", children=[sc.scenario.title], style_="font-weight: 400; margin-bottom: 2px")
            if folded:
                solara.v.Spacer()
                solara.Button("Less", icon_name="mdi-chevron-up", on_click=lambda: set_unfolded(False), text=True)
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
        """<template><div class="cohlab-status">
<div class="status-tick" style="font-size: 1.25em; font-weight: 500; line-height: 1.3">{{ tick }}</div>
<div class="status-detail" style="font-size: 0.9em; color: #444; line-height: 1.3">{{ detail }}</div>
<v-progress-linear :value="progress" height="4" class="mt-1"></v-progress-linear>
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
def RunBar(
    session: Session,
    playing: bool,
    on_play: Any,
    on_step: Any,
    on_reset: Any,
    on_sidebar: Any,
    on_save_view: Any,
    projector: bool,
    on_projector: Any,
) -> None:
    """The bar above the views: sidebar toggle, play / step / reset, the status, keys, whole-view PNG, projector."""
    with solara.Row(classes=["cohlab-runbar"], style=RUNBAR_STYLE):
        solara.Button(
            icon_name="mdi-menu",
            on_click=on_sidebar,
            text=True,
            classes=["cohlab-sidebar-toggle"],
            attributes={"title": "Show or hide the controls", "aria-label": "Controls"},
        )
        solara.Button(
            "Pause" if playing else "Play",
            icon_name="mdi-pause" if playing else "mdi-play",
            on_click=on_play,
            color="primary",
            style=BIG,
        )
        solara.Button("Step", icon_name="mdi-step-forward", on_click=on_step, disabled=playing, style=BIG)
        solara.Button("Reset", icon_name="mdi-restart", on_click=on_reset, style=BIG)
        Status(session)
        with solara.Tooltip(KEYS_HELP):
            solara.Button(
                icon_name="mdi-keyboard",
                text=True,
                classes=["cohlab-keys"],
                attributes={"aria-label": "Keyboard shortcuts"},
            )
        solara.Button("Whole view PNG", icon_name="mdi-image", on_click=on_save_view, outlined=True)
        solara.Switch(label="Projector", value=projector, on_value=on_projector, classes=["cohlab-projector-switch"])


@solara.component
def Page() -> None:
    """The whole app. The address carries the run (``?scenario=NAME&seed=N&key=value…``, see ui/link.py)."""
    scenarios = solara.use_memo(list_scenarios, dependencies=[])
    router = solara.use_router()
    link = solara.use_memo(lambda: read_link(router.search or "", scenarios, DEFAULT_SCENARIO), dependencies=[])
    scenario, set_scenario = solara.use_state(link.scenario)
    seed, set_seed = solara.use_state(link.seed)
    overrides, set_overrides = solara.use_state(dict(link.overrides))
    generation, set_generation = solara.use_state(0)
    applied, set_applied = solara.use_state(0)  # counts live changes (the address follows them)
    playing, set_playing = solara.use_state(False)
    notice, set_notice = solara.use_state("")
    error, set_error = solara.use_state("")
    width, set_width = solara.use_state(0)  # the browser window's inner width (0 until it reports)
    projector_choice, set_projector = solara.use_state(None)  # None: by the width
    sidebar_choice, set_sidebar = solara.use_state(None)  # None: open, except in projector mode
    speed = solara.use_reactive(5)
    session: Session = solara.use_memo(
        lambda: Session(scenario, seed, overrides), dependencies=[scenario, seed, repr(overrides), generation]
    )
    pinned, set_pinned = solara.use_state(None)
    session.pinned = pinned if pinned is not session else None
    projector = projector_choice if projector_choice is not None else 0 < width < PROJECTOR_BELOW
    sidebar = sidebar_choice if sidebar_choice is not None else not projector
    browser = solara.use_ref(None)

    def play_loop(cancel: threading.Event) -> None:
        if not playing:
            return
        try:
            run_frames(cancel)
        finally:
            # the last state on every chart (the graph is throttled during Play); a page already
            # closed has nothing left to draw
            with contextlib.suppress(Exception):
                session.refresh()

    def run_frames(cancel: threading.Event) -> None:
        start_tick = session.tick
        while not cancel.is_set():
            t0 = time.perf_counter()
            before = session.tick
            try:
                session.step(max(1, int(speed.value)))
                session.refresh(throttle=True)
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

    def play() -> None:
        set_notice("")
        set_playing(not playing)

    def step() -> None:
        if playing:
            return
        try:
            session.step(1)
            session.refresh()
        except Exception as exc:
            set_error(f"The run stopped at tick {session.tick}: {exc}")

    def reset() -> None:
        restart(session.overrides, "")

    def live(changes: dict[str, Any]) -> None:
        session.apply_live(changes)  # the session keeps them: Reset restarts with them
        session.refresh()
        set_applied(applied + 1)

    def new_seed(value: Any) -> None:
        if value is None or int(value) < 0:
            set_error(f"The seed must be a whole number ≥ 0, not {value}: the run keeps seed {seed}.")
            return
        set_playing(False)
        set_error("")
        set_seed(int(value))

    def pressed(value: str) -> None:
        {"play": play, "step": step, "reset": reset}.get(command(value), lambda: None)()

    def save_view() -> None:
        if browser.current is not None:
            title = f"{session.scenario.scenario.title} · seed {session.seed} · tick {session.tick}"
            browser.current.save_view(f"{session.scenario.name}_seed{session.seed}_t{session.tick}_view.png", title)

    _ = applied
    query = make_query(scenario, seed, session.overrides)

    solara.Title("Coherence Lab")
    solara.Style(PAGE_CSS)
    with solara.Row(
        gap="0px",
        classes=["cohlab-page", "cohlab-projector" if projector else "cohlab-desk"],
        style={"align-items": "flex-start", "width": "100%"},
    ):
        with solara.Column(  # hidden, not removed: the parameter form keeps its edits
            style=SIDEBAR_STYLE, gap="10px", classes=["cohlab-sidebar"] + ([] if sidebar else ["cohlab-hidden"])
        ):
            solara.v.Html(tag="h1", children=["Coherence Lab"], style_="font-weight: 400; font-size: 30px")
            solara.Select("Scenario", values=scenarios, value=scenario, on_value=choose)
            solara.SliderInt("Speed (ticks per frame)", value=speed, min=1, max=50)
            solara.InputInt("Seed (Reset keeps it; a new seed restarts)", value=seed, on_value=new_seed)
            solara.FileDownload(
                lambda: _csv(session),
                filename=f"{scenario}_seed{seed}_timeseries.csv",
                label="Download this run as CSV",
            )
            ParamForm(session, on_live=live, on_restart=restart).key(f"form-{id(session)}")
        with solara.Column(style={"flex": "1 1 auto", "min-width": "0", "padding": "8px 16px"}, gap="8px"):
            bridge = BrowserLink.element(query=query, on_width=set_width, on_pressed=pressed)
            RunBar(
                session,
                playing,
                on_play=play,
                on_step=step,
                on_reset=reset,
                on_sidebar=lambda: set_sidebar(not sidebar),
                on_save_view=save_view,
                projector=projector,
                on_projector=set_projector,
            )
            for problem in link.problems:  # what was wrong with the link this page was opened with
                solara.Warning(problem, dense=True, dismissible=True, classes=["cohlab-link-problem"])
            if error:
                solara.Error(error)
            elif notice:
                solara.Info(notice)
            Narrative(session.scenario, folded=projector).key(f"narrative-{scenario}")
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
            Views(session, projector).key(f"views-{id(pinned)}")  # unpinning redraws the charts without the ghost

    def keep_bridge() -> None:
        browser.current = solara.get_widget(bridge)

    solara.use_effect(keep_bridge, [])


def _csv(session: Session) -> bytes:
    """The current run's timeseries.csv (the same columns and format as ``cohlab run``)."""
    with session.lock:
        return to_csv_bytes(timeseries_frame(session.model))
