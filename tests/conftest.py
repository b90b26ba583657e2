"""Shared fixtures: small models and the command-line runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from model.graph import Graph, build_graph
from model.keys import resolve
from model.params import Params
from model.state import State, initial_state

World = tuple[Graph, State, Params, np.random.Generator]


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def make_world() -> Callable[..., World]:
    """A factory: ``make_world({"graph.depth": 2, …}, seed=0)`` → (graph, state, params, rng), no model around it."""

    def make(overrides: dict[str, Any] | None = None, seed: int = 0) -> World:
        params = resolve(overrides or {})
        rng = np.random.default_rng(seed)
        graph = build_graph(params.graph, rng)
        return graph, initial_state(graph, params, rng), params, rng

    return make
