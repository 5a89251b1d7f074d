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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
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
    delegated = _delegated_rows(session, user, now)
    if delegated:
        conditions.append(Document.id.in_(_narrowed(
            select(WaitingDesk.document_id).where(or_(*delegated)), WaitingDesk.document_id,
            only)))
    return ids.where(or_(*conditions))


def _narrowed(query: Select, document_id_column, only: int | None) -> Select:
    """`query` kept to the one document `only` (an index probe), or as it is without one."""
    return query if only is None else query.where(document_id_column == only)


def _delegated_rows(session: Session, user: User, now: datetime) -> list[ColumnElement[bool]]:
    """The `waiting_desks` rows of a desk delegating now to one of the user's, of the delegated
    types: one condition on that table per delegation in force."""
    conditions: list[ColumnElement[bool]] = []
    for delegation in delegated_desks(session, user, now=now):
        waiting = WaitingDesk.desk_slug == delegation.from_desk.slug
        if delegation.document_types is not None:
            waiting = and_(waiting, WaitingDesk.doc_type.in_(list(delegation.document_types)))
        conditions.append(waiting)
    return conditions


@dataclass(frozen=True)
class Tray:
    """A user's « À traiter » tray: which `waiting_desks` rows are hers (`rows`, a condition on
    that table alone); `single` when they are one desk's, so one row per document."""

    rows: ColumnElement[bool]
    single: bool

    def query(self, *columns: Any, documents: bool = False) -> Select:
        """SELECT `columns` of the tray's rows (joined to their documents with `documents`),
        each document once: DISTINCT when the rows are several desks' (a document may wait for
        two of them)."""
        query = select(*columns).where(self.rows)
        if documents:
            query = query.join(Document, Document.id == WaitingDesk.document_id)
        return query if self.single else query.distinct()


def actionable_tray(session: Session, user: User | None, now: datetime) -> Tray:
    """The rows of `waiting_desks` of the documents `user` may act on now (« À traiter »).

    Waiting for one of the user's desks, or for a desk delegating to one of them (of the
    delegated document types), in the user's organisation: the rule `capacity_for` applies to one
    document, decided in SQL for all of them. A row exists only while its document is in
    progress; every such document is visible.
    """
    if user is None or not user.active:
        return Tray(false(), single=True)
    conditions = _delegated_rows(session, user, now)
    slugs = [desk.slug for desk in user.desks]
    if slugs:
        conditions.append(WaitingDesk.desk_slug.in_(slugs))
    if not conditions:
        return Tray(false(), single=True)
    return Tray(and_(WaitingDesk.organisation_id == user.organisation_id, or_(*conditions)),
                single=len(conditions) == 1 and len(slugs) <= 1)


def actionable_documents(session: Session, user: User | None, now: datetime) -> Select:
    """`SELECT` the ids of every document `user` may act on now (`actionable_tray`'s)."""
    return select(WaitingDesk.document_id).where(actionable_tray(session, user, now).rows)


def overdue(now: datetime, due_at: Any = Document.due_at) -> ColumnElement[bool]:
    """A document whose current step's deadline has passed (« en retard »), in SQL (of its
    `waiting_desks` rows' copy of the deadline, with `due_at=WaitingDesk.due_at`)."""
    return due_at < now


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


def tray_page(tray: Tray, *, after: tuple[Any, int] | None, size: int,
              sort: str = "echeance", descending: bool = False,
              where: Sequence[ColumnElement[bool]] = ()) -> Select:
    """`size` documents of `tray` (`actionable_tray`), keyset order.

    By `sort` (TRAY_SORTS: deadline — the most overdue first —, deposit date, amount or title),
    ascending or descending, those without a value last, then id in the same direction; `after`
    is the (sort value, id) of the last document of the previous page. Never OFFSET: every page
    costs the same. By deadline and unfiltered, the page is read from the tray's own rows along
    `ix_waiting_desks_tray` (the desk's rows in deadline order, no document read but the page's);
    otherwise (`where`: the tray's filters) the rows are joined to their documents, whose
    `ix_documents_status_<column>_id` give the other orders.
    """
    key = WaitingDesk.due_at if sort == "echeance" else TRAY_SORTS[sort]
    document_id = WaitingDesk.document_id
    query = tray.query(document_id.label("id"), key.label("sort_key"),
                       documents=sort != "echeance" or bool(where)).where(*where)
    if after is not None:
        last_value, last_id = after
        beyond_id = document_id < last_id if descending else document_id > last_id
        if last_value is None:
            query = query.where(key.is_(None), beyond_id)
        else:
            beyond = key < last_value if descending else key > last_value
            query = query.where(or_(beyond, and_(key == last_value, beyond_id), key.is_(None)))
    # The page's ids first, then their rows: the database sorts the tray's (key, id) pairs, not
    # whole rows (their run state and search text).
    if descending:
        page = query.order_by(key.desc().nulls_last(), document_id.desc()).limit(size).subquery()
        order = (page.c.sort_key.desc().nulls_last(), page.c.id.desc())
    else:
        page = query.order_by(key.asc().nulls_last(), document_id.asc()).limit(size).subquery()
        order = (page.c.sort_key.asc().nulls_last(), page.c.id.asc())
    return select(Document).join(page, page.c.id == Document.id).order_by(*order)


def tray_by_author(tray: Tray, *, now: datetime,
                   matching: ColumnElement[bool] | None = None) -> Select:
    """(author id, full name, documents, late ones[, those `matching` the filters]) of `tray`,
    one row per author by name: the « Déposé par » choices and, summed, the tray's counts.

    One pass over the tray's own rows (their copies of author and deadline, along
    `ix_waiting_desks_tray`); its documents are read only for a filter (`matching`).
    """
    waiting = tray.query(WaitingDesk.document_id, WaitingDesk.author_id, WaitingDesk.due_at,
                         *([matching.label("matches")] if matching is not None else []),
                         documents=matching is not None).subquery()
    return (select(User.id, User.full_name, func.count(),
                   func.count().filter(overdue(now, waiting.c.due_at)),
                   *([func.count().filter(waiting.c.matches)] if matching is not None else []))
            .select_from(waiting).join(User, User.id == waiting.c.author_id)
            .group_by(User.id, User.full_name).order_by(User.full_name, User.id))


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
