"""Helpers for the circuit tests (a unique module name: `conftest` and `helpers` are shared)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parapheur.circuits.definition import Circuit, load_directory, parse_circuit
from parapheur.circuits.errors import CircuitDefinitionError, Problem

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"

# A Wednesday with no public holiday nearby, 10:00 UTC.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

DESKS = {"maire": "Maire", "adjoint": "Adjoint", "dgs": "DGS", "finances": "Finances",
         "services-techniques": "Services techniques"}


def circuit(text: str) -> Circuit:
    """Parse a dedented circuit against the demo desks."""
    return parse_circuit(textwrap.dedent(text).lstrip("\n"), "c.yaml", desks=DESKS)


def problems(text: str) -> list[Problem]:
    """The problems a dedented circuit has (fails the test when it has none)."""
    try:
        circuit(text)
    except CircuitDefinitionError as exc:
        return exc.problems
    raise AssertionError("the circuit was accepted")


def located(text: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of every problem."""
    return [(p.line, p.column, p.message) for p in problems(text)]


# Fixtures live here, imported by the test modules that use them, rather than in a conftest.py:
# several folders' conftest modules share the name `conftest`, and `from conftest import …`
# elsewhere in the suite must keep finding tests/conftest.py.
@pytest.fixture(scope="session")
def shipped() -> dict[str, Circuit]:
    """The circuits shipped in workflows/, keyed by id."""
    return load_directory(WORKFLOWS)


@pytest.fixture
def now() -> datetime:
    """The frozen time the engine is given."""
    return NOW
