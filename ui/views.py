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
from plotly.colors import get_colorscale, sample_colorscale

from analysis import graph_views as gv
from model.params import NODE_TYPES

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
                "subtext": subtitle,
                "left": 12,
                "top": 6,
                "textStyle": {"fontSize": 19, "fontWeight": "normal", "color": "#2a3f5f"},
                "subtextStyle": {"fontSize": 13},
            }
        ],
        "tooltip": {"trigger": "axis", "confine": True, "digits": 4, "textStyle": {"fontSize": 14}},
        "axisPointer": {"link": [{"xAxisIndex": "all"}]},
        "grid": [],
        "xAxis": [],
        "yAxis": [],
        "series": [],
    }
    if legend:
        opt["legend"] = [{"type": "scroll", "top": 34 if not subtitle else 52, "left": 12, "right": 12}]
    return opt


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


def stacked_grids(opt: Option, names: list[str], heights: list[float], top: float = 18, bottom: float = 10) -> None:
    """Rows of plots sharing the time axis (grid i ↔ xAxis i ↔ yAxis i); percentages of the chart."""
    gap = 9.0
    usable = 100 - top - bottom - gap * (len(names) - 1)
    y = top
    for i, (name, h) in enumerate(zip(names, heights, strict=True)):
        last = i == len(names) - 1
        opt["grid"].append({"left": 78, "right": 110, "top": f"{y:.1f}%", "height": f"{usable * h:.1f}%"})
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


def colours_of(scale: Any, n: int = 11) -> list[str]:
    """A plotly colour scale (name or list) → n hex/rgb colours for an ECharts visualMap."""
    if isinstance(scale, str):
        scale = get_colorscale(scale)
    return sample_colorscale(scale, [i / (n - 1) for i in range(n)])


