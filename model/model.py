"""CoherenceModel: the Mesa model that wires graph, state, clocks and mechanisms (SPEC 3–5, 9.2).

Data flows one way: the SimPy clocks call the mechanisms, the mechanisms change the state
arrays, the recorder reads the state into tables, and analysis writes the tables out.
"""

from __future__ import annotations

import math
from os import PathLike
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import simpy

from agents import NodeAgent

from . import live
from .clocks import FAST, SLOW, advance_to, periodic
from .datacollector import SlowDataCollector
from .events import EventLog
from .fast_tick import check_engine, default_engine, make_engine
from .graph import Graph, build_graph, check_fits_in_memory
from .keys import resolve, to_dotted
from .mechanisms import consolidation, criticality, decay, persistence, phase, resistance, weights
from .node_types import NODE_TYPES, type_multipliers
from .params import ParameterError, Params
from .plasticity import attach as attach_plasticity
from .plasticity import learn as plasticity_learn
from .recorder import Recorder
from .state import State, all_finite, initial_state
from .stimuli import load_process, process
from .thermo import attach as attach_thermo

if TYPE_CHECKING:
    from scenarios.loader import Scenario


class SimulationError(RuntimeError):
    """The state became invalid (NaN or inf) during a run; the message names the tick and the mechanism."""


# numpy's floating-point warnings stay quiet inside a tick: a non-finite result is caught by the
# checks after each mechanism and reported as a SimulationError naming the tick and the mechanism
QUIET = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


