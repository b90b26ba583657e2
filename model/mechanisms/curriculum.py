"""The training schedule of the stability–plasticity experiment, with defenses 3 and 4 (SPEC 6).

SPEC 6's schedule: learn A, test A, learn B, test A and B. Learning a task is ``patterns.epochs``
rounds of presentations of its patterns, in order (A1, A2, …, A1, A2, …). A presentation (a
*trial*) injects E_ref into every node of the pattern at every fast tick for its duration,
starting from rest (E = 0), and occupies whole slow windows, so that every slow tick learns
from exactly one trial.

Defense 3, ``diversity`` (seed 001's "data space": diverse data spreads the gradient): while
B is learned, A presentations are interleaved so that a fraction r = ``defenses.diversity_ratio``
of the B phase's presentations are A presentations. The B presentations are unchanged;
n_A = round(r/(1 − r)·n_B) A presentations (A1, A2, … cyclically) are spread evenly among
them (A presentation k goes after B presentation ⌊(k + ½)·n_B/n_A⌋).

Defense 4, ``small_steps`` (seed 001's "temporal space": many small updates): the learning
rate is multiplied by f = ``defenses.step_factor`` and every learning trial (presentation,
replay, dream replay) lasts 1/f times longer, rounded to whole slow windows, so the total
drive is the same in many smaller updates. The sleep period of the dream loop stretches by
the same factor, so the number of sleeps per presentation does not change.
"""

from __future__ import annotations


def lengthening(small_steps: bool, step_factor: float) -> float:
    """How many times longer learning trials last: 1/f with small_steps, else 1."""
    return 1.0 / step_factor if small_steps else 1.0


def trial_ticks(duration: float, dt_slow: float, factor: float) -> float:
    """A trial's length: duration × factor, rounded to whole slow windows (at least one)."""
    windows = max(1, round(duration * factor / dt_slow))
    return windows * dt_slow


def phase_order(pattern_ids: list[int], epochs: int) -> list[int]:
    """``epochs`` rounds of the task's patterns, in order."""
    return [pid for _ in range(epochs) for pid in pattern_ids]


def interleave(b_order: list[int], a_ids: list[int], ratio: float) -> list[int]:
    """The B phase with A presentations spread evenly so that they are a fraction ``ratio`` of it."""
    n_b = len(b_order)
    if ratio <= 0 or not a_ids or n_b == 0:
        return list(b_order)
    n_a = round(ratio / (1.0 - ratio) * n_b)
    after: dict[int, list[int]] = {}
    for k in range(n_a):
        slot = min(n_b - 1, int((k + 0.5) * n_b / n_a))
        after.setdefault(slot, []).append(a_ids[k % len(a_ids)])
    out: list[int] = []
    for i, pid in enumerate(b_order):
        out.append(pid)
        out.extend(after.get(i, []))
    return out
