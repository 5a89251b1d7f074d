"""The periodic job that tells desks a document is late at their step (once per step visit)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.circuits.definition import SYSTEM_DESK
from parapheur.clock import now as clock_now
from parapheur.db import transaction
from parapheur.documents.models import Document, DocumentStatus, waiting_slugs
from parapheur.notifications.events import queue_event
from parapheur.outbox import services as outbox

if TYPE_CHECKING:
    from flask import Flask

PARIS = ZoneInfo("Europe/Paris")


def queue_late_steps(session: Session, *, now: datetime) -> int:
    """Queue a « en retard » notification for each document past its step's deadline."""
    count = 0
    documents = session.execute(
        select(Document).where(Document.status == DocumentStatus.IN_PROGRESS)).scalars()
    for document in documents:
        state = document.run_state or {}
        due = state.get("due")
        if not due or datetime.fromisoformat(due) >= now:
            continue
        desks = sorted(d for d in waiting_slugs(state) if d != SYSTEM_DESK)
        if not desks:
            continue
        key = f"late:{document.id}:{state.get('current')}:{state.get('entered_at')}"
        if outbox.find_by_key(session, key) is not None:
            continue
        queue_event(session, "late", now=now, document_id=document.id, key=key,
                    step=state.get("current"), desks=desks,
                    due_label=datetime.fromisoformat(due).astimezone(PARIS)
                    .strftime("%d/%m/%Y %H:%M"))
        count += 1
    return count


def queue_late_reminders(app: Flask) -> int:
    """The periodic job: one transaction over every late document, and the invoices whose
    payment deadline (délai global de paiement) is near or past."""
    from parapheur.invoices.reminders import queue_invoice_reminders

    with app.app_context():
        with app.extensions["parapheur.sessionmaker"]() as session, transaction(session):
            moment = clock_now()
            steps = queue_late_steps(session, now=moment)
            return steps + queue_invoice_reminders(session, now=moment, config=app.config).total
