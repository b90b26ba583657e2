"""Run one scenario to completion and compute its summary: the unit of work of `cohlab run` and sweeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from model.model import CoherenceModel

from .metrics import summarize


@dataclass
class RunResult:
    model: CoherenceModel
    ticks: int
    summary: dict[str, Any]


def run_scenario(
    scenario: Any,
    *,
    seed: int | None = None,
    ticks: int | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = False,
) -> RunResult:
    """Build the model, run it for ``ticks`` (default: the scenario's) and summarise it.

    Raises:
        ParameterError, ScenarioError: on invalid input, before anything runs.
        SimulationError: if the state becomes NaN/inf (naming tick and mechanism).
    """
    model = CoherenceModel(scenario, seed=seed, params=overrides or {})
    n = int(ticks if ticks is not None else (model.scenario.scenario.ticks if model.scenario else 100))
    done = 0
    for _ in tqdm(range(n), desc=model.scenario.name if model.scenario else "run", unit="tick", disable=not progress):
        if not model.running:  # Mesa's convention: the model may end early (e.g. stability_plasticity's schedule)
            break
        model.step()
        done += 1
    return RunResult(model, done, summarize(model))
