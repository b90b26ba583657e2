"""The parameter schema: every section and field, its default, allowed range and checks (SPEC 2–6, 10).

Parameters live in sections (``decay``, ``spread`` …); :class:`Params` holds them all, frozen,
and checks the cross-section rules. Addressing them by dotted keys (``decay.delta_E``) and
merging layers of overrides is :mod:`model.keys`; command-line values are
:mod:`model.overrides`; the node types' multipliers are :mod:`model.node_types`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .node_types import M_E
from .plasticity_params import (  # SPEC 6: stability–plasticity sections
    DefenseParams,
    DreamParams,
    EpisodicParams,
    PatternParams,
    RecallParams,
    check_plasticity,
)
from .section import Section
from .thermo_params import ThermoParams, check_thermo  # SPEC 5.6: the thermodynamics experiment

LN2 = math.log(2.0)

# Keys read only when a model is built: changing one needs a new model. Each maps to why (a key,
# or a section prefix ending with a dot). The model's set_param refuses them with the reason
# (model/live.py); the app restarts the run for them. Every other key acts live.
RESTART_ONLY: dict[str, str] = {
    "graph.": "it shapes the graph, which is built once",
    "types.": "node types are assigned once, when the graph is built",
    "clock.": "the clocks fire at exact multiples of their periods counted from time 0 (SPEC 3)",
    "environment.categories": "it sizes the reality and prediction arrays (N × M) built at the start",
    "phase.omega_sd": "the natural frequencies ω are drawn once, at build",
    "coherence.gamma0": "it is only the initial γ; γ then learns (SPEC 5.3)",
    "patterns.": "the experiment's patterns and schedule are made at build (SPEC 6)",
    "defenses.": "the defenses shape the experiment's schedule, made at build (SPEC 6)",
    "episodic.capacity": "the episodic buffer is created at build",
    "recall.every": "the clock of the extra recall tests starts at build",
    "recall.heldout": "the held-out cues are drawn at build (SPEC 6)",
    "recall.heldout_noise": "the held-out cues are drawn at build (SPEC 6)",
    "recall.heldout_keep": "the held-out cues are drawn at build (SPEC 6)",
    "dream.every": "the sleep clock starts at build",
    "thermo.": "the switching protocol and its trajectories are set up at build (SPEC 5.6)",
}


# While the thermodynamics experiment runs, its batch of phases owns the dynamics: T, the
# weights W̄ and the protocol are read once, when its equilibrium starts and the exact ΔF are
# made (SPEC 5.6), so these sections would be silently ignored if changed live.
THERMO_FIXED: tuple[str, ...] = ("phase.", "spread.", "learning.")
THERMO_REASON = (
    "the thermodynamics experiment fixes T, the weights and the switching protocol when it starts "
    "its equilibrium trajectories and computes the exact ΔF (SPEC 5.6)"
)


def restart_reason(key: str, params: Params | None = None) -> str | None:
    """Why ``key`` cannot change in a running model, or None if it can (see RESTART_ONLY).

    Args:
        key: a dotted parameter key.
        params: the running model's parameters, when known: some keys are restart-only only in
            some experiments (the thermodynamics experiment fixes ``phase.*`` at build).
    """
    for prefix, why in RESTART_ONLY.items():
        if key == prefix or (prefix.endswith(".") and key.startswith(prefix)):
            return why
    if params is not None and params.thermo.enabled and key.startswith(THERMO_FIXED):
        return THERMO_REASON
    return None


def restart_only(key: str, params: Params | None = None) -> bool:
    """True for a dotted key that only takes effect in a new model (see RESTART_ONLY)."""
    return restart_reason(key, params) is not None


class ParameterError(ValueError):
    """A parameter (or a scenario's parameter table) is not valid."""


class GraphParams(Section):
    """SPEC 2.1: the fractal tree (or chain) and its lateral links."""

    kind: Literal["tree", "chain"] = Field("tree", description="`tree` (branching b) or `chain` (b = 1)")
    branching: int = Field(3, ge=1, le=64, description="children per internal node b (tree only)")
    depth: int = Field(4, ge=0, le=30, description="depth D of the tree: scales 0 (leaves) … D (root)")
    n_nodes: int = Field(
        0,
        ge=0,
        le=20_000_000,
        description="if > 0, the tree truncated breadth-first to this many nodes",
    )
    lateral_k: float = Field(1.6, ge=0.0, le=50.0, description="expected lateral links per node within its depth")
    w0: float = Field(0.05, ge=0.0, le=2.0, description="initial weight of every directed edge")
    entity_depth: int = Field(1, ge=0, le=30, description="depth whose ancestor defines a node's entity")


class TypeParams(Section):
    """SPEC 2.2: how node types are assigned (by scale, then by seeded fractions)."""

    by_scale: dict[str, Literal["default", "memory", "task", "principle", "goal"]] = Field(
        default_factory=dict, description='type per scale, e.g. {"0" = "memory"} (scale as a string key)'
    )
    fractions: dict[Literal["memory", "task", "principle", "goal"], float] = Field(
        default_factory=dict, description="seeded fraction of the remaining nodes given each type; rest `default`"
    )

    @model_validator(mode="after")
    def _check(self) -> TypeParams:
        for k in self.by_scale:
            if not k.isdigit():
                raise ValueError(f"types.by_scale key {k!r} must be a scale number (0, 1, …)")
        total = sum(self.fractions.values())
        if any(f < 0 for f in self.fractions.values()) or total > 1 + 1e-12:
            raise ValueError(f"types.fractions must be ≥ 0 and sum to ≤ 1 (got sum {total:g})")
        return self


class ClockParams(Section):
    """SPEC 3: the two SimPy clocks."""

    dt_fast: float = Field(1.0, gt=0.0, le=1000.0, description="period of the fast (activation) clock, ticks")
    dt_slow: float = Field(10.0, gt=0.0, le=1e12, description="period of the slow (weight) clock, ticks")


class SpreadParams(Section):
    """SPEC 4.2."""

    alpha: float = Field(0.1, ge=0.0, le=1.0, description="spreading gain α in E ← E + α·Wᵀ·E (0 = off)")


class PhaseParams(Section):
    """SPEC 4.3: noisy Kuramoto/XY phases."""

    enabled: bool = Field(False, description="run the phase dynamics")
    T: float = Field(0.1, ge=0.0, le=100.0, description="temperature T")
    K: float = Field(1.0, ge=0.0, le=100.0, description="coupling K")
    omega_sd: float = Field(0.0, ge=0.0, le=100.0, description="s.d. of natural frequencies ω")
    bins: int = Field(36, ge=2, le=3600, description="histogram bins for the phase entropy S_phase")
    substeps: int = Field(
        0, ge=0, le=10_000, description="integration sub-steps per fast tick (0 = chosen from K, the weights and T)"
    )


class DecayParams(Section):
    """SPEC 4.4 and 5.1."""

    delta_E: float = Field(LN2 / 20, gt=0.0, le=10.0, description="base activation decay rate δ_E per tick")
    delta_W: float = Field(LN2 / 400, ge=0.0, le=10.0, description="weight decay rate δ_W per tick")
    energy_floor: float = Field(1e-3, ge=0.0, le=1.0, description="energy below this is set to 0")
    E_max: float = Field(10.0, gt=0.0, le=1e9, description="energy clamp (saturation level)")


class ConsolidationParams(Section):
    """SPEC 4.5, first half."""

    enabled: bool = Field(False, description="slow the decay of retrieved, affective and goal-related nodes")
    c_ret: float = Field(0.7, ge=0.0, le=1.0, description="factor after a successful retrieval")
    window: int = Field(20, ge=1, le=100000, description="ticks a retrieval keeps protecting")
    kappa: float = Field(0.5, ge=0.0, le=1.0, description="affect slope κ in c_aff = clip(1 − κ·affect, 0.5, 1)")
    affect_threshold: float = Field(0.7, ge=0.0, le=1.0, description="affect above this triggers c_aff")
    c_goal: float = Field(0.8, ge=0.0, le=1.0, description="factor for nodes related to an unresolved goal")
    budget: int = Field(50, ge=0, le=10_000_000, description="most nodes consolidated per tick")
    max_retention: float = Field(0.995, gt=0.0, lt=1.0, description="consolidated nodes keep at most this per tick")
    cap_memory: float = Field(0.5, ge=0.0, le=1.0, description="lowest factor allowed for memory nodes")
    cap_task: float = Field(0.8, ge=0.0, le=1.0, description="lowest factor allowed for task nodes")
    cap_other: float = Field(0.7, ge=0.0, le=1.0, description="lowest factor allowed for other nodes")


class ResistanceParams(Section):
    """SPEC 4.5, second half."""

    enabled: bool = Field(False, description="structural decay resistance r ∈ [1, 1.5]")
    interval: int = Field(10, ge=1, le=100000, description="recompute r every this many ticks")


class ControllerParams(Section):
    """SPEC 4.6: the criticality controller."""

    enabled: bool = Field(True, description="adjust δ_E to hold ρ at its target")
    rho_target: float = Field(0.98, gt=0.0, le=2.0, description="target spectral radius ρ*")
    k_p: float = Field(0.05, ge=0.0, le=10.0, description="proportional gain")
    k_i: float = Field(0.0, ge=0.0, le=10.0, description="integral gain (integral clamped to ±1)")
    k_d: float = Field(0.0, ge=0.0, le=10.0, description="derivative gain")
    delta_min: float = Field(0.001, gt=0.0, le=10.0, description="lower bound of δ_E")
    delta_max: float = Field(0.5, gt=0.0, le=10.0, description="upper bound of δ_E")
    iterations: int = Field(2, ge=1, le=1000, description="power iterations per fast tick")
    rebuild_iterations: int = Field(
        50,
        ge=1,
        le=100000,
        description="most power steps re-converging ρ after a slow tick (early stop; build and jumps solve ρ)",
    )
    active_threshold: float = Field(0.05, ge=0.0, le=1e9, description="energy above which a node counts as active")


class LearningParams(Section):
    """SPEC 5.2: Hebbian reinforcement with the synaptic budget."""

    enabled: bool = Field(True, description="Hebbian reinforcement on the slow tick")
    eta_W: float = Field(1e-3, ge=0.0, le=10.0, description="edge learning rate η_W")
    eta_w: float = Field(1e-3, ge=0.0, le=10.0, description="node-weight learning rate η_w")
    E_ref: float = Field(1.0, gt=0.0, le=1e6, description="reference energy (the usual pulse size)")
    W_max: float = Field(2.0, gt=0.0, le=1e6, description="upper clip of W and w")
    budget: float = Field(2.0, gt=0.0, le=1e6, description="synaptic budget B: Σ_j W_ij ≤ B")
    scaling: bool = Field(True, description="rescale rows to the budget after learning")
    lr: float = Field(0.01, gt=0.0, le=10.0, description="Adam learning rate (stability–plasticity)")
    rule: Literal["hebbian", "adam"] = Field(
        "hebbian", description="`hebbian` (SPEC 5.2) or `adam`: the Hebbian signal through Adam (SPEC 6)"
    )


class LoadParams(Section):
    """Background load: random pulses every fast tick (used by `criticality`)."""

    rate: float = Field(0.0, ge=0.0, le=1e7, description="expected pulses per tick (Poisson), into random alive nodes")
    amount: float = Field(1.0, ge=0.0, le=1e6, description="energy of each background pulse")


class EventParams(Section):
    """SPEC 4.8."""

    every: int = Field(10, ge=1, le=1_000_000, description="emit decay.tick / criticality.state every this many ticks")


class CoherenceParams(Section):
    """SPEC 5.3: coherence backpropagation."""

    enabled: bool = Field(False, description="run coherence forward/adjoint/γ learning on the slow tick")
    input: str = Field("activation", description='leaf input: "phase", "activation" or a number in [0.1, 0.99]')
    input_noise: float = Field(0.0, ge=0.0, le=10.0, description="s.d. of Gaussian noise added to a numeric input")
    target: float = Field(0.95, ge=0.0, le=1.0, description="target root coherence C*")
    eta: float = Field(0.2, ge=0.0, le=100.0, description="γ learning rate η_γ")
    gamma0: float = Field(1.5, ge=0.0, le=10.0, description="initial γ")
    E_half: float = Field(1.0, gt=0.0, le=1e6, description="half-saturation energy of the activation input")

    @field_validator("input", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        """A number (``--set coherence.input=0.8``, or a TOML number) is kept as its text."""
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _check_input(self) -> CoherenceParams:
        if self.input in ("phase", "activation"):
            return self
        try:
            x = float(self.input)
        except ValueError:
            raise ValueError(f'coherence.input must be "phase", "activation" or a number, got {self.input!r}') from None
        if not 0.1 <= x <= 0.99:
            raise ValueError(f"coherence.input number must lie in [0.1, 0.99], got {x}")
        return self


class DecoherenceParams(Section):
    """Seed 000 Test B: how hard a ``decohere`` stimulus scatters phases (model/mechanisms/decoherence.py)."""

    strength: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="a decohere event adds strength·U(−π, π) to each selected phase (1: full scramble; "
        "0: the paired control, same draws, nothing changed)",
    )


class EnvironmentParams(Section):
    """SPEC 5.4: the reality each leaf observes."""

    categories: int = Field(4, ge=2, le=1000, description="number of outcomes M")
    tau: float = Field(1.0, gt=0.0, le=1000.0, description="softmax temperature τ of reality")
    samples: int = Field(0, ge=0, le=1_000_000, description="sampling-noise draws per slow tick (0 = exact q)")


class PersistenceParams(Section):
    """SPEC 5.4: the fractal persistence law."""

    enabled: bool = Field(False, description="run the persistence passes on the slow tick")
    baseline: Literal["scale", "self"] = Field("scale", description="income baseline: peers at the same scale, or self")
    surplus: float = Field(0.1, ge=0.0, le=10.0, description="income surplus s in energy_in = (1 + s)·Ẽ/B")
    income_ema: float = Field(0.3, gt=0.0, le=1.0, description="EMA weight of income per slow tick")
    baseline_ema: float = Field(0.05, gt=0.0, le=1.0, description="EMA weight of the baseline per slow tick")
    coupling: float = Field(0.5, ge=0.0, le=2.0, description="exponent ν of neighbour R")
    beta: float = Field(0.5, ge=0.0, le=1.0, description="pressure inherited from the parent")
    eta: float = Field(0.1, ge=0.0, le=100.0, description="prediction learning rate η_p")
    kappa: float = Field(4.0, ge=0.0, le=1000.0, description="pressure boost κ_p of learning")
    survival: bool = Field(False, description="nodes with R < 1 for too long go dormant")
    grace: int = Field(50, ge=0, le=1_000_000, description="slow ticks before survival applies")
    patience: int = Field(10, ge=1, le=1_000_000, description="consecutive slow ticks of R < 1 before dormancy")


class Params(Section):
    """All parameters of one model."""

    graph: GraphParams = GraphParams()
    types: TypeParams = TypeParams()
    clock: ClockParams = ClockParams()
    spread: SpreadParams = SpreadParams()
    phase: PhaseParams = PhaseParams()
    decay: DecayParams = DecayParams()
    consolidation: ConsolidationParams = ConsolidationParams()
    resistance: ResistanceParams = ResistanceParams()
    controller: ControllerParams = ControllerParams()
    learning: LearningParams = LearningParams()
    load: LoadParams = LoadParams()
    events: EventParams = EventParams()
    coherence: CoherenceParams = CoherenceParams()
    decoherence: DecoherenceParams = DecoherenceParams()
    environment: EnvironmentParams = EnvironmentParams()
    persistence: PersistenceParams = PersistenceParams()
    # --- SPEC 6: stability–plasticity experiment (model/plasticity_params.py)
    patterns: PatternParams = PatternParams()
    recall: RecallParams = RecallParams()
    defenses: DefenseParams = DefenseParams()
    episodic: EpisodicParams = EpisodicParams()
    dream: DreamParams = DreamParams()
    # ---
    thermo: ThermoParams = ThermoParams()  # SPEC 5.6

    @model_validator(mode="after")
    def _check_cross(self) -> Params:
        c = self.controller
        if c.delta_min > c.delta_max:
            raise ValueError(
                f"controller.delta_min ({c.delta_min}) must not exceed controller.delta_max ({c.delta_max})"
            )
        if self.clock.dt_slow < self.clock.dt_fast:
            raise ValueError(f"clock.dt_slow ({self.clock.dt_slow}) must be ≥ clock.dt_fast ({self.clock.dt_fast})")
        if c.enabled:
            need = required_delta_max(self)
            if c.delta_max < need:
                raise ValueError(
                    f"controller.delta_max = {c.delta_max:g} cannot reach ρ* = {c.rho_target:g}: with "
                    f"α = {self.spread.alpha:g}, budget B = {self.learning.budget:g} and the node types present, "
                    f"δ_max must be ≥ ln((1 + α·B)/ρ*)/min m_E = {need:.4g} (SPEC 4.6)"
                )
        check_plasticity(self)  # SPEC 6
        check_thermo(self)  # SPEC 5.6
        return self


def types_present(p: Params) -> set[str]:
    """Node types a configuration can produce (from by_scale and non-zero fractions)."""
    present = set(p.types.by_scale.values())
    present |= {t for t, f in p.types.fractions.items() if f > 0}
    n_scales = graph_scales(p.graph)
    covered = {int(k) for k in p.types.by_scale} >= set(range(n_scales))
    if not covered and sum(p.types.fractions.values()) < 1:
        present.add("default")
    return present or {"default"}


def graph_scales(g: GraphParams) -> int:
    """Number of scales (depth + 1) of a full tree or chain."""
    return g.depth + 1


def required_delta_max(p: Params) -> float:
    """Smallest δ_max that can always reach ρ* (SPEC 4.6): ln((1 + α·B)/ρ*)/min m_E."""
    m_min = min(M_E[t] for t in types_present(p))
    gain = 1.0 + p.spread.alpha * p.learning.budget
    return max(0.0, math.log(gain / p.controller.rho_target) / m_min)


# ----------------------------------------------------------------------------- field bounds

BOUND_OPS: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    ("ge", "≥", operator.ge),
    ("gt", ">", operator.gt),
    ("le", "≤", operator.le),
    ("lt", "<", operator.lt),
)


def field_of(key: str) -> Any:
    """The pydantic FieldInfo of a valid dotted key."""
    section, name = key.split(".", 1)
    return Params.model_fields[section].annotation.model_fields[name]


def bounds(key: str) -> list[tuple[str, float, Callable[[Any, Any], bool]]]:
    """A field's ``Field(ge/gt/le/lt)`` limits as ``(symbol, bound, test)``, e.g. ``("≥", 0.0, operator.ge)``."""
    meta = field_of(key).metadata
    return [
        (sym, getattr(m, attr), ok) for m in meta for attr, sym, ok in BOUND_OPS if getattr(m, attr, None) is not None
    ]
