"""The model's state (SPEC 2.3): one numpy array per quantity, indexed by node.

Mechanisms read and write these arrays; agents are views onto them; collectors only read.
Edge weights live in ``W`` aligned with the graph's CSR structure (``Wt[j, i] = W_ij``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from .graph import Graph
from .node_types import M_E, M_W, NODE_TYPES, R_TYPE
from .params import Params


@dataclass
class State:
    """All per-node (length N) and per-edge (length nnz) arrays, plus scalar controller state."""

    # --- node attributes fixed at build
    node_type: np.ndarray  # int8 index into NODE_TYPES
    m_E: np.ndarray  # activation-decay multiplier per node
    m_W: np.ndarray  # weight-decay multiplier per node
    # --- fast quantities
    E: np.ndarray  # activation ≥ 0
    inject: np.ndarray  # energy queued by stimuli for the next fast tick
    affect: np.ndarray  # ∈ [0, 1]
    last_success: np.ndarray  # tick of last successful retrieval (−inf: never)
    goal_related: np.ndarray  # bool: relates to a goal
    goal_unresolved: np.ndarray  # bool: that goal is not resolved
    r_res: np.ndarray  # resistance factor r (1 when off)
    c_cons: np.ndarray  # consolidation factor applied this tick (1 = none)
    phi: np.ndarray  # phase
    omega: np.ndarray  # natural frequency
    # --- slow quantities
    w: np.ndarray  # node weight
    W: np.ndarray  # edge weights, aligned with graph.indices
    # --- window accumulators (fast → slow)
    E_sum: np.ndarray  # Σ E over the current slow window
    received_sum: np.ndarray  # Σ energy received (injection + spreading) over the window
    window_ticks: int = 0
    # --- coherence (SPEC 5.3)
    C: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gamma: np.ndarray = field(default_factory=lambda: np.zeros(0))
    g: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lam: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # --- persistence (SPEC 5.4)
    z: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # reality logits of leaves (N×M)
    q: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # observed reality (N×M)
    theta: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # prediction logits (N×M)
    dkl: np.ndarray = field(default_factory=lambda: np.zeros(0))
    R: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pressure: np.ndarray = field(default_factory=lambda: np.zeros(0))
    income: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Ẽ, EMA of received energy
    baseline: np.ndarray = field(default_factory=lambda: np.zeros(0))  # B_i
    below_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # consecutive slow ticks R < 1
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # --- controller (SPEC 4.6)
    delta_E: float = 0.0
    rho: float = 0.0
    rho_prev: float = 0.0
    integral: float = 0.0
    power_v: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ret: np.ndarray = field(default_factory=lambda: np.zeros(0))  # retention used by the latest fast tick

    def copy(self) -> State:
        """A deep copy (arrays copied): used by read-only experiments such as recall tests."""
        kw = {f.name: (v.copy() if isinstance(v := getattr(self, f.name), np.ndarray) else v) for f in fields(self)}
        return State(**kw)

    def check_finite(self) -> str | None:
        """Name of the first array holding NaN or inf, or None (see ``all_finite``)."""
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "last_success":  # −inf means "never"
                continue
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and not all_finite(v):
                return f.name
            if isinstance(v, float) and not np.isfinite(v):
                return f.name
        return None


def all_finite(v: np.ndarray) -> bool:
    """True when no item of a float array is NaN or ±inf.

    A finite sum proves every item finite (NaN and ±inf propagate into a sum), so this costs one
    pass without a temporary; only a non-finite sum (or an overflow) is checked item by item.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        total = v.sum()
    return bool(np.isfinite(total)) or bool(np.isfinite(v).all())


def assign_types(graph: Graph, params: Params, rng: np.random.Generator) -> np.ndarray:
    """Node type index per node: by scale first, then seeded fractions of the rest (SPEC 2.2)."""
    t = np.zeros(graph.n, dtype=np.int8)
    fixed = np.zeros(graph.n, dtype=bool)
    for scale, name in params.types.by_scale.items():
        sel = graph.scale == int(scale)
        t[sel] = NODE_TYPES.index(name)
        fixed |= sel
    free = np.flatnonzero(~fixed)
    if params.types.fractions and free.size:
        order = rng.permutation(free)
        start = 0
        for name in ("memory", "task", "principle", "goal"):
            k = round(params.types.fractions.get(name, 0.0) * free.size)
            t[order[start : start + k]] = NODE_TYPES.index(name)
            start += k
    return t


def initial_state(graph: Graph, params: Params, rng: np.random.Generator) -> State:
    """The state at time 0."""
    n, m = graph.n, params.environment.categories
    node_type = assign_types(graph, params, rng)
    lut = lambda table: np.array([table[name] for name in NODE_TYPES])[node_type]  # noqa: E731
    zeros = lambda: np.zeros(n)  # noqa: E731
    omega = rng.normal(0.0, params.phase.omega_sd, n) if params.phase.omega_sd > 0 else zeros()
    phi = rng.uniform(-np.pi, np.pi, n)
    st = State(
        node_type=node_type,
        m_E=lut(M_E),
        m_W=lut(M_W),
        E=zeros(),
        inject=zeros(),
        affect=zeros(),
        last_success=np.full(n, -np.inf),
        goal_related=np.zeros(n, bool),
        goal_unresolved=np.zeros(n, bool),
        r_res=np.ones(n),
        c_cons=np.ones(n),
        phi=phi,
        omega=omega,
        w=np.ones(n),
        W=np.full(graph.nnz, params.graph.w0),
        E_sum=zeros(),
        received_sum=zeros(),
        C=zeros(),
        gamma=np.full(n, params.coherence.gamma0),
        g=zeros(),
        lam=zeros(),
        z=np.zeros((n, m)),
        q=np.full((n, m), 1.0 / m),
        theta=np.zeros((n, m)),
        dkl=zeros(),
        R=np.ones(n),
        pressure=zeros(),
        income=zeros(),
        baseline=zeros(),
        below_count=np.zeros(n, np.int64),
        alive=np.ones(n, bool),
        delta_E=params.decay.delta_E,
        power_v=np.ones(n) / np.sqrt(n),
        ret=np.ones(n),
    )
    return st


def r_type_lookup(node_type: np.ndarray) -> np.ndarray:
    """Resistance by type r_type (SPEC 2.2)."""
    return np.array([R_TYPE[name] for name in NODE_TYPES])[node_type]
