"""The live figures (ECharts options): each view builds its option once, then sends only what changed.

A view's :meth:`View.option` builds the whole chart (axes, bands, colour bar, the data so far)
when a model is built or an option of the view changes; :meth:`View.update` returns a partial
option with the new data (numpy arrays, sent as binary buffers by :class:`ui.echart.EChart`), or
None when nothing changed — views fed by the slow clock send nothing between slow ticks. No solara
in here: views are testable and measurable on their own.
"""

from __future__ import annotations

import itertools
import math
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LinearSegmentedColormap, to_hex

from analysis import graph_views as gv
from model.node_types import NODE_TYPES

from . import layout
from .session import REBUILD, Session

FULL_GRAPH_LIMIT = 2000  # draw every node up to this size, the aggregate view above
MAX_POINTS = 800  # points per line sent to the browser (longer runs are strided; about one per pixel)
TYPE_COLOURS = {"default": "#4d4d4d", "memory": "#1f77b4", "task": "#d62728", "principle": "#2ca02c", "goal": "#9467bd"}
GRID_COLOUR = "#e8e8e8"
FONT = "Roboto, Arial, Helvetica, sans-serif"
COLOUR_STEPS = 11  # colours of the graph's nodes (an odd number: R = 1 is a step of its own)
SIZE_STEPS = np.geomspace(2.5, 22.0, 7)  # marker sizes of the graph's nodes, pixels
SIZE_EDGES = np.sqrt(SIZE_STEPS[1:] * SIZE_STEPS[:-1])  # a size goes to the nearest step (in log)

Option = dict[str, Any]


# ----------------------------------------------------------------------------- option helpers


def base_option(title: str, subtitle: str = "", legend: bool = True) -> Option:
    opt: Option = {
        "animation": False,
        "textStyle": {"fontFamily": FONT, "fontSize": 14},
        "title": [
            {
                "text": title,
                "subtext": layout.wrap(subtitle),
                "left": 12,
                "top": 6,
                "textStyle": {"fontSize": 19, "fontWeight": "normal", "color": "#2a3f5f"},
                "subtextStyle": {"fontSize": layout.SUBTITLE_FONT, "lineHeight": layout.SUBTITLE_LINE_PX},
            }
        ],
        "tooltip": {"trigger": "axis", "confine": True, "digits": 4, "textStyle": {"fontSize": 14}},
        "axisPointer": {"link": [{"xAxisIndex": "all"}]},
        "grid": [],
        "xAxis": [],
        "yAxis": [],
        "series": [],
    }
    if legend:  # a plain legend wraps onto more rows (it never pages or cuts a name short)
        opt["legend"] = [{"type": "plain", "left": 12, "right": 12, "textStyle": {"fontSize": layout.LEGEND_FONT}}]
    return opt


def subtitle_lines(subtitle: str) -> int:
    return subtitle.count("\n") + 1 if subtitle else 0


def header_px(opt: Option, mark_rows: int = 0, subtitle_reserve: int = 0) -> float:
    """Where the plots start (px): below the title, its subtitle lines, the legend and the rows of event labels.

    ``subtitle_reserve`` keeps room for that many subtitle lines (a number that appears during the
    run). Also places the legend just below the subtitle (its rows by :func:`ui.layout.legend_rows`).
    """
    lines = max(subtitle_lines(opt["title"][0].get("subtext", "")), subtitle_reserve)
    y = 34.0 + layout.SUBTITLE_LINE_PX * lines
    if opt.get("legend"):
        names = opt["legend"][0].get("data") or [s["name"] for s in opt["series"] if s.get("name")]
        opt["legend"][0]["top"] = y
        y += layout.legend_rows(names) * layout.LEGEND_ROW_PX
    return y + mark_rows * layout.ROW_PX + 10


def value_axis(grid: int, name: str = "", **kw: Any) -> Option:
    return {
        "type": "value",
        "gridIndex": grid,
        "name": name,
        "nameLocation": "middle",
        "nameTextStyle": {"fontSize": 14},
        "scale": True,
        "splitLine": {"lineStyle": {"color": GRID_COLOUR}},
        "axisLine": {"show": True, "lineStyle": {"color": "#999"}},
        "axisLabel": {"fontSize": 13},
        **kw,
    }


def stacked_grids(
    opt: Option, names: list[str], heights: list[float], height: int, top: float, bottom: float = 44
) -> None:
    """Rows of plots sharing the time axis (grid i ↔ xAxis i ↔ yAxis i), in pixels from ``top`` down."""
    gap = 34.0
    usable = height - top - bottom - gap * (len(names) - 1)
    y = top
    for i, (name, h) in enumerate(zip(names, heights, strict=True)):
        last = i == len(names) - 1
        opt["grid"].append(
            {"left": layout.GRID_LEFT, "right": layout.GRID_RIGHT, "top": round(y), "height": round(usable * h)}
        )
        opt["xAxis"].append(
            value_axis(i, "tick" if last else "", min=0, nameGap=26, axisLabel={"show": last, "fontSize": 13})
        )
        opt["yAxis"].append(value_axis(i, name, nameGap=52))
        y += usable * h + gap


def line(name: str, colour: str, grid: int = 0, width: float = 2.5, dash: str = "solid", **kw: Any) -> Option:
    return {
        "type": "line",
        "name": name,
        "xAxisIndex": grid,
        "yAxisIndex": grid,
        "showSymbol": False,
        "symbol": "none",
        "lineStyle": {"width": width, "color": colour, "type": dash},
        "itemStyle": {"color": colour},
        "emphasis": {"disabled": True},
        "data": np.empty((0, 2)),
        **kw,
    }


def xy(x: np.ndarray, y: np.ndarray, log: bool = False) -> np.ndarray:
    """(n, 2) points; non-finite values are gaps (and non-positive ones on a log axis)."""
    y = np.asarray(y, dtype=np.float64)
    if log:
        y = np.where(y > 0, y, np.nan)
    return np.column_stack([np.asarray(x, dtype=np.float64), y])


def colours_of(scale: str | list[list[Any]], n: int = 11) -> list[str]:
    """A colour scale → ``n`` evenly spaced hex colours for an ECharts visualMap.

    ``scale`` is a matplotlib colormap name (``"viridis"``, ``"RdBu_r"`` …) or a list of
    ``[position, colour]`` stops from 0 to 1, interpolated linearly between them."""
    cmap = colormaps[scale] if isinstance(scale, str) else LinearSegmentedColormap.from_list("stops", scale)
    return [to_hex(cmap(i / max(n - 1, 1))) for i in range(n)]


def _f(x: float, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:,.0f}" if abs(x) >= 10 ** (digits - 1) else f"{x:.{digits}g}"


def subtitle(text: str) -> list[Option]:
    """A partial option that replaces the subtitle (wrapped like :func:`base_option`'s)."""
    return [{"subtext": layout.wrap(text)}]


# ----------------------------------------------------------------------------- views