def _f(x: float, digits: int = 3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


# ----------------------------------------------------------------------------- views


class View:
    """A live chart of one aspect of the run."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    height: ClassVar[int] = 420
    options: ClassVar[dict[str, list[str]]] = {}
    # the scenarios whose point this chart carries (their "key chart"): the page shows it first, and in
    # projector mode above the fold; see key_view()
    key_for: ClassVar[tuple[str, ...]] = ()

    def __init__(self, session: Session, **options: Any) -> None:
        self.s = session
        self.model = session.model
        self.h = session.history
        self.opts = {k: options.get(k, v[0]) for k, v in self.options.items()}
        self._sent_rows = -1
        self._n_marks = 0

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
        """The full option with the data so far (and what has been sent noted)."""
        self._sent_rows = self._rows()
        return _apply(opt, self._series())

    def update(self) -> Option | object | None:
        rows = self._rows()
        if rows == self._sent_rows:
            return None
        self._sent_rows = rows
        return self._series()

    # helpers --------------------------------------------------------------------

    def _index(self) -> np.ndarray:
        return gv.stride_index(self.h.n, MAX_POINTS)

    def _slow_index(self) -> np.ndarray:
        rows = np.flatnonzero(~np.isnan(self.h.ts["alive"]))
        return rows[gv.stride_index(rows.size, MAX_POINTS)]

    def _now(self) -> float:
        return float(self.h.ts["time"][-1]) if self.h.n else 0.0

    def _time_axes(self, n_grids: int) -> list[Option]:
        """Every time axis ends at the current tick (so the rows stay aligned)."""
        return [{"max": max(self._now(), 1.0)} for _ in range(n_grids)]

    def _marks(self, series_per_grid: list[int], n_series: int) -> list[Option]:
        """Dotted vertical lines (with their notes in the top row) at the scenario's events reached so far."""
        now = self._now()
        marks = [(t, note) for t, note in self.s.marks if t <= now]
        if len(marks) == self._n_marks:
            return []
        self._n_marks = len(marks)
        out: list[Option] = [{} for _ in range(n_series)]
        for row, i in enumerate(series_per_grid):
            out[i] = {
                "markLine": {
                    "silent": True,
                    "symbol": "none",
                    "animation": False,
                    "lineStyle": {"color": "#888", "type": "dotted", "width": 1},
                    "label": {"show": row == 0, "formatter": "{b}", "position": "end", "fontSize": 12},
                    "data": [{"xAxis": t, "name": note} for t, note in marks],
                }
            }
        return out


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


TYPE_SCALE = [[i / (len(NODE_TYPES) - 1), TYPE_COLOURS[t]] for i, t in enumerate(NODE_TYPES)]
COLOURINGS = {
    "R (persistence)": Colouring("R", "RdBu_r", -2.0, 2.0, ("R = 4", "R = ¼")),
    "C (coherence)": Colouring("C", "Viridis", 0.0, 1.0, ("C = 1", "C = 0")),
    "E (activation)": Colouring("E", "YlOrRd", -3.0, 1.0, ("E = 10", "E = 0.001")),
    "φ (phase)": Colouring("φ", "Twilight", -math.pi, math.pi, ("φ = π", "φ = −π")),
    "pressure": Colouring("pressure", "Reds", 0.0, 2.0, ("2", "0")),
    "type": Colouring("type", TYPE_SCALE, 0.0, float(len(NODE_TYPES) - 1), ("goal", "default")),
}


def default_colouring(session: Session) -> str:
    """R where persistence runs (or nothing else colours the nodes); C or φ in the coherence scenarios."""
    p = session.model.params
    if p.persistence.enabled or not (p.coherence.enabled or p.phase.enabled):
        return "R (persistence)"
    return "C (coherence)" if p.coherence.enabled else "φ (phase)"


def _raw(name: str, session: Session) -> np.ndarray:
    st = session.model.state
    key = name.split(" ")[0]
    return {"R": st.R, "C": st.C, "E": st.E, "φ": st.phi, "pressure": st.pressure}.get(key, st.node_type)


def colour_of(name: str, values: np.ndarray) -> np.ndarray:
    """Values → the colour axis of the colouring ``name`` (log2 R centred at 1, log10 E, type index …)."""
    if name.startswith("R"):
        return gv.ratio_colour(values)
    if name.startswith("E"):
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
        what = self.opts["colour"].split(" ")[0]
        note = " (persistence is off in this scenario, so R stays 1)" if what == "R" else ""
        if what == "R" and self.model.params.persistence.enabled:
            note = " (blue < 1 < red)"
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
        return COLOURINGS[self.opts["colour"]]

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
        c = COLOURINGS[self.opts["colour"]]
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


class ForgettingView(View):
    """Mean E per type and the tracked nodes (fast clock), node weight w per type (slow clock)."""

    key = "forgetting"
    label = "Forgetting curves"
    height = 540
    key_for = ("forgetting_curves", "consolidation")
    options: ClassVar[dict[str, list[str]]] = {"E axis": ["log", "linear"]}

    @staticmethod
    def relevant(session: Session) -> bool:
        return _has_energy(session)

    def option(self) -> Option:
        self.types = _types_present(self.s)
        self.groups = self.s.tracked_groups
        self.log = self.opts["E axis"] == "log"
        opt = base_option("Forgetting curves: mean E per type and tracked nodes")
        stacked_grids(opt, ["activation E (fast clock)", "node weight w (slow clock)"], [0.64, 0.36])
        if self.log:
            opt["yAxis"][0].update(type="log", scale=False)
        series = [line(f"{t} (mean)", TYPE_COLOURS[t], 0, 3) for t in self.types]
        for grp in self.groups:
            series.append(line(grp.label, TYPE_COLOURS.get(grp.node_type, "#7f7f7f"), 0, 1.5, "dotted"))
        opt["legend"][0]["data"] = [x["name"] for x in series]  # the weight rows share the types' colours
        series += [line(f"w {t}", TYPE_COLOURS[t], 1, 2) for t in self.types]
        opt["series"] = series
        self.first_row2 = len(self.types) + len(self.groups)
        return self._with_data(opt)

    def _series(self) -> Option:
        ts, i = self.h.ts, self._index()
        x = ts["time"][i]
        data: list[Option] = [{"data": xy(x, ts[f"E_mean_{t}"][i], self.log)} for t in self.types]
        if self.groups and self.h.nodes.n:
            nx = self.h.nodes["time"][:, 0]
            j = gv.stride_index(nx.size, MAX_POINTS)
            E = self.h.nodes["E"][j]
            data += [{"data": xy(nx[j], E[:, g.nodes].mean(axis=1), self.log)} for g in self.groups]
        else:
            data += [{} for _ in self.groups]
        si = self._slow_index()
        data += [{"data": xy(ts["time"][si], ts[f"w_mean_{t}"][si])} for t in self.types]
        marks = self._marks([0, self.first_row2], len(data))
        return {"series": _merge_series(data, marks), "xAxis": self._time_axes(2)}


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


class CriticalityView(View):
    """ρ with its bands (critical ρ* ± 0.05, runaway > ρ* + 0.2) and the controller's δ_E."""

    key = "criticality"
    label = "Criticality: ρ and δ_E"
    height = 540
    key_for = ("criticality",)

    @staticmethod
    def relevant(session: Session) -> bool:
        p = session.model.params
        return p.controller.enabled or (p.spread.alpha > 0 and p.learning.enabled)

    def option(self) -> Option:
        p = self.model.params.controller
        t = self.target = p.rho_target
        opt = base_option("Criticality: spectral radius ρ and decay rate δ_E")
        opt["legend"][0]["selected"] = {"σ (branching ratio)": False}
        stacked_grids(opt, ["spectral radius ρ", "decay rate δ_E"], [0.62, 0.38])
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
        return self._with_data(opt)

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
        colours = sample_colorscale("Viridis", [i / max(n - 1, 1) for i in range(n)])
        q = self.opts["quantity"]
        label = SCALE_QUANTITIES[q]
        opt = base_option(f"{label[0].upper()}{label[1:]} per scale (slow clock)")
        stacked_grids(opt, [label], [1.0], top=20)
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

    def option(self) -> Option:
        opt = base_option(self.label)
        stacked_grids(opt, [p[0] for p in self.panels], [0.5, 0.5])
        for row in self.log_rows:
            opt["yAxis"][row].update(type="log", scale=False)
        self.rows = [row for row, (_, cols) in enumerate(self.panels) for _ in cols]
        series = []
        self.first = []
        for row, (_, cols) in enumerate(self.panels):
            self.first.append(len(series))
            series += [line(name, colour, row, 2.5) for _, name, colour in cols]
        if self.unit_line is not None:
            series[0]["markLine"] = {
                "silent": True,
                "symbol": "none",
                "lineStyle": {"color": "#888", "type": "dashed", "width": 1},
                "label": {"show": False},
                "data": [{"yAxis": self.unit_line}],
            }
        opt["series"] = series
        return self._with_data(opt)

    def _series(self) -> Option:
        si = self._slow_index()
        ts = self.h.ts
        x = ts["time"][si]
        cols = [col for _, cs in self.panels for col, _, _ in cs]
        data = [{"data": xy(x, ts[col][si], row in self.log_rows)} for col, row in zip(cols, self.rows, strict=True)]
        marks = self._marks(self.first[1:], len(data))  # event lines in the lower row (the upper has y = 1)
        return {"series": _merge_series(data, marks), "xAxis": self._time_axes(2)}


class FreeEnergyView(SlowSeriesView):
    key = "free_energy"
    label = "Coherence free energy F = E_phase − T·S_phase"
    height = 540
    key_for = ("temperature_sweep",)
    panels = (
        (
            "F_coh, E_phase, S_phase",
            [("F_coh", "F_coh", "#000000"), ("E_phase", "E_phase", "#d62728"), ("S_phase", "S_phase", "#1f77b4")],
        ),
        ("phase order", [("order", "phase order |⟨e^{iφ}⟩|", "#2ca02c")]),
    )

    @staticmethod
    def relevant(session: Session) -> bool:
        return session.model.params.phase.enabled


class CoherenceErrorView(SlowSeriesView):
    key = "coherence_error"
    label = "Coherence backpropagation: error and root coherence"
    height = 480
    key_for = ("coherence_backprop", "coherence_tree")
    log_rows = (0,)
    panels = (
        ("error (C_root − C*)²", [("err", "error (C_root − C*)²", "#9467bd")]),
        ("root coherence C_root", [("C_root", "C_root", "#000000")]),
    )

    @staticmethod
    def relevant(session: Session) -> bool:
        return session.model.params.coherence.enabled


class PersistenceView(SlowSeriesView):
    key = "persistence"
    label = "Persistence: R across the graph"
    height = 540
    key_for = ("persistence",)
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
    key_for = ("stability_plasticity",)

    @staticmethod
    def relevant(session: Session) -> bool:
        exp = getattr(session.model, "plasticity", None)
        return exp is not None and exp.active

    @property
    def _dreams(self) -> bool:
        return bool(self.model.params.defenses.dream_loop)

    def option(self) -> Option:
        exp = self.model.plasticity
        chance = exp.results.get("chance", math.nan) if exp is not None else math.nan
        title = self.label if self._dreams else "Recall of A and B"
        opt = base_option(title, f"chance level (untrained weights) {_f(chance)} · tests every recall.every ticks")
        if self._dreams:
            stacked_grids(opt, ["recall F1", "dreams per sleep"], [0.62, 0.38], top=22)
        else:
            stacked_grids(opt, ["recall F1"], [1.0], top=22)
        opt["yAxis"][0].update(min=0, max=1, scale=False)
        a = line("task A", "#1f77b4", 0, 3, showSymbol=True, symbol="circle", symbolSize=6)
        b = line("task B", "#ff7f0e", 0, 3, showSymbol=True, symbol="circle", symbolSize=6)
        if math.isfinite(chance):
            a["markLine"] = {
                "silent": True,
                "symbol": "none",
                "lineStyle": {"color": "#888", "type": "dashed", "width": 1},
                "label": {"formatter": "chance", "position": "end", "fontSize": 12},
                "data": [{"yAxis": chance}],
            }
        series = [a, b]
        if self._dreams:
            bar = {"type": "bar", "xAxisIndex": 1, "yAxisIndex": 1, "barMaxWidth": 10, "barGap": "-100%"}
            series += [
                {**bar, "name": "dreams generated", "itemStyle": {"color": "#bbbbbb"}, "data": np.empty((0, 2))},
                {**bar, "name": "dreams kept (replayed)", "itemStyle": {"color": "#9467bd"}, "data": np.empty((0, 2))},
            ]
        opt["series"] = series
        self._seen = (-1, -1, -1)
        return self._with_data(opt)

    def _state(self) -> tuple[int, int, int]:
        exp = self.model.plasticity
        if exp is None or not exp.active:
            return (0, 0, 0)
        return (len(exp.history), len(exp.dream_cycles), len(self.model.events.of("plasticity.phase")))

    def update(self) -> Option | None:
        if self._state() == self._seen:
            return None
        return self._series()

    def _series(self) -> Option:
        exp = self.model.plasticity
        self._seen = self._state()
        if exp is None or not exp.active:
            return {}
        rows = exp.history[1:]  # the first test is the chance level, drawn as a line
        t = np.array([r["time"] for r in rows], dtype=np.float64)
        data: list[Option] = [
            {"data": xy(t, [r["A"] for r in rows])},
            {"data": xy(t, [r["B"] for r in rows])},
        ]
        names = {"A": "learn A", "B": "learn B", "done": "schedule done"}
        phases = [
            {"xAxis": float(e["tick"]), "name": names.get(e["phase"], e["phase"])}
            for e in self.model.events.of("plasticity.phase")
        ]
        data[1]["markLine"] = {  # the phase boundaries, on task B's series
            "silent": True,
            "symbol": "none",
            "animation": False,
            "lineStyle": {"color": "#555", "type": "dotted", "width": 1.5},
            "label": {"formatter": "{b}", "position": "end", "fontSize": 12},
            "data": phases,
        }
        if self._dreams:
            cyc = exp.dream_cycles
            x = np.array([c["start"] for c in cyc], dtype=np.float64)
            data += [
                {"data": xy(x, [c["generated"] for c in cyc])},
                {"data": xy(x, [c["kept"] for c in cyc])},
            ]
        return {"series": data, "xAxis": self._time_axes(2 if self._dreams else 1)}


def key_view(session: Session) -> type[View] | None:
    """The chart that carries the scenario's point (the first view whose ``key_for`` names it), if any."""
    name = session.scenario.name
    return next((cls for cls in VIEWS if name in cls.key_for), None)


VIEWS: tuple[type[View], ...] = (
    GraphView,
    SubtreeView,
    CriticalityView,
    ForgettingView,
    PerScaleView,
    FreeEnergyView,
    CoherenceErrorView,
    PersistenceView,
    HistogramView,
    RecallView,
)
