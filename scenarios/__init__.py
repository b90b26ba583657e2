"""Scenario files (TOML) and their loader. Each scenario carries its own classroom narrative."""

from .loader import Scenario, ScenarioError, list_scenarios, load_scenario

__all__ = ["Scenario", "ScenarioError", "list_scenarios", "load_scenario"]
