"""One browser session's run: the model, its lock, its history, its live charts and their acknowledgements.

Every browser tab builds its own :class:`Session` (held in component hooks, never in a module
variable), so several users never share a model. The play thread steps the model under the
session's lock; charts read it under the same lock.

Per frame no component re-renders: the page's live charts and the status line attach themselves
to the session, and :meth:`Session.refresh` (after every step batch) asks each chart's view for
what changed and sends it straight to the chart's widget. A full re-render of the page costs tens
of milliseconds; a refresh costs about one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from analysis import graph_views as gv
from model import CoherenceModel
from model.keys import to_dotted
from model.params import restart_only
from scenarios.loader import Scenario, load_scenario

from .history import History

REBUILD = object()  # what a view's update() returns when its chart must be rebuilt (e.g. ρ* changed)
# keys read only when a model is built: a change needs a rebuilt model (the model's one list)
needs_restart = restart_only


@dataclass
class _Live:
    """A chart kept up to date by the session: its view, its widget, how to rebuild it, its pace."""

    view: Any
    chart: Any
    rebuild: Callable[[], None]
    min_interval: float = 0.0
    sent: float = -math.inf  # perf_counter() of its last update


@dataclass(frozen=True)
class TrackedGroup:
    label: str
    nodes: np.ndarray  # positions into History.tracked
    node_type: str


class Session:
    """A model run for one browser tab."""

    def __init__(self, scenario: str | Scenario, seed: int, overrides: dict[str, Any] | None = None) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.seed = int(seed)
        self.overrides = dict(overrides or {})
        self.model = CoherenceModel(self.scenario, seed=self.seed, params=self.overrides)
        self.lock = threading.RLock()
        self.history = History(self.model)
        self.pinned: Session | None = None  # a frozen earlier run, drawn dashed beside this one (ui.views)
        self.applied: list[dict[str, Any]] = []  # live changes: time, changes, the values before
        self._live: dict[int, _Live] = {}
        self._watchers: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._ack_lock = threading.Lock()
        self._pending: set[int] = set()
        self._acked = threading.Event()
        self._acked.set()
        self.acks_seen = False

    # ------------------------------------------------------------------ running

    @property
    def tick(self) -> int:
        return int(self.model.tick)

    @property
    def length(self) -> int:
        return int(self.scenario.scenario.ticks)

    def step(self, ticks: int = 1) -> None:
        """Advance ``ticks`` fast ticks and bring the history up to date."""
        with self.lock:
            for _ in range(int(ticks)):
                if not self.model.running:  # the scenario ended itself (Mesa's convention)
                    break
                self.model.step()
            self.history.sync()

    def status(self) -> dict[str, Any]:
        """What the status line shows."""
        m, h = self.model, self.history
        rho = h.last("rho") if h.n else m.state.rho
        band = f" ({h.band[-1]})" if h.n and h.band[-1] else ""
        return {
            "tick": f"tick {m.tick} of {self.length}"
            if m.running
            else f"tick {m.tick}: the scenario's schedule is complete",
            "detail": f"ρ = {rho:.3f}{band} · {m.graph.n:,} nodes · ΣE = {float(m.state.E.sum()):.3g}",
            "progress": min(100.0, 100.0 * m.tick / max(self.length, 1)),
            "params": m.params,
        }

    # ------------------------------------------------------------------ live charts

    def attach(self, key: int, view: Any, chart: Any, rebuild: Callable[[], None], min_interval: float = 0.0) -> None:
        """A chart to keep up to date: ``view`` computes the changes, ``chart`` (ui.echart.EChart) shows them.

        ``min_interval``: during Play the chart is redrawn at most once per that many seconds (the
        graph of a big model, which costs the browser most per frame).
        """
        with self.lock:
            self._live[key] = _Live(view, chart, rebuild, min_interval)

    def detach(self, key: int) -> None:
        with self.lock:
            self._live.pop(key, None)

    def watch(self, key: int, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn(status)`` after every refresh (the status line, the parameter form)."""
        self._watchers[key] = fn

    def unwatch(self, key: int) -> None:
        self._watchers.pop(key, None)

    def refresh(self, throttle: bool = False) -> None:
        """Send the attached charts what changed since their last update; update the watchers.

        With ``throttle`` (each frame of Play) a chart scrolled out of the browser's window is skipped
        (:meth:`refresh_chart` brings it up to date when it scrolls back in), and so is a chart whose
        ``min_interval`` has not passed since its last redraw. Without it (Step, Pause, the end of
        Play, a live change) every chart gets the latest state.
        """
        rebuilds = []
        now = time.perf_counter()
        with self.lock:
            for live in list(self._live.values()):
                if throttle and (now - live.sent < live.min_interval or not getattr(live.chart, "visible", True)):
                    continue
                if self._send(live, now):
                    rebuilds.append(live.rebuild)
            status = self.status()
        for fn in rebuilds:
            fn()
        for fn in list(self._watchers.values()):
            fn(status)

    def refresh_chart(self, key: int) -> None:
        """Bring one chart up to date (it has just scrolled into view)."""
        with self.lock:
            live = self._live.get(key)
            rebuild = live is not None and self._send(live, time.perf_counter())
        if rebuild:
            live.rebuild()

    def _send(self, live: _Live, now: float) -> bool:
        """Send one chart its changes; True when it must be rebuilt instead."""
        upd = live.view.update()
        if upd is REBUILD:
            return True
        live.sent = now
        if upd and live.chart.update(upd):
            self.expect_ack(live.chart)
        return False

    def validate(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The session's overrides with ``changes`` applied, validated; raises ParameterError."""
        merged = {**self.overrides, **changes}
        self.scenario.resolve_params(merged)  # model.params.resolve under the scenario's parameters
        return merged

    def apply_live(self, changes: dict[str, Any]) -> None:
        """Change non-structural parameters of the running model (validated together first)."""
        merged = self.validate(changes)
        with self.lock:
            before = to_dotted(self.model.params)
            self.model.set_params(changes)  # refuses restart-only keys, with the reason
            now = float(self.history.ts["time"][-1]) if self.history.n else 0.0
            self.applied.append({"time": now, "changes": dict(changes), "before": {k: before[k] for k in changes}})
        self.overrides = merged

    # ------------------------------------------------------------------ browser acknowledgements

    def expect_ack(self, widget: Any) -> None:
        """Register a chart update (ui.echart.EChart); the play loop waits until the browser has drawn it."""
        key = id(widget)
        with self._ack_lock:
            self._pending.add(key)
            self._acked.clear()

        def done() -> None:
            with self._ack_lock:
                self.acks_seen = True
                self._pending.discard(key)
                if not self._pending:
                    self._acked.set()

        widget.on_drawn(done)

    def wait_for_browser(self, timeout: float) -> bool:
        """Wait until every chart update sent so far has been drawn (False on timeout)."""
        ok = self._acked.wait(timeout)
        if not ok:
            with self._ack_lock:
                self._pending.clear()
                self._acked.set()
        return ok

    # ------------------------------------------------------------------ static views of the graph

    @cached_property
    def layout(self) -> tuple[np.ndarray, np.ndarray]:
        return gv.radial_layout(self.model.graph)

    @cached_property
    def icicle(self) -> gv.Icicle:
        return gv.Icicle.build(self.model.graph)

    @cached_property
    def tracked_groups(self) -> list[TrackedGroup]:
        """The tracked nodes grouped as the scenario names them (labelled selectors), else one per node."""
        from model.node_types import NODE_TYPES

        tracked = self.history.tracked
        pos = {int(n): i for i, n in enumerate(tracked)}
        types = self.model.state.node_type
        groups: list[TrackedGroup] = []
        used: set[int] = set()
        rng = np.random.default_rng(0)
        for sel in self.scenario.scenario.tracked:
            if sel.label:
                try:
                    nodes = sel.model_copy(update={"count": None}).resolve(self.model, rng)
                except ValueError:
                    continue
                idx = np.array(sorted(pos[int(n)] for n in nodes if int(n) in pos), dtype=np.int64)
                if idx.size:
                    kinds = {NODE_TYPES[types[tracked[i]]] for i in idx}
                    groups.append(
                        TrackedGroup(f"{sel.label} ({idx.size})", idx, kinds.pop() if len(kinds) == 1 else "")
                    )
                    used.update(idx.tolist())
        for i, node in enumerate(tracked):
            if i not in used and len(groups) < 12:
                groups.append(TrackedGroup(f"node {node}", np.array([i]), NODE_TYPES[types[node]]))
        return groups

    @cached_property
    def marks(self) -> list[tuple[float, str]]:
        """One-time scenario events with a note, to mark on the time axes."""
        out: dict[float, str] = {}
        for s in self.scenario.stimuli:
            if s.note and s.at > 1:
                out.setdefault(float(s.at), s.note)
        return sorted(out.items())[:8]
