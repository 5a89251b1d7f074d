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


#: The instance's own chain (events of no organisation).
INSTANCE_CHAIN = 0


def canonical_content(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers, independent of the database backend.

    An organisation's event names its chain (so that it cannot be moved to another one); the
    instance chain's events keep the content they always had.
    """
    content: dict[str, Any] = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "name": event.name,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "document_id": event.document_id,
        "details": event.details,
    }
    if event.chain:
        content["chain"] = event.chain
    return canonical_json(content)


def chain_of(session: Session, *, actor=None, document_id: int | None = None,
             details: dict[str, Any] | None = None, organisation_id: int | None = None) -> int:
    """The chain an event goes to: its organisation's — the one given, the document's, the one
    its details name, or the one its actor works in —, else the instance's."""
    if organisation_id is not None:
        return organisation_id
    if document_id is not None:
        from parapheur.documents.models import Document

        # Usually in the session already (the event is about a change to it): no query then.
        document = session.get(Document, document_id)
        if document is not None and document.organisation_id is not None:
            return document.organisation_id
    named = (details or {}).get("organisation_id")
    if isinstance(named, int) and not isinstance(named, bool):
        return named
    working = getattr(actor, "organisation_id", None)
    return working if isinstance(working, int) else INSTANCE_CHAIN


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    """Hash of an event chained to its predecessor."""
    return chain_hash(prev_hash, canonical_content(event))


_LOCKED_HEADS = "parapheur.audit.locked_heads"


def _locked_head(session: Session, chain: int) -> AuditChainHead:
    """The chain's head, locked for the rest of the caller's transaction.

    The first event of a transaction takes the lock; the next events of the same (innermost)
    transaction reuse the head it holds: no other transaction can have moved it meanwhile. A
    savepoint begun or ended since, or a new transaction, takes the lock again.
    """
    def innermost():
        return session.get_nested_transaction() or session.get_transaction()

    transaction = innermost()
    locked = session.info.setdefault(_LOCKED_HEADS, {})
    held = locked.get(chain)
    if held is not None and transaction is not None and held[0] is transaction \
            and transaction.is_active:
        return held[1]
    # Writing first takes the write lock on SQLite too (where FOR UPDATE does nothing), so the
    # head read next is the latest one even when concurrent transactions append at once.
    session.execute(update(AuditChainHead).where(AuditChainHead.id == chain)
                    .values(seq=AuditChainHead.seq))
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.id == chain).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        head = AuditChainHead(id=chain, seq=0, hash=GENESIS_HASH)
        session.add(head)
    locked[chain] = (innermost(), head)  # the statements above began it if none had
    return head


def record(
    session: Session,
    name: str,
    *,
    actor=None,
    document_id: int | None = None,
    details: dict[str, Any] | None = None,
    clock: Callable[[], datetime] = utcnow,
    organisation_id: int | None = None,
) -> AuditEvent:
    """Append an event to its organisation's chain (`chain_of`) inside the caller's transaction
    (which must then commit)."""
    chain = chain_of(session, actor=actor, document_id=document_id, details=details,
                     organisation_id=organisation_id)
    head = _locked_head(session, chain)
    # Round-trip the details through JSON so the hash covers exactly what the database returns.
    normalised = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    event = AuditEvent(
        chain=chain,
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
    chain: int | None = None  # the chain of the broken event

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def iter_events(session: Session, batch: int = 1000, *,
                chain: int = INSTANCE_CHAIN) -> Iterator[AuditEvent]:
    """Every event of one chain in order, fetched in batches."""
    last = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq > last)
            .order_by(AuditEvent.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def chains(session: Session) -> list[int]:
    """Every chain of the journal (those with events or a head)."""
    found = set(session.execute(select(AuditEvent.chain).distinct()).scalars())
    found |= set(session.execute(select(AuditChainHead.id)).scalars())
    return sorted(found)


def verify_chain(session: Session, chain: int | None = None) -> ChainReport:
    """Check one chain (an organisation's id, 0 the instance's), or every chain when None:
    recompute every hash in order and report the first event altered, missing or reordered."""
    if chain is not None:
        return _verify_one(session, chain)
    total = 0
    for each in chains(session):
        report = _verify_one(session, each)
        if not report.intact:
            return ChainReport(total + report.events, report.broken_seq, report.reason, each)
        total += report.events
    return ChainReport(total)


def _verify_one(session: Session, chain: int) -> ChainReport:
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for event in iter_events(session, chain=chain):
        if event.seq != expected_seq:
            return ChainReport(count, expected_seq, f"événement n°{expected_seq} manquant", chain)
        if event.prev_hash != expected_prev:
            return ChainReport(count, event.seq,
                               "le lien vers l'événement précédent ne correspond pas", chain)
        if compute_hash(event.prev_hash, event) != event.hash:
            return ChainReport(count, event.seq, "le contenu de l'événement a été modifié", chain)
        expected_prev = event.hash
        expected_seq += 1
        count += 1
    head = session.get(AuditChainHead, chain)
    if head is not None and (head.seq != count or head.hash != expected_prev):
        return ChainReport(count, count + 1, "des événements ont été supprimés en fin de journal",
                           chain)
    return ChainReport(count, chain=chain)
