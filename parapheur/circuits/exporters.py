"""Exporters: what they get and return, the shipped ones, and the check that every export step of
a circuit names an installed one (no Flask, no database: `parapheur workflows check` uses it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from parapheur.circuits.definition import Circuit
from parapheur.circuits.errors import Problem

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from parapheur.documents.models import Document

EXPORTERS_KEY = "parapheur.exporters"


@dataclass(frozen=True)
class ExportRun:
    """What an exporter gets: the document waiting at its export step, and when."""

    session: Session
    document: Document
    step: str
    now: datetime
    config: Mapping[str, Any]
    attempt: int


# An exporter does the work (builds and sends the file) and returns what the journal keeps
# (file name, digest, the remote receipt); it raises DeliveryError when it cannot.
Exporter = Callable[[ExportRun], Mapping[str, Any] | None]


def default_exporters() -> dict[str, Exporter]:
    """The exporters shipped with the application: the PES V2 one of the accounting chain."""
    from parapheur.accounting.exporter import register_pes_exporter

    shipped: dict[str, Exporter] = {}
    register_pes_exporter(shipped)
    return shipped


def missing_exporters(circuits_by_id: Mapping[str, Circuit],
                      exporters: Mapping[str, Exporter]) -> list[Problem]:
    """One problem per export step whose exporter is not named or not installed."""
    known = ", ".join(sorted(exporters)) or "aucun"
    problems = []
    for circuit in circuits_by_id.values():
        for state in circuit.states.values():
            if state.action != "export":
                continue
            where = f"circuit « {circuit.id} », étape « {state.name} »"
            if state.exporter is None:
                message = (f"{where} : l'étape d'export ne nomme pas d'exportateur "
                           f"(« exporter: … » ; exportateurs installés : {known})")
            elif state.exporter not in exporters:
                message = (f"{where} : l'exportateur « {state.exporter} » n'est pas installé "
                           f"(exportateurs installés : {known})")
            else:
                continue
            problems.append(Problem(circuit.file, state.line, 1, message))
    return problems


