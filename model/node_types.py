"""Node types and their physics (SPEC 2.2): the names and the per-type multipliers.

A leaf module (it imports nothing from the project), so that agents, mechanisms, the
recorder and the app can all read the type table without importing the model.

- ``M_E[t]`` multiplies the activation decay rate: δ_E,i = δ_E·m_E(type_i) (SPEC 4.4).
- ``M_W[t]`` multiplies the weight decay rate: δ_W,i = δ_W·m_W(type_i) (SPEC 5.1).
- ``R_TYPE[t]`` is the structural decay resistance of the type (SPEC 4.5).
"""

from __future__ import annotations

NODE_TYPES: tuple[str, ...] = ("default", "memory", "task", "principle", "goal")

M_E: dict[str, float] = {"default": 1.0, "memory": 0.5, "task": 5.0, "principle": 0.5, "goal": 0.5}
M_W: dict[str, float] = {"default": 1.0, "memory": 0.5, "task": 3.0, "principle": 0.3, "goal": 0.5}
R_TYPE: dict[str, float] = {"default": 1.0, "memory": 1.2, "task": 1.0, "principle": 1.15, "goal": 1.0}


def type_multipliers(which: str) -> list[float]:
    """The activation (``"E"``) or weight (``"W"``) decay multipliers in NODE_TYPES order."""
    table = M_E if which == "E" else M_W
    return [table[t] for t in NODE_TYPES]
