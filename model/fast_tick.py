"""The heavy passes of both clocks in two interchangeable engines: the fast tick's injection,
spreading, decay, window sums and power iteration (SPEC 4.1, 4.2, 4.4, 4.6), and the slow tick's
weight decay, Hebbian learning with its budget (5.1, 5.2) and persistence law (5.4):

- ``"numpy"``: the mechanism modules called one after the other; the readable reference;
- ``"compiled"`` (default): the same arithmetic fused into a few passes without temporaries
  (``kernels``), on as many threads as the work pays for.

The fast tick returns its totals, so the recorder never needs another pass over the arrays.
Choose with ``CoherenceModel(engine=...)`` or the environment variable ``COHLAB_ENGINE``.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import kernels
from .graph import Graph
from .mechanisms import coherence, criticality, decay, persistence, spreading, weights
from .node_types import M_W, NODE_TYPES
from .params import ParameterError, Params
from .state import State

ENGINES = ("compiled", "numpy")


@dataclass
class TickTotals:
    """Totals of one fast tick, over all nodes, after decay unless said."""

    prev_total: float  # ΣE at the start of the tick, before injection
    injected: float  # energy injected this tick (4.1)
    before: float  # ΣE after spreading, before decay
    after: float  # ΣE
    squares: float  # ΣE²
    saturated: int  # nodes clamped at E_max
    active: int  # nodes with E > controller.active_threshold
    type_sums: np.ndarray  # ΣE per node type
    rho: float  # the power iteration's estimate of ρ

    @property
    def participation(self) -> float:
        """(ΣE)²/ΣE² (0 when there is no energy)."""
        return criticality.participation_ratio(self.after, self.squares)


def default_engine() -> str:
    """The engine named by ``COHLAB_ENGINE``, else ``"compiled"`` where it is built, else ``"numpy"``."""
    named = os.environ.get("COHLAB_ENGINE")
    if named:
        return check_engine(named)
    if kernels.available():
        return "compiled"
    warnings.warn(
        "the compiled fast tick is not built (`pip install -e .` needs a C compiler): using the numpy engine, "
        "which gives the same results about 2-3x slower at large N",
        RuntimeWarning,
        stacklevel=3,
    )
    return "numpy"


def check_engine(engine: str) -> str:
    """``engine`` if it names an engine, else a ParameterError naming the allowed ones."""
    if engine not in ENGINES:
        raise ParameterError(f"unknown engine '{engine}'; allowed: {', '.join(ENGINES)}")
    return engine


def make_engine(engine: str, n: int) -> NumpyTick | CompiledTick:
    """The fast-tick core of the named engine for N nodes."""
    return CompiledTick(n) if check_engine(engine) == "compiled" else NumpyTick()


def reverse_edges(graph: Graph) -> np.ndarray:
    """The stored position of each entry's reverse edge (int32), or an empty array if some link is
    one-way.

    The links are undirected and each row's sources sorted, so sorting the entries by source
    (stably: rows stay in order) lists, for row j, the entries *out of* j in the order of the
    targets, the order of j's own sorted sources. The budget's outgoing sums then gather in
    parallel, in the same order as the serial scatter (the same bits).
    """
    order = np.argsort(graph.indices, kind="stable").astype(np.int32)
    return order if np.array_equal(graph.edge_dst[order], graph.indices) else np.empty(0, np.int32)


class NumpyTick:
    """The reference: each mechanism as written in its module."""

    # Whether the last slow-tick pass vouched that every state value it wrote is finite (so the model
    # may skip its own check of those arrays): the reference never does, the model checks after it.
    wrote_finite = False

    def __call__(self, st: State, Wt: sp.csr_matrix, p: Params, ret: np.ndarray) -> TickTotals:
        prev_total = float(st.E.sum())
        injected = spreading.inject(st)
        all_alive = bool(st.alive.all())
        alpha = p.spread.alpha
        gain = Wt @ spreading.senders(st, all_alive) if alpha else None
        spreading.spread(st, gain, alpha, all_alive)
        before = float(st.E.sum())
        _, n_sat = decay.decay(st, ret, p)
        rho = criticality.power_iterate(st, Wt, alpha, ret, p.controller.iterations)
        st.E_sum += st.E
        return TickTotals(
            prev_total=prev_total,
            injected=injected,
            before=before,
            after=float(st.E.sum()),
            squares=float(np.dot(st.E, st.E)),
            saturated=n_sat,
            active=int(np.count_nonzero(p.controller.active_threshold < st.E)),
            type_sums=np.bincount(st.node_type, weights=st.E, minlength=len(NODE_TYPES)),
            rho=rho,
        )

    def retention(self, st: State, p: Params, chosen: np.ndarray | None) -> np.ndarray:
        """4.4's retention per node this tick (``decay.retention``)."""
        return decay.retention(st, p, chosen)

    def power_iterate(
        self, st: State, Wt: sp.csr_matrix, alpha: float, ret: np.ndarray, iterations: int, tol: float = 0.0
    ) -> float:
        """Re-converge ρ (build, slow tick): ``criticality.power_iterate``, stopping early at ``tol``."""
        return criticality.power_iterate(st, Wt, alpha, ret, iterations, tol=tol)

    def solve_rho(self, st: State, Wt: sp.csr_matrix, alpha: float, ret: np.ndarray) -> float:
        """Solve for the Perron root and vector (build, operator jumps): ``criticality.perron``."""
        return criticality.perron(st, Wt, alpha, ret)

    def weights(self, graph: Graph, st: State, p: Params, Wt: sp.csr_matrix, dt: float, hebbian: bool) -> float:
        """5.1 weight decay over ``dt`` then, if ``hebbian``, 5.2 (``mechanisms.weights``); the weight removed."""
        removed = weights.weight_decay(graph, st, p, dt)
        if hebbian:
            weights.hebbian(graph, st, p, weights.window_mean(st))
        return removed

    def coherence(self, graph: Graph, st: State, p: Params, rng: np.random.Generator) -> dict[str, Any]:
        """5.3: ``coherence.coherence_slow_tick``."""
        return coherence.coherence_slow_tick(graph, st, p, rng)

    def persistence(
        self, graph: Graph, st: State, p: Params, rng: np.random.Generator, slow_tick_index: int
    ) -> dict[str, Any]:
        """5.4: ``persistence.persistence_slow_tick``."""
        return persistence.persistence_slow_tick(graph, st, p, rng, slow_tick_index)


