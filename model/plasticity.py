"""The stability–plasticity experiment (SPEC 6, seed 001), wired onto the SimPy clocks.

Seed 001 claims that six defenses, each acting at a different scale, together let a system
learn new behaviour without forgetting old behaviour. This module runs the experiment that
tests the claim; the mechanisms live in ``model/mechanisms``:

    patterns.py    connected patterns grown by random walks, cue and response halves, tasks A, B
    adam.py        the learning rule: Hebbian signal through Adam; coarse scaling; masked budget
    curriculum.py  the schedule; diversity (interleaving) and small steps (longer, smaller)
    episodic.py    the two-stage buffer and its interleaved replay
    dream.py       the dream loop: collisions, walks, filtering
    recall.py      the read-only recall test (F1 of pattern completion)

Processes (all at stimulus priority, so a trial's injection enters the fast tick of its time):
- the *curriculum*: learn A (``patterns.epochs`` rounds of presentations), test A, learn B,
  test A and B, then stop (``model.running = False``);
- with ``defenses.dream_loop``, the *sleep clock*: every ``dream.every`` ticks (× 1/f with
  small steps) it marks a sleep as due; the curriculum sleeps at its next trial boundary;
  with ``dream.source = "real"`` (the control of seed 001's prediction 4) a sleep generates
  and filters dreams as usual but replays as many real stored episodes (drawn at random)
  in their place;
- with ``recall.heldout``, held-out cues (``mechanisms/heldout.py``) are drawn at build time
  and scored in the untrained weights and after the schedule;
- with ``recall.every`` > 0, extra read-only recall tests for the curves over time.

Every trial starts at the first fast tick after a slow tick and lasts whole slow windows, so
the slow tick that closes a window knows which trial produced it. The learning rule runs on
those slow ticks (``learn``, called by the model's slow tick when ``learning.rule = "adam"``):
on presentation windows (not with two_stage), replay windows and dream-replay windows; with
frozen_context only on the edges into the trial's response nodes.

Outputs: ``results`` (chance, acquisition_A, retention_A, acquisition_B, forgetting),
``history`` (every recall test: tick, label, mean F1 of A and of B, per-pattern scores),
``trials`` (the schedule as it ran), events ``recall.test``, ``dream.cycle`` and
``plasticity.phase``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .clocks import STIMULUS, on_grid, wake_at
from .mechanisms import curriculum, dream
from .mechanisms.adam import HebbianAdam, apply_masked_budget, hebbian_signal
from .mechanisms.episodic import EpisodicBuffer
from .mechanisms.heldout import by_kind, make_heldout
from .mechanisms.patterns import Pattern, grow_patterns, reverse_entries, split
from .mechanisms.recall import recall_scores

if TYPE_CHECKING:
    from .model import CoherenceModel

SPAWN_KEY = 4  # the model's own streams use spawn keys 0–3
HELDOUT_KEY = 5  # the held-out cues' own stream: switching them on changes nothing else


@dataclass(frozen=True)
class Trial:
    """What occupies the current slow window(s)."""

    kind: str  # "present", "replay" or "dream"
    label: str  # pattern label, or "dream"
    phase: str  # "A", "B" or "sleep"
    nodes: np.ndarray
    response: np.ndarray
    learn: bool
    start: float
    ticks: float


class Plasticity:
    """The Adam learning rule, and (with ``patterns.count`` > 0) the stability–plasticity experiment."""

    def __init__(self, model: CoherenceModel) -> None:
        self.model = model
        p = model.params
        d = p.defenses
        self.active = p.patterns.count > 0
        self.optimizer = HebbianAdam(model.graph, coarse=d.coarse_scaling)
        self.lr_factor = d.step_factor if d.small_steps else 1.0
        self.steps = 0  # slow ticks that applied the rule
        self.last_delta: np.ndarray | None = None
        self.trial: Trial | None = None
        self.trials: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.results: dict[str, Any] = {}
        self.dream_cycles: list[dict[str, Any]] = []
        self.done = False
        if not self.active:
            return
        streams = np.random.SeedSequence(model.seed, spawn_key=(SPAWN_KEY,)).spawn(2)
        rng_patterns, self.rng = (np.random.default_rng(s) for s in streams)
        pp = p.patterns
        self.patterns: list[Pattern] = grow_patterns(model.graph, rng_patterns, pp.size, pp.count, pp.overlap)
        self.ids_A = [k for k, pat in enumerate(self.patterns) if pat.task == "A"]
        self.ids_B = [k for k, pat in enumerate(self.patterns) if pat.task == "B"]
        self.stretch = curriculum.lengthening(d.small_steps, d.step_factor)
        self.trial_ticks = curriculum.trial_ticks(pp.duration, p.clock.dt_slow, self.stretch)
        self.plan_A = curriculum.phase_order(self.ids_A, pp.epochs)
        plan_B = curriculum.phase_order(self.ids_B, pp.epochs)
        self.plan_B = curriculum.interleave(plan_B, self.ids_A, d.diversity_ratio) if d.diversity else plan_B
        self.buffer = EpisodicBuffer(p.episodic.capacity) if d.two_stage else None
        self.stored: list[int] = []  # episodes presented so far (pattern ids, first presentation order)
        self.sleep_pending = False
        self._rev = reverse_entries(model.graph)
        chance = self.test("chance")
        self.results.update(chance_A=chance["A"], chance_B=chance["B"], chance=chance["all"])
        self.heldout = []
        if p.recall.heldout:
            rng_heldout = np.random.default_rng(np.random.SeedSequence(model.seed, spawn_key=(HELDOUT_KEY,)))
            self.heldout = make_heldout(
                model.graph.n, self.patterns, rng_heldout, p.recall.heldout_noise, p.recall.heldout_keep
            )
            self.results["heldout_chance"] = by_kind(self.heldout, self.heldout_scores())
        env = model.env
        env.process(self._curriculum())
        if d.dream_loop:
            env.process(self._sleep_clock())
        if p.recall.every > 0:
            env.process(self._periodic_tests())

    # ------------------------------------------------------------------ recall (read-only)

    def scores(self, ids: list[int] | None = None) -> np.ndarray:
        """Recall F1 of the given patterns (default all) in the current weights; touches nothing."""
        ids = list(range(len(self.patterns))) if ids is None else ids
        m = self.model
        pats = [self.patterns[k] for k in ids]
        return recall_scores(m.graph, m.state, m.params, [q.cue for q in pats], [q.response for q in pats])

    def heldout_scores(self) -> np.ndarray:
        """Recall F1 of every held-out cue (``mechanisms/heldout.py``) in the current weights; touches nothing."""
        m = self.model
        return recall_scores(
            m.graph, m.state, m.params, [h.cue for h in self.heldout], [h.target for h in self.heldout]
        )

    def test(self, label: str) -> dict[str, Any]:
        """Score every pattern, record the row in ``history`` and emit ``recall.test``."""
        s = self.scores()
        a, b = s[self.ids_A], s[self.ids_B]
        row = {
            "tick": int(self.model.tick),
            "time": float(self.model.env.now),
            "label": label,
            "A": float(a.mean()),
            "B": float(b.mean()),
            "all": float(s.mean()),
            "scores": {pat.label: float(x) for pat, x in zip(self.patterns, s, strict=True)},
        }
        self.history.append(row)
        self.model.events.emit(
            "recall.test", row["tick"], label=label, mean_A=row["A"], mean_B=row["B"], scores=row["scores"]
        )
        return row

    # ------------------------------------------------------------------ learning rule (slow tick)

    def learn(self, E_bar: np.ndarray) -> None:
        """One Adam step of the Hebbian signal on this window's plastic edges, then the budget."""
        m = self.model
        p, g, st = m.params, m.graph, m.state
        mask = None
        if self.active:
            tr = self.trial
            if tr is None or not tr.learn:
                return
            if p.defenses.frozen_context:
                mask = np.isin(g.edge_dst, tr.response)
        lp = p.learning
        signal = hebbian_signal(g, E_bar, lp.E_ref)
        delta = self.optimizer.step(signal, lp.lr * self.lr_factor, mask)
        st.W += delta
        np.clip(st.W, 0.0, lp.W_max, out=st.W)
        st.w += lp.eta_w * E_bar / lp.E_ref
        np.clip(st.w, 1e-3, lp.W_max, out=st.w)
        if lp.scaling:
            apply_masked_budget(g, st.W, lp.budget, mask)
        self.steps += 1
        self.last_delta = delta

    # ------------------------------------------------------------------ processes

    def _curriculum(self) -> Generator[Any, Any, None]:
        env = self.model.env
        yield wake_at(env, self.model.params.clock.dt_fast, STIMULUS)  # the first trial fills the first window
        self._phase("A")
        for pid in self.plan_A:
            yield from self._present(pid, "A")
        acq = self.test("acquisition_A")
        self.results["acquisition_A"] = acq["A"]
        self._phase("B")
        for pid in self.plan_B:
            yield from self._present(pid, "B")
        final = self.test("final")
        if self.heldout:
            self.results["heldout"] = by_kind(self.heldout, self.heldout_scores())
        self.results.update(
            retention_A=final["A"],
            acquisition_B=final["B"],
            forgetting=self.results["acquisition_A"] - final["A"],
            end_tick=int(self.model.tick),
        )
        self.done = True
        self._phase("done")
        self.model.running = False

    def _present(self, pid: int, phase: str) -> Generator[Any, Any, None]:
        """One presentation (and, with two_stage, its replays), after a due sleep."""
        if self.sleep_pending:
            self.sleep_pending = False
            yield from self._sleep()
        pat = self.patterns[pid]
        if pid not in self.stored:
            self.stored.append(pid)
        if self.buffer is None:
            yield from self._trial("present", pat.label, phase, pat.nodes, pat.response, learn=True)
            return
        self.buffer.store(pid)
        yield from self._trial("present", pat.label, phase, pat.nodes, pat.response, learn=False)
        for ep in self.buffer.sample(self.rng, self.model.params.episodic.replays):
            q = self.patterns[ep]
            yield from self._trial("replay", q.label, phase, q.nodes, q.response, learn=True)

    def _trial(
        self, kind: str, label: str, phase: str, nodes: np.ndarray, response: np.ndarray, learn: bool
    ) -> Generator[Any, Any, None]:
        """Hold E_ref on ``nodes`` from rest for whole slow windows."""
        m = self.model
        env, st = m.env, m.state
        dt = m.params.clock.dt_fast
        self.trial = Trial(kind, label, phase, nodes, response, learn, float(env.now), self.trial_ticks)
        self.trials.append(
            {
                "start": float(env.now),
                "ticks": self.trial_ticks,
                "kind": kind,
                "label": label,
                "phase": phase,
                "learn": learn,
            }
        )
        st.E[:] = 0.0
        k0 = round(env.now / dt)  # the trial starts on a fast tick; its ticks are at exact multiples of dt
        for k in range(1, round(self.trial_ticks / dt) + 1):
            st.inject[nodes] += m.params.learning.E_ref
            yield wake_at(env, (k0 + k) * dt, STIMULUS)
        self.trial = None

    def _sleep_clock(self) -> Generator[Any, Any, None]:
        period = self.model.params.dream.every * self.stretch
        k = 0
        while not self.done:
            k += 1
            yield wake_at(self.model.env, on_grid(k * period, self.model.params.clock.dt_fast), STIMULUS)
            self.sleep_pending = True

    def _sleep(self) -> Generator[Any, Any, None]:
        """One sleep of the dream loop: generate, score, keep, replay; then a ``dream.cycle`` event."""
        m = self.model
        p = m.params
        start = int(m.tick)
        episodes = [self.patterns[k].nodes for k in self.stored]
        dreams = dream.generate(
            m.graph, self.rng, episodes, m.state.W, self._rev, p.patterns.size, p.dream.count, p.dream.attempts
        )
        halves = [split(d) for d in dreams]
        scores = (
            recall_scores(m.graph, m.state, p, [c for c, _ in halves], [r for _, r in halves])
            if dreams
            else np.zeros(0)
        )
        kept = [k for k, s in enumerate(scores) if s > p.dream.threshold]
        if p.dream.source == "real" and kept:  # the control: as many replays, of real stored episodes
            dreams = [episodes[j] for j in self.rng.integers(len(episodes), size=len(kept))]
            halves = [split(d) for d in dreams]
            kept = list(range(len(dreams)))
        replayed = 0
        for k in kept:
            yield from self._trial("dream", "dream", "sleep", dreams[k], halves[k][1], learn=True)
            replayed += 1
        cycle = {
            "start": start,
            "generated": len(dreams),
            "kept": len(kept),
            "replayed": replayed,
            "mean_score": float(scores.mean()) if scores.size else None,
            "scores": [float(s) for s in scores],
            "kept_nodes": [dreams[k].tolist() for k in kept],
        }
        self.dream_cycles.append(cycle)
        m.events.emit("dream.cycle", int(m.tick), **{k: v for k, v in cycle.items() if k != "kept_nodes"})

    def _periodic_tests(self) -> Generator[Any, Any, None]:
        every = self.model.params.recall.every
        k = 0
        while not self.done:
            k += 1
            yield wake_at(self.model.env, on_grid(k * every, self.model.params.clock.dt_fast), STIMULUS)
            if not self.done:
                self.test("periodic")

    def _phase(self, name: str) -> None:
        self.model.events.emit("plasticity.phase", int(self.model.tick), phase=name)

    # ------------------------------------------------------------------ summaries

    def summary(self) -> dict[str, Any]:
        """The experiment's metrics (SPEC 6) for summary.json."""
        d = self.model.params.defenses
        r = self.results
        out: dict[str, Any] = {
            "complete": self.done,
            **{k: r.get(k) for k in ("acquisition_A", "retention_A", "acquisition_B", "forgetting")},
            **{k: r.get(k) for k in ("chance", "chance_A", "chance_B")},
            "end_tick": r.get("end_tick"),
            "defenses": {
                k: bool(getattr(d, k))
                for k in ("coarse_scaling", "frozen_context", "diversity", "small_steps", "two_stage", "dream_loop")
            },
            "learning_steps": self.steps,
            "trials": {
                kind: sum(1 for t in self.trials if t["kind"] == kind) for kind in ("present", "replay", "dream")
            },
        }
        if self.heldout:
            out["heldout"] = r.get("heldout") or dict.fromkeys(("noisy", "partial", "recombined"))
            out["heldout_chance"] = r["heldout_chance"]
        if self.dream_cycles:
            out["dream"] = {
                "cycles": len(self.dream_cycles),
                "generated": sum(c["generated"] for c in self.dream_cycles),
                "kept": sum(c["kept"] for c in self.dream_cycles),
                "replayed": sum(c["replayed"] for c in self.dream_cycles),
            }
        return out


def attach(model: CoherenceModel) -> Plasticity | None:
    """The model's Plasticity when the Adam rule or the experiment is on, else None."""
    p = model.params
    if p.patterns.count > 0 or p.learning.rule == "adam":
        return Plasticity(model)
    return None


def learn(model: CoherenceModel, E_bar: np.ndarray) -> None:
    """The Adam rule's slow-tick step (attaching a learner if the rule was switched on mid-run)."""
    if getattr(model, "plasticity", None) is None:
        model.plasticity = Plasticity(model)
    model.plasticity.learn(E_bar)