class View:
    """A live chart of one aspect of the run.

    A new chart: subclass View, give it a ``key``, add it to :data:`VIEWS`; a scenario puts it
    first by naming the key in its ``[view] charts``. Line and scatter series get a dashed ghost
    of the pinned run (:attr:`ui.session.Session.pinned`) unless marked ``"_noghost": True``.
    """

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    height: ClassVar[int] = 420
    options: ClassVar[dict[str, list[str]]] = {}

    def __init__(self, session: Session, _ghost: bool = False, **options: Any) -> None:
        self.s = session
        self.model = session.model
        self.h = session.history
        self.opts = {k: options.get(k, v[0]) for k, v in self.options.items()}
        self._sent_rows = -1
        self._marks_key: tuple[Any, ...] = ()
        self._is_ghost = _ghost
        self._ghost_end = 0.0

    @staticmethod
    def relevant(session: Session) -> bool:
        return True

    slow: ClassVar[bool] = False  # fed by the slow clock: redraw only after a slow tick

    def option(self) -> Option:
        raise NotImplementedError

    def _series(self) -> Option:
        raise NotImplementedError

    def _rows(self) -> int:
        return self.h.slow_rows if self.slow else self.h.n

    def _with_data(self, opt: Option) -> Option:
        """The full option with the data so far (and what has been sent noted), and the pinned run's ghost."""
        self._sent_rows = self._rows()
        self._marks_key = ()
        full = _apply(opt, self._series())
        if not self._is_ghost:
            self._add_ghost(full)
        for series in full["series"]:
            series.pop("_noghost", None)
        return full

    def update(self) -> Option | object | None:
        if self._ghost_stale():
            return REBUILD
        rows = self._rows()
        if rows == self._sent_rows:
            return None
        self._sent_rows = rows
        return self._series()

    # the pinned run ---------------------------------------------------------------

    def _add_ghost(self, opt: Option) -> None:
        """Append the pinned run's lines (dashed, one legend entry "pinned: …"), drawn once: that run is frozen."""
        pinned = getattr(self.s, "pinned", None)
        if pinned is None or pinned is self.s or pinned.scenario.name != self.s.scenario.name:
            return
        if not type(self).relevant(pinned):
            return
        with pinned.lock:
            ghost = type(self)(pinned, _ghost=True, **self.opts)
            gopt = ghost.option()
        name = self._ghost_name = pinned_label(pinned, self.s)
        self._ghost_key = repr(sorted(self.s.overrides.items()))
        added = []
        hidden = {k for k, on in (opt.get("legend") or [{}])[0].get("selected", {}).items() if not on}
        for mine, theirs in zip(opt["series"], gopt["series"], strict=False):
            if mine.get("_noghost") or mine.get("type") not in ("line", "scatter") or mine.get("name") in hidden:
                continue
            data = theirs.get("data")
            if not isinstance(data, np.ndarray) or not data.size:
                continue
            g = {k: mine[k] for k in ("type", "xAxisIndex", "yAxisIndex") if k in mine}
            colour = mine.get("lineStyle", {}).get("color") or mine.get("itemStyle", {}).get("color", "#888")
            g.update(
                name=name,
                data=data,
                z=1,
                silent=True,
                emphasis={"disabled": True},
                itemStyle={"color": colour, "opacity": 0.5},
            )
            if mine["type"] == "line":
                g.update(showSymbol=False, symbol="none", lineStyle={"color": colour, "width": 2, "type": "dashed"})
                g["lineStyle"]["opacity"] = 0.75
            else:
                g.update(symbol="emptyCircle", symbolSize=mine.get("symbolSize", 8))
            added.append(g)
        if not added:
            return
        opt["series"] += added
        if opt.get("legend") and opt["legend"][0].get("data") is not None:
            opt["legend"][0]["data"].append(name)
        self._ghost_end = float(pinned.history.ts["time"][-1]) if pinned.history.n else 0.0
        for axis in opt.get("xAxis", []):
            if axis.get("min") == 0 and "max" in axis:
                axis["max"] = max(axis["max"], self._ghost_end)

    def _ghost_stale(self) -> bool:
        """A setting changed since the ghost was labelled (its "pinned: …" names what differs): rebuild."""
        name = getattr(self, "_ghost_name", None)
        if name is None or self._is_ghost:
            return False
        key = repr(sorted(self.s.overrides.items()))
        if key == getattr(self, "_ghost_key", None):
            return False
        self._ghost_key = key
        return self.s.pinned is not None and pinned_label(self.s.pinned, self.s) != name

    # helpers --------------------------------------------------------------------

    def _index(self) -> np.ndarray:
        return gv.stride_index(self.h.n, MAX_POINTS)

    def _slow_index(self) -> np.ndarray:
        rows = np.flatnonzero(~np.isnan(self.h.ts["alive"]))
        return rows[gv.stride_index(rows.size, MAX_POINTS)]

    def _now(self) -> float:
        return float(self.h.ts["time"][-1]) if self.h.n else 0.0

    def _span(self) -> float:
        """The longest the time axis gets in the scenario's own length (or now, if the run went on)."""
        return max(self._now(), self.s.length * self.model.params.clock.dt_fast, self._ghost_end, 1.0)

    def _time_axes(self, n_grids: int) -> list[Option]:
        """Every time axis ends at the current tick (so the rows stay aligned), or where the pinned run ended."""
        return [{"max": max(self._now(), self._ghost_end, 1.0)} for _ in range(n_grids)]

    @cached_property
    def mark_rows(self) -> int:
        """Rows of event labels above the top plot: enough for the scenario's moments, and one for live changes."""
        marks = story_marks(self.s, applied=False)
        if not marks:
            return 1
        rows = layout.label_rows([t for t, _ in marks], [n for _, n in marks], self._span(), n_rows=len(marks))
        return max(r for r in rows if r is not None) + 2

    def _marks(self, series_per_grid: list[int], n_series: int) -> list[Option]:
        """Dotted vertical lines at the scenario's moments and at every live change reached so far.

        Their labels go above the top plot, in rows (:func:`ui.layout.label_rows`) so that no two
        labels overlap on the narrowest chart the app draws.
        """
        now = self._now()
        marks = [(t, note) for t, note in story_marks(self.s) if t <= now]
        span = self._span()
        key = (tuple(marks), span)
        if key == self._marks_key:
            return []
        self._marks_key = key
        out: list[Option] = [{} for _ in range(n_series)]
        for grid, i in enumerate(series_per_grid):
            out[i] = {"markLine": event_lines(marks, span, self.mark_rows, labels=grid == 0)}
        return out


def event_lines(marks: list[tuple[float, str]], span: float, n_rows: int, labels: bool = True) -> Option:
    """A markLine of dotted vertical lines at ``marks`` (time, text) on a time axis from 0 to ``span``.

    Labels read rightwards from their line, above the plot, in the rows of :func:`ui.layout.label_rows`
    (a row is one more line of text: the label is followed by that many empty lines).
    """
    rows = layout.label_rows([t for t, _ in marks], [n for _, n in marks], span, n_rows)
    data = []
    for (t, note), row in zip(marks, rows, strict=True):
        label = {"show": labels and row is not None, "formatter": note + "\n" * (row or 0)}
        data.append({"xAxis": t, "name": note, "label": label})
    return {
        "silent": True,
        "symbol": "none",
        "animation": False,
        "lineStyle": {"color": "#777", "type": "dotted", "width": 1.4},
        "label": {
            "position": "end",
            "align": "left",
            "distance": 4,
            "fontSize": layout.LABEL_FONT,
            "lineHeight": layout.ROW_PX,
            "color": "#444",
        },
        "data": data,
    }


def story_marks(session: Session, applied: bool = True) -> list[tuple[float, str]]:
    """The moments to mark on the time axes: the schedule's one-time events (the scenario's short labels
    from ``[view] marks`` where given) and, with ``applied``, every change applied while the run went on."""
    short = {float(k): v for k, v in session.scenario.view.marks.items()}
    out: dict[float, str] = {}
    for t, note in session.marks:
        out.setdefault(t, short.get(t, note))
    if applied:
        for change in getattr(session, "applied", []):
            t = change["time"]
            text = ", ".join(_change(k, v) for k, v in change["changes"].items())
            out[t] = f"{out[t]}; {text}" if t in out else text
    return sorted(out.items())


def _change(key: str, value: Any) -> str:
    """A short label of a live change: "T → 0.5", "controller off", "dream_loop on"."""
    section, field = key.split(".", 1)
    name = section if field == "enabled" else field
    return f"{name} {_value(value)}" if isinstance(value, bool) else f"{name} → {_value(value)}"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:g}" if isinstance(v, float) else str(v)


def pinned_label(pinned: Session, current: Session) -> str:
    """ "pinned: …" naming what differs between the pinned run and the current one (the user's changes and seed)."""
    from model.keys import to_dotted

    a = to_dotted(pinned.scenario.resolve_params(pinned.overrides))
    b = to_dotted(current.scenario.resolve_params(current.overrides))
    diff = [f"{k} {_value(a[k])}" if isinstance(a[k], bool) else f"{k} = {_value(a[k])}" for k in a if a[k] != b[k]]
    if pinned.seed != current.seed:
        diff.insert(0, f"seed {pinned.seed}")
    if len(diff) > 3:
        diff = [*diff[:2], f"{len(diff) - 2} more changes"]
    return "pinned: " + (", ".join(diff) if diff else "the same settings")


def _types_present(session: Session) -> list[str]:
    counts = np.bincount(session.model.state.node_type, minlength=len(NODE_TYPES))
    return [t for t, c in zip(NODE_TYPES, counts, strict=True) if c]


def _has_energy(session: Session) -> bool:
    p = session.model.params
    return p.load.rate > 0 or any(s.kind == "pulse" and s.amount > 0 for s in session.scenario.stimuli)