class CompiledTick:
    """The fused passes of ``kernels``, with their work buffers allocated once."""

    def __init__(self, n: int) -> None:
        if not kernels.available():
            raise RuntimeError(
                "the compiled engine is not built (run `pip install -e .` in the project, which needs a C "
                "compiler); use engine='numpy' or COHLAB_ENGINE=numpy meanwhile"
            )
        nb = kernels.n_blocks(n)
        self.ev = np.empty(2 * n)  # senders and power vector, interleaved: one gather fetches both
        self.av = (np.empty(n), np.empty(n))
        self.v = np.empty(n)
        self.prep = np.zeros((nb, kernels.PREP_COLS))
        self.partials = np.zeros((nb, kernels.TYPE0 + len(NODE_TYPES)))
        self.squares = np.zeros(nb)
        self.weight_sums = np.zeros((nb, 4))  # Σ W, Σ w before and after weight decay, per block
        self.m_W = np.array([M_W[t] for t in NODE_TYPES])  # the weight-decay multiplier of each type
        self._leaves_seen: tuple[np.ndarray, float] | None = None  # (z, τ) of the leaves' last softmax
        self.neg_entropy: np.ndarray | None = None  # Σ q ln q per node, kept by observe for persist's D_KL
        self._reverse: np.ndarray | None = None  # reverse_edges(graph), made at the first slow tick
        self.ret_table = np.zeros(kernels.RET_TYPES)  # retention by type, as the kernels index it
        self.wrote_finite = False  # the last slow-tick pass wrote only finite values (its kernels say so)

    def retention(self, st: State, p: Params, chosen: np.ndarray | None) -> decay.TypeRetention | np.ndarray:
        """4.4's retention this tick: by type where that is all it depends on (no per-node array made)."""
        by_type = decay.type_retention(st, p, chosen)
        return by_type if by_type is not None else decay.retention(st, p, chosen)

    def _ret(self, ret: decay.TypeRetention | np.ndarray) -> tuple[np.ndarray, bool]:
        """(retention array, by type?) as the kernels take them."""
        if isinstance(ret, decay.TypeRetention):
            self.ret_table[: ret.table.size] = ret.table
            return self.ret_table, True
        return np.ascontiguousarray(ret, dtype=np.float64), False

    def __call__(self, st: State, Wt: sp.csr_matrix, p: Params, ret: decay.TypeRetention | np.ndarray) -> TickTotals:
        alive = st.alive.view(np.uint8)
        kernels.prepare(st.E, st.inject, st.received_sum, st.power_v, alive, self.ev, self.prep)  # 4.1
        prep = self.prep.sum(axis=0)
        norm = math.sqrt(prep[kernels.V_SQUARES])
        if norm == 0.0:  # no warm start left: start_vector restarts from the uniform vector on alive nodes
            self.ev[1::2] = criticality.start_vector(st)
            norm = 1.0
        alpha = p.spread.alpha
        av = self.av[0]
        ret = self._ret(ret)
        kernels.spread_decay_power(
            Wt.indptr, Wt.indices, Wt.data, self.ev, 1.0 / norm, st.E, alive, ret[0], st.node_type, len(NODE_TYPES),
            alpha, p.decay.energy_floor, p.decay.E_max, p.controller.active_threshold,
            av, st.received_sum, st.E_sum, self.partials, ret[1],
        )  # fmt: skip
        totals = self.partials.sum(axis=0)
        rho = self._iterate(st, Wt, alpha, ret, av, math.sqrt(totals[kernels.AV_SQUARES]), p.controller.iterations - 1)
        return TickTotals(
            prev_total=float(prep[kernels.PREV_TOTAL]),
            injected=float(prep[kernels.INJECTED]),
            before=float(totals[kernels.BEFORE]),
            after=float(totals[kernels.AFTER]),
            squares=float(totals[kernels.SQUARES]),
            saturated=int(totals[kernels.SATURATED]),
            active=int(totals[kernels.ACTIVE]),
            type_sums=totals[kernels.TYPE0 :].copy(),
            rho=rho,
        )

    def power_iterate(
        self, st: State, Wt: sp.csr_matrix, alpha: float, ret: np.ndarray, iterations: int, tol: float = 0.0
    ) -> float:
        """Re-converge ρ (build, slow tick): ``criticality.power_iterate`` with the compiled power step."""
        if iterations < 1:
            return 0.0
        v = criticality.start_vector(st, out=self.av[0])
        return self._iterate(st, Wt, alpha, self._ret(ret), v, 1.0, iterations, tol)

    def solve_rho(self, st: State, Wt: sp.csr_matrix, alpha: float, ret: np.ndarray) -> float:
        """Solve for the Perron root and vector (build, operator jumps): ``criticality.perron``
        with the compiled product."""
        alive, (table, by_type) = st.alive.view(np.uint8), self._ret(ret)

        def product(x: np.ndarray) -> np.ndarray:
            out = np.empty_like(x)
            kernels.power_step(Wt.indptr, Wt.indices, Wt.data, x, 1.0, alive, table, alpha, out, self.squares,
                               st.node_type, by_type)  # fmt: skip
            return out

        return criticality.perron(st, Wt, alpha, ret, product)

    def weights(self, graph: Graph, st: State, p: Params, Wt: sp.csr_matrix, dt: float, hebbian: bool) -> float:
        """5.1 and, if ``hebbian``, 5.2 in one parallel pass over the edges (plus one for the budget)."""
        lp = p.learning
        factor = np.exp(-p.decay.delta_W * self.m_W * dt)  # per type, as weights.weight_decay per node
        x, out = self.av  # scratch: the power vector is rebuilt after the slow tick
        if self._reverse is None:
            self._reverse = reverse_edges(graph)
        self.wrote_finite = kernels.slow_weights(
            Wt.indptr, Wt.indices, st.W, st.w, st.node_type, factor, st.E_sum, st.window_ticks,
            lp.E_ref, lp.eta_W, lp.eta_w, lp.W_max, lp.budget, hebbian, lp.scaling, x, out, self.weight_sums,
            self._reverse,
        )  # fmt: skip
        before_W, before_w, after_W, after_w = self.weight_sums.sum(axis=0)
        return float((before_W + before_w) - (after_W + after_w))

    def coherence(self, graph: Graph, st: State, p: Params, rng: np.random.Generator) -> dict[str, Any]:
        """5.3 after the inputs (``coherence.leaf_input``): forward, adjoint and γ step compiled, one pass per
        depth; the "activation" input computed inside, only for the nodes that use it."""
        g, cp = graph, p.coherence
        if cp.input == "activation":  # the kernel takes ē/(ē + E_half) from the window sums
            x, per_tick, E_half = st.E_sum, float(max(st.window_ticks, 1)), cp.E_half
        else:
            x, per_tick, E_half = coherence.leaf_input(graph, st, p, rng), 1.0, 0.0
        self.wrote_finite = kernels.coherence(
            g.level_start, g.parent, g.first_child, g.n_children, st.alive.view(np.uint8), st.w, x,
            st.gamma, st.C, st.g, st.lam, self.av[0], cp.target, cp.eta, per_tick, E_half,
        )  # fmt: skip
        return coherence.summary(graph, st, cp.target)

    def persistence(
        self, graph: Graph, st: State, p: Params, rng: np.random.Generator, slow_tick_index: int
    ) -> dict[str, Any]:
        """5.4 in two compiled passes (reality bottom-up; income to θ top-down), then survival and statistics."""
        ep, pp = p.environment, p.persistence
        alive = st.alive.view(np.uint8)
        sampled = ep.samples > 0
        if sampled:  # the draws use numpy's random stream, as in the reference
            persistence.observe_leaves(graph, st, p, rng)
        softmax = not sampled and not self._leaves_hold(st.z, ep.tau)
        leaves = kernels.LEAVES_SAMPLED if sampled else kernels.LEAVES_SOFTMAX if softmax else kernels.LEAVES_KEPT
        if self.neg_entropy is None:
            self.neg_entropy = np.zeros(graph.n)
        g = graph
        observed = kernels.observe(g.level_start, g.first_child, g.n_children, alive, st.w, st.z, st.q,
                                   st.q.shape[1], ep.tau, leaves, self.neg_entropy)  # fmt: skip
        if softmax:
            self._leaves_seen = (st.z.copy(), ep.tau)
        elif sampled:  # the leaves' q are samples now: the next exact observation recomputes them
            self._leaves_seen = None
        first = persistence.first_measurement(st, st.alive, slow_tick_index)
        persisted = kernels.persist(
            g.level_start, g.parent, g.first_child, g.n_children, alive, st.q, st.theta, st.dkl, st.received_sum,
            st.income, st.baseline, st.R, st.pressure, st.q.shape[1], st.window_ticks, first,
            pp.income_ema, pp.baseline_ema, pp.baseline == "scale", pp.surplus, pp.coupling, pp.beta, pp.eta, pp.kappa,
            self.neg_entropy,
        )  # fmt: skip
        self.wrote_finite = observed and persisted  # survival writes only alive flags and zeros
        died = persistence.survival(st, p, st.alive, slow_tick_index)
        return persistence.statistics(graph, st, died, kernels.median, kernels.shortfall)

    def _leaves_hold(self, z: np.ndarray, tau: float) -> bool:
        """True when the alive leaves' q already hold softmax(z/τ): this engine computed them from the
        same z (compared bit for bit, so any write to z counts) and τ, and nothing sampled since.

        The leaves' reality changes only at an environment shift, yet its softmax was a quarter of the
        slow tick at N = 10⁶; the comparison costs a quarter of the softmax. (A leaf that dies keeps
        its q in both cases; none comes back.)
        """
        seen = self._leaves_seen
        if seen is None or seen[1] != tau or seen[0].shape != z.shape or seen[0].dtype != z.dtype:
            return False
        return kernels.same(seen[0], np.ascontiguousarray(z))  # byte for byte: NaN payloads and -0.0 count

    def _iterate(
        self,
        st: State,
        Wt: sp.csr_matrix,
        alpha: float,
        ret: tuple[np.ndarray, bool],
        av: np.ndarray,
        norm: float,
        steps: int,
        tol: float = 0.0,
    ) -> float:
        """``steps`` power steps from ``av`` (of norm ``norm``), fewer once converged at ``tol``;
        store v = av/‖av‖ and return ρ̂ = ‖av‖."""
        alive, (table, by_type) = st.alive.view(np.uint8), ret
        out = self.av[1] if av is self.av[0] else self.av[0]
        rho = norm
        for it in range(steps):
            if rho == 0.0:
                break
            previous = rho
            kernels.power_step(Wt.indptr, Wt.indices, Wt.data, av, 1.0 / rho, alive, table, alpha, out, self.squares,
                               st.node_type, by_type)  # fmt: skip
            av, out = out, av
            rho = math.sqrt(self.squares.sum())
            if it > 0 and criticality.converged(rho, previous, steps - it - 1, tol):
                break
        if rho > 0:
            np.divide(av, rho, out=self.v)
        else:
            self.v[:] = av
        st.power_v = self.v
        return rho
