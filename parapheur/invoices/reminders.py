"""Payment-clock reminders: invoices waiting in their circuit near (or past) the délai global de
paiement remind the desks they wait on, through the notifications (so quiet hours, preferences
and digests apply as for every notification).

Each invoice reminds once when it becomes at risk (`DgpClock.at_risk`: five days or fewer left)
and once when it becomes late; a late invoice is also flagged in the journal
(`invoice:dgp:late`, with the late-payment cost so far). A suspension moves the deadline: the
clock's new deadline reminds again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.audit import services as audit
from parapheur.circuits.definition import SYSTEM_DESK
from parapheur.documents.models import Document, DocumentStatus, waiting_slugs
from parapheur.invoices.checks import euros
from parapheur.invoices.lifecycle import CLOSED, clock_of, late_cost
from parapheur.invoices.models import Invoice
from parapheur.notifications.events import queue_event
from parapheur.outbox import services as outbox

DEADLINE_EVENT = "invoice_deadline"
LATE_EVENT = "invoice_late"


@dataclass(frozen=True)
class ReminderCount:
    """What one pass queued."""

    at_risk: int = 0
    late: int = 0

    @property
    def total(self) -> int:
        return self.at_risk + self.late


def queue_invoice_reminders(session: Session, *, now: datetime,
                            config: Mapping[str, Any]) -> ReminderCount:
    """Queue the reminders due now, in the caller's transaction (once per invoice and deadline)."""
    rows = session.execute(
        select(Invoice, Document).join(Document, Invoice.document_id == Document.id)
        .where(Invoice.blocked.is_(False), Invoice.status.not_in(CLOSED),
               Document.status == DocumentStatus.IN_PROGRESS)
        .order_by(Invoice.id)).all()
    at_risk = late = 0
    for invoice, document in rows:
        clock = clock_of(invoice, now)
        if clock.suspended or not clock.at_risk:
            continue
        desks = sorted(d for d in waiting_slugs(document.run_state or {}) if d != SYSTEM_DESK)
        if not desks:
            continue  # waiting on the server (an export): nobody to remind
        is_late = clock.late_days > 0
        event = LATE_EVENT if is_late else DEADLINE_EVENT
        key = f"{event}:{invoice.id}:{clock.deadline.isoformat()}"
        if outbox.find_by_key(session, key) is not None:
            continue
        details: dict[str, Any] = {
            "invoice_id": invoice.id, "step": (document.run_state or {}).get("current"),
            "number": invoice.number or f"#{invoice.id}",
            "supplier": invoice.seller_name or "", "desks": desks,
            "deadline": clock.deadline.strftime("%d/%m/%Y"), "remaining_days": clock.remaining_days,
            "late_days": clock.late_days}
        if is_late:
            cost = late_cost(invoice, now, config)
            details["cost"] = euros(cost.total)
            audit.record(session, "invoice:dgp:late", actor=None, document_id=document.id,
                         details={"invoice_id": invoice.id, "number": invoice.number,
                                  "late_days": clock.late_days,
                                  "deadline": clock.deadline.isoformat(),
                                  "cost": str(cost.total)}, clock=lambda: now)
            late += 1
        else:
            at_risk += 1
        queue_event(session, event, now=now, document_id=document.id, key=key, **details)
    return ReminderCount(at_risk, late)