class CoherenceModel(mesa.Model):
    """A multi-scale graph of nodes with fast energy, slow weights, coherence and persistence.

    Args:
        scenario: a loaded ``Scenario`` (``scenarios.load_scenario(name_or_path)``), or None for
            the defaults with no stimuli. The model reads no files: its callers (the command
            line, the app, sweeps, tests) load scenarios, as Mesa's models take parameters.
        params: dotted-key parameter overrides, e.g. ``{"decay.delta_E": 0.05}``.
        engine: how the fast tick's core is computed: ``"compiled"`` (fused parallel loops) or
            ``"numpy"`` (the mechanism modules; the reference). None: ``COHLAB_ENGINE`` or
            ``"compiled"``. Both give the same per-node arithmetic (see ``model/fast_tick.py``).
        seed: the seed of every random stream (None: drawn from the OS and recorded).
        **overrides: more overrides, with ``__`` for the dot (``decay__delta_E=0.05``), so the
            model works with ``mesa.batch_run``.

    Attributes:
        params: the validated, resolved parameters; ``engine``: the fast tick's engine.
        graph: the topology; ``state``: the arrays; ``env``: the SimPy environment.
        events: the observability event log; ``recorder``: the output tables.
        datacollector: Mesa's DataCollector with model-level aggregates.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        params: dict[str, Any] | None = None,
        engine: str | None = None,
        seed: int | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(scenario, str | PathLike):
            raise TypeError(
                f"CoherenceModel takes a loaded scenario, not {scenario!r}: "
                f"CoherenceModel(scenarios.load_scenario({str(scenario)!r}), ...)"
            )
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParameterError(f"seed must be a whole number ≥ 0, got {seed!r}")
        self._views_created = False  # the NodeAgents are made at the first look at them (see agents)
        super().__init__(seed=seed)
        self.seed = int(seed)
        self.scenario = scenario
        extra = {k.replace("__", "."): v for k, v in overrides.items()}
        base = self.scenario.resolve_params().model_dump() if self.scenario else {}
        self.params: Params = resolve(base, params or {}, extra)
        self.overrides = {**(params or {}), **extra}

        streams = np.random.SeedSequence(self.seed).spawn(4)
        self.rng_graph, self.rng_init, self.rng_stim, self.rng_dyn = (np.random.default_rng(s) for s in streams)

        check_fits_in_memory(self.params)  # before allocating anything (SPEC 10)
        self.graph: Graph = build_graph(self.params.graph, self.rng_graph)
        self.state: State = initial_state(self.graph, self.params, self.rng_init)
        persistence.init_reality(self.graph, self.state, self.params, self.rng_init)
        self.Wt = self.graph.matrix(self.state.W)  # shares memory with state.W
        self.engine = check_engine(engine) if engine else default_engine()
        self._core = make_engine(self.engine, self.graph.n)
        self.events = EventLog()
        self.tick = 0
        self.slow_ticks = 0
        self._steps = 0  # model.step() calls: step n ends at the exact time n·dt_fast (SPEC 3)
        self._removed_E = 0.0
        self._removed_W = 0.0
        self._last_slow: dict[str, Any] = {}
        self._prev_total = 0.0
        self._pinned_since: int | None = None
        self._phase_integrator: phase.Integrator | None = None  # SPEC 4.3: keeps the previous noise draw

        tracked = self._tracked_nodes()
        self.recorder = Recorder(self.graph, self.state, tracked)
        if self.params.resistance.enabled:
            resistance.update(self.graph, self.state)
        self._alive_at_solve = -1  # alive nodes when ρ was last solved: deaths since then make it solve again
        self._estimate_rho(solve=True)

        self.env = simpy.Environment()
        p = self.params.clock
        self.env.process(periodic(self.env, p.dt_fast, FAST, self._fast_tick))
        self.env.process(periodic(self.env, p.dt_slow, SLOW, self._slow_tick, grid=p.dt_fast))
        self.env.process(load_process(self, self.rng_dyn))
        for stim in self.scenario.stimuli if self.scenario else []:
            sel = stim.select.resolve(self, self.rng_stim)
            self.env.process(process(self, stim, sel))
        # --- SPEC 6: stability–plasticity experiment and the Adam rule (model/plasticity.py); None when off
        self.plasticity = attach_plasticity(self)
        self.planned_ticks: int | None = None  # set by an experiment that knows its own length
        self.thermo = attach_thermo(self)  # SPEC 5.6: the switching experiment; None when off
        # ---

        self.datacollector = SlowDataCollector()  # at build and on every slow tick (SPEC 9.2)
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ public API

    @property
    def agents(self) -> mesa.agent.AgentSet:
        """One ``NodeAgent`` per node (SPEC 9.2), created once, at the first look: a Mesa agent costs
        about 0.4 KB and a few µs, 4 GB and a minute at 10⁷ nodes that a run never touches."""
        if not self._views_created:
            self._views_created = True
            NodeAgent.create_views(self)
        return super().agents

    @property
    def agents_by_type(self) -> dict[type[mesa.Agent], mesa.agent.AgentSet]:
        """Mesa's agents by type, the ``NodeAgent`` views included (see ``agents``)."""
        _ = self.agents
        return super().agents_by_type

    @property
    def agent_types(self) -> list[type[mesa.Agent]]:
        """Mesa's agent types, ``NodeAgent`` included (see ``agents``)."""
        _ = self.agents
        return super().agent_types

    @property
    def time(self) -> float:
        """Current simulation time in ticks."""
        return float(self.env.now)

    def step(self) -> None:
        """Advance one fast tick (everything due up to and including that time runs)."""
        self._steps += 1
        with np.errstate(**QUIET):
            advance_to(self.env, self._steps * self.params.clock.dt_fast)

    def run(self, ticks: int) -> None:
        """Advance ``ticks`` fast ticks."""
        for _ in range(int(ticks)):
            self.step()

    def set_param(self, key: str, value: Any) -> None:
        """Change one parameter mid-run; it acts from the next tick (see ``model/live.py``).

        Raises:
            ParameterError: an unknown or restart-only key (with the reason), or an invalid value.
        """
        self.set_params({key: value})

    def set_params(self, changes: dict[str, Any]) -> None:
        """Change several parameters mid-run, validated together; nothing changes if any is refused."""
        live.apply(self, changes)

    def reconverge_rho(self) -> None:
        """Re-estimate ρ after the fast-tick operator jumped (a live change of α, δ_E or resistance)."""
        self.state.ret = decay.retention(self.state, self.params, None)
        self._estimate_rho(solve=True)

    def node_type_names(self) -> list[str]:
        return [NODE_TYPES[t] for t in self.state.node_type]

    # ------------------------------------------------------------------ clocks

    def _fast_tick(self) -> None:
        """SPEC 4.1–4.8, in order."""
        p, st, g = self.params, self.state, self.graph
        self.tick += 1
        now = float(self.env.now)
        chosen = None
        cons = None
        if p.consolidation.enabled:
            cons = consolidation.select(st, p.consolidation, now)
            chosen = cons.chosen
        if p.resistance.enabled and self.tick % p.resistance.interval == 0:
            resistance.update(g, st)
        ret = self._core.retention(st, p, chosen)  # per node, or by type where that is all it depends on
        self._fast_hook_phase()  # reads φ and W only, so its place before spreading changes nothing
        tot = self._core(st, self.Wt, p, ret)  # 4.1 injection, 4.2 spreading, 4.4 decay, 4.6 power iteration
        st.ret = ret
        self._removed_E += tot.before - tot.after
        total = tot.after
        if not math.isfinite(total):
            self._fail(self._fast_culprit(ret), "E")
        rho = tot.rho
        delta_used = st.delta_E
        st.rho_prev, st.rho = st.rho, rho
        if p.controller.enabled:
            criticality.control(st, p.controller, rho)
            if not math.isfinite(st.delta_E):
                self._fail(f"the criticality controller (SPEC 4.6) from ρ = {rho}", "delta_E")
        st.window_ticks += 1
        injected = tot.injected
        denom = tot.prev_total + injected
        sigma = total / denom if denom > 0 else math.nan
        band = criticality.band(rho, p.controller.rho_target)
        self.recorder.fast_row(
            self.tick,
            now,
            st,
            tot,
            {
                "active": tot.active,
                "saturated": tot.saturated,
                "injected": injected,
                "rho": rho,
                "sigma": sigma,
                "participation": tot.participation,
                "delta_E": delta_used,
                "band": band,
            },
        )
        if cons is not None and self.tick % 10 == 0:
            self.events.emit(
                "decay.consolidation.update",
                self.tick,
                consolidated_count=int(cons.chosen.size),
                triggers=cons.by_trigger,
                mean_consolidation_factor=cons.mean_factor,
                budget_exhausted=cons.budget_exhausted,
            )
        if self.tick % p.events.every == 0:
            self._emit_tick_events(rho, sigma, band, delta_used, tot.participation)

    def _emit_tick_events(self, rho: float, sigma: float, band: str, delta_used: float, participation: float) -> None:
        p, st = self.params, self.state
        half = {t: math.log(2) / (delta_used * m) for t, m in zip(NODE_TYPES, type_multipliers("E"), strict=True)}
        fields: dict[str, Any] = {
            "delta_E": self._removed_E,
            "delta_W": self._removed_W,
            "half_life": half,
            "resistance_active": p.resistance.enabled,
        }
        if p.resistance.enabled:
            r = st.r_res
            fields.update(
                mean_resistance_factor=float(r.mean()),
                max_resistance_factor=float(r.max()),
                high_resistance_nodes=int(np.count_nonzero(r > 1.3)),
            )
        self.events.emit("decay.tick", self.tick, **fields)
        self._removed_E = 0.0
        self.events.emit(
            "criticality.state",
            self.tick,
            rho=rho,
            sigma=sigma,
            participation=participation,
            delta_E=st.delta_E,
            band=band,
        )

    def _slow_tick(self) -> None:
        """SPEC 5.1–5.5, in order, with Δt = dt_slow."""
        p, st, g = self.params, self.state, self.graph
        self.slow_ticks += 1
        adam = p.learning.enabled and p.learning.rule == "adam"
        # Each check is skipped where the engine's pass vouched that every value it wrote is finite
        # (``wrote_finite``): the arrays were finite before, so they still are, and a pass over them
        # (about 8 ms of a slow tick at N = 10⁶) is saved. A mechanism that is off vouches for nothing.
        self._removed_W = self._core.weights(g, st, p, self.Wt, p.clock.dt_slow, p.learning.enabled and not adam)
        self._check("weight decay and Hebbian learning (SPEC 5.1–5.2)", "W", "w", vouched=self._core.wrote_finite)
        if adam:  # SPEC 6: Hebbian signal through Adam, with the defenses
            plasticity_learn(self, weights.window_mean(st))
            self._check("Adam learning (SPEC 6)", "W", "w")
        slow: dict[str, Any] = {}
        by_scale: dict[str, np.ndarray] = {}  # per-scale means the mechanisms computed, for the recorder
        slow.update(self._slow_hook_coherence(by_scale))
        vouched = p.coherence.enabled and self._core.wrote_finite
        self._check("coherence backpropagation (SPEC 5.3)", "C", "gamma", "g", "lam", vouched=vouched)
        slow.update(self._slow_hook_persistence(by_scale))
        # every array the slow tick writes has now been checked, each after the mechanism that writes it
        vouched = p.persistence.enabled and self._core.wrote_finite
        written = ("q", "theta", "dkl", "R", "pressure", "income", "baseline")
        self._check("persistence (SPEC 5.4)", *written, vouched=vouched)
        self._estimate_rho(solve=np.count_nonzero(st.alive) != self._alive_at_solve)  # deaths change the operator
        self._last_slow = slow
        self.recorder.slow_update(st, slow)
        self.recorder.scale_rows(self.tick, float(self.env.now), st, by_scale)
        self.datacollector.collect(self)
        st.E_sum[:] = 0.0
        st.received_sum[:] = 0.0
        st.window_ticks = 0

    def _check(self, mechanism: str, *names: str, vouched: bool = False) -> None:
        """Stop the run if ``mechanism`` left any of the named state arrays NaN or infinite (unless its
        compiled pass ``vouched`` for every value it wrote)."""
        if vouched:
            return
        for name in names:
            if not all_finite(getattr(self.state, name)):
                self._fail(mechanism, name)

    def _fail(self, mechanism: str, name: str) -> None:
        raise SimulationError(
            f"tick {self.tick} (time {self.time:g}): {mechanism} made state array '{name}' NaN or infinite "
            "(values beyond floating-point range: smaller rates, gains or inputs help)"
        )

    def _fast_culprit(self, ret: np.ndarray) -> str:
        """Which part of the fast tick's core made E non-finite (decay with finite retention cannot)."""
        st = self.state
        if not np.isfinite(ret).all():
            return f"activation decay (SPEC 4.4) with δ_E = {st.delta_E}"
        if not np.isfinite(st.W).all():
            return "spreading (SPEC 4.2) over non-finite weights W"
        return "injection and spreading (SPEC 4.1–4.2)"

    def _estimate_rho(self, solve: bool = False) -> None:
        """Re-estimate ρ where the operator jumped (SPEC 4.6): solved for the Perron root at build,
        after a live change and when nodes died (``solve``), else re-converged by early-stopped
        power steps from the solved vector (the weights' jump at a slow tick is small)."""
        st, p = self.state, self.params
        with np.errstate(**QUIET):
            ret = decay.retention(st, p, None) if st.window_ticks == 0 and self.tick == 0 else st.ret
            alpha, tol = p.spread.alpha, criticality.RECONVERGE_TOL
            if solve:
                st.rho = self._core.solve_rho(st, self.Wt, alpha, ret)
                self._alive_at_solve = np.count_nonzero(st.alive)
            else:
                st.rho = self._core.power_iterate(st, self.Wt, alpha, ret, p.controller.rebuild_iterations, tol)

    def _fast_hook_phase(self) -> None:
        """SPEC 4.3: phase dynamics, when on."""
        if self.thermo is not None:  # SPEC 5.6: the experiment's batch owns the phase dynamics
            self.thermo.fast_tick()
        elif self.params.phase.enabled:
            if self._phase_integrator is None:
                self._phase_integrator = phase.Integrator(self.state.phi.shape, self.rng_dyn)
            dt = self.params.clock.dt_fast
            phase.phase_step(self.graph, self.state, self.params, self.rng_dyn, dt, self._phase_integrator)
            self._check("phase dynamics (SPEC 4.3)", "phi")

    def _slow_hook_coherence(self, by_scale: dict[str, np.ndarray]) -> dict[str, Any]:
        """SPEC 5.3: coherence free energy (phase on) and coherence backpropagation (coherence on); the
        per-scale means of C, γ and λ go into ``by_scale``."""
        p, g, st = self.params, self.graph, self.state
        out: dict[str, Any] = {}
        fe: dict[str, Any] = {}
        if p.phase.enabled:
            fe = phase.phase_free_energy(g, st, p)
            out.update({k: fe[k] for k in ("F_coh", "E_phase", "S_phase", "order")})
        if p.coherence.enabled:
            res = self._core.coherence(g, st, p, self.rng_dyn)
            out.update(err=res["err"], C_root=res["C_root"])
            by_scale.update(C=res["C_by_scale"], gamma=res["gamma_by_scale"], lam=res["lam_by_scale"])
            fields: dict[str, Any] = {"err": res["err"], "C_root": res["C_root"], "gamma": res["gamma_by_scale"]}
            fields["adjoint"] = res["lam_by_scale"]
            if fe:
                fields.update(F_coh=fe["F_coh"], F_coh_by_scale=fe["F_coh_by_scale"])
            self.events.emit("coherence.update", self.tick, **fields)
        return out

    def _slow_hook_persistence(self, by_scale: dict[str, np.ndarray]) -> dict[str, Any]:
        """SPEC 5.4: the persistence law, when on; the per-scale means of R, D_KL and pressure go into
        ``by_scale`` (and those of an earlier mechanism leave it when nodes died: their nodes changed)."""
        p, st = self.params, self.state
        if not p.persistence.enabled:
            return {}
        res = self._core.persistence(self.graph, st, p, self.rng_dyn, self.slow_ticks)
        died = res.pop("died")
        if died.size:
            by_scale.clear()
        by_scale.update(R=res["R_by_scale"], dkl=res["dkl_by_scale"], pressure=res["pressure_by_scale"])
        res = {k: v for k, v in res.items() if not k.endswith("_by_scale")}
        self.events.emit(
            "persistence.update",
            self.tick,
            loss=res["persistence_loss"],
            **{"mean_R": res["R_mean"], "fraction_R_ge_1": res["R_frac_ge1"]},
        )
        if died.size:
            self.events.emit(
                "persistence.death", self.tick, nodes=died, count=int(died.size), alive=int(st.alive.sum())
            )
        return res

    def _tracked_nodes(self) -> np.ndarray:
        if not self.scenario or not self.scenario.scenario.tracked:
            return np.empty(0, np.int64)
        sel = [s.resolve(self, self.rng_stim) for s in self.scenario.scenario.tracked]
        return np.unique(np.concatenate(sel))

    def resolved_params(self) -> dict[str, Any]:
        """Every resolved parameter as dotted keys."""
        return to_dotted(self.params)
