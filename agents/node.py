"""NodeAgent: one Mesa agent per graph node, a view onto the state arrays (SPEC 9.2).

Agents hold only their node index; every attribute reads (and, where it makes sense,
writes) the arrays, so there is one source of truth and no per-agent work inside a tick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from model.node_types import NODE_TYPES

if TYPE_CHECKING:
    from model.model import CoherenceModel


def _view(array: str, doc: str, cast: type = float) -> property:
    def get(self: NodeAgent) -> float:
        return cast(getattr(self.model.state, array)[self.index])

    def set_(self: NodeAgent, value: float) -> None:
        getattr(self.model.state, array)[self.index] = value

    return property(get, set_, doc=doc)


class NodeAgent(mesa.Agent):
    """A node of the fractal graph.

    Attributes (views onto ``model.state``): ``energy``, ``weight`` (node weight w),
    ``weights`` (outgoing edge weights, a dict target → W), ``coherence``, ``gamma``,
    ``adjoint``, ``R``, ``dkl``, ``pressure``, ``phase``, ``affect``, ``alive``;
    read-only structure: ``node_type``, ``scale``, ``depth``, ``parent``, ``children``.
    """

    model: CoherenceModel

    def __init__(self, model: CoherenceModel, index: int) -> None:
        super().__init__(model)
        self.index = index

    @classmethod
    def create_views(cls, model: CoherenceModel) -> None:
        """Create one agent per node, once, at build."""
        for i in range(model.graph.n):
            cls(model, i)

    energy = _view("E", "activation energy E")
    weight = _view("w", "node weight w")
    coherence = _view("C", "coherence C")
    gamma = _view("gamma", "coherence gain γ")
    adjoint = _view("lam", "adjoint λ")
    R = _view("R", "persistence ratio R")
    dkl = _view("dkl", "KL(q‖p) of the node's prediction")
    pressure = _view("pressure", "persistence pressure")
    phase = _view("phi", "phase φ")
    affect = _view("affect", "affect ∈ [0, 1]")
    alive = _view("alive", "False once dormant", bool)

    @property
    def weights(self) -> dict[int, float]:
        """Outgoing edge weights {target: W_ij} (write with ``set_weight``)."""
        g, st = self.model.graph, self.model.state
        pos = np.flatnonzero(g.edge_src == self.index) if g.n < 10_000 else self._out_positions()
        return {int(g.edge_dst[k]): float(st.W[k]) for k in pos}

    def set_weight(self, target: int, value: float) -> None:
        """Set W_ij for the edge from this node to ``target``."""
        g = self.model.graph
        row = g.indices[g.indptr[target] : g.indptr[target + 1]]
        hit = np.flatnonzero(row == self.index)
        if hit.size == 0:
            raise KeyError(f"no edge {self.index} → {target}")
        self.model.state.W[g.indptr[target] + hit[0]] = value

    def _out_positions(self) -> np.ndarray:
        g = self.model.graph
        out = []
        for j in g.neighbours(self.index):  # links are two-way: i's targets are its neighbours
            row = g.indices[g.indptr[j] : g.indptr[j + 1]]
            out.append(g.indptr[j] + int(np.flatnonzero(row == self.index)[0]))
        return np.asarray(out, dtype=np.int64)

    @property
    def node_type(self) -> str:
        return NODE_TYPES[self.model.state.node_type[self.index]]

    @property
    def scale(self) -> int:
        return int(self.model.graph.scale[self.index])

    @property
    def depth(self) -> int:
        return int(self.model.graph.depth[self.index])

    @property
    def parent(self) -> int | None:
        p = int(self.model.graph.parent[self.index])
        return None if p < 0 else p

    @property
    def children(self) -> list[int]:
        return [int(c) for c in self.model.graph.children(self.index)]
