"""The registry of scenario metrics (SPEC 7, 8): name → function of a finished model.

A scenario's ``metrics = "name"`` picks the function registered under that name with
``@metric("name")``. Metric modules (:mod:`analysis.metrics`, :mod:`analysis.plasticity_metrics`)
import this module and register into it; :mod:`analysis.summary` imports them all and reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from model.registry import Registry

if TYPE_CHECKING:
    from model.model import CoherenceModel

Metric = Callable[["CoherenceModel"], dict[str, Any]]
METRICS: Registry = Registry("metric")
metric = METRICS.register  # @metric("criticality"): register a scenario's summary metrics
