"""The outbox handler of export steps: run the step's exporter, then complete the step (or, once
given up, follow its on_reject with the reason)."""

from __future__ import annotations

from typing import Any

from parapheur.circuits import services as circuits
from parapheur.circuits.exporters import EXPORTERS_KEY, ExportRun
from parapheur.documents.models import Document
from parapheur.outbox.services import Delivery, DeliveryError, Handler

EXPORT_KIND = circuits.EXPORT_KIND


def waiting_document(delivery: Delivery) -> Document | None:
    """The document of a server-step delivery, if it still waits at that step (else None)."""
    document = delivery.session.get(Document, delivery.payload["document_id"])
    if document is None:
        return None
    step = delivery.payload["step"]
    if not any(p.state == step and p.automatic for p in circuits.pending_steps(document)):
        return None
    return document


def deliver_export(delivery: Delivery) -> dict[str, Any]:
    """Run the step's exporter, then complete the step in the same transaction."""
    document = waiting_document(delivery)
    if document is None:
        return {"skipped": "le document n'attend plus cet export"}
    name = delivery.payload["exporter"]
    exporter = delivery.extensions[EXPORTERS_KEY].get(name)
    if exporter is None:
        raise DeliveryError(f"L'exportateur « {name} » n'est pas installé.", permanent=True)
    details = dict(exporter(ExportRun(delivery.session, document, delivery.payload["step"],
                                      delivery.now, delivery.config,
                                      delivery.message.attempts)) or {})
    circuits.complete_automatic_step(
        delivery.session, document, step=delivery.payload["step"],
        outcome=circuits.AutomaticOutcome({"exporter": name, **details}), now=delivery.now)
    return {"exporter": name, "step": delivery.payload["step"]}


def give_up_export(delivery: Delivery, reason: str) -> None:
    """The export failed for good: the step follows its on_reject, with the reason."""
    document = waiting_document(delivery)
    if document is not None:
        circuits.fail_automatic_step(delivery.session, document, step=delivery.payload["step"],
                                     reason=f"échec de l'export : {reason}", now=delivery.now)


def handlers() -> dict[str, Handler]:
    """The export kind of the outbox."""
    return {EXPORT_KIND: Handler(deliver_export, give_up_export, "un export de document")}
