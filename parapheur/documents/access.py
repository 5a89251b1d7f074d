"""Who may see which document: one query, used by every page, download, bundle and batch.

The rule, in one place (`visible_documents`):

- nobody sees a document of another organisation (collectivité) than the one the user works in
  (`organisations.scope`: chosen among her memberships, kept in the session — `user.organisation_id`
  is that working organisation, and `user.desks` her desks there);
- a disabled account sees nothing, nor does the platform administrator (who manages organisations,
  not their documents);
- administrators and auditors see every document of their organisation;
- anybody else sees the documents they deposited, the documents they acted on themselves, and
  the documents that waited for one of their desks at some step, whether that desk acted or not
  (a desk of an `any` step settled by another desk keeps seeing it, « déjà traité »; every desk of
  an `all` step sees it from the moment the step starts), and the documents whose steps their
  desks acted on (including a delegate's action « en l'absence de » that desk);
- a delegate (a member of the desk a delegation goes to, while it is in force) also sees what
  waits now for the delegating desk, of the delegated document types only; once the delegation
  ends, only what they acted on stays visible.

A document the user may not see is answered exactly like one that does not exist:
« Document n° N indisponible. » — never its title or its step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Role, User
from parapheur.accounts.services import delegated_desks
from parapheur.circuits.models import StepAction
from parapheur.db import memoized
from parapheur.documents.models import Document, DocumentStatus, ReachedDesk, WaitingDesk
from parapheur.errors import N_, NotFound

#: Roles that read every document (of their organisation).
READ_ALL_ROLES = (Role.ADMIN, Role.AUDITEUR)


class DocumentUnavailable(NotFound):
    """The document does not exist or the user may not see it (deliberately not told apart)."""

    def __init__(self, document_id: int):
        super().__init__(N_("Document n° %(document_id)s indisponible."), document_id=document_id)
        self.document_id = document_id


def visible_documents(session: Session, user: User | None, now: datetime, *,
                      only: int | None = None) -> Select:
    """`SELECT documents.id` of every document `user` may see at `now`, to filter other queries.

    Use it as `query.where(Document.id.in_(visible_documents(session, user, now)))`. With `only`,
    the same rule for that one document: each subquery is narrowed to it (an index probe each,
    instead of hashing every document the user's desks ever reached, for each document page).
    """
    if user is None or not user.active or user.role is Role.PLATFORM:
        return select(Document.id).where(false())
    # Built once per unit of work and user (a page's lists each ask; a write builds it again).
    return memoized(session, ("visible_documents", user.id, user.organisation_id, now, only),
                    lambda: _visible(session, user, now, only))


def _visible(session: Session, user: User, now: datetime, only: int | None) -> Select:
    ids = _narrowed(select(Document.id).where(Document.organisation_id == user.organisation_id),
                    Document.id, only)
    if user.role in READ_ALL_ROLES:
        return ids
    desk_ids = [desk.id for desk in user.desks]
    slugs = [desk.slug for desk in user.desks]
    acted = _narrowed(select(StepAction.document_id).where(or_(
        StepAction.actor_id == user.id,
        StepAction.desk_id.in_(desk_ids),
        StepAction.on_behalf_of_desk_id.in_(desk_ids))), StepAction.document_id, only)
    conditions = [Document.author_id == user.id, Document.id.in_(acted)]
    if slugs:
        conditions.append(Document.id.in_(_narrowed(
            select(ReachedDesk.document_id).where(ReachedDesk.desk_slug.in_(slugs)),
            ReachedDesk.document_id, only)))
    conditions.extend(_waiting_for_delegates(session, user, now, only=only))
    return ids.where(or_(*conditions))


def _waiting_in(slugs: list[str], *, only: int | None = None) -> ColumnElement[bool]:
    """Documents waiting now for one of these desks (the waiting-desks index)."""
    return Document.id.in_(_narrowed(
        select(WaitingDesk.document_id).where(WaitingDesk.desk_slug.in_(slugs)),
        WaitingDesk.document_id, only))


def _narrowed(query: Select, document_id_column, only: int | None) -> Select:
    """`query` kept to the one document `only` (an index probe), or as it is without one."""
    return query if only is None else query.where(document_id_column == only)


def _waiting_for_delegates(session: Session, user: User, now: datetime, *,
                           only: int | None = None) -> list[ColumnElement[bool]]:
    """Documents waiting now for a desk delegating to one of the user's, of the delegated types."""
    conditions: list[ColumnElement[bool]] = []
    for delegation in delegated_desks(session, user, now=now):
        waiting = _waiting_in([delegation.from_desk.slug], only=only)
        if delegation.document_types is not None:
            waiting = and_(waiting, Document.doc_type.in_(list(delegation.document_types)))
        conditions.append(waiting)
    return conditions


def actionable_documents(session: Session, user: User | None, now: datetime) -> Select:
    """`SELECT documents.id` of every document `user` may act on now (the « À traiter » tray).

    In progress and waiting for one of the user's desks, or for a desk delegating to one of them
    (of the delegated document types), in the user's organisation: the rule `capacity_for`
    applies to one document, decided in SQL for all of them. Every such document is visible.
    """
    if user is None or not user.active:
        return select(Document.id).where(false())
    slugs = [desk.slug for desk in user.desks]
    conditions = _waiting_for_delegates(session, user, now)
    if slugs:
        conditions.append(_waiting_in(slugs))
    if not conditions:
        return select(Document.id).where(false())
    return select(Document.id).where(Document.organisation_id == user.organisation_id,
                                     Document.status == DocumentStatus.IN_PROGRESS,
                                     or_(*conditions))



def overdue(now: datetime) -> ColumnElement[bool]:
    """A document whose current step's deadline has passed (« en retard »), in SQL."""
    return Document.due_at < now

def deposited_documents(session: Session, user: User | None, now: datetime) -> Select:
    """`SELECT documents.id` of the visible documents `user` deposited (« Mes dépôts »)."""
    if user is None:
        return select(Document.id).where(false())
    return select(Document.id).where(Document.author_id == user.id,
                                     Document.id.in_(visible_documents(session, user, now)))


def processed_documents(session: Session, user: User | None, now: datetime) -> Select:
    """`SELECT documents.id` of the visible documents `user` acted on (« Traités »)."""
    if user is None:
        return select(Document.id).where(false())
    return select(Document.id).where(
        Document.id.in_(visible_documents(session, user, now)),
        Document.id.in_(select(StepAction.document_id).where(StepAction.actor_id == user.id)))

#: The trays' sort orders: URL name → column (each has a (status, column, id) keyset index).
TRAY_SORTS = {"echeance": Document.due_at, "depot": Document.created_at,
              "montant": Document.amount, "titre": Document.title}


def tray_page(among: ColumnElement[bool], *, after: tuple[Any, int] | None, size: int,
              sort: str = "echeance", descending: bool = False,
              where: Sequence[ColumnElement[bool]] = ()) -> Select:
    """`size` documents in progress among those `among` selects, keyset order.

    `among` is a condition on `documents` alone, such as `actionable_documents(…).whereclause`:
    applied to the page's rows directly, not as `id IN (SELECT id FROM documents …)` (on
    PostgreSQL that self-join read every document of the tray twice, half the query's time).

    By `sort` (TRAY_SORTS: deadline — the most overdue first —, deposit date, amount or title),
    ascending or descending, those without a value last, then id in the same direction; `after`
    is the (sort value, id) of the last document of the previous page. Never OFFSET: every page
    costs the same, the index `ix_documents_status_<column>_id` gives the order. `where` adds the
    tray's filters.
    """
    key = TRAY_SORTS[sort]
    query = select(Document.id, key.label("sort_key")).where(
        Document.status == DocumentStatus.IN_PROGRESS, among, *where)
    if after is not None:
        last_value, last_id = after
        beyond_id = Document.id < last_id if descending else Document.id > last_id
        if last_value is None:
            query = query.where(key.is_(None), beyond_id)
        else:
            beyond = key < last_value if descending else key > last_value
            query = query.where(or_(beyond, and_(key == last_value, beyond_id), key.is_(None)))
    # The page's ids first, then their rows: the database sorts the tray's (key, id) pairs, not
    # whole rows (their run state and search text); on PostgreSQL, half the query's time.
    if descending:
        page = query.order_by(key.desc().nulls_last(), Document.id.desc()).limit(size).subquery()
        order = (page.c.sort_key.desc().nulls_last(), page.c.id.desc())
    else:
        page = query.order_by(key.asc().nulls_last(), Document.id.asc()).limit(size).subquery()
        order = (page.c.sort_key.asc().nulls_last(), page.c.id.asc())
    return select(Document).join(page, page.c.id == Document.id).order_by(*order)


def get_visible(session: Session, user: User | None, document_id: int, *,
                now: datetime, options: Sequence[Any] = ()) -> Document:
    """The document if `user` may see it, else DocumentUnavailable (absent or not visible).

    `options`: loader options (what the caller reads of the document, loaded with it).
    """
    document = session.execute(
        select(Document).where(Document.id == document_id,
                               Document.id.in_(visible_documents(session, user, now,
                                                                 only=document_id)))
        .options(*options)
    ).unique().scalar_one_or_none()
    if document is None:
        raise DocumentUnavailable(document_id)
    return document


def is_visible(session: Session, user: User | None, document_id: int, *, now: datetime) -> bool:
    """Whether `user` may see the document (same rule as `visible_documents`)."""
    return session.execute(
        select(Document.id).where(Document.id == document_id,
                                  Document.id.in_(visible_documents(session, user, now,
                                                                    only=document_id)))
    ).first() is not None


def filtered(query: Select, *, dialect: str, text: str = "",
             status: DocumentStatus | None = None, doc_type: str = "") -> Select:
    """The documents list's filters (words of the title and metadata, whatever the accents, as
    the inbox searches: `documents.search`; state; type), for pages and the API."""
    from parapheur.documents import search

    words = search.query_words(text)
    if words:
        query = query.where(search.matches(Document.search_text, words, dialect))
    if status is not None:
        query = query.where(Document.status == status)
    if doc_type:
        query = query.where(Document.doc_type == doc_type)
    return query
