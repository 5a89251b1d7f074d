"""Desks named by circuits, checked against the desks that really exist (the database's)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from parapheur.circuits.definition import SYSTEM_DESK, Circuit
from parapheur.circuits.errors import Problem
from parapheur.circuits.yamlnodes import did_you_mean


def referenced_desks(circuit: Circuit) -> dict[str, list[str]]:
    """Fixed desk slug → the states naming it (metadata and author desks are resolved at run)."""
    result: dict[str, list[str]] = {}
    for state in circuit.states.values():
        if state.actor is None or state.actor.kind != "desk":
            continue
        for slug in state.actor.desks:
            result.setdefault(slug, []).append(state.name)
    return result


def check_against(circuits: Iterable[Circuit], existing: Iterable[str]) -> list[Problem]:
    """One problem per desk a circuit names that `existing` (e.g. the DB's slugs) lacks."""
    known = set(existing)
    problems = []
    for circuit in circuits:
        for slug, states in sorted(referenced_desks(circuit).items()):
            if slug == SYSTEM_DESK or slug in known:
                continue
            line = min(circuit.states[name].line for name in states)
            problems.append(Problem(circuit.file, line, 1,
                                    f"bureau « {slug} » absent de la base (étape(s) "
                                    f"{', '.join(states)}){did_you_mean(slug, known)}"))
    return problems


def labels(circuit: Circuit, registry: Mapping[str, str]) -> dict[str, str]:
    """Slug → French label for the circuit's fixed desks (slug itself when unregistered)."""
    return {slug: registry.get(slug, slug) for slug in referenced_desks(circuit)}
