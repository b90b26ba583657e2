"""The read-only recall test of the stability–plasticity experiment (SPEC 6; seed 001's "behavioral test").

Seed 001 asks whether a trained behaviour survives later training. Here a behaviour is a
pattern's response to its cue ("context → decision"), and the test is pattern completion:

1. Copy the live state (``State.copy()``) and the weight matrix (built over the copy's W);
   everything below writes only to the copy. The copy starts at rest (E = 0, nothing
   queued), so the score measures what the weights store, not leftover activity.
2. For ``recall.ticks`` ticks: inject E_ref into the cue nodes (the cue is held), spread and
   decay exactly as the fast tick does (SPEC 4.1, 4.2, 4.4: E ← E + α·Wᵀ·E on alive nodes,
   E ← E·ret, energy floor, clamp at E_max), with δ_E held at its live value. Learning,
   weight decay, the controller, consolidation and phases do not run.
3. Take the k most activated non-cue nodes, k = the number of response nodes (ties broken
   by the lower node index), and score them against the response nodes:
   F1 = 2·|top-k ∩ response| / (|top-k| + |response|).

All patterns of one test run side by side as the columns of an N × P activation matrix
(one sparse matrix–matrix product per tick). Nothing random is drawn, so the same state
gives the same scores, and the live model is never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..graph import Graph
from ..params import Params
from ..state import State
from . import decay


def f1(chosen: np.ndarray, response: np.ndarray) -> float:
    """F1 overlap of a chosen node set with the response set."""
    total = chosen.size + response.size
    if total == 0:
        return 0.0
    return 2.0 * np.intersect1d(chosen, response).size / total


def top_k(E: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """The k nodes with the highest E outside ``exclude``; ties by the lower index."""
    candidates = np.setdiff1d(np.arange(E.size), exclude)
    order = np.lexsort((candidates, -E[candidates]))  # primary: −E, secondary: index
    return candidates[order[:k]]


def recall_activation(
    graph: Graph, state: State, params: Params, cues: Sequence[np.ndarray], ticks: int | None = None
) -> np.ndarray:
    """Activation (N × P) after holding each cue for ``recall.ticks`` ticks on a copy of the state."""
    st = state.copy()
    Wt = graph.matrix(st.W)  # a matrix over the copy's weights
    p = params
    n_ticks = p.recall.ticks if ticks is None else ticks
    P = len(cues)
    E = np.zeros((graph.n, P))
    cue_mask = np.zeros((graph.n, P))
    for col, cue in enumerate(cues):
        cue_mask[cue, col] = p.learning.E_ref
    ret = decay.retention(st, p, None)[:, None]  # δ_E held (the copy's value)
    alive = st.alive[:, None]
    all_alive = bool(st.alive.all())
    alpha = p.spread.alpha
    for _ in range(n_ticks):
        E += cue_mask  # 4.1 injection (the cue is held)
        if alpha:
            gain = Wt @ (E if all_alive else E * alive)  # 4.2 spreading from alive senders
            gain *= alpha
            if not all_alive:
                gain *= alive
            E += gain
        E *= ret  # 4.4 decay, floor, clamp
        E[p.decay.energy_floor > E] = 0.0
        np.minimum(E, p.decay.E_max, out=E)
    return E


def recall_scores(
    graph: Graph,
    state: State,
    params: Params,
    cues: Sequence[np.ndarray],
    responses: Sequence[np.ndarray],
    ticks: int | None = None,
) -> np.ndarray:
    """F1 of every (cue, response) pair, tested read-only on a copy of the state."""
    if not cues:
        return np.zeros(0)
    E = recall_activation(graph, state, params, cues, ticks)
    return np.array(
        [f1(top_k(E[:, c], cue, resp.size), resp) for c, (cue, resp) in enumerate(zip(cues, responses, strict=True))]
    )
