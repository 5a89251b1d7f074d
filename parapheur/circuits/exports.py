"""Export steps: the registry of exporters, the check that each export step has one, and the
outbox handler that runs an exporter and then completes the step (or follows its on_reject)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from parapheur.circuits import services as circuits
from parapheur.circuits.definition import Circuit
from parapheur.documents.models import Document
from parapheur.outbox.services import Delivery, DeliveryError, Handler

EXPORTERS_KEY = "parapheur.exporters"
EXPORT_KIND = circuits.EXPORT_KIND


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
    """The exporters shipped with the application (none yet: the PES V2 one comes with the
    accounting chain)."""
    return {}


def missing_exporters(circuits_by_id: Mapping[str, Circuit],
                      exporters: Mapping[str, Exporter]) -> list[str]:
    """One French message per export step whose exporter is not named or not registered."""
    known = ", ".join(sorted(exporters)) or "aucun"
    problems = []
    for circuit in circuits_by_id.values():
        for state in circuit.states.values():
            if state.action != "export":
                continue
            where = f"{circuit.file}:{state.line}: circuit « {circuit.id} », étape « {state.name} »"
            if state.exporter is None:
                problems.append(f"{where} : l'étape d'export ne nomme pas d'exportateur "
                                f"(« exporter: … » ; exportateurs installés : {known})")
            elif state.exporter not in exporters:
                problems.append(f"{where} : l'exportateur « {state.exporter} » n'est pas "
                                f"installé (exportateurs installés : {known})")
    return problems


def _waiting(delivery: Delivery) -> Document | None:
    document = delivery.session.get(Document, delivery.payload["document_id"])
    if document is None:
        return None
    step = delivery.payload["step"]
    if not any(p.state == step and p.automatic for p in circuits.pending_steps(document)):
        return None
    return document


def deliver_export(delivery: Delivery) -> dict[str, Any]:
    """Run the step's exporter, then complete the step in the same transaction."""
    document = _waiting(delivery)
    if document is None:
        return {"skipped": "le document n'attend plus cet export"}
    name = delivery.payload["exporter"]
    exporter = delivery.extensions[EXPORTERS_KEY].get(name)
    if exporter is None:
        raise DeliveryError(f"L'exportateur « {name} » n'est pas installé.", permanent=True)
    details = dict(exporter(ExportRun(delivery.session, document, delivery.payload["step"],
                                      delivery.now, delivery.config,
                                      delivery.message.attempts)) or {})
    circuits.complete_automatic_step(delivery.session, document, step=delivery.payload["step"],
                                     details={"exporter": name, **details}, now=delivery.now)
    return {"exporter": name, "step": delivery.payload["step"]}


def give_up_export(delivery: Delivery, reason: str) -> None:
    """The export failed for good: the step follows its on_reject, with the reason."""
    document = _waiting(delivery)
    if document is not None:
        circuits.fail_automatic_step(delivery.session, document, step=delivery.payload["step"],
                                     reason=f"échec de l'export : {reason}", now=delivery.now)


def handlers() -> dict[str, Handler]:
    """The export kind of the outbox."""
    return {EXPORT_KIND: Handler(deliver_export, give_up_export, "un export de document")}
