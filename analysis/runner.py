"""Run one scenario to completion and compute its summary: the unit of work of `cohlab run` and sweeps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model.model import CoherenceModel
from scenarios.loader import Scenario, load_scenario

from .summary import summarize


@dataclass
class RunResult:
    model: CoherenceModel
    ticks: int
    summary: dict[str, Any]


def run_scenario(
    scenario: Scenario | str | Path | None,
    *,
    seed: int | None = None,
    ticks: int | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = False,
) -> RunResult:
    """Build the model, run it for ``ticks`` (default: the scenario's) and summarise it.

    ``scenario`` is a loaded Scenario, or a name or path that this function loads (the model
    itself reads no files).

    Raises:
        ParameterError, ScenarioError: on invalid input, before anything runs.
        SimulationError: if the state becomes NaN/inf (naming tick and mechanism).
    """
    if isinstance(scenario, str | Path):
        scenario = load_scenario(scenario)
    model = CoherenceModel(scenario, seed=seed, params=overrides or {})
    planned = model.planned_ticks or (model.scenario.scenario.ticks if model.scenario else 100)
    n = int(ticks if ticks is not None else planned)
    done = 0
    name = model.scenario.name if model.scenario else "run"
    with tqdm(total=n, desc=name, unit="tick", disable=not progress) as bar:
        while done < n and model.running:  # Mesa's convention: a model may end itself (stability_plasticity)
            model.step()
            done += 1
            bar.update()
        if done < n:
            bar.total = done  # the bar ends full where the scenario ended
            bar.refresh()
    return RunResult(model, done, summarize(model))
