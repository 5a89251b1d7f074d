"""What happened at each step of a document's circuit (the history behind the bordereau)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.accounts.models import Desk, User
from parapheur.db import Base, UTCDateTime
from parapheur.documents.models import CircuitVersion


class StepAction(Base):
    """One decision taken on a step: a visa, a signature, a seal, a rejection, a take-back."""

    __tablename__ = "step_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"),
                                             index=True)
    step: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))  # visa, signature, cachet, export, notification
    decision: Mapped[str] = mapped_column(String(20))  # approve, reject, take_back
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id"), index=True)
    on_behalf_of_desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id"))
    certificate_subject: Mapped[str | None] = mapped_column(Text)
    acted_at: Mapped[datetime] = mapped_column(UTCDateTime())

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    desk: Mapped[Desk | None] = relationship(foreign_keys=[desk_id])
    on_behalf_of: Mapped[Desk | None] = relationship(foreign_keys=[on_behalf_of_desk_id])


class CircuitActivation(Base):
    """A circuit version chosen by an administrator for a type / sous-type of an organisation.

    The latest row for (organisation, type, sous-type) is the one new documents follow; earlier
    rows stay as the history of activations. Without any row, the workflows directory's typology
    decides. Documents already in flight keep the version they started with.
    """

    __tablename__ = "circuit_activations"
    __table_args__ = (Index("ix_circuit_activations_typology", "organisation_id", "doc_type",
                            "doc_subtype", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    doc_type: Mapped[str] = mapped_column(String(100))
    doc_subtype: Mapped[str] = mapped_column(String(100))
    circuit_version_id: Mapped[int] = mapped_column(ForeignKey("circuit_versions.id"))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    circuit_version: Mapped[CircuitVersion] = relationship()
    activated_by: Mapped[User | None] = relationship()
