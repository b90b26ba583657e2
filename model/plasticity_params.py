"""Parameters of the stability–plasticity experiment (SPEC 6, seed 001).

Five sections, each validated like every other section of :class:`model.params.Params`
(ranges, unknown keys refused): ``patterns`` (what is learned and when), ``recall`` (the
read-only test), ``defenses`` (the six independent flags of seed 001), ``episodic`` (the
fast buffer of the two-stage defense) and ``dream`` (the sleep process of the dream loop).
The experiment is off while ``patterns.count`` is 0 (the default), so no other scenario is
affected. Cross-checks that involve other sections (durations in whole slow windows) live
in :func:`check_plasticity`, called by ``Params``' own validator.

This module imports nothing from ``model.params`` (which imports it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .section import Section

_Section = Section


class PatternParams(_Section):
    """SPEC 6: the patterns of tasks A and B and the training schedule."""

    count: int = Field(0, ge=0, le=1000, description="patterns per task (A and B); 0 = no stability–plasticity run")
    size: int = Field(8, ge=2, le=10_000, description="nodes per pattern (first half cue, second half response)")
    duration: int = Field(10, ge=1, le=1_000_000, description="ticks of one presentation (whole slow windows)")
    epochs: int = Field(5, ge=1, le=10_000, description="rounds of presentations of every pattern of a task")
    overlap: Literal["free", "disjoint", "separated"] = Field(
        "free",
        description="B vs A: `free` (may share nodes), `disjoint` (no shared node), `separated` (no node, no link)",
    )


class RecallParams(_Section):
    """SPEC 6: the read-only recall test."""

    ticks: int = Field(10, ge=1, le=100_000, description="ticks the cue is held while activation spreads")
    every: int = Field(0, ge=0, le=10_000_000, description="extra recall tests every this many ticks (0 = none)")
    heldout: bool = Field(
        False, description="also score held-out cues never presented in training (noisy, partial, recombined)"
    )
    heldout_noise: float = Field(
        0.25, gt=0.0, le=1.0, description="fraction of a cue's nodes replaced by non-pattern nodes in a noisy cue"
    )
    heldout_keep: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of a cue's nodes kept in a partial cue")


class DefenseParams(_Section):
    """SPEC 6: the six independent defenses of seed 001 against forgetting."""

    coarse_scaling: bool = Field(False, description="one Adam second moment per source node (Apollo), not per edge")
    frozen_context: bool = Field(False, description="only edges into the trial's response nodes learn")
    diversity: bool = Field(False, description="interleave A presentations while learning B")
    diversity_ratio: float = Field(
        0.3, ge=0.0, lt=1.0, description="fraction of the B-phase presentations that are A presentations"
    )
    small_steps: bool = Field(
        False, description="learning rate × step_factor, every learning trial 1/step_factor longer"
    )
    step_factor: float = Field(0.1, gt=0.0, le=1.0, description="step-size factor of small_steps")
    two_stage: bool = Field(False, description="presentations fill an episodic buffer; only replay changes weights")
    dream_loop: bool = Field(False, description="sleep: dream memory collisions, keep the good ones, replay them")


class EpisodicParams(_Section):
    """SPEC 6, defense 5: the fast episodic buffer of the two-stage memory."""

    capacity: int = Field(4, ge=1, le=100_000, description="episodes the buffer holds (K); the least recent leaves")
    replays: int = Field(
        1, ge=1, le=1000, description="replay trials (buffer episodes drawn at random) per presentation"
    )


class DreamParams(_Section):
    """SPEC 6, defense 6: the sleep process of the dream loop."""

    every: int = Field(60, ge=1, le=10_000_000, description="ticks between sleeps (× 1/step_factor with small_steps)")
    count: int = Field(6, ge=1, le=10_000, description="dream scenarios generated per sleep")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="a dream is kept (and replayed) if its recall F1 > this")
    attempts: int = Field(20, ge=1, le=10_000, description="walks tried per requested dream before giving up")
    source: Literal["dreams", "real"] = Field(
        "dreams",
        description="what a sleep replays: its kept `dreams`, or as many `real` stored episodes (the control)",
    )


def check_plasticity(p: Any) -> None:
    """Cross-section checks (called from ``Params``' validator); raise ValueError naming the key."""
    pat = p.patterns
    if pat.count == 0:
        return
    dt_fast, dt_slow = p.clock.dt_fast, p.clock.dt_slow
    if not _multiple(dt_slow, dt_fast):
        raise ValueError(
            f"clock.dt_slow ({dt_slow:g}) must be a whole number of fast ticks ({dt_fast:g}) when patterns run"
        )
    if not _multiple(pat.duration, dt_slow):
        raise ValueError(
            f"patterns.duration ({pat.duration}) must be a whole number of slow windows (clock.dt_slow = {dt_slow:g}), "
            "so that every slow tick learns from exactly one trial"
        )
    if p.learning.rule != "adam":
        raise ValueError(
            'patterns.count > 0 runs the stability–plasticity experiment, which needs learning.rule = "adam"'
        )


def _multiple(a: float, b: float) -> bool:
    k = round(a / b)
    return k >= 1 and abs(a - k * b) < 1e-9 * max(1.0, a)
