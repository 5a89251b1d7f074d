"""Documents, their circuit run, and every version of their file."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects import postgresql  # noqa: F401 - registers to_tsvector's types (the FTS index)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.accounts.models import Desk, User
from parapheur.db import Base, UTCDateTime, value_enum
from parapheur.organisations.models import Organisation


class DocumentStatus(enum.StrEnum):
    """Where a document stands as a whole."""

    IN_PROGRESS = "en_cours"
    APPROVED = "termine"
    REJECTED = "rejete"
    CANCELLED = "annule"

    @property
    def label(self) -> str:
        return {"en_cours": "En cours", "termine": "Terminé", "rejete": "Rejeté",
                "annule": "Annulé"}[self.value]


class CircuitVersion(Base):
    """A frozen copy of a circuit definition: a document in flight keeps the one it started with.

    `organisation_id` is the organisation whose administrator uploaded it (only it lists, shows
    and activates it); None for a shipped circuit of the workflows directory frozen when a
    document started, shared by every organisation like the files themselves.
    """

    __tablename__ = "circuit_versions"
    __table_args__ = (
        # One row per (circuit, version) among the shipped ones, and per organisation.
        Index("uq_circuit_versions_shipped", "circuit_id", "version", unique=True,
              sqlite_where=text("organisation_id IS NULL"),
              postgresql_where=text("organisation_id IS NULL")),
        Index("uq_circuit_versions_organisation", "organisation_id", "circuit_id", "version",
              unique=True, sqlite_where=text("organisation_id IS NOT NULL"),
              postgresql_where=text("organisation_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    circuit_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Document(Base):
    """A document travelling through a circuit."""

    __tablename__ = "documents"
    # The « À traiter » tray's keyset order: deadline, then id, among documents in progress.
    # The « À traiter » tray's keyset orders (deadline, date, amount, title), then id, among
    # documents in progress.
    __table_args__ = (Index("ix_documents_status_due_at_id", "status", "due_at", "id"),
                      Index("ix_documents_status_created_at_id", "status", "created_at", "id"),
                      Index("ix_documents_status_amount_id", "status", "amount", "id"),
                      Index("ix_documents_status_title_id", "status", "title", "id"),
                      # PostgreSQL's full-text search over the normalised text (documents.search).
                      Index("ix_documents_search_text_fts",
                            func.to_tsvector(literal_column("'simple'"), text("search_text")),
                            postgresql_using="gin").ddl_if(dialect="postgresql"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    doc_type: Mapped[str] = mapped_column(String(100))
    doc_subtype: Mapped[str] = mapped_column(String(100))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    status: Mapped[DocumentStatus] = mapped_column(value_enum(DocumentStatus))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    author_desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id"))
    circuit_version_id: Mapped[int] = mapped_column(ForeignKey("circuit_versions.id"))
    run_state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # The current step's deadline while in progress (the run state's `due`): the trays' order.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The amount of its first « montant… » decimal field (documents.search): the trays' sort
    # and amount filter.
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    # Title and metadata values, lower-cased and without accents (documents.search): the search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Optimistic lock: of two concurrent actions on the same document, exactly one commits.
    row_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": row_version}

    organisation: Mapped[Organisation] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    author_desk: Mapped[Desk | None] = relationship(foreign_keys=[author_desk_id])
    circuit_version: Mapped[CircuitVersion] = relationship()
    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.number", cascade="all, delete-orphan")
    waiting: Mapped[list[WaitingDesk]] = relationship(cascade="all, delete-orphan")
    reached: Mapped[list[ReachedDesk]] = relationship(cascade="all, delete-orphan")

    @property
    def current_version(self) -> DocumentVersion:
        return self.versions[-1]


class VersionKind(enum.StrEnum):
    """Why a version of the file was made."""

    ORIGINAL = "original"
    SIGNED = "signature"
    SEALED = "cachet"
    ARCHIVED = "archivage"  # a new document time stamp (archival refresh of a B-LTA document)
    REPLACED = "remplacement"  # the author's new file, before the circuit's first action

    @property
    def label(self) -> str:
        return {"original": "Original", "signature": "Signé", "cachet": "Cacheté",
                "archivage": "Horodatage d'archive",
                "remplacement": "Fichier remplacé par l'auteur"}[self.value]


class DocumentVersion(Base):
    """One state of the document's file: the original, then one per signature or seal."""

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_document_versions_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[VersionKind] = mapped_column(value_enum(VersionKind))
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    page_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    document: Mapped[Document] = relationship(back_populates="versions")
    created_by: Mapped[User | None] = relationship()


class WaitingDesk(Base):
    """A desk the document waits for now: the « À traiter » trays (kept with the run state).

    A row exists only while the document is in progress. It carries copies of what the tray
    reads of its document without a filter (organisation, deadline, author, type), kept equal by
    `sync_waiting`, so that a desk's tray is read along one index in deadline order and counted
    by author without reading its documents (parapheur.documents.access.tray_page).
    """

    __tablename__ = "waiting_desks"
    __table_args__ = (Index("ix_waiting_desks_tray", "organisation_id", "desk_slug", "due_at",
                            "document_id", postgresql_include=["author_id", "doc_type"]),)

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"),
                                             primary_key=True)
    desk_slug: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    doc_type: Mapped[str] = mapped_column(String(100))


class ReachedDesk(Base):
    """A desk the document has waited for at some step (kept even once settled by another desk).

    The index behind the access rule: a desk sees every document that was once in its tray
    (parapheur.documents.access).
    """

    __tablename__ = "reached_desks"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"),
                                             primary_key=True)
    desk_slug: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)


def waiting_slugs(run_state: dict[str, Any]) -> set[str]:
    """The desks a run state waits for: the current step's desks that have not acted yet."""
    if run_state.get("outcome") is not None:
        return set()
    acted = set(run_state.get("acted") or ())
    return {slug for slug in run_state.get("desks") or () if slug not in acted}


def sync_waiting(document: Document) -> None:
    """Bring the document's waiting desks in line with its run state (before a flush)."""
    in_progress = document.status is DocumentStatus.IN_PROGRESS
    wanted = waiting_slugs(document.run_state) if in_progress else set()
    due = (document.run_state or {}).get("due") if in_progress else None
    document.due_at = datetime.fromisoformat(due) if due else None
    document.waiting = [row for row in document.waiting if row.desk_slug in wanted]
    have = {row.desk_slug for row in document.waiting}
    document.waiting.extend(WaitingDesk(desk_slug=slug) for slug in sorted(wanted - have))
    # (A document not flushed yet may name its author by the relationship only.)
    author_id = document.author_id if document.author_id is not None else document.author.id
    copies = {"organisation_id": document.organisation_id, "due_at": document.due_at,
              "author_id": author_id, "doc_type": document.doc_type}
    for row in document.waiting:
        for name, value in copies.items():
            if getattr(row, name) != value:  # (an equal value assigned would still be written)
                setattr(row, name, value)
    reached = {row.desk_slug for row in document.reached}
    document.reached.extend(ReachedDesk(desk_slug=slug) for slug in sorted(wanted - reached))