def _merge_series(*lists: list[Option]) -> list[Option]:
    n = max((len(x) for x in lists), default=0)
    out: list[Option] = [{} for _ in range(n)]
    for lst in lists:
        for i, item in enumerate(lst):
            out[i].update(item)
    return out


# ----------------------------------------------------------------------------- the graph


class Colouring:
    def __init__(self, label: str, scale: Any, cmin: float, cmax: float, ends: tuple[str, str] | None = None) -> None:
        self.label, self.scale, self.cmin, self.cmax = label, scale, cmin, cmax
        self.ends = ends or (f"{cmax:g}", f"{cmin:g}")


LOG_COLOURS = ("E", "W")  # drawn on a log10 scale
TYPE_SCALE = [[i / (len(NODE_TYPES) - 1), TYPE_COLOURS[t]] for i, t in enumerate(NODE_TYPES)]
COLOURINGS = {
    "R (persistence)": Colouring("R", "RdBu_r", -2.0, 2.0, ("R = 4", "R = ¼")),
    "C (coherence)": Colouring("C", "viridis", 0.0, 1.0, ("C = 1", "C = 0")),
    "E (activation)": Colouring("E", "YlOrRd", -3.0, 1.0, ("E = 10", "E = 0.001")),
    "w (node weight)": Colouring("w", "YlGnBu", 0.0, 1.0, ("w = 1", "w = 0")),
    "W (mean link weight)": Colouring("W", "YlGnBu", -2.5, 0.0, ("W = 1", "W = 0.003")),
    "γ (gain)": Colouring("γ", "viridis", 0.0, 3.0, ("γ = 3", "γ = 0")),
    "φ (phase)": Colouring("φ", "twilight", -math.pi, math.pi, ("φ = π", "φ = −π")),
    "pressure": Colouring("pressure", "Reds", 0.0, 2.0, ("2", "0")),
    "type": Colouring("type", TYPE_SCALE, 0.0, float(len(NODE_TYPES) - 1), ("goal", "default")),
}
STORY_COLOURS = {  # a scenario's [view] colour → the colouring
    "R": "R (persistence)",
    "C": "C (coherence)",
    "E": "E (activation)",
    "w": "w (node weight)",
    "W": "W (mean link weight)",
    "gamma": "γ (gain)",
    "phi": "φ (phase)",
    "pressure": "pressure",
    "type": "type",
}


def default_colouring(session: Session) -> str:
    """The scenario's own ([view] colour); otherwise R where persistence runs, C or φ in the coherence scenarios, E."""
    story = session.scenario.view.colour
    if story:
        return STORY_COLOURS[story]
    p = session.model.params
    if p.persistence.enabled:
        return "R (persistence)"
    if p.coherence.enabled or p.phase.enabled:
        return "C (coherence)" if p.coherence.enabled else "φ (phase)"
    return "E (activation)"


def colouring_for(session: Session, name: str) -> Colouring:
    """The colouring ``name``, over the scenario's own ``[view] colour_range`` when it is the scenario's quantity."""
    c = COLOURINGS[name]
    view = session.scenario.view
    if view.colour_range is None or not view.colour or STORY_COLOURS[view.colour] != name:
        return c
    lo, hi = view.colour_range
    if c.label in LOG_COLOURS:
        lo, hi = math.log10(max(lo, 1e-12)), math.log10(max(hi, 1e-12))
    elif c.label == "R":  # drawn as log2 R (gv.ratio_colour)
        lo, hi = math.log2(max(lo, 1e-12)), math.log2(max(hi, 1e-12))
    sym = c.label
    return Colouring(
        c.label, c.scale, lo, hi, (f"{sym} = {view.colour_range[1]:g}", f"{sym} = {view.colour_range[0]:g}")
    )


def _raw(name: str, session: Session) -> np.ndarray:
    st = session.model.state
    key = name.split(" ")[0]
    if key == "W":
        return gv.node_link_weight(session.model.graph, st.W)
    return {"R": st.R, "C": st.C, "E": st.E, "w": st.w, "γ": st.gamma, "φ": st.phi, "pressure": st.pressure}.get(
        key, st.node_type
    )


def colour_of(name: str, values: np.ndarray) -> np.ndarray:
    """Values → the colour axis of the colouring ``name`` (log2 R centred at 1, log10 E and W, type index …)."""
    if name.startswith("R"):
        return gv.ratio_colour(values)
    if name.split(" ")[0] in LOG_COLOURS:
        return np.log10(np.maximum(values, 1e-3))
    return np.asarray(values, dtype=np.float64)


def _visual_map(c: Colouring, dimension: int, series: int) -> Option:
    discrete = c.label == "type"
    return {
        "type": "continuous",
        "dimension": dimension,
        "seriesIndex": series,
        "min": c.cmin,
        "max": c.cmax,
        "inRange": {"color": [TYPE_COLOURS[t] for t in NODE_TYPES] if discrete else colours_of(c.scale)},
        "outOfRange": {"color": "#dddddd"},
        "calculable": False,
        "right": 8,
        "top": "middle",
        "itemHeight": 260,
        "itemWidth": 16,
        "text": list(c.ends),
        "textStyle": {"fontSize": 13},
    }


class GraphView(View):
    """Every node at its radial-tree position, coloured (R by default, diverging at R = 1) and sized by E.

    The nodes are drawn in batches: one ECharts "large" scatter series per (colour step, size step),
    so the browser paints each batch as one path. One series per node style, or per-node visual
    mapping, costs the browser about three times as much per frame at 1,000 nodes. Colours are
    quantised to COLOUR_STEPS steps of the colour scale and sizes to SIZE_STEPS sizes.
    """

    key = "graph"
    label = "The fractal graph"
    height = 620
    options: ClassVar[dict[str, list[str]]] = {"colour": list(COLOURINGS), "lateral links": ["hide", "show"]}
    first_batch = 3  # series: tree links, lateral links, the colour bar's (empty) series, then the batches

    def option(self) -> Option:
        g, st = self.model.graph, self.model.state
        x, y = self.s.layout
        ex, ey = gv.edge_segments(g, x, y)
        c = self.colouring
        types = np.array(NODE_TYPES)[st.node_type]
        what = self.opts["colour"]
        note = ""
        if what.startswith("R"):
            note = ", blue < 1 < red" if self.model.params.persistence.enabled else ": persistence is off, so R stays 1"
        opt = base_option(
            f"The fractal graph: {g.n:,} nodes", f"colour = {what}{note} · size = activation E", legend=False
        )
        opt["nodeNames"] = [
            f"node {i} · {t} · scale {s}" for i, t, s in zip(range(g.n), types, g.scale.tolist(), strict=True)
        ]
        cx, cy = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
        r = max(x.max() - x.min(), y.max() - y.min(), 1.0) / 2 + 0.5  # a square view around the drawing
        opt["grid"] = [{"top": 70, "bottom": 10, "left": 10, "right": 90, "square": True}]
        opt["xAxis"] = [{"type": "value", "show": False, "min": cx - r, "max": cx + r}]
        opt["yAxis"] = [{"type": "value", "show": False, "min": cy - r, "max": cy + r}]
        opt["tooltip"] = {"trigger": "item", "confine": True, "textStyle": {"fontSize": 14}}
        edge = {"type": "line", "showSymbol": False, "symbol": "none", "silent": True, "z": 1}
        edge.update(connectNulls=False, emphasis={"disabled": True}, tooltip={"show": False})
        lateral = np.empty((0, 2))
        if self.opts["lateral links"] == "show":
            lateral = xy(*gv.edge_segments(g, x, y, lateral=True))
        opt["series"] = [
            {**edge, "data": xy(ex, ey), "lineStyle": {"color": "#c8c8c8", "width": 1}},
            {**edge, "data": lateral, "lineStyle": {"color": "#cdb4db", "width": 0.7}},
            {"type": "scatter", "data": [], "silent": True},  # carries the colour bar
        ]
        tip = {"idDim": 5, "fields": [["E", 2], ["R", 3], ["C", 4]]}
        batch = {"type": "scatter", "large": True, "largeThreshold": 0, "z": 3, "tip": tip}
        for colour in [*self.palette, "#dddddd"]:  # the last colour: dormant nodes
            for size in SIZE_STEPS:
                border = {"borderColor": "#444", "borderWidth": 0.6}
                opt["series"].append({**batch, "symbolSize": float(size), "itemStyle": {"color": colour, **border}})
        opt["visualMap"] = [_visual_map(c, 2, 2)]
        return _apply(opt, self.update())

    @cached_property
    def colouring(self) -> Colouring:
        return colouring_for(self.s, self.opts["colour"])

    @cached_property
    def palette(self) -> list[str]:
        """The colour of each colour step."""
        c = self.colouring
        return [TYPE_COLOURS[t] for t in NODE_TYPES] if c.label == "type" else colours_of(c.scale, COLOUR_STEPS)

    @cached_property
    def base(self) -> np.ndarray:
        """Marker sizes at E = 0 (pixels), from the ring spacing of the layout."""
        return gv.base_marker_sizes(self.model.graph, (self.height - 110) / 2)

    def update(self) -> Option:
        st = self.model.state
        x, y = self.s.layout
        name, c = self.opts["colour"], self.colouring
        n_colours, n_sizes = len(self.palette), len(SIZE_STEPS)
        value = colour_of(name, _raw(name, self.s))
        step = np.rint((value - c.cmin) / (c.cmax - c.cmin) * (n_colours - 1))
        cbin = np.where(st.alive, np.clip(np.nan_to_num(step), 0, n_colours - 1), n_colours).astype(np.int64)
        size = gv.marker_sizes(self.base, st.E, self.model.params.decay.E_max)
        sbin = np.searchsorted(SIZE_EDGES, size)
        key = cbin * n_sizes + sbin
        order = np.argsort(key, kind="stable")
        bounds = np.searchsorted(key[order], np.arange((n_colours + 1) * n_sizes + 1))
        rows = np.column_stack([x, y, st.E, st.R, st.C, np.arange(st.E.size)])[order]
        # an empty "large" series breaks ECharts' hit test (5.4.0): park one point far off the grid instead
        parked = np.array([[1e9, 1e9, np.nan, np.nan, np.nan, -1.0]])
        series: list[Option] = [{}, {}, {}]
        series += [{"data": rows[a:b] if b > a else parked} for a, b in itertools.pairwise(bounds)]
        return {"series": series}


