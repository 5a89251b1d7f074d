"""Batch visa and batch rejection from the inbox: one transaction per document, each reported.

The summary shows what the user ticked before anything changes (`summarise`); the decision then
runs document by document (`decide`), so one refusal (already handled by someone else, a step
asking for a signature, a document no longer visible) stops none of the others, and each
document's line says what really happened to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from parapheur.accounts.models import User
from parapheur.circuits import engine
from parapheur.circuits import services as circuits
from parapheur.db import transaction
from parapheur.documents import access
from parapheur.documents.models import Document
from parapheur.errors import N_, ParapheurError, localized
from parapheur.fields import bounded, parse_id

#: One request decides at most this many documents.
MAX_BATCH = 200
#: The decisions a batch may take, with the words of the page.
DECISIONS = {"visa": "approve", "rejet": "reject"}


@dataclass(frozen=True)
class BatchItem:
    """A ticked line of the inbox: a document and the step it waits on."""

    document_id: int
    step: str

    @property
    def value(self) -> str:
        """The form value that selects it again (« id:étape »)."""
        return f"{self.document_id}:{self.step}"


@dataclass(frozen=True)
class SummaryLine:
    """What the user is about to decide on one document (or why it cannot be)."""

    item: BatchItem
    document: Document | None
    pending: engine.PendingStep | None
    problem: str | None


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch decision did to one document: `done` and a sentence saying what."""

    item: BatchItem
    title: str | None
    done: bool
    message: str


def parse_items(values: Iterable[str]) -> list[BatchItem]:
    """The « id:étape » values ticked in the inbox (each once, in order); 400 if malformed."""
    items: dict[BatchItem, None] = {}
    for value in values:
        document_id, _, step = value.partition(":")
        if not step or len(step) > 100:
            raise ParapheurError(N_("Sélection invalide : « %(value)s »."), value=value[:40])
        items[BatchItem(parse_id(document_id, field="items", label="Sélection"), step)] = None
    if not items:
        raise ParapheurError(N_("Cochez au moins un document."))
    if len(items) > MAX_BATCH:
        raise ParapheurError(N_("Un traitement par lot porte sur %(MAX_BATCH)s documents au "
                                "plus."), MAX_BATCH=MAX_BATCH)
    return list(items)


def summarise(session: Session, items: list[BatchItem], *, actor: User, decision: str,
              now: datetime) -> list[SummaryLine]:
    """Each ticked document with its step, or why it cannot take this decision (nothing changes)."""
    visible = access.visible_documents(session, actor, now)
    found = {d.id: d for d in session.execute(select(Document).where(
        Document.id.in_([item.document_id for item in items]),
        Document.id.in_(visible))).scalars()}
    lines = []
    for item in items:
        document = found.get(item.document_id)
        if document is None:
            lines.append(SummaryLine(item, None, None,
                                     localized(access.DocumentUnavailable(item.document_id))))
            continue
        pending = None
        problem = None
        try:
            pending = circuits.find_pending(document, item.step)
            circuits.capacity_for(session, document, pending, actor, now=now)
            if decision == "approve" and pending.action != "visa":
                problem = "cette étape demande une signature : elle ne se vise pas."
        except ParapheurError as exc:
            problem = localized(exc)
        lines.append(SummaryLine(item, document, pending, problem))
    return lines


def decide(session: Session, items: list[BatchItem], *, actor: User, decision: str,
           now: datetime, reason: str | None = None) -> list[BatchOutcome]:
    """Give the visa (or reject, with one reason) on each item, each in its own transaction."""
    if decision not in DECISIONS.values():
        raise ParapheurError(N_("Décision inconnue."))
    bounded(reason, field="reason", label="Motif")
    if decision == "reject" and not (reason and reason.strip()):
        raise ParapheurError(N_("Le motif du rejet est obligatoire."))
    outcomes = []
    for item in items:
        title = None
        try:
            with transaction(session):
                document = access.get_visible(session, actor, item.document_id, now=now)
                title = document.title
                pending = circuits.find_pending(document, item.step)
                if decision == "approve" and pending.action != "visa":
                    raise ParapheurError(N_("Cette étape demande une signature : utilisez « "
                                            "Signer »."))
                circuits.act(session, document, step=item.step, actor=actor, decision=decision,
                             reason=reason, now=now)
            done = "Visa donné" if decision == "approve" else "Rejeté"
            outcomes.append(BatchOutcome(item, title, True,
                                         f"{done} ({pending.label or pending.state})."))
        except StaleDataError:
            session.rollback()
            outcomes.append(BatchOutcome(item, title, False, "Un autre utilisateur vient d'agir "
                                                             "sur ce document : rien n'est fait."))
        except ParapheurError as exc:
            session.rollback()
            outcomes.append(BatchOutcome(item, title, False, localized(exc)))
    return outcomes
