"""The bordereau de signature: a PDF/A-3 history sheet of a document, with its journal attached."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.audit.models import AuditEvent
from parapheur.circuits.models import StepAction
from parapheur.circuits.services import circuit_of
from parapheur.dates import format_datetime
from parapheur.documents.models import Document
from parapheur.templating import render


def render_bordereau(session: Session, document: Document, journal_json: bytes,
                     *, organisation: str, now: datetime | None = None) -> bytes:
    """The bordereau as PDF/A-3b bytes, `journal.json` embedded as an associated file."""
    from weasyprint import HTML, Attachment

    history = session.execute(select(StepAction).where(StepAction.document_id == document.id)
                              .order_by(StepAction.acted_at, StepAction.id)).scalars().all()
    events = session.execute(select(AuditEvent).where(AuditEvent.document_id == document.id)
                             .order_by(AuditEvent.seq)).scalars().all()
    states = circuit_of(document).states
    labels = {name: state.label for name, state in states.items()}
    html = render(
        "pdf/bordereau.html", document=document, history=history, events=events, labels=labels,
        organisation=organisation,
        generated_at=format_datetime(now or datetime.now(UTC), with_seconds=True))
    attachment = Attachment(string=journal_json.decode("utf-8"), name="journal.json",
                            description="Journal d'audit du document (événements chaînés)",
                            relationship="Source")
    return HTML(string=html).write_pdf(pdf_variant="pdf/a-3b", attachments=[attachment])