class SubtreeView(View):
    """Large graphs: mean per subtree (columns) and scale (rows), the root row on top (an icicle)."""

    key = "subtrees"
    label = "Per subtree and scale"
    height = 620
    options: ClassVar[dict[str, list[str]]] = {"colour": [k for k in COLOURINGS if k != "type"]}

    def option(self) -> Option:
        g, ice = self.model.graph, self.s.icicle
        c = colouring_for(self.s, self.opts["colour"])
        what = self.opts["colour"].split(" ")[0]
        xs = [f"node {i}" for i in ice.columns]
        ys = [f"scale {g.max_depth - d}" for d in range(ice.n_rows)]
        opt = base_option(
            f"Mean {what} per subtree and scale: {g.n:,} nodes",
            f"columns: the subtrees rooted at depth {ice.column_depth}; rows: scales, the root on top",
            legend=False,
        )
        opt["tooltip"] = {"trigger": "item", "confine": True, "textStyle": {"fontSize": 14}}
        opt["grid"] = [{"top": 80, "bottom": 40, "left": 80, "right": 100}]
        opt["xAxis"] = [{"type": "category", "data": xs, "axisLabel": {"show": len(xs) <= 30}, "name": "subtree"}]
        opt["yAxis"] = [{"type": "category", "data": ys, "inverse": True}]
        tip = {"xs": xs, "ys": ys, "fields": [["mean E", 3], ["mean R", 4], ["mean C", 5], ["nodes", 6]]}
        opt["series"] = [{"type": "heatmap", "tip": tip, "progressive": 0, "data": self._cells()}]
        opt["visualMap"] = [_visual_map(c, 2, 0)]
        return opt

    def _cells(self) -> np.ndarray:
        st, ice = self.model.state, self.s.icicle
        name = self.opts["colour"]
        z = colour_of(name, ice.matrix(_raw(name, self.s), st.alive))
        E, R, C = (ice.matrix(v, st.alive) for v in (st.E, st.R, st.C))
        rows, cols = np.meshgrid(np.arange(ice.n_rows), np.arange(ice.columns.size), indexing="ij")
        cells = np.column_stack([a.ravel() for a in (cols, rows, z, E, R, C, ice.counts)])
        return cells[np.isfinite(cells[:, 2])]

    def update(self) -> Option:
        return {"series": [{"data": self._cells()}]}


# ----------------------------------------------------------------------------- time series


TYPE_STYLES = {  # (dash, width): types that decay alike stay distinguishable where their curves coincide
    "default": ("solid", 3.0),
    "memory": ("solid", 7.0),  # a wide band under the principle (dashed) and goal (dotted) lines
    "task": ("solid", 3.0),
    "principle": ("dashed", 3.5),
    "goal": ("dotted", 3.5),
}


def _first_time(session: Session, kind: str, key: str | None = None) -> float | None:
    times = [s.at for s in session.scenario.stimuli if s.kind == kind and (key is None or s.key == key)]
    return min(times) if times else None


def _half_lives(t: np.ndarray, ys: dict[str, np.ndarray]) -> str:
    from analysis.fitting import fit_half_life

    return " · ".join(f"{name} {_f(fit_half_life(t, y))}" for name, y in ys.items())


class ForgettingView(View):
    """Mean E per type (fast clock) and node weight w per type (slow clock), with their fitted half-lives."""

    key = "forgetting"
    label = "Forgetting curves"
    height = 560
    options: ClassVar[dict[str, list[str]]] = {"E axis": ["log", "linear"]}

    @staticmethod
    def relevant(session: Session) -> bool:
        return _has_energy(session)

    @cached_property
    def fit_window(self) -> tuple[float, float] | None:
        """From the first pulse to the moment learning is switched on (or open-ended), if the scenario decays freely."""
        p = self.model.params
        start = _first_time(self.s, "pulse")
        if start is None or p.learning.enabled or p.spread.alpha > 0:
            return None
        end = _first_time(self.s, "set", "learning.enabled")
        return start, math.inf if end is None else end

    def option(self) -> Option:
        self.types = _types_present(self.s)
        self.log = self.opts["E axis"] == "log"
        self._fits = ""
        sub = (
            "fitted half-life (ticks) of E: after a few ticks\nof w: after a few slow ticks" if self.fit_window else ""
        )
        title = "Forgetting curves: " if self.fit_window else ""
        opt = base_option(f"{title}mean activation and weight per node type".capitalize(), sub)
        series = []
        for t in self.types:
            dash, width = TYPE_STYLES[t]
            series.append(line(t, TYPE_COLOURS[t], 0, width, dash))
        for t in self.types:
            dash, width = TYPE_STYLES[t]
            series.append(line(t, TYPE_COLOURS[t], 1, width * 0.8, dash))
        opt["series"] = series
        opt["legend"][0]["data"] = list(self.types)  # one entry per type: its E and w lines
        top = header_px(opt, self.mark_rows, subtitle_reserve=4 if self.fit_window else 0)
        stacked_grids(opt, ["activation E (fast clock)", "node weight w (slow clock)"], [0.62, 0.38], self.height, top)
        if self.log:
            opt["yAxis"][0].update(type="log", scale=False)
        return self._with_data(opt)

    def _fitted(self) -> str:
        """Half-life of E and w per type over the fit window (recomputed each slow tick until the window closes)."""
        if self.fit_window is None or self.h.n < 4:
            return ""
        start, end = self.fit_window
        now = self._now()
        if self._fits and now > end:
            return self._fits
        ts = self.h.ts
        t = ts["time"]
        inside = (t >= start) & (t < end)
        if inside.sum() < 4:
            return ""
        E = _half_lives(t[inside], {k: ts[f"E_mean_{k}"][inside] for k in self.types})
        slow = inside & ~np.isnan(ts["alive"])
        text = f"half-life (ticks) of E: {E}"
        if slow.sum() >= 3 and self.model.params.decay.delta_W > 0:
            w = _half_lives(t[slow], {k: ts[f"w_mean_{k}"][slow] for k in self.types})
            text += f"\nof w: {w}"
        self._fits = text
        return text

    def _series(self) -> Option:
        ts, i = self.h.ts, self._index()
        x = ts["time"][i]
        data: list[Option] = [{"data": xy(x, ts[f"E_mean_{t}"][i], self.log)} for t in self.types]
        si = self._slow_index()
        data += [{"data": xy(ts["time"][si], ts[f"w_mean_{t}"][si])} for t in self.types]
        marks = self._marks([0, len(self.types)], len(data))
        out: Option = {"series": _merge_series(data, marks), "xAxis": self._time_axes(2)}
        if self.fit_window is not None and (self.h.slow_rows != getattr(self, "_fit_rows", -1)):
            self._fit_rows = self.h.slow_rows
            fitted = self._fitted()
            if fitted:
                out["title"] = subtitle(fitted)
        return out


