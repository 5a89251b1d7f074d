"""What a state change asks to be notified: outbox rows written in the caller's transaction.

Who receives what, and when (preferences, quiet hours), is decided by the worker when it
delivers the row, so that the state change itself needs nothing but its session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from parapheur.circuits.definition import SYSTEM_DESK
from parapheur.outbox import services as outbox

EVENT_KIND = "notification.event"


def queue_event(session: Session, event: str, *, now: datetime, document_id: int | None = None,
                key: str | None = None, available_at: datetime | None = None,
                **details: Any) -> None:
    """Ask for the notification of `event` (arrival, rejection, late, circuit_step, delegation_*)."""
    outbox.enqueue(session, EVENT_KIND, {"event": event, "document_id": document_id, **details},
                   key=key or f"event:{event}:{document_id or '-'}:{uuid.uuid4().hex}", now=now,
                   document_id=document_id, available_at=available_at)


def queue_for_events(session: Session, document_id: int,
                     events: Iterable[tuple[str, dict[str, Any] | None]], *, now: datetime) -> None:
    """The notifications a circuit move asks for: arrivals in trays, rejections, abandonments,
    circuit steps."""
    for name, details in events:
        details = details or {}
        if name == "document:step:entered":
            desks = [d for d in details.get("desks", ()) if d != SYSTEM_DESK]
            if desks:
                queue_event(session, "arrival", now=now, document_id=document_id,
                            step=details.get("step"), desks=desks)
        elif name == "document:step:rejected":
            queue_event(session, "rejection", now=now, document_id=document_id,
                        step=details.get("step"), reason=details.get("reason"))
        elif name == "document:circuit:cancelled":
            desks = [d for d in details.get("waiting", ()) if d != SYSTEM_DESK]
            if desks:
                queue_event(session, "cancellation", now=now, document_id=document_id,
                            step=details.get("step"), desks=desks, reason=details.get("reason"))
        elif name == "document:notification:queued":
            queue_event(session, "circuit_step", now=now, document_id=document_id,
                        step=details.get("step"), desks=list(details.get("desks", ())),
                        urgent=bool(details.get("urgent")))
