"""The thermodynamics experiment (SPEC 5.6, seed 000 part 6), wired onto the fast clock.

One batch of phase configurations, one column each (nodes × columns, so a tick is a few
sparse products over every trajectory at once; never a Python loop over trajectories):

- ``trajectories`` forward columns that start in equilibrium at K_from and switch to K_to;
- as many reverse columns that start in equilibrium at K_to and switch back to K_from;
- ``ti_points × ti_replicas`` equilibrium columns held at the Gauss–Legendre nodes of
  [K_from, K_to] for thermodynamic integration.

Starts: on the tree part the columns are exact equilibrium samples (``sample_tree``); a graph
with lateral links (loops) then runs ``burn_in`` ticks at each column's starting K before
the switch. Each of the next ``switch_ticks`` fast ticks takes one step of K: the work
increment (K_new − K_old)·h(φ) is added at the current phases, the equilibrium columns add
h(φ) = ∂H/∂K to their sums, and then every column moves (SPEC 4.3, the same integrator and
sub-steps as the model's own phases). After the last step the model stops
(``model.running = False``). The model's own ``state.phi`` shows forward trajectory 0.

Results (``results()``): the works of both directions, the TI samples and the exact ΔF on a
lateral-free tree (None with loops); ``analysis/free_energy.py`` turns them into estimates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .mechanisms import phase
from .mechanisms.thermo import (
    exact_delta_F,
    gauss_legendre,
    is_lateral_free,
    link_energy,
    links,
    parent_weights,
    sample_tree,
    schedule,
)

if TYPE_CHECKING:
    from .model import CoherenceModel

SPAWN_KEY = 5  # the model's streams use spawn keys 0–3, the plasticity experiment 4


class Thermo:
    """The switching experiment's batch and its accumulators."""

    def __init__(self, model: CoherenceModel) -> None:
        self.model = model
        p, g = model.params, model.graph
        tp = p.thermo
        self.T = p.phase.T
        self.dt = p.clock.dt_fast
        self.M = tp.trajectories
        wbar = phase.coupling_weights(g, model.state)
        self.src, self.dst, self.w = links(g, wbar)
        self.lateral_free = is_lateral_free(g, wbar)
        self.delta_F_exact = exact_delta_F(self.w, tp.K_from, tp.K_to, self.T) if self.lateral_free else None
        self.K_nodes, self.K_weights = gauss_legendre(tp.K_from, tp.K_to, tp.ti_points)
        self.Q = tp.ti_replicas
        K_start = np.concatenate(
            [np.full(self.M, tp.K_from), np.full(self.M, tp.K_to), np.repeat(self.K_nodes, self.Q)]
        )
        rng_start, rng_noise = (
            np.random.default_rng(s) for s in np.random.SeedSequence(model.seed, spawn_key=(SPAWN_KEY,)).spawn(2)
        )
        self.phi = sample_tree(g, parent_weights(g, wbar), K_start, self.T, rng_start)
        self.K = K_start
        self.Wbar = g.matrix(wbar)
        strength = phase.max_strength(g, wbar)
        self.substeps = phase.substeps_for(self.dt, max(tp.K_from, tp.K_to), strength, self.T, p.phase.substeps)
        self.integrator = phase.Integrator(self.phi.shape, rng_noise)
        self.burn_in = 0 if self.lateral_free else tp.burn_in
        self.forward_K = schedule(tp.K_from, tp.K_to, tp.switch_ticks)
        self.reverse_K = self.forward_K[::-1].copy()
        self.switch_ticks = tp.switch_ticks
        self.work = np.zeros(2 * self.M)
        self.ti_sum = np.zeros(self.K_nodes.size * self.Q)
        self.ti_count = 0
        self.ticks = 0
        self.done = False
        self.mean_work: list[tuple[int, float, float]] = []  # (tick, ⟨W_F⟩, ⟨W_R⟩) so far, per switching tick
        model.planned_ticks = self.burn_in + self.switch_ticks
        model.state.phi[:] = self.phi[:, 0]

    @property
    def switch_step(self) -> int:
        """Steps of K taken so far (0 during burn-in)."""
        return max(0, min(self.ticks - self.burn_in, self.switch_ticks))

    def fast_tick(self) -> None:
        """One fast tick: during the switch, one step of K and its work; then every column moves."""
        if self.done:
            return
        self.ticks += 1
        M = self.M
        if self.ticks > self.burn_in:
            s = self.ticks - self.burn_in
            h = link_energy(self.phi, self.src, self.dst, self.w)
            self.work[:M] += (self.forward_K[s] - self.forward_K[s - 1]) * h[:M]
            self.work[M:] += (self.reverse_K[s] - self.reverse_K[s - 1]) * h[M : 2 * M]
            self.ti_sum += h[2 * M :]
            self.ti_count += 1
            self.K[:M] = self.forward_K[s]
            self.K[M : 2 * M] = self.reverse_K[s]
            self.mean_work.append((self.ticks, float(self.work[:M].mean()), float(self.work[M:].mean())))
        self.integrator.advance(self.Wbar, self.phi, self.K, self.T, self.dt, self.substeps)
        self.model.state.phi[:] = self.phi[:, 0]
        if self.ticks >= self.burn_in + self.switch_ticks:
            self.done = True
            self.model.running = False

    @property
    def work_forward(self) -> np.ndarray:
        """Work of each forward trajectory so far (final once ``done``)."""
        return self.work[: self.M]

    @property
    def work_reverse(self) -> np.ndarray:
        """Work of each reverse trajectory so far (final once ``done``)."""
        return self.work[self.M :]

    def ti_samples(self) -> np.ndarray:
        """(TI nodes × replicas): each replica's time mean of ∂H/∂K over the switching ticks."""
        return (self.ti_sum / max(self.ti_count, 1)).reshape(self.K_nodes.size, self.Q)

    def exact_partial(self) -> float | None:
        """Exact F(K_now) − F(K_from) of the forward switch so far (lateral-free trees only)."""
        if self.delta_F_exact is None:
            return None
        K0 = self.forward_K[0]
        return exact_delta_F(self.w, K0, self.forward_K[self.switch_step], self.T) if self.switch_step else 0.0

    def info(self) -> dict[str, Any]:
        """What the experiment is doing, for the app and the plots."""
        return {
            "T": self.T,
            "trajectories": self.M,
            "burn_in": self.burn_in,
            "substeps": self.substeps,
            "switch_step": self.switch_step,
            "switch_ticks": self.switch_ticks,
            "lateral_free": self.lateral_free,
            "delta_F_exact": self.delta_F_exact,
        }


def attach(model: CoherenceModel) -> Thermo | None:
    """The experiment when ``thermo.enabled``, else None."""
    return Thermo(model) if model.params.thermo.enabled else None
