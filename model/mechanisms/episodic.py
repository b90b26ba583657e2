"""Defense 5, two-stage memory: a fast episodic buffer that reaches the weights only by replay (SPEC 6).

Seed 001 (scale 5, "architectural space"): a fast system captures new experiences verbatim
(the context window; in the brain the hippocampus) and a slow system (the weights; the
neocortex) learns only from compressed, interleaved replay (Complementary Learning Systems,
McClelland, McNaughton & O'Reilly 1995).

Here, with ``defenses.two_stage``:
- a presentation still drives the activation, but its slow windows do not change the
  weights; instead the pattern is stored in the buffer as an episode;
- the buffer holds at most K = ``episodic.capacity`` episodes; storing an episode makes it
  the most recent (a repeat moves it to the end), and the least recent one leaves when the
  buffer is over capacity;
- after every presentation, ``episodic.replays`` replay trials follow, each re-presenting an
  episode drawn uniformly (with replacement, seeded) from the whole buffer, so new and older
  episodes are interleaved; only these replay windows change the weights.
"""

from __future__ import annotations

import numpy as np


class EpisodicBuffer:
    """At most ``capacity`` episode ids, least recent first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.items: list[int] = []

    def store(self, episode: int) -> None:
        """Store an episode as the most recent; evict the least recent beyond capacity."""
        if episode in self.items:
            self.items.remove(episode)
        self.items.append(episode)
        del self.items[: max(0, len(self.items) - self.capacity)]

    def sample(self, rng: np.random.Generator, n: int) -> list[int]:
        """``n`` episodes drawn uniformly with replacement (empty when the buffer is empty)."""
        if not self.items:
            return []
        return [self.items[int(k)] for k in rng.integers(0, len(self.items), size=n)]
