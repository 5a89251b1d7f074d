"""Two-phase signing with the official's own card: sessions prepared by the server, finished once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.db import Base, UTCDateTime

if TYPE_CHECKING:
    from parapheur.accounts.models import User


class AgentSigningSession(Base):
    """A batch prepared for one user and one certificate: finished at most once, before expiry."""

    __tablename__ = "agent_signing_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The public handle the browser sends back at finish (random, unguessable).
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    certificate_sha256: Mapped[str] = mapped_column(String(64))
    certificate_subject: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Set when a finish consumed the session (whatever its outcome): a second finish is refused.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    items: Mapped[list[AgentPreparedDocument]] = relationship(
        back_populates="session", order_by="AgentPreparedDocument.position",
        cascade="all, delete-orphan")


class AgentPreparedDocument(Base):
    """One document of a session: the version it was prepared from, its state and prepared PDF."""

    __tablename__ = "agent_prepared_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("agent_signing_sessions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(100))
    #: The version prepared (its id and digest): a document changed since is not signed.
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id", ondelete="CASCADE"))
    version_sha256: Mapped[str] = mapped_column(String(64))
    #: signing.two_phase.PreparedSignature.to_dict()
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The PDF with its reserved, empty signature; cleared once the session is finished.
    prepared_pdf: Mapped[bytes | None] = mapped_column(LargeBinary)

    session: Mapped[AgentSigningSession] = relationship(back_populates="items")


class RegisteredCertificate(Base):
    """A card certificate a user registered; once approved, only her approved ones may sign."""

    __tablename__ = "registered_certificates"
    __table_args__ = (UniqueConstraint("user_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class OrganisationSigningPolicy(Base):
    """An organisation's choice on server-held keys: it may keep its elected officials to their
    own card (through the local agent), whatever keys the server holds for them."""

    __tablename__ = "organisation_signing_policies"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    #: True: officials (role « signataire ») sign only with their card, never a server-held key.
    officials_card_only: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