def _apply(opt: Option, partial: Option) -> Option:
    from .echart import merge

    return merge(opt, partial)


def _band(y0: float, y1: float, colour: str, alpha: float, name: str, position: str) -> list[Option]:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return [
        {
            "name": name,
            "yAxis": y0,
            "itemStyle": {"color": f"rgba({r},{g},{b},{alpha})"},
            "label": {"position": position, "color": colour, "fontSize": 12},
        },
        {"yAxis": y1},
    ]


WARMUP = 100  # ticks before the controller is judged (SPEC 7, criticality)


class CriticalityView(View):
    """ρ with its bands (critical ρ* ± 0.05, runaway > ρ* + 0.2) and the controller's δ_E."""

    key = "criticality"
    label = "Criticality: ρ and δ_E"
    height = 540

    @staticmethod
    def relevant(session: Session) -> bool:
        p = session.model.params
        return p.controller.enabled or (p.spread.alpha > 0 and p.learning.enabled)

    def option(self) -> Option:
        p = self.model.params.controller
        t = self.target = p.rho_target
        self._band_text = ""
        opt = base_option("Criticality: spectral radius ρ and decay rate δ_E", self._band_time() or " ")
        opt["legend"][0]["selected"] = {"σ (branching ratio)": False}
        rho = line("ρ", "#000000", 0, 2.5)
        rho["markArea"] = {
            "silent": True,
            "data": [
                _band(0.0, t - 0.05, "#4c78a8", 0.08, "subcritical", "insideTopRight"),
                _band(t - 0.05, t + 0.05, "#2ca02c", 0.2, "critical", "insideRight"),
                _band(t + 0.05, t + 0.2, "#ff7f0e", 0.12, "supercritical", "insideRight"),
                _band(t + 0.2, 100.0, "#d62728", 0.14, f"runaway (ρ > {t + 0.2:.2f})", "insideBottomRight"),
            ],
        }
        delta = line("δ_E", "#1f77b4", 1, 2.5)
        if p.enabled:
            delta["markLine"] = {
                "silent": True,
                "symbol": "none",
                "lineStyle": {"color": "#1f77b4", "type": "dashed", "width": 1},
                "label": {"formatter": "{b}", "position": "end", "fontSize": 12},
                "data": [{"yAxis": p.delta_min, "name": "δ_min"}, {"yAxis": p.delta_max, "name": "δ_max"}],
            }
        opt["series"] = [rho, line("σ (branching ratio)", "#888888", 0, 1), delta]
        stacked_grids(
            opt, ["spectral radius ρ", "decay rate δ_E"], [0.62, 0.38], self.height, header_px(opt, self.mark_rows, 2)
        )
        return self._with_data(opt)

    def _band_time(self) -> str:
        """The scenario's claim as a number: the share of ticks with ρ in the critical band after the warm-up."""
        after = self.h.band[WARMUP:]
        if not after:
            return f"ρ in the critical band ρ* ± 0.05: counted after a {WARMUP}-tick warm-up"
        share = sum(b == "critical" for b in after) / len(after)
        n = len(after)
        return f"ρ in the critical band ρ* ± 0.05 for {share:.0%} of the {n:,} ticks after the {WARMUP}-tick warm-up"

    def _series(self) -> Option:
        ts, i = self.h.ts, self._index()
        x = ts["time"][i]
        rho = ts["rho"][i]
        data = [{"data": xy(x, rho)}, {"data": xy(x, ts["sigma"][i])}, {"data": xy(x, ts["delta_E"][i])}]
        out: Option = {"series": data, "xAxis": self._time_axes(2)}
        # ρ's axis always shows the bands; it widens (in steps of 0.05, so rarely) when ρ leaves them
        lo = math.floor((min(self.target - 0.15, float(np.nanmin(rho, initial=self.target)) - 0.01)) * 20) / 20
        hi = math.ceil((max(self.target + 0.3, float(np.nanmax(rho, initial=self.target)) + 0.01)) * 20) / 20
        rng = (round(max(lo, 0.0), 2), round(hi, 2))
        if rng != getattr(self, "_range", None):
            self._range = rng
            out["yAxis"] = [{"min": rng[0], "max": rng[1]}, {}]
        marks = self._marks([0, 2], 3)
        if marks:
            marks[2].pop("markLine", None)  # keep δ's bound lines; event lines on ρ only
            out["series"] = _merge_series(data, marks)
        text = self._band_time()
        if text != self._band_text:
            self._band_text = text
            out["title"] = subtitle(text)
        return out

    def update(self) -> Option | object | None:
        if self.model.params.controller.rho_target != self.target:
            return REBUILD
        return super().update()


SCALE_QUANTITIES = {
    "C": "coherence C",
    "gamma": "gain γ",
    "lam": "adjoint λ",
    "R": "persistence R",
    "dkl": "surprise D_KL",
    "pressure": "pressure",
    "E_mean": "mean activation E",
}


class PerScaleView(View):
    """One quantity per scale over the slow ticks (C, γ, λ, R, D_KL, pressure or E)."""

    key = "per_scale"
    label = "Per scale"
    height = 440
    slow = True
    options: ClassVar[dict[str, list[str]]] = {"quantity": list(SCALE_QUANTITIES)}

    @staticmethod
    def relevant(session: Session) -> bool:
        p = session.model.params
        return p.coherence.enabled or p.persistence.enabled

    def option(self) -> Option:
        n = self.h.n_scales
        colours = colours_of("viridis", n)
        q = self.opts["quantity"]
        label = SCALE_QUANTITIES[q]
        opt = base_option(f"{label[0].upper()}{label[1:]} per scale (slow clock)")
        series = []
        for s in range(n):
            name = f"scale {s}" + (" (leaves)" if s == 0 and n > 1 else " (root)" if s == n - 1 else "")
            name = name if s in (0, n - 1) else str(s)
            series.append(line(name, colours[s], 0, 2.5))
        if q == "R" and series:
            series[0]["markArea"] = {
                "silent": True,
                "data": [[{"yAxis": 0, "itemStyle": {"color": "rgba(214,39,40,0.06)"}}, {"yAxis": 1}]],
            }
        opt["series"] = series
        stacked_grids(opt, [label], [1.0], self.height, header_px(opt, self.mark_rows))
        return self._with_data(opt)

    def _series(self) -> Option:
        sc = self.h.scales
        if not sc.n:
            return {}
        j = gv.stride_index(sc.n, MAX_POINTS)
        x = sc["time"][j, 0]
        v = sc[self.opts["quantity"]][j]
        data = [{"data": xy(x, v[:, s])} for s in range(self.h.n_scales)]
        return {"series": _merge_series(data, self._marks([0], len(data))), "xAxis": self._time_axes(1)}


