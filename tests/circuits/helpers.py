"""Helpers to write small circuits inline in tests."""

from __future__ import annotations

import textwrap

from parapheur.circuits.definition import Circuit, parse_circuit
from parapheur.circuits.errors import CircuitDefinitionError, Problem

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
