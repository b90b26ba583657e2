"""The Coherence Lab model: graph, state arrays, mechanisms and the two SimPy clocks.

``CoherenceModel`` and ``SimulationError`` are loaded on first use, so that importing a leaf
module (``model.node_types``, ``model.params`` …) does not build the whole model: agents and
the app read those without an import cycle (model.model → agents → model.node_types).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .params import ParameterError, Params

if TYPE_CHECKING:
    from .model import CoherenceModel, SimulationError

__all__ = ["CoherenceModel", "ParameterError", "Params", "SimulationError"]


def __getattr__(name: str) -> Any:
    if name in ("CoherenceModel", "SimulationError"):
        from . import model as _model

        return getattr(_model, name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
