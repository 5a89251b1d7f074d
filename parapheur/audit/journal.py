"""Reading the audit journal from the pages: filtered pages, and checkable exported slices.

An organisation's administrators read the events of their organisation's own chain (each
organisation's journal is a chain of its own, `audit_events.chain`). A page is read by keyset on
the chain's order (`seq`, newest first), never OFFSET.

An exported slice has the shape of an evidence bundle's journal (`evidence.journal_slice`): the
matching events in full, and the (seq, prev_hash, hash) of every event of the stretch of the chain
they span, so `bundle.check_journal_slice` proves offline that they chain up, without disclosing
the content of the other events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from parapheur.audit.bundle import BUNDLE_FORMAT
from parapheur.audit.evidence import event_to_json
from parapheur.audit.models import AuditChainHead, AuditEvent
from parapheur.dates import days_period
from parapheur.errors import N_, ParapheurError

#: Events per page of the journal.
PAGE_SIZE = 50
#: Most events one export carries, and the longest stretch of chain its skeleton covers.
MAX_EXPORT_EVENTS = 20_000
MAX_EXPORT_SPAN = 200_000


class JournalFilterError(ParapheurError):
    """A filter of the journal page that cannot be read (400, in French)."""


def _day(raw: str, label: str) -> date | None:
    text = raw.strip()[:20]
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise JournalFilterError(N_("« %(label)s » : « %(text)s » n'est pas une date "
                                    "(AAAA-MM-JJ)."), label=label, text=text) from None


def _positive(raw: str, label: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 15 or int(text) == 0:
        raise JournalFilterError(N_("« %(label)s » : « %(value)s » n'est pas un numéro."),
                                 label=label, value=text[:20])
    return int(text)


@dataclass(frozen=True)
class JournalFilter:
    """The events asked for: of a document, of a user, named so, between two days."""

    document_id: int | None = None
    user_id: int | None = None
    event: str = ""
    day_from: date | None = None
    day_to: date | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> JournalFilter:
        """Read ?document=&utilisateur=&evenement=&du=&au=; JournalFilterError if wrong."""
        day_from = _day(args.get("du", ""), "Du")
        day_to = _day(args.get("au", ""), "Au")
        if day_from and day_to and day_from > day_to:
            raise JournalFilterError(N_("La date de début est postérieure à la date de fin."))
        event = args.get("evenement", "").strip()[:100]
        if event and not all(c.isalnum() or c in ":_-." for c in event):
            raise JournalFilterError(N_("« Événement » : « %(value)s » n'est pas un nom "
                                        "d'événement (par exemple document:created)."),
                                     value=event[:40])
        return cls(document_id=_positive(args.get("document", ""), "Document n°"),
                   user_id=_positive(args.get("utilisateur", ""), "Utilisateur"),
                   event=event, day_from=day_from, day_to=day_to)

    def args(self) -> dict[str, str]:
        """The query-string arguments of this filter (empty ones left out)."""
        values = {"document": self.document_id, "utilisateur": self.user_id,
                  "evenement": self.event or None,
                  "du": self.day_from.isoformat() if self.day_from else None,
                  "au": self.day_to.isoformat() if self.day_to else None}
        return {name: str(value) for name, value in values.items() if value is not None}

    def conditions(self, organisation_id: int) -> list[ColumnElement[bool]]:
        """SQL conditions: the events of this organisation's own chain matching the filter."""
        where: list[ColumnElement[bool]] = [AuditEvent.chain == organisation_id]
        if self.document_id is not None:
            where.append(AuditEvent.document_id == self.document_id)
        if self.user_id is not None:
            where.append(AuditEvent.actor_id == self.user_id)
        if self.event:
            # A full name, or a prefix ending with « : » (document: gives every document event).
            if self.event.endswith(":"):
                escaped = self.event.replace("_", "\\_")
                where.append(AuditEvent.name.like(f"{escaped}%", escape="\\"))
            else:
                where.append(AuditEvent.name == self.event)
        if self.day_from or self.day_to:
            start, end = days_period(self.day_from or date(1970, 1, 1),
                                     self.day_to or date(9998, 12, 31))
            if self.day_from:
                where.append(AuditEvent.occurred_at >= start)
            if self.day_to:
                where.append(AuditEvent.occurred_at < end)
        return where


def events_page(session: Session, organisation_id: int, journal_filter: JournalFilter, *,
                before_seq: int | None = None,
                size: int = PAGE_SIZE) -> tuple[list[AuditEvent], int | None]:
    """A page of matching events, newest first, and the seq the next page starts before."""
    query = select(AuditEvent).where(*journal_filter.conditions(organisation_id))
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    rows = list(session.execute(query.order_by(AuditEvent.seq.desc()).limit(size + 1)
                                ).scalars())
    if len(rows) > size:
        return rows[:size], rows[size - 1].seq
    return rows, None


def event_names(session: Session) -> list[str]:
    """The event names the journal holds (for the filter's suggestions)."""
    return list(session.execute(select(AuditEvent.name).distinct().order_by(AuditEvent.name)
                                ).scalars())


def export_slice(session: Session, organisation_id: int,
                 journal_filter: JournalFilter) -> dict[str, Any]:
    """The matching events in full and the hash skeleton of the chain they span (checkable)."""
    where = journal_filter.conditions(organisation_id)
    count, first, last = session.execute(
        select(func.count(), func.min(AuditEvent.seq), func.max(AuditEvent.seq)).where(*where)
    ).one()
    if count > MAX_EXPORT_EVENTS:
        raise JournalFilterError(N_("%(count)s événements correspondent : un export en porte "
                                    "%(MAX_EXPORT_EVENTS)s au plus. Resserrez les filtres "
                                    "(dates, document, utilisateur)."),
                                 count=count, MAX_EXPORT_EVENTS=MAX_EXPORT_EVENTS)
    if count and last - first + 1 > MAX_EXPORT_SPAN:
        raise JournalFilterError(N_("Ces événements s'étendent sur une trop longue portion du "
                                    "journal : resserrez les dates."))
    events = list(session.execute(select(AuditEvent).where(*where).order_by(AuditEvent.seq)
                                  ).scalars())
    skeleton: list[dict[str, Any]] = []
    if events:
        rows = session.execute(
            select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)
            .where(AuditEvent.chain == organisation_id, AuditEvent.seq >= first,
                   AuditEvent.seq <= last)
            .order_by(AuditEvent.seq)).all()
        skeleton = [{"seq": r.seq, "prev_hash": r.prev_hash, "hash": r.hash} for r in rows]
    head = session.get(AuditChainHead, organisation_id)
    result: dict[str, Any] = {
        "format": BUNDLE_FORMAT, "filters": journal_filter.args(),
        "events": [event_to_json(e) for e in events], "chain": skeleton,
        "head": {"seq": head.seq, "hash": head.hash} if head else None}
    if journal_filter.document_id is not None:
        result["document_id"] = journal_filter.document_id
    return result
