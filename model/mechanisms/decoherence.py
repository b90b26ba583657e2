"""Decoherence events: the phases of chosen nodes scattered at once (seed 000, Test B).

Seed 000 predicts that "instability at one scale creates adjoint signals at adjacent
scales" and proposes to "track decoherence events at one scale". A ``decohere`` stimulus is
such an event: at its times, every selected alive node's phase receives a random kick,

    φ_i ← wrap(φ_i + s·u_i),   u_i ~ U(−π, π),   s = ``decoherence.strength`` ∈ [0, 1],

so s = 1 draws each phase afresh from the uniform distribution (a full scramble) and s = 0
changes nothing. The kicks are drawn from the stimulus stream (``model.rng_stim``), one per
selected node whether alive or not, never from the dynamics stream: a run with events and
the same seed with s = 0 (the paired control) share every thermal-noise draw, are identical
before the first event and differ afterwards only because of the events.

What follows is the model's own dynamics: the scattered leaves' local phase order (the
coherence input, SPEC 5.3) falls, coherence falls up the tree, the root's error rises and the
adjoint λ = ∂err/∂C carries it down to every scale; the phases then re-lock (SPEC 4.3) and
γ learning answers the error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..stimuli import Stimulus, stimulus_kind
from .phase import wrap

if TYPE_CHECKING:
    from ..model import CoherenceModel


def scatter(phi: np.ndarray, nodes: np.ndarray, alive: np.ndarray, strength: float, rng: np.random.Generator) -> None:
    """Kick the phases of ``nodes`` by ``strength``·U(−π, π), in place; dormant nodes keep theirs.

    Args:
        phi: the phases (length N), changed in place.
        nodes: the selected node indices.
        alive: which nodes are alive (a dormant node's phase is frozen, SPEC 4.3).
        strength: s ∈ [0, 1].
        rng: the stream the kicks come from (one uniform per selected node, always drawn).
    """
    kick = rng.uniform(-np.pi, np.pi, size=nodes.size)
    if strength == 0.0:  # the control: drawn, but not even re-wrapped (wrap may round the last bit)
        return
    live = alive[nodes]
    phi[nodes[live]] = wrap(phi[nodes[live]] + strength * kick[live])


@stimulus_kind("decohere")
def _decohere(model: CoherenceModel, stim: Stimulus, nodes: np.ndarray) -> None:
    """A decoherence event on the selected nodes (see the module docstring)."""
    st = model.state
    scatter(st.phi, nodes, st.alive, model.params.decoherence.strength, model.rng_stim)
