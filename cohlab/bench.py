"""`cohlab bench` (SPEC 11): node-updates per second of the fast tick against a per-agent Mesa loop.

Each size runs in a fresh subprocess, so build time and peak memory (ru_maxrss) belong to
that size alone. For each N it reports:
- ``node_updates_per_s``: N × fast ticks / s of ``model.step()`` with spreading, background
  load and the criticality controller on (slow ticks excluded; they are timed separately), with
  the default engine (``engine``: ``compiled`` where built, on ``threads`` threads);
- ``numpy_engine_node_updates_per_s``: the same with the numpy engine (the mechanism modules),
  measured right after on the same model; ``engine_speedup``: compiled / numpy;
- ``mesa_loop_node_updates_per_s``: the same fast-tick math (injection, spreading,
  retention, floor, clamp, two power iterations) written as a plain per-agent Mesa loop with
  ``model.agents.do(...)``, run up to ``--mesa-max`` nodes (null above);
- ``ratio``: vectorised / per-agent;
- ``slow_tick_s``: one slow tick (weight decay, Hebbian learning, coherence, persistence and
  the 50-iteration re-convergence of ρ), median of three; ``slow_coherence_persistence_s``:
  the coherence and persistence passes alone;
- ``build_s`` and ``peak_rss_mb``.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import click
import mesa
import numpy as np


def run_bench(sizes: list[int], *, ticks: int, mesa_max: int, as_json: bool) -> list[dict[str, Any]]:
    """Benchmark every size in its own process and print the results."""
    rows = []
    if not as_json:
        click.echo(
            f"{'N':>9} {'node-upd/s':>12} {'numpy eng/s':>12} {'mesa-loop/s':>12} {'ratio':>8} {'fast ms':>9} "
            f"{'slow s':>8} "
            f"{'coh+per s':>9} {'build s':>8} {'peak MB':>8}"
        )
    for n in sizes:
        cmd = [sys.executable, "-m", "cohlab.bench", str(n), str(ticks), str(int(n <= mesa_max))]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise click.ClickException(f"benchmark at N = {n} failed: {proc.stderr.strip().splitlines()[-1:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        if as_json:
            click.echo(json.dumps(row))
        else:
            mesa_s = f"{row['mesa_loop_node_updates_per_s']:.3g}" if row["mesa_loop_node_updates_per_s"] else "—"
            ratio = f"{row['ratio']:.0f}×" if row["ratio"] else "—"
            click.echo(
                f"{n:>9} {row['node_updates_per_s']:>12.3g} {row['numpy_engine_node_updates_per_s']:>12.3g} "
                f"{mesa_s:>12} {ratio:>8} {row['fast_tick_ms']:>9.2f} "
                f"{row['slow_tick_s']:>8.3f} {row['slow_coherence_persistence_s']:>9.3f} {row['build_s']:>8.2f} "
                f"{row['peak_rss_mb']:>8.0f}"
            )
    return rows


def bench_one(n: int, ticks: int, with_mesa: bool) -> dict[str, Any]:
    """Benchmark one size (run inside a fresh process)."""
    from model import CoherenceModel, kernels
    from model.fast_tick import make_engine

    params = {
        "graph.n_nodes": n,
        "load.rate": max(1.0, n / 100),  # 1 % of the nodes receive a pulse each tick
        "clock.dt_slow": 1e9,  # slow ticks are timed on their own below
    }
    params.update(_slow_mechanisms())
    t0 = time.perf_counter()
    model = CoherenceModel(seed=0, params=params)
    build_s = time.perf_counter() - t0
    fast_s = fast_tick_seconds(model, ticks)
    engine = model.engine
    numpy_s = None
    if engine != "numpy":
        model._core = make_engine("numpy", n)
        numpy_s = fast_tick_seconds(model, ticks)
    slow, mechanisms = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        model._slow_tick()
        slow.append(time.perf_counter() - t0)
        t0 = time.perf_counter()  # coherence + persistence alone (the rest is weights and ρ re-convergence)
        model._slow_hook_coherence()
        model._slow_hook_persistence()
        mechanisms.append(time.perf_counter() - t0)
    row: dict[str, Any] = {
        "N": n,
        "edges": model.graph.nnz,
        "ticks": ticks,
        "fast_tick_ms": fast_s * 1e3,
        "node_updates_per_s": n / fast_s,
        "engine": engine,
        "threads": kernels.threads() if engine == "compiled" else 1,
        "numpy_engine_node_updates_per_s": n / numpy_s if numpy_s else n / fast_s,
        "engine_speedup": numpy_s / fast_s if numpy_s else 1.0,
        "mesa_loop_node_updates_per_s": None,
        "ratio": None,
        "slow_tick_s": statistics.median(slow),
        "slow_coherence_persistence_s": statistics.median(mechanisms),
        "build_s": build_s,
    }
    if with_mesa:
        loop_s = mesa_loop_tick_seconds(model, ticks=max(1, min(ticks, 3)))
        row["mesa_loop_node_updates_per_s"] = n / loop_s
        row["ratio"] = loop_s / fast_s
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def fast_tick_seconds(model: Any, ticks: int) -> float:
    """Seconds per fast tick (slow ticks are pushed out of the way by the caller)."""
    model.run(3)  # warm-up (caches, first-touch of the work buffers)
    t0 = time.perf_counter()
    model.run(ticks)
    return (time.perf_counter() - t0) / ticks


def _slow_mechanisms() -> dict[str, Any]:
    """Coherence and persistence switched on for the slow-tick figure, where they exist."""
    from model.params import parameter_keys

    keys = set(parameter_keys())
    return {k: True for k in ("coherence.enabled", "persistence.enabled") if k in keys}


class LoopNode(mesa.Agent):
    """The fast tick's math for one node, the way a per-agent Mesa model would write it."""

    def __init__(self, model: LoopModel, m_E: float, sources: list[int], weights: list[float]) -> None:
        super().__init__(model)
        self.E = 0.0
        self.inject = 0.0
        self.m_E = m_E
        self.sources = sources
        self.weights = weights
        self.v = 1.0
        self.gain = 0.0
        self.ret = 1.0

    def gather(self) -> None:
        """Injection, then Σ_i W_ij·E_i over in-neighbours (read phase)."""
        nodes = self.model.nodes
        self.E += self.inject
        self.inject = 0.0
        self.gain = sum(w * nodes[i].E for i, w in zip(self.sources, self.weights, strict=True))

    def apply(self) -> None:
        """Spreading, retention, floor and clamp (write phase)."""
        m = self.model
        self.ret = math.exp(-m.delta_E * self.m_E)
        e = (self.E + m.alpha * self.gain) * self.ret
        self.E = 0.0 if e < m.floor else min(e, m.E_max)

    def power_gather(self) -> None:
        nodes = self.model.nodes
        self.gain = sum(w * nodes[i].v for i, w in zip(self.sources, self.weights, strict=True))

    def power_apply(self) -> None:
        self.v_next = self.ret * (self.v + self.model.alpha * self.gain)


