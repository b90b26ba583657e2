"""summary.json of a run (SPEC 8): the generic statistics plus the scenario's own metrics.

Importing the metric modules here fills the registry (:mod:`analysis.metric_registry`), so
every scenario's ``metrics`` name resolves, whichever module defines it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import error_propagation, landscape, metrics, plasticity_metrics, survival, thermo_outputs  # noqa: F401  (each registers its scenarios' metrics)
from .metric_registry import METRICS

if TYPE_CHECKING:
    from model.model import CoherenceModel


def summarize(model: CoherenceModel) -> dict[str, Any]:
    """The generic run statistics plus the scenario's own metrics."""
    out = metrics.generic(model)
    kind = model.scenario.scenario.metrics if model.scenario else "generic"
    if kind != "generic":
        out[kind] = METRICS[kind](model)
    return out
