"""`cohlab bench` (SPEC 11): what users wait for, per graph size and on a busy machine.

Each size runs in a fresh subprocess, so build time and peak memory (ru_maxrss) belong to
that size alone. The model is the one a user runs: spreading, background load (1 % of the nodes
pulsed per tick), the criticality controller, Hebbian learning, coherence and persistence, with a
slow tick every 10 fast ticks. For each N it reports:
- ``whole_run_node_updates_per_s``: N × ticks / s of ``model.step()`` over whole runs, slow ticks
  included, from the median fast step and the median slow step of ``repeats`` runs of ``ticks``
  ticks (robust to steps that lost their core to another process), with the default engine
  (``engine``: ``compiled`` where built, on ``threads`` threads for this N);
- ``node_updates_per_s``, ``fast_tick_ms``: the fast tick alone (the median step without a slow tick);
- ``slow_tick_s`` and ``slow_tick_x_fast``: one slow tick (weight decay, Hebbian learning, coherence,
  persistence and the re-convergence of ρ), as seconds and as a multiple of the fast tick;
- ``numpy_engine_*``: the same with the numpy engine, taking turns with the default engine on the
  same model (up to ``--numpy-max`` nodes); ``engine_speedup``: default / numpy over whole runs;
- ``mesa_loop_node_updates_per_s``: the fast-tick math (injection, spreading, retention, floor,
  clamp, two power iterations) written as a plain per-agent Mesa loop with ``model.agents.do(...)``,
  run up to ``--mesa-max`` nodes (null above); ``ratio``: fast tick / per-agent loop;
- ``build_s`` (wall) and ``build_cpu_s`` (CPU time of this process: the build is serial, so on a
  busy machine this is what it would take alone), ``peak_rss_mb``, and ``load`` (1-minute load average).

``--contended`` sizes (default 121, the ``criticality`` scenario, and 10⁴) are measured for the
default and numpy engines twice: as the machine is, then with one busy process beside the bench
(started and stopped by it), as on a laptop or a sweep worker that is doing other things. Each row
gives milliseconds per ``model.step()`` over whole runs and the 1-minute load average.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import click
import mesa
import numpy as np

DT_SLOW = 10
# Whole runs are timed after 5 slow ticks: right after the build the power vector is far from
# converged (|λ₂|/ρ ≈ 0.998), so the first re-convergences of ρ use 30–40 steps and later ones
# fewer (see criticality.RECONVERGE_TOL); a run of a few hundred ticks is mostly the latter.
WARM_UP = 5 * DT_SLOW
CONTENDED = (121, 10_000)


def run_bench(
    sizes: list[int],
    *,
    ticks: int,
    mesa_max: int,
    as_json: bool,
    numpy_max: int = 1_000_000,
    repeats: int = 3,
    contended: tuple[int, ...] = CONTENDED,
) -> list[dict[str, Any]]:
    """Benchmark every size in its own process, then the contended sizes, and print the results."""
    rows = []
    if not as_json:
        click.echo(
            f"{'N':>9} {'whole run/s':>12} {'numpy eng/s':>12} {'speedup':>8} {'fast ms':>9} {'slow ms':>9} "
            f"{'slow/fast':>9} {'mesa ratio':>10} {'threads':>7} {'build s':>8} {'peak MB':>8}"
        )
    for n in sizes:
        row = _subprocess_row(["size", str(n), str(ticks), str(int(n <= mesa_max)), str(int(n <= numpy_max)),
                               str(repeats)], f"N = {n}")  # fmt: skip
        rows.append(row)
        if as_json:
            click.echo(json.dumps(row))
        else:
            numpy_s = _g(row["numpy_engine_whole_run_node_updates_per_s"])
            speedup = f"{row['engine_speedup']:.2f}×" if row["engine_speedup"] else "—"
            ratio = f"{row['ratio']:.0f}×" if row["ratio"] else "—"
            click.echo(
                f"{n:>9} {row['whole_run_node_updates_per_s']:>12.3g} {numpy_s:>12} {speedup:>8} "
                f"{row['fast_tick_ms']:>9.2f} {row['slow_tick_s'] * 1e3:>9.1f} {row['slow_tick_x_fast']:>9.1f} "
                f"{ratio:>10} {row['threads']:>7} {row['build_s']:>8.2f} {row['peak_rss_mb']:>8.0f}"
            )
    if contended:
        if not as_json:
            heads = (
                f"{'busy procs':>10} {'load':>6} {'default ms/step':>16} {'numpy ms/step':>14} {'default/numpy':>13}"
            )
            click.echo(f"\n{'N':>9} {heads}")
        for n in contended:
            for busy in (0, 1):
                row = _subprocess_row(["contended", str(n), str(busy)], f"N = {n} with {busy} busy process(es)")
                rows.append(row)
                if as_json:
                    click.echo(json.dumps(row))
                else:
                    click.echo(
                        f"{n:>9} {busy:>10} {row['load']:>6.1f} {row['default_ms_per_step']:>16.3f} "
                        f"{row['numpy_ms_per_step']:>14.3f} {row['default_over_numpy']:>13.2f}"
                    )
    return rows


def _g(x: float | None) -> str:
    return f"{x:.3g}" if x else "—"


def _subprocess_row(args: list[str], what: str) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON row."""
    proc = subprocess.run([sys.executable, "-m", "cohlab.bench", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise click.ClickException(f"benchmark at {what} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def user_params(n: int) -> dict[str, Any]:
    """The model a user runs at N nodes: learning, coherence and persistence on, a slow tick every 10."""
    from model.keys import parameter_keys

    params: dict[str, Any] = {"graph.n_nodes": n, "load.rate": max(1.0, n / 100), "clock.dt_slow": DT_SLOW}
    keys = set(parameter_keys())
    params.update({k: True for k in ("learning.enabled", "coherence.enabled", "persistence.enabled") if k in keys})
    return params


def bench_one(n: int, ticks: int, with_mesa: bool, with_numpy: bool = True, repeats: int = 3) -> dict[str, Any]:
    """Benchmark one size (run inside a fresh process)."""
    from model import CoherenceModel, kernels
    from model.fast_tick import make_engine

    t0, c0 = time.perf_counter(), time.process_time()
    model = CoherenceModel(seed=0, params=user_params(n))
    build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    engine = model.engine
    cores = {engine: model._core}
    if engine != "numpy" and with_numpy:
        cores["numpy"] = make_engine("numpy", n)
    runs = whole_runs(model, cores, ticks, repeats)
    default, numpy_run = runs[engine], runs.get("numpy")
    row: dict[str, Any] = {
        "kind": "size",
        "N": n,
        "edges": model.graph.nnz,
        "ticks": ticks,
        "repeats": repeats,
        "dt_slow": DT_SLOW,
        "engine": engine,
        "threads": kernels.threads_for(n) if engine == "compiled" else 1,
        "whole_run_node_updates_per_s": default["rate"],
        "fast_tick_ms": default["fast_s"] * 1e3,
        "node_updates_per_s": n / default["fast_s"],
        "slow_tick_s": default["slow_s"],
        "slow_tick_x_fast": default["slow_s"] / default["fast_s"],
        "numpy_engine_whole_run_node_updates_per_s": numpy_run["rate"] if numpy_run else None,
        "numpy_engine_node_updates_per_s": n / numpy_run["fast_s"] if numpy_run else None,
        "numpy_engine_slow_tick_s": numpy_run["slow_s"] if numpy_run else None,
        "engine_speedup": default["rate"] / numpy_run["rate"] if numpy_run else None,
        "mesa_loop_node_updates_per_s": None,
        "ratio": None,
        "build_s": build_s,
        "build_cpu_s": build_cpu_s,
        "load": os.getloadavg()[0],
    }
    if with_mesa:
        loop_s = mesa_loop_tick_seconds(model, ticks=max(1, min(ticks, 3)))
        row["mesa_loop_node_updates_per_s"] = n / loop_s
        row["ratio"] = loop_s / default["fast_s"]
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def whole_runs(model: Any, cores: dict[str, Any], ticks: int, repeats: int) -> dict[str, dict[str, float]]:
    """Time ``repeats`` whole runs of ``ticks`` steps with each engine core, taking turns on the
    same model (the engines share the state), so that all see the same machine.

    Per engine: the median step without a slow tick (``fast_s``), the median extra time of the
    steps with one (``slow_s``), and the whole-run rate N × ticks / s built from those medians
    (a step that lost its core to another process does not count as the model's cost).
    """
    model.run(WARM_UP)  # past the start-up transient (see WARM_UP)
    steps: dict[str, tuple[list[float], list[float]]] = {e: ([], []) for e in cores}
    for _ in range(repeats):
        for e, core in cores.items():
            model._core = core
            fast, slow = steps[e]
            for _ in range(ticks):
                t0 = time.perf_counter()
                model.step()
                (slow if model.tick % DT_SLOW == 0 else fast).append(time.perf_counter() - t0)
    out = {}
    for e, (fast, slow) in steps.items():
        fast_s = statistics.median(fast)
        slow_step = statistics.median(slow) if slow else fast_s
        n_slow = ticks // DT_SLOW
        rate = model.graph.n * ticks / ((ticks - n_slow) * fast_s + n_slow * slow_step)
        out[e] = {"rate": rate, "fast_s": fast_s, "slow_s": slow_step - fast_s}
    model._core = cores[next(iter(cores))]
    return out


def contended_one(n: int, busy: int, ticks: int = 0, repeats: int = 5) -> dict[str, Any]:
    """ms per ``model.step()`` over whole runs for the default and numpy engines, with ``busy``
    busy processes beside this one (started here and stopped before returning)."""
    from model import CoherenceModel
    from scenarios import load_scenario

    scenario, params = (load_scenario("criticality"), {}) if n == 121 else (None, user_params(n))
    ticks = ticks or (200 if n <= 1000 else 50)
    models = {e: CoherenceModel(scenario, params=params, seed=0, engine=e) for e in ("compiled", "numpy")}
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        time.sleep(0.5 if busy else 0.0)  # let the busy process take its core
        per_step: dict[str, list[float]] = {e: [] for e in models}
        for m in models.values():
            m.run(DT_SLOW)
        for _ in range(repeats):  # alternate, so both engines see the same machine
            for e, m in models.items():
                t0 = time.perf_counter()
                m.run(ticks)
                per_step[e].append((time.perf_counter() - t0) / ticks)
        load = os.getloadavg()[0]
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    default, reference = statistics.median(per_step["compiled"]), statistics.median(per_step["numpy"])
    return {
        "kind": "contended",
        "N": models["numpy"].graph.n,
        "busy_processes": busy,
        "load": load,
        "ticks": ticks,
        "repeats": repeats,
        "default_ms_per_step": default * 1e3,
        "numpy_ms_per_step": reference * 1e3,
        "default_over_numpy": default / reference,
    }


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
    what, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    if what == "size":
        row = bench_one(args[0], args[1], bool(args[2]), bool(args[3]), args[4])
    else:
        row = contended_one(args[0], args[1])
    print(json.dumps(row))