class SlowSeriesView(View):
    """Slow-tick columns of the timeseries in two rows."""

    panels: ClassVar[tuple[tuple[str, list[tuple[str, str, str]]], ...]] = ()
    unit_line: ClassVar[float | None] = None
    log_rows: ClassVar[tuple[int, ...]] = ()
    slow = True

    def claim(self) -> str:
        """The scenario's claim as a number, shown under the title ("" when the chart has none)."""
        return ""

    def option(self) -> Option:
        self._claim = self.claim()
        opt = base_option(self.label, self._claim)
        self.rows = [row for row, (_, cols) in enumerate(self.panels) for _ in cols]
        series = []
        self.first = []
        for row, (_, cols) in enumerate(self.panels):
            self.first.append(len(series))
            series += [line(name, colour, row, 2.5) for _, name, colour in cols]
        if self.unit_line is not None:  # on the top row's last series: its first carries the event lines
            series[len(self.panels[0][1]) - 1]["markLine"] = {
                "silent": True,
                "symbol": "none",
                "lineStyle": {"color": "#888", "type": "dashed", "width": 1},
                "label": {"show": False},
                "data": [{"yAxis": self.unit_line}],
            }
        opt["series"] = series
        top = header_px(opt, self.mark_rows, 2 if self._claim else 0)
        stacked_grids(opt, [p[0] for p in self.panels], [0.5, 0.5], self.height, top)
        for row in self.log_rows:
            opt["yAxis"][row].update(type="log", scale=False)
        return self._with_data(opt)

    def _series(self) -> Option:
        si = self._slow_index()
        ts = self.h.ts
        x = ts["time"][si]
        cols = [col for _, cs in self.panels for col, _, _ in cs]
        data = [{"data": xy(x, ts[col][si], row in self.log_rows)} for col, row in zip(cols, self.rows, strict=True)]
        marks = self._marks(self.first, len(data))
        out: Option = {"series": _merge_series(data, marks), "xAxis": self._time_axes(2)}
        claim = self.claim()
        if claim != self._claim:
            self._claim = claim
            out["title"] = subtitle(claim)
        return out


class FreeEnergyView(SlowSeriesView):
    key = "free_energy"
    label = "Coherence free energy F = E_phase − T·S_phase"
    height = 540
    panels = (
        (
            "F_coh, E_phase, S_phase",
            [("F_coh", "F_coh", "#000000"), ("E_phase", "E_phase", "#d62728"), ("S_phase", "S_phase", "#1f77b4")],
        ),
        ("phase order r", [("order", "phase order r (1 = all aligned, ≈ 0 = scattered)", "#2ca02c")]),
    )

    @staticmethod
    def relevant(session: Session) -> bool:
        return session.model.params.phase.enabled


