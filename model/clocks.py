"""The SimPy clocks (SPEC 3): fast tick, slow tick and stimuli as plain generator processes.

Equal-time order is explicit: every wake-up is scheduled with a priority, so at the same
time stimuli run first, then the fast tick, then the slow tick, and the end of a
``model.step()`` last. A slow tick at time t therefore sees the fast tick of time t.
"""

from __future__ import annotations

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


def periodic(
    env: simpy.Environment, period: float, priority: int, action: Callable[[], Any], start: float | None = None
) -> Generator[Event, Any, None]:
    """Run ``action`` every ``period`` ticks (first at ``start``, default one period from now)."""
    first = period if start is None else start
    yield Wake(env, first - env.now, priority)
    while True:
        action()
        yield Wake(env, period, priority)


def at_times(env: simpy.Environment, times: list[float], action: Callable[[], Any]) -> Generator[Event, Any, None]:
    """Run ``action`` at each of the given absolute times (sorted), with stimulus priority."""
    for t in times:
        yield Wake(env, max(0.0, t - env.now), STIMULUS)
        action()


def advance(env: simpy.Environment, dt: float) -> None:
    """Run everything due up to and including now + dt."""
    stop = Wake(env, dt, STEP_END)
    env.run(until=stop)
