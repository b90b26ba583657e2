"""Module seams: dependencies point one way; the model reads no scenario files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from model import CoherenceModel

ROOT = Path(__file__).parents[1]
# each first in a fresh interpreter: a cycle through any of them fails there, whatever order a test
# session happened to import things in (the package roots, and the modules other layers reach into)
FIRST = ("agents", "model", "scenarios", "analysis.metrics", "analysis.plasticity_metrics", "analysis.sweep.execute")


@pytest.mark.parametrize("name", FIRST)
def test_a_module_imports_on_its_own(name: str) -> None:
    res = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr.strip().splitlines()[-1:]


def test_agents_and_metric_modules_import_no_model_wiring() -> None:
    """agents need only leaf modules; the metric modules register into a registry they both import."""
    code = (
        "import sys, agents, analysis.plasticity_metrics\n"
        "from analysis.metric_registry import METRICS\n"
        "print('model.model' in sys.modules, 'stability_plasticity' in METRICS)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert res.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("given", ["criticality", Path("scenarios/criticality.toml")])
def test_the_model_takes_a_loaded_scenario_not_a_file(given: object) -> None:
    with pytest.raises(TypeError, match="load_scenario"):
        CoherenceModel(given, seed=0)
