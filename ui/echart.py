"""A lean live-chart widget on Apache ECharts (served offline by solara-assets) for the app's figures.

Why not plotly's FigureWidget: on every data update plotly.js re-lays out the whole figure and
measures every tick label in the DOM (about 70 ms per figure on a 2-core machine, so four figures
cost several hundred ms per frame), and FigureWidget validates every update in Python and sends
each trace back from the browser. ECharts draws on a canvas and merges partial options.

Protocol (see ``echart.vue``): :meth:`EChart.show` sends the whole option once; :meth:`EChart.update`
sends only what changed (ECharts merges it: dicts recursively, the ``series``/axes lists item by
item). Numpy arrays travel as binary buffers (float64), 2-D arrays arrive as lists of rows. The
widget keeps the merged option, so a browser view that mounts later (or again) gets the current
state. After painting an update the browser calls back, which :meth:`on_drawn` turns into
back-pressure for the play loop.

JSON cannot carry functions, so a few hooks are expanded in the browser: a series with
``sizeDim: k`` sizes its symbols by value dimension k; ``tip: {fields: [[label, dim], …]}`` builds its
tooltip, headed by ``names[dataIndex]``, ``title``, the heat-map cell (``xs``/``ys``) or, with
``idDim``, the option's top-level ``nodeNames[value[idDim]]``; ``tooltip.digits`` rounds values;
a grid with ``square: true`` keeps equal width and height; every ``fontSize`` is multiplied by the
widget's ``font_scale`` (larger text in projector mode); with ``fit`` the chart is shortened (down to
``fit_min`` pixels) so that its bottom stays inside the browser window (the key chart on a projector)
and reports the height it chose in ``fitted``. The browser reports in ``visible`` whether the chart
is in its window: the session does not redraw a chart nobody can see.
:meth:`EChart.save_png` has the browser save the chart as drawn (ECharts' ``getDataURL``) under a
given file name.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import ipyvuetify as v
import numpy as np
import traitlets

MERGED_LISTS = {"series", "xAxis", "yAxis", "grid", "visualMap", "title", "legend"}


def encode(value: Any, buffers: list[memoryview]) -> Any:
    """Replace numpy arrays by references to binary buffers (float64, C order)."""
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return []
        arr = np.ascontiguousarray(value, dtype=np.float64)
        buffers.append(memoryview(arr).cast("B"))
        return {"__nd__": len(buffers) - 1, "shape": list(arr.shape)}
    if isinstance(value, dict):
        return {k: encode(x, buffers) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [encode(x, buffers) for x in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def merge(base: dict[str, Any], partial: dict[str, Any]) -> dict[str, Any]:
    """ECharts' merge of a partial option into a full one (in place; returns ``base``)."""
    for k, val in partial.items():
        old = base.get(k)
        if isinstance(val, dict) and isinstance(old, dict):
            merge(old, val)
        elif k in MERGED_LISTS and isinstance(val, list) and isinstance(old, list):
            for i, item in enumerate(val):
                if i < len(old) and isinstance(item, dict) and isinstance(old[i], dict):
                    merge(old[i], item)
                elif i >= len(old):
                    old.append(item)
                else:
                    old[i] = item
        else:
            base[k] = val
    return base


class EChart(v.VuetifyTemplate):
    """One live chart; see the module docstring."""

    template_file = (__file__, "echart.vue")
    height = traitlets.Int(400).tag(sync=True)
    font_scale = traitlets.Float(1.0).tag(sync=True)  # every fontSize of the option times this (projector)
    role = traitlets.Unicode("").tag(sync=True)  # "key": the scenario's key chart (a data attribute in the page)
    fit = traitlets.Bool(False).tag(sync=True)  # shrink (down to fit_min) so that the chart ends inside the window
    fit_min = traitlets.Int(300).tag(sync=True)
    fitted = traitlets.Int(0).tag(sync=True)  # with fit: the height the browser chose (pixels), 0 before
    visible = traitlets.Bool(True).tag(sync=True)  # in the browser's window (the session skips it when not)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.option: dict[str, Any] = {}
        self._ready = False
        self._lock = threading.RLock()  # the play thread updates while the browser's messages arrive
        self._seq = 0
        self._drawn_seq = 0
        self._waiting: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ server → browser

    def show(self, option: dict[str, Any]) -> None:
        """Replace the whole chart."""
        with self._lock:
            self.option = copy.deepcopy(option)
            if self._ready:
                self._post("replace", self.option)

    def update(self, partial: dict[str, Any]) -> bool:
        """Merge a partial option (only what changed); False when there is nothing to send."""
        if not partial:
            return False
        with self._lock:
            merge(self.option, partial)
            if self._ready:
                self._post("update", partial)
                return True
        return False

    def save_png(self, filename: str) -> None:
        """Ask the browser to save the chart as it is drawn now as a PNG file named ``filename``."""
        self.send({"method": "png", "args": [{"filename": filename}]})

    @traitlets.observe("font_scale")
    def _rescale(self, change: Any) -> None:
        if not hasattr(self, "_lock"):  # set by the constructor's keyword arguments
            return
        with self._lock:
            if self._ready and self.option:
                self._post("replace", self.option)

    def _post(self, method: str, option: dict[str, Any]) -> None:
        buffers: list[memoryview] = []
        with self._lock:
            self._seq += 1
            self.send({"method": method, "args": [{"seq": self._seq, "option": encode(option, buffers)}]}, buffers)

    # ------------------------------------------------------------------ browser → server

    def vue_ready(self, data: Any = None) -> None:
        """The browser has created the chart: send it the current state."""
        with self._lock:
            self._ready = True
            if self.option:
                self._post("replace", self.option)

    def vue_drawn(self, seq: Any = None) -> None:
        with self._lock:
            self._drawn_seq = max(self._drawn_seq, int(seq or 0))
            done = self._drawn_seq >= self._seq
            callbacks, self._waiting = (self._waiting, []) if done else ([], self._waiting)
        for fn in callbacks:
            fn()

    def on_drawn(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once the browser has painted everything sent so far (at once if nothing is pending)."""
        with self._lock:
            pending = self._ready and self._drawn_seq < self._seq
            if pending:
                self._waiting.append(fn)
        if not pending:
            fn()
