"""Fixtures for the circuit engine tests: the shipped workflows and a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from parapheur.circuits.definition import Circuit, load_directory

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"

# A Wednesday with no public holiday nearby, 10:00 UTC.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def shipped() -> dict[str, Circuit]:
    """The circuits shipped in workflows/, keyed by id."""
    return load_directory(WORKFLOWS)


@pytest.fixture
def now() -> datetime:
    """The frozen time the engine is given."""
    return NOW
