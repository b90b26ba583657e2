"""A sweep run function that makes its worker process die (tests only; imported by the workers).

The tests put :func:`run_or_die` in place of ``analysis.sweep.execute.run_task`` with
monkeypatch; the executors send it to the workers by reference, so the workers import this
module (the fork server inherits the test session's ``sys.path``; Dask workers get it through
``PYTHONPATH``). The plan is ``chaos.json`` beside the sweep's scenario file:
``{"die": [run ids], "once": bool, "exit_code": n}``; with ``once`` only the first worker to get
there dies (the plan is renamed to ``chaos.json.fired``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from analysis.sweep.execute import run_task


def run_or_die(task: Any) -> dict[str, Any]:
    plan_file = Path(task.scenario.path).with_name("chaos.json")
    try:
        plan = json.loads(plan_file.read_text())
    except (OSError, ValueError):
        plan = {}
    if task.run_id in plan.get("die", []):
        if not plan.get("once"):
            os._exit(int(plan.get("exit_code", 13)))
        try:
            os.replace(plan_file, f"{plan_file}.fired")  # atomic: only one process wins
        except OSError:
            pass
        else:
            os._exit(int(plan.get("exit_code", 13)))
    return run_task(task)
