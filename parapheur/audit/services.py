"""Writing events into the hash chain, and verifying the chain."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parapheur.audit.chain import GENESIS_HASH, canonical_json, chain_hash
from parapheur.audit.models import AuditChainHead, AuditEvent


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def canonical_content(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers, independent of the database backend."""
    content = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "name": event.name,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "document_id": event.document_id,
        "details": event.details,
    }
    return canonical_json(content)


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    """Hash of an event chained to its predecessor."""
    return chain_hash(prev_hash, canonical_content(event))


def record(
    session: Session,
    name: str,
    *,
    actor=None,
    document_id: int | None = None,
    details: dict[str, Any] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> AuditEvent:
    """Append an event to the chain inside the caller's transaction (which must then commit)."""
    # Writing first takes the write lock on SQLite too (where FOR UPDATE does nothing), so the
    # head read next is the latest one even when concurrent transactions append at once.
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1)
                    .values(seq=AuditChainHead.seq))
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        head = AuditChainHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
    # Round-trip the details through JSON so the hash covers exactly what the database returns.
    normalised = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    event = AuditEvent(
        seq=head.seq + 1,
        occurred_at=clock().astimezone(UTC),
        name=name,
        actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "username", None) if actor is not None else None,
        document_id=document_id,
        details=normalised,
        prev_hash=head.hash,
    )
    event.hash = compute_hash(head.hash, event)
    session.add(event)
    head.seq = event.seq
    head.hash = event.hash
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    """Result of checking the journal: `broken_seq` is the first event that does not hold."""

    events: int
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def iter_events(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    """Every event in chain order, fetched in batches."""
    last = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(session: Session) -> ChainReport:
    """Recompute every hash in order; report the first event that is altered, missing or reordered."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for event in iter_events(session):
        if event.seq != expected_seq:
            return ChainReport(count, expected_seq, f"événement n°{expected_seq} manquant")
        if event.prev_hash != expected_prev:
            return ChainReport(count, event.seq, "le lien vers l'événement précédent ne correspond pas")
        if compute_hash(event.prev_hash, event) != event.hash:
            return ChainReport(count, event.seq, "le contenu de l'événement a été modifié")
        expected_prev = event.hash
        expected_seq += 1
        count += 1
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.seq != count or head.hash != expected_prev):
        return ChainReport(count, count + 1, "des événements ont été supprimés en fin de journal")
    return ChainReport(count)
