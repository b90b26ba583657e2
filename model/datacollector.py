"""Mesa's DataCollector at the slow cadence (SPEC 9.2): model-level aggregates, never per node.

The model collects once when it is built and once per slow tick, so a fast tick pays nothing
for it (the aggregates are O(N) sums; per fast tick they would be a second pass over the
state that the recorder's timeseries already holds). ``get_model_vars_dataframe()`` has one
row per collection, indexed by the model step (``model.steps``) it was taken at.

``mesa.batch_run`` reads ``model_vars[name][step]`` for every step it reports: indexed by a
non-negative step number, each reporter's list gives the value collected at or before that
step (the state as of the latest slow tick), so batch runs work at any collection period.
Other indexing (negative, slices) and iteration are those of the plain list of collections.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .model import CoherenceModel


class _HeldSeries(list):
    """One reporter's values, one per collection; a step number picks the latest at or before it."""

    def __init__(self, steps: list[int]) -> None:
        super().__init__()
        self._steps = steps

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int | np.integer) and index >= 0:
            index = max(bisect.bisect_right(self._steps, int(index)) - 1, 0)
        return super().__getitem__(index)


REPORTERS = {
    "E_total": lambda m: float(m.state.E.sum()),
    "rho": lambda m: float(m.state.rho),
    "delta_E": lambda m: float(m.state.delta_E),
    "active": lambda m: int(np.count_nonzero(m.params.controller.active_threshold < m.state.E)),
    "err": lambda m: m._last_slow.get("err", math.nan),
    "R_mean": lambda m: m._last_slow.get("R_mean", math.nan),
}


class SlowDataCollector(mesa.DataCollector):
    """Mesa's DataCollector, collected by the model at build and on every slow tick."""

    def __init__(self) -> None:
        self.collected_at: list[int] = []  # model.steps of each collection
        super().__init__(model_reporters=REPORTERS)
        self.model_vars = {name: _HeldSeries(self.collected_at) for name in self.model_vars}

    def collect(self, model: CoherenceModel) -> None:
        self.collected_at.append(int(model.steps))
        super().collect(model)

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """One row per collection, indexed by the model step it was taken at."""
        frame = pd.DataFrame({k: list(v) for k, v in self.model_vars.items()})
        frame.index = pd.Index(self.collected_at, name="step")
        return frame
