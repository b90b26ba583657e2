"""Stimuli: what a scenario does to the model over time (SPEC 3, 4.1), as SimPy processes.

A stimulus has a kind (``pulse``, ``retrieval``, ``goal``, ``set`` …), a time schedule
(``at``, optionally ``every`` and ``until``) and a node selection. Each kind is one handler
registered with :func:`stimulus_kind`, so new mechanisms add kinds without touching the clock.
A stimulus at time t runs before the fast tick of time t; energy it injects enters that tick.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .clocks import STIMULUS, on_grid, wake_at
from .messages import did_you_mean
from .node_types import NODE_TYPES
from .registry import Registry

if TYPE_CHECKING:
    from .model import CoherenceModel


class Selector(BaseModel):
    """Which nodes a stimulus (or the tracking) addresses; all given filters must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: list[int] | None = Field(None, description="explicit node indices")
    type: Literal["default", "memory", "task", "principle", "goal"] | None = None
    scale: int | None = Field(None, ge=0)
    depth: int | None = Field(None, ge=0)
    subtree: int | None = Field(None, ge=0, description="descendants of this node, itself included")
    leaves: bool = Field(False, description="only nodes without children")
    count: int | None = Field(None, ge=1, description="a seeded random choice of this many of the matches")
    label: str | None = Field(None, description="a name for the group (tracked nodes)")

    def resolve(self, model: CoherenceModel, rng: np.random.Generator) -> np.ndarray:
        """Sorted node indices selected in this model."""
        g, st = model.graph, model.state
        mask = np.ones(g.n, bool)
        if self.nodes is not None:
            bad = [i for i in self.nodes if not 0 <= i < g.n]
            if bad:
                raise ValueError(f"node index {bad[0]} is out of range: the graph has nodes 0 … {g.n - 1}")
            mask[:] = False
            mask[self.nodes] = True
        if self.type is not None:
            mask &= st.node_type == NODE_TYPES.index(self.type)
        if self.scale is not None:
            mask &= g.scale == self.scale
        if self.depth is not None:
            mask &= g.depth == self.depth
        if self.subtree is not None:
            if self.subtree >= g.n:
                raise ValueError(f"subtree root {self.subtree} is out of range: the graph has nodes 0 … {g.n - 1}")
            sub = np.zeros(g.n, bool)
            sub[g.subtree(self.subtree)] = True
            mask &= sub
        if self.leaves:
            mask &= g.is_leaf
        idx = np.flatnonzero(mask)
        if self.count is not None and self.count < idx.size:
            idx = np.sort(rng.choice(idx, size=self.count, replace=False))
        return idx


class Stimulus(BaseModel):
    """One scheduled stimulus of a scenario (a ``[[stimuli]]`` table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    at: float = Field(0.0, ge=0.0, description="first time")
    every: float | None = Field(None, gt=0.0, description="repeat period")
    until: float | None = Field(None, ge=0.0, description="last time (inclusive); forever if absent")
    select: Selector = Selector()
    amount: float = Field(1.0, ge=0.0, description="energy per selected node (pulse)")
    affect: float | None = Field(None, ge=0.0, le=1.0, description="affect set on the nodes (pulse)")
    status: Literal["unresolved", "resolved"] = "unresolved"
    key: str | None = Field(None, description="parameter to change (set)")
    value: Any = None
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Stimulus:
        if self.kind not in KINDS:
            hint = did_you_mean(self.kind, KINDS)
            raise ValueError(f"unknown stimulus kind '{self.kind}'{hint} (allowed: {', '.join(sorted(KINDS))})")
        if self.kind == "set" and self.key is None:
            raise ValueError("a 'set' stimulus needs key and value")
        if self.until is not None and self.until < self.at:
            raise ValueError(f"stimulus until ({self.until}) is before at ({self.at})")
        return self


Handler = Callable[["CoherenceModel", Stimulus, np.ndarray], None]
KINDS: Registry = Registry("stimulus kind")
stimulus_kind = KINDS.register  # @stimulus_kind("pulse"): register a handler for a stimulus kind


def process(model: CoherenceModel, stim: Stimulus, nodes: np.ndarray) -> Generator[Any, Any, None]:
    """The SimPy process of one stimulus."""
    env = model.env
    handler = KINDS[stim.kind]
    dt = model.params.clock.dt_fast
    k = 0
    t = on_grid(stim.at, dt)
    while stim.until is None or t <= stim.until + 1e-9:
        yield wake_at(env, t, STIMULUS)
        handler(model, stim, nodes)
        if stim.every is None:
            return
        k += 1
        t = on_grid(stim.at + k * stim.every, dt)  # exact absolute times, never a running sum (SPEC 3)


@stimulus_kind("pulse")
def _pulse(model: CoherenceModel, stim: Stimulus, nodes: np.ndarray) -> None:
    model.state.inject[nodes] += stim.amount
    if stim.affect is not None:
        model.state.affect[nodes] = stim.affect


@stimulus_kind("retrieval")
def _retrieval(model: CoherenceModel, stim: Stimulus, nodes: np.ndarray) -> None:
    """A successful retrieval in service of a goal (consolidation trigger)."""
    model.state.last_success[nodes] = model.env.now


@stimulus_kind("goal")
def _goal(model: CoherenceModel, stim: Stimulus, nodes: np.ndarray) -> None:
    """Relate nodes to a goal and set its status (consolidation trigger while unresolved)."""
    model.state.goal_related[nodes] = True
    model.state.goal_unresolved[nodes] = stim.status == "unresolved"


@stimulus_kind("set")
def _set(model: CoherenceModel, stim: Stimulus, nodes: np.ndarray) -> None:
    """Change a parameter mid-run (e.g. the load, or switching learning on)."""
    model.set_param(stim.key, stim.value)


@stimulus_kind("environment_shift")
def _environment_shift(model: CoherenceModel, stim: Stimulus, nodes: np.ndarray) -> None:
    """Redraw the reality of the selected nodes' leaves (with ``every``: a volatile subtree)."""
    from .mechanisms.persistence import redraw_reality

    redraw_reality(model.graph, model.state, model.params, model.rng_dyn, nodes)


def load_process(model: CoherenceModel, rng: np.random.Generator) -> Generator[Any, Any, None]:
    """Background load: Poisson(load.rate) pulses of load.amount into random alive nodes, every fast tick."""
    env = model.env
    dt = model.params.clock.dt_fast
    k = 0
    while True:
        k += 1
        yield wake_at(env, k * dt, STIMULUS)
        lp = model.params.load
        if lp.rate <= 0:
            continue
        pulses = int(rng.poisson(lp.rate))
        if pulses:
            alive = model.state.alive
            targets = rng.integers(0, model.graph.n, size=pulses)
            targets = targets[alive[targets]]
            np.add.at(model.state.inject, targets, lp.amount)


# --- seed 000 Test B: the ``decohere`` kind registers itself on import (model/mechanisms/decoherence.py)
from .mechanisms import decoherence  # noqa: E402, F401
