"""The SimPy clocks (SPEC 3): fast tick, slow tick and stimuli as plain generator processes.

Equal-time order is explicit: every wake-up is scheduled with a priority, so at the same
time stimuli run first, then the fast tick, then the slow tick, and the end of a
``model.step()`` last. A slow tick at time t therefore sees the fast tick of time t.

Every clock fires at exact absolute times ``origin + k·period``, computed from k (never as a
running sum of periods, which drifts for periods that are not binary fractions: ten sums of
0.1 give 0.9999999999999999, so a clock of period 0.1 would miss the stimulus due at 1.0).
:func:`wake_at` turns such an absolute time into the SimPy delay that lands exactly on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy
from simpy.events import Event

STIMULUS, FAST, SLOW, STEP_END = 0, 1, 2, 3


class Wake(Event):
    """A timeout with an explicit priority (SimPy orders equal times by (priority, insertion))."""

    def __init__(self, env: simpy.Environment, delay: float, priority: int) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, priority, delay)


def delay_until(now: float, t: float) -> float:
    """The delay d ≥ 0 for which SimPy's ``now + d`` is exactly ``t`` (0 when ``t`` is not ahead).

    ``now + (t − now)`` can miss ``t`` by one unit in the last place; the delay is nudged by
    single ulps until the sum lands on ``t`` (always reachable: the delay's ulp is at most t's).
    """
    if t <= now:
        return 0.0
    d = t - now
    for _ in range(64):
        s = now + d
        if s == t:
            break
        d = math.nextafter(d, math.inf if s < t else 0.0)
    return d


def on_grid(t: float, grid: float | None) -> float:
    """``t`` snapped to the nearest multiple ``j·grid`` when within 1e-9 (relative) of it, else ``t``.

    Times that mean a fast tick but were computed otherwise (``0.3 + 6·0.1`` = 0.9000000000000001,
    the slow tick ``3·1.0`` against the fast tick ``30·0.1`` = 3.0000000000000004) become that
    fast tick's exact time, so equal-time order (stimuli, fast, slow) holds on every grid.
    """
    if not grid:
        return t
    j = round(t / grid)
    return j * grid if abs(t - j * grid) <= 1e-9 * max(1.0, abs(t)) else t


def wake_at(env: simpy.Environment, t: float, priority: int) -> Wake:
    """A wake-up at the absolute time ``t`` (at once if ``t`` has passed)."""
    return Wake(env, delay_until(env.now, t), priority)


def periodic(
    env: simpy.Environment,
    period: float,
    priority: int,
    action: Callable[[], Any],
    start: float | None = None,
    grid: float | None = None,
) -> Generator[Event, Any, None]:
    """Run ``action`` at ``start + k·period`` (k = 0, 1, …; default start: one period from now), on ``grid``."""
    origin, k = (env.now, 1) if start is None else (start, 0)
    while True:
        yield wake_at(env, on_grid(origin + k * period, grid), priority)
        action()
        k += 1


def at_times(env: simpy.Environment, times: list[float], action: Callable[[], Any]) -> Generator[Event, Any, None]:
    """Run ``action`` at each of the given absolute times (sorted), with stimulus priority."""
    for t in times:
        yield wake_at(env, t, STIMULUS)
        action()


def advance_to(env: simpy.Environment, t: float) -> None:
    """Run everything due up to and including the absolute time ``t``."""
    env.run(until=wake_at(env, t, STEP_END))
