"""The run's history as growing numpy columns, read incrementally from the model's recorder.

The recorder keeps its tables as lists of rows; converting the whole list on every frame
would cost O(ticks). :class:`History` copies only the rows added since the last
:meth:`History.sync` (a few per frame), so a frame costs the same at tick 10 and tick 10⁵.
Call ``sync`` between model steps (under the session's lock): a row is final once its step
has finished (the slow tick fills its columns within the same step).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from model.node_types import NODE_TYPES
from model.recorder import NODES_COLUMNS, SCALES_COLUMNS, TIMESERIES_COLUMNS

if TYPE_CHECKING:
    from model.model import CoherenceModel

TS_NUMERIC = [c for c in TIMESERIES_COLUMNS if c != "band"]
SCALE_QUANTITIES = [c for c in SCALES_COLUMNS if c not in ("tick", "time", "scale", "n", "alive")]
_NODE_VALUES = ("E", "w", "R", "C", "dkl", "pressure")


class Columns:
    """Named float64 columns that grow by doubling; with a ``width``, each row is a vector of that width."""

    def __init__(self, names: list[str], width: int | None = None) -> None:
        self.names = list(names)
        self.n = 0
        self._data = {k: np.full((64,) if width is None else (64, width), np.nan) for k in self.names}

    def append(self, block: dict[str, np.ndarray]) -> None:
        m = len(next(iter(block.values()))) if block else 0
        if m == 0:
            return
        need = self.n + m
        if need > len(self._data[self.names[0]]):
            cap = max(need, 2 * len(self._data[self.names[0]]))
            for k, v in self._data.items():
                grown = np.full((cap, *v.shape[1:]), np.nan)
                grown[: self.n] = v[: self.n]
                self._data[k] = grown
        for k in self.names:
            self._data[k][self.n : need] = block[k]
        self.n = need

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name][: self.n]


class History:
    """Time series of one model run: fast-tick columns, per-scale rows and tracked nodes."""

    def __init__(self, model: CoherenceModel) -> None:
        self.model = model
        rec = model.recorder
        self.tracked = np.asarray(rec.tracked, dtype=np.int64)
        self.tracked_types = [NODE_TYPES[t] for t in model.state.node_type[self.tracked]]
        self.tracked_scales = model.graph.scale[self.tracked].tolist()
        self.n_scales = model.graph.n_scales
        self.ts = Columns(TS_NUMERIC)
        self.band: list[str] = []
        self.scales = Columns(["time", *SCALE_QUANTITIES], width=self.n_scales)
        self.nodes = Columns(["time", *_NODE_VALUES], width=max(1, self.tracked.size))
        self._ts_done = 0
        self._scales_done = 0
        self._nodes_done = 0

    @property
    def n(self) -> int:
        return self.ts.n

    @property
    def slow_rows(self) -> int:
        return self.scales.n

    def sync(self) -> int:
        """Copy the rows added since the last call; returns how many fast rows were added."""
        rec = self.model.recorder
        new = rec.timeseries[self._ts_done :]
        if new:
            block = {c: np.array([r.get(c, math.nan) for r in new], dtype=np.float64) for c in TS_NUMERIC}
            self.ts.append(block)
            self.band.extend(r.get("band", "") for r in new)
            self._ts_done += len(new)
        s = self.n_scales
        new_scales = rec.scales[self._scales_done :]
        done = len(new_scales) - len(new_scales) % s
        if done:
            rows = new_scales[:done]
            block = {"time": np.array([rows[i]["time"] for i in range(0, done, s)], dtype=np.float64)}
            block["time"] = np.repeat(block["time"][:, None], s, axis=1)
            for q in SCALE_QUANTITIES:
                block[q] = np.array([r[q] for r in rows], dtype=np.float64).reshape(-1, s)
            self.scales.append(block)
            self._scales_done += done
        k = self.tracked.size
        if k:
            # the last tick's tracked rows may still be rewritten by a slow tick: keep them pending
            complete = (len(rec.nodes) // k) * k
            rows = rec.nodes[self._nodes_done : complete]
            if rows:
                arr = np.array([r[NODES_COLUMNS.index("time") :] for r in rows], dtype=object)
                block = {"time": np.asarray(arr[:, 0], dtype=np.float64).reshape(-1, k)}
                for q in _NODE_VALUES:
                    col = NODES_COLUMNS.index(q) - NODES_COLUMNS.index("time")
                    block[q] = np.asarray(arr[:, col], dtype=np.float64).reshape(-1, k)
                self.nodes.append(block)
                self._nodes_done = complete
        return len(new)

    def last(self, column: str) -> float:
        return float(self.ts[column][-1]) if self.ts.n else math.nan
