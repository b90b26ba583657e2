"""The Coherence Lab model: graph, state arrays, mechanisms and the two SimPy clocks."""

from .model import CoherenceModel, SimulationError
from .params import ParameterError, Params

__all__ = ["CoherenceModel", "ParameterError", "Params", "SimulationError"]