class CoherenceErrorView(SlowSeriesView):
    key = "coherence_error"
    label = "Coherence backpropagation: error and root coherence"
    height = 480
    log_rows = (0,)
    panels = (
        ("error (C_root − C*)²", [("err", "error (C_root − C*)²", "#9467bd")]),
        ("root coherence C_root", [("C_root", "C_root", "#000000")]),
    )

    @staticmethod
    def relevant(session: Session) -> bool:
        return session.model.params.coherence.enabled

    def claim(self) -> str:
        """The error reduction: the mean of the first 10 slow ticks' errors against the last 10."""
        err = self.h.ts["err"]
        err = err[~np.isnan(err)]
        if err.size < 2:
            return "error reduction: after two slow ticks"
        k = min(10, err.size // 2)
        first, last = float(err[:k].mean()), float(err[-k:].mean())
        if first <= 0:
            return "error reduction: the error starts at 0"
        drop = 1 - last / first
        return f"error reduced by {drop:.1%}: mean of the first {k} slow ticks {first:.3g}, of the last {k} {last:.3g}"


class PersistenceView(SlowSeriesView):
    key = "persistence"
    label = "Persistence: R across the graph"
    height = 540
    unit_line = 1.0
    panels = (
        ("mean and median R", [("R_mean", "mean R", "#000000"), ("R_median", "median R", "#1f77b4")]),
        (
            "fractions and loss",
            [
                ("R_frac_ge1", "fraction R ≥ 1", "#2ca02c"),
                ("R_frac_in_band", "fraction ½ ≤ R ≤ 2", "#17becf"),
                ("persistence_loss", "loss mean relu(1 − R)²", "#d62728"),
            ],
        ),
    )

    @staticmethod
    def relevant(session: Session) -> bool:
        return session.model.params.persistence.enabled


class HistogramView(View):
    """Energy (nodes with E > 0) and link weight histograms, stacked by node type."""

    key = "histograms"
    label = "Energy and weight histograms"
    height = 440
    bins = 30

    @staticmethod
    def relevant(session: Session) -> bool:
        p = session.model.params
        return _has_energy(session) or p.learning.enabled

    def option(self) -> Option:
        self.types = _types_present(self.s)
        opt = base_option(self.label)
        opt["tooltip"] = {"trigger": "axis", "confine": True, "textStyle": {"fontSize": 14}}
        opt["axisPointer"] = {}
        for i, (name, unit) in enumerate((("activation E (nodes with E > 0)", "nodes"), ("link weight W", "links"))):
            left = 7 + i * 50
            opt["grid"].append({"left": f"{left}%", "width": "38%", "top": 80, "bottom": 60})
            opt["xAxis"].append(
                {
                    "type": "category",
                    "gridIndex": i,
                    "name": name,
                    "nameLocation": "middle",
                    "nameGap": 32,
                    "axisLabel": {"fontSize": 12},
                    "data": [],
                }
            )
            opt["yAxis"].append(value_axis(i, unit, nameGap=42, scale=False))
        opt["series"] = [
            {
                "type": "bar",
                "name": t,
                "stack": f"s{i}",
                "xAxisIndex": i,
                "yAxisIndex": i,
                "barCategoryGap": "8%",
                "itemStyle": {"color": TYPE_COLOURS[t]},
                "emphasis": {"disabled": True},
                "data": [],
            }
            for i in (0, 1)
            for t in self.types
        ]
        top = header_px(opt)
        for grid in opt["grid"]:
            grid["top"] = top
        return self._with_data(opt)

    def _series(self) -> Option:
        st, g = self.model.state, self.model.graph
        present = [NODE_TYPES.index(t) for t in self.types]
        pos = st.E > 0
        series: list[Option] = []
        axes: list[Option] = []
        for vals, types in ((st.E[pos], st.node_type[pos]), (st.W, st.node_type[g.edge_src])):
            edges = gv.histogram_edges(vals, self.bins)
            counts = gv.type_histograms(vals, types, len(NODE_TYPES), edges)
            centres = (edges[:-1] + edges[1:]) / 2
            axes.append({"data": [f"{c:.3g}" for c in centres]})
            series += [{"data": counts[t].astype(np.float64)} for t in present]
        return {"series": series, "xAxis": axes}


class RecallView(View):
    """Stability–plasticity (SPEC 6): recall F1 of tasks A and B over time, and the dream loop's sleeps."""

    key = "recall"
    label = "Recall of A and B, and dreams"
    height = 540
    phase_rows = 2  # rows of phase labels ("learn A", "learn B", "schedule done")

    @staticmethod
    def relevant(session: Session) -> bool:
        exp = getattr(session.model, "plasticity", None)
        return exp is not None and exp.active

    @property
    def _dreams(self) -> bool:
        return bool(self.model.params.defenses.dream_loop)

    def option(self) -> Option:
        exp = self.model.plasticity
        untrained = exp.results.get("chance", math.nan) if exp is not None else math.nan
        every = self.model.params.recall.every
        title = self.label if self._dreams else "Recall of A and B"
        tested = f"tested every {every} ticks" if every else "tested at the end of each phase"
        opt = base_option(title, f"{tested} · untrained weights (tick 0): {_f(untrained)}")
        # A wide and pale under B: where the two curves coincide both stay visible
        a = line("task A", "#6baed6", 0, 7, showSymbol=True, symbol="circle", symbolSize=11)
        b = line("task B", "#e6550d", 0, 2.5, showSymbol=True, symbol="diamond", symbolSize=7)
        if math.isfinite(untrained) and untrained > 0:  # (at 0 it would lie on the axis)
            a["markLine"] = {
                "silent": True,
                "symbol": "none",
                "lineStyle": {"color": "#888", "type": "dashed", "width": 1},
                "label": {"formatter": "untrained", "position": "end", "fontSize": 12},
                "data": [{"yAxis": untrained}],
            }
        series = [a, b]
        if self._dreams:
            bar = {"type": "bar", "xAxisIndex": 1, "yAxisIndex": 1, "barMaxWidth": 10, "barGap": "-100%"}
            series += [
                {**bar, "name": "dreams generated", "itemStyle": {"color": "#bbbbbb"}, "data": np.empty((0, 2))},
                {**bar, "name": "dreams kept (replayed)", "itemStyle": {"color": "#9467bd"}, "data": np.empty((0, 2))},
            ]
        opt["series"] = series
        top = header_px(opt, self.phase_rows)
        if self._dreams:
            stacked_grids(opt, ["recall F1", "dreams per sleep"], [0.62, 0.38], self.height, top)
        else:
            stacked_grids(opt, ["recall F1"], [1.0], self.height, top)
        opt["yAxis"][0].update(min=0, max=1, scale=False)
        self._seen = (-1, -1, -1)
        return self._with_data(opt)

    def _state(self) -> tuple[int, int, int]:
        exp = self.model.plasticity
        if exp is None or not exp.active:
            return (0, 0, 0)
        return (len(exp.history), len(exp.dream_cycles), len(self.model.events.of("plasticity.phase")))

    def update(self) -> Option | object | None:
        if self._ghost_stale():
            return REBUILD
        if self._state() == self._seen:
            return None
        return self._series()

    def _series(self) -> Option:
        exp = self.model.plasticity
        self._seen = self._state()
        if exp is None or not exp.active:
            return {}
        rows = exp.history  # the first test (tick 0) is the untrained weights' recall: the curves start there
        t = np.array([r["time"] for r in rows], dtype=np.float64)
        data: list[Option] = [
            {"data": xy(t, [r["A"] for r in rows])},
            {"data": xy(t, [r["B"] for r in rows])},
        ]
        names = {"A": "learn A", "B": "learn B", "done": "schedule done"}
        phases = [
            (float(e["tick"]), names.get(e["phase"], e["phase"])) for e in self.model.events.of("plasticity.phase")
        ]
        axes = self._time_axes(2 if self._dreams else 1)
        data[1]["markLine"] = event_lines(phases, axes[0]["max"], self.phase_rows)  # the phase boundaries, on B
        if self._dreams:
            cyc = exp.dream_cycles
            x = np.array([c["start"] for c in cyc], dtype=np.float64)
            data += [
                {"data": xy(x, [c["generated"] for c in cyc])},
                {"data": xy(x, [c["kept"] for c in cyc])},
            ]
        return {"series": data, "xAxis": axes}


GROUP_COLOURS = ("#e6550d", "#3182bd", "#31a354", "#756bb1", "#d6616b", "#8c6d31", "#17becf")
REST_GROUPS = ("control", "calm", "rest", "others")  # the untouched comparison group: grey
GROUP_QUANTITIES = {"E": "activation E", "R": "persistence R", "w": "node weight w", "C": "coherence C"}


class GroupsView(View):
    """The scenario's tracked groups (labelled in its file) in distinct colours, with the number its claim rests on.

    Activation E (log axis) with each group's fitted half-life after the first pulse; persistence R
    with the groups' surprise D_KL below it and the dip and recovery after a one-time world shift.
    """

    key = "groups"
    label = "Tracked groups"
    height = 560
    options: ClassVar[dict[str, list[str]]] = {"quantity": list(GROUP_QUANTITIES)}

    @staticmethod
    def relevant(session: Session) -> bool:
        return any(sel.label for sel in session.scenario.scenario.tracked)

    @cached_property
    def groups(self) -> list[Any]:
        return [g for g in self.s.tracked_groups if not g.label.startswith("node ")]

    def option(self) -> Option:
        q = self.opts["quantity"]
        self.log = q == "E"
        self._claim = self.claim()
        title = f"{GROUP_QUANTITIES[q][0].upper()}{GROUP_QUANTITIES[q][1:]}: the tracked groups"
        opt = base_option(title, self._claim)
        series = []
        colours = iter(GROUP_COLOURS)
        self.colours = []
        for g in self.groups:
            colour = "#7f7f7f" if g.label.split(" (")[0] in REST_GROUPS else next(colours)
            self.colours.append(colour)
            series.append(line(g.label, colour, 0, 3.5))
        series.append(line("all nodes (mean)", "#000000", 0, 1.5))
        names = [GROUP_QUANTITIES[q]]
        if q == "R":  # the surprise that drives R, in the same colours
            series += [line(g.label, c, 1, 2.5) for g, c in zip(self.groups, self.colours, strict=True)]
            names.append("surprise D_KL")
            series[len(self.groups) - 1]["markLine"] = {
                "silent": True,
                "symbol": "none",
                "lineStyle": {"color": "#888", "type": "dashed", "width": 1},
                "label": {"formatter": "R = 1", "position": "end", "fontSize": 12},
                "data": [{"yAxis": 1.0}],
            }
        opt["series"] = series
        top = header_px(opt, self.mark_rows, 2 if self._claim else 0)
        stacked_grids(opt, names, [0.62, 0.38] if q == "R" else [1.0], self.height, top)
        if self.log:
            opt["yAxis"][0].update(type="log", scale=False)
        return self._with_data(opt)

    def _group_means(self, q: str) -> tuple[np.ndarray, np.ndarray]:
        """(time, per-group mean of q) over the tracked nodes' rows, strided."""
        nodes = self.h.nodes
        if not nodes.n or not self.groups:
            return np.empty(0), np.empty((0, len(self.groups)))
        j = gv.stride_index(nodes.n, MAX_POINTS)
        v = nodes[q][j]
        return nodes["time"][j, 0], np.column_stack([v[:, g.nodes].mean(axis=1) for g in self.groups])

    def _series(self) -> Option:
        q = self.opts["quantity"]
        t, means = self._group_means(q)
        data: list[Option] = [{"data": xy(t, means[:, k], self.log)} for k in range(len(self.groups))]
        ts = self.h.ts
        if q == "E":
            i = self._index()
            data.append({"data": xy(ts["time"][i], ts["E_total"][i] / self.model.graph.n, True)})
        elif q == "R":
            si = self._slow_index()
            data.append({"data": xy(ts["time"][si], ts["R_mean"][si])})
        else:
            data.append({})
        firsts = [0]
        if q == "R":
            _, dkl = self._group_means("dkl")
            firsts.append(len(data))
            data += [{"data": xy(t, dkl[:, k])} for k in range(len(self.groups))]
        out: Option = {
            "series": _merge_series(data, self._marks(firsts, len(data))),
            "xAxis": self._time_axes(len(firsts)),
        }
        claim = self.claim()
        if claim != self._claim:
            self._claim = claim
            out["title"] = subtitle(claim)
        return out

    def claim(self) -> str:
        q = self.opts["quantity"]
        if q == "E":
            return self._half_lives()
        if q == "R":
            return self._recovery()
        return ""

    def _half_lives(self) -> str:
        """Each group's half-life of E over the 60 ticks after the first pulse (as ``cohlab run`` fits it)."""
        start = _first_time(self.s, "pulse")
        if start is None:
            return ""
        if getattr(self, "_fits", ""):
            return self._fits
        end = start + 60
        if self._now() < end:
            return f"half-life of E (ticks) after the first pulse: fitted at tick {end:g}"
        nodes = self.h.nodes
        t = nodes["time"][:, 0]
        win = (t > start) & (t <= end)
        ys = {g.label.split(" (")[0]: nodes["E"][win][:, g.nodes].mean(axis=1) for g in self.groups}
        self._fits = f"half-life of E (ticks) after the first pulse: {_half_lives(t[win], ys)}"
        return self._fits

    @cached_property
    def shift(self) -> tuple[float, int] | None:
        """(time, group index) of the scenario's one-time world shift and the group it hits most."""
        once = [s for s in self.s.scenario.stimuli if s.kind == "environment_shift" and s.every is None]
        if not once or not self.groups:
            return None
        hit = set(once[0].select.resolve(self.model, np.random.default_rng(0)).tolist())
        tracked = self.h.tracked
        overlap = [len(hit & set(tracked[g.nodes].tolist())) for g in self.groups]
        return float(once[0].at), int(np.argmax(overlap))

    def _recovery(self) -> str:
        """The dip of R in the shifted group after the shift and the ticks until it is back to R ≥ 1."""
        if self.shift is None:
            return ""
        t0, k = self.shift
        name = self.groups[k].label.split(" (")[0]
        nodes = self.h.nodes
        t = nodes["time"][:, 0] if nodes.n else np.empty(0)
        after = t >= t0
        if not after.any():
            return f"world shift at tick {t0:g}: the {name} group's dip and recovery are measured from there"
        R = nodes["R"][after][:, self.groups[k].nodes].mean(axis=1)
        ta = t[after]
        low = int(np.argmin(R))
        text = f"after the shift at tick {t0:g}, R of '{name}' fell to {R[low]:.2f} (tick {ta[low]:g})"
        if R[low] >= 1:
            return f"after the shift at tick {t0:g}, R of '{name}' has not fallen below 1"
        back = np.flatnonzero(R[low:] >= 1)
        if back.size:
            return f"{text}; back to R ≥ 1 after {ta[low + back[0]] - t0:g} ticks"
        return f"{text}; not yet back to R ≥ 1"


def alignment_exact(graph: Any, wbar: np.ndarray, K: float, T: np.ndarray) -> np.ndarray:
    """Mean link alignment ⟨cos Δφ⟩ at temperature T, exact on a tree (SPEC 4.3): the W̄-weighted mean of I₁/I₀(K·W̄/T).

    On a tree the links' phase differences are independent, each with density ∝ exp(K·W̄·cos Δ/T).
    """
    from scipy.special import i0e, i1e

    w = wbar[wbar > 0]
    x = K * w[None, :] / np.maximum(np.asarray(T, dtype=np.float64)[:, None], 1e-12)
    return (w[None, :] * (i1e(x) / i0e(x))).sum(axis=1) / w.sum()


class OrderVsTView(View):
    """Phase order against temperature: each Apply of phase.T adds the settled point of the T it leaves.

    A point is the mean over the second half of the time spent at that T (the first half is the
    relaxation); the point of the current T is drawn hollow until T changes. On a lateral-free tree
    the exact link alignment I₁/I₀(K·W̄/T) is drawn for comparison.
    """

    key = "order_vs_T"
    label = "Order against temperature"
    height = 500
    slow = True

    @staticmethod
    def relevant(session: Session) -> bool:
        return session.model.params.phase.enabled

    @cached_property
    def exact_applies(self) -> bool:
        g = self.model.graph
        return not g.lateral.any() and g.n > 1

    def option(self) -> Option:
        sub = "each Apply of a new phase.T adds the settled point (mean over the second half of the time at that T)"
        if not self.exact_applies:
            sub += "\nthe exact curve I₁/I₀(K·W̄/T) holds on a lateral-free tree: set graph.lateral_k = 0 to see it"
        else:
            sub += "\nline: exact link alignment on this tree, I₁/I₀(K·W̄/T) averaged over the links"
        opt = base_option("Order against temperature T", sub)
        dot = {"type": "scatter", "xAxisIndex": 0, "yAxisIndex": 0, "symbolSize": 11, "data": np.empty((0, 2))}
        opt["series"] = [
            {**dot, "name": "link alignment ⟨cos Δφ⟩", "itemStyle": {"color": "#d62728"}, "symbolSize": 15},
            {**dot, "name": "phase order r", "itemStyle": {"color": "#2ca02c"}, "symbol": "diamond", "symbolSize": 9},
            {
                **dot,
                "name": "now (settling)",
                "symbol": "emptyCircle",
                "itemStyle": {"color": "#555"},
                "_noghost": True,
            },
        ]
        if self.exact_applies:
            exact = line("exact on a tree: I₁/I₀(K·W̄/T)", "#d62728", 0, 1.5, "solid")
            exact["_noghost"] = True
            opt["series"].append(exact)
        opt["tooltip"] = {"trigger": "item", "confine": True, "textStyle": {"fontSize": 14}}
        top = header_px(opt)
        opt["grid"] = [{"left": layout.GRID_LEFT, "right": 40, "top": round(top), "bottom": 50}]
        opt["xAxis"] = [value_axis(0, "temperature T", min=0, nameGap=28, scale=False)]
        opt["yAxis"] = [value_axis(0, "order (1 = aligned)", min=0, max=1, nameGap=48, scale=False)]
        return self._with_data(opt)

    def segments(self) -> list[tuple[float, float, float]]:
        """(T, start, end) of each stretch of the run at one temperature, the current one last (end = now)."""
        from model.keys import to_dotted

        changes = [c for c in getattr(self.s, "applied", []) if "phase.T" in c["changes"]]
        T = changes[0]["before"]["phase.T"] if changes else to_dotted(self.model.params)["phase.T"]
        out, start = [], 0.0
        for c in changes:
            out.append((float(T), start, float(c["time"])))
            T, start = c["changes"]["phase.T"], float(c["time"])
        out.append((float(T), start, self._now()))
        return out

    def _series(self) -> Option:
        ts = self.h.ts
        slow = ~np.isnan(ts["E_phase"])
        t = ts["time"]
        settled, order, now = [], [], []
        segs = self.segments()
        for k, (T, a, b) in enumerate(segs):
            inside = slow & (t > (a + b) / 2) & (t <= b)
            if not inside.any():
                continue
            align = float(np.mean(1.0 - ts["E_phase"][inside]))
            r = float(np.mean(ts["order"][inside]))
            if k == len(segs) - 1:  # hollow, in the colours of the two measures
                now += [
                    {"value": [T, align], "itemStyle": {"color": "#d62728"}},
                    {"value": [T, r], "symbol": "emptyDiamond", "itemStyle": {"color": "#2ca02c"}},
                ]
            else:
                settled.append([T, align])
                order.append([T, r])
        out: Option = {
            "series": [
                {"data": np.array(settled).reshape(-1, 2)},
                {"data": np.array(order).reshape(-1, 2)},
                {"data": now},
            ]
        }
        t_max = max(1.0, 1.25 * max(T for T, _, _ in segs))
        if self.exact_applies:
            from model.mechanisms.phase import coupling_weights

            grid = np.linspace(t_max / 200, t_max, 200)
            y = alignment_exact(
                self.model.graph, coupling_weights(self.model.graph, self.model.state), self.model.params.phase.K, grid
            )
            out["series"].append({"data": xy(grid, y)})
        out["xAxis"] = [{"max": round(t_max, 3)}]
        return out


from .thermo_view import ThermoView  # noqa: E402  (SPEC 5.6; it builds on View)

VIEWS: tuple[type[View], ...] = (
    GraphView,
    SubtreeView,
    GroupsView,
    OrderVsTView,
    CriticalityView,
    ForgettingView,
    PerScaleView,
    FreeEnergyView,
    CoherenceErrorView,
    PersistenceView,
    HistogramView,
    RecallView,
    ThermoView,
)


def chart_registry() -> dict[str, tuple[type[View], dict[str, Any]]]:
    """Every chart a scenario can name in ``[view] charts``: a view's key, or ``per_scale.<quantity>``."""
    reg: dict[str, tuple[type[View], dict[str, Any]]] = {}
    for cls in VIEWS:
        if cls in (GraphView, SubtreeView):
            continue
        if cls is PerScaleView:
            reg.update({f"per_scale.{q}": (cls, {"quantity": q}) for q in SCALE_QUANTITIES})
        else:
            reg[cls.key] = (cls, {})
    return reg


def story_views(session: Session) -> tuple[list[tuple[type[View], dict[str, Any]]], list[tuple[type[View], dict]]]:
    """The charts to show (the scenario's own ``[view] charts`` first, then the relevant ones) and the others.

    Raises:
        ValueError: a chart named in the scenario's ``[view] charts`` does not exist.
    """
    reg = chart_registry()
    declared = list(session.scenario.view.charts)
    for key in declared:
        if key not in reg:
            raise ValueError(
                f"scenario '{session.scenario.name}': [view] charts names an unknown chart '{key}' "
                f"(known: {', '.join(reg)})"
            )
    p = session.model.params
    group_q = session.scenario.view.colour if session.scenario.view.colour in GROUP_QUANTITIES else "E"
    defaults = {"groups": {"quantity": group_q}}
    shown = [(reg[k][0], {**reg[k][1], **defaults.get(k, {})}) for k in declared]
    more = []
    usual = ["recall", "groups", "criticality", "forgetting", "per_scale.C", "per_scale.gamma", "per_scale.R"]
    usual += ["coherence_error", "order_vs_T", "free_energy", "persistence", "histograms"]
    usual += [k for k in reg if k not in usual and not k.startswith("per_scale.")]  # charts added later
    for key in usual:
        if key in declared:
            continue
        cls, opts = reg[key]
        opts = {**opts, **defaults.get(key, {})}
        q = opts.get("quantity") if cls is PerScaleView else None
        ok = cls.relevant(session)
        if q in ("C", "gamma"):
            ok = p.coherence.enabled
        elif q == "R":
            ok = p.persistence.enabled
        (shown if ok else more).append((cls, opts))
    return shown, more


def key_view(session: Session) -> type[View] | None:
    """The chart that carries the scenario's point: the first of its ``[view] charts`` (shown first, above the fold)."""
    shown, _ = story_views(session)
    return shown[0][0] if session.scenario.view.charts and shown else None