class LoopModel(mesa.Model):
    """A plain per-agent Mesa model of the same fast tick, for the speed comparison."""

    def __init__(self, source: Any, seed: int = 0) -> None:
        super().__init__(seed=seed)
        p, g, st = source.params, source.graph, source.state
        self.alpha, self.floor, self.E_max = p.spread.alpha, p.decay.energy_floor, p.decay.E_max
        self.delta_E, self.rate, self.amount = st.delta_E, p.load.rate, p.load.amount
        self.nodes = [
            LoopNode(
                self,
                float(st.m_E[j]),
                g.indices[g.indptr[j] : g.indptr[j + 1]].tolist(),
                st.W[g.indptr[j] : g.indptr[j + 1]].tolist(),
            )
            for j in range(g.n)
        ]

    def step(self) -> None:
        for _ in range(np.random.default_rng(self.steps).poisson(self.rate)):
            self.nodes[self.random.randrange(len(self.nodes))].inject += self.amount
        self.agents.do("gather")
        self.agents.do("apply")
        for _ in range(2):  # the controller's two power iterations
            self.agents.do("power_gather")
            self.agents.do("power_apply")
            norm = math.sqrt(sum(a.v_next**2 for a in self.nodes)) or 1.0
            for a in self.nodes:
                a.v = a.v_next / norm
        self.delta_E += 0.05 * (norm - 0.98)


def mesa_loop_tick_seconds(model: Any, ticks: int) -> float:
    """Seconds per fast tick of the per-agent loop built from the same graph."""
    loop = LoopModel(model)
    loop.step()
    t0 = time.perf_counter()
    for _ in range(ticks):
        loop.step()
    return (time.perf_counter() - t0) / ticks


if __name__ == "__main__":
    n_, ticks_, with_mesa_ = int(sys.argv[1]), int(sys.argv[2]), bool(int(sys.argv[3]))
    print(json.dumps(bench_one(n_, ticks_, with_mesa_)))
