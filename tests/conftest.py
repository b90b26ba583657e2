"""Shared fixtures: small models and the command-line runner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()
