"""Accounts: users with roles, desks (bureaux) with members, delegations between desks."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.db import Base, UTCDateTime, value_enum
from parapheur.organisations.models import Organisation


class Role(enum.StrEnum):
    """What a user may do in the application as a whole (desks say on which documents)."""

    ADMIN = "administrateur"
    AGENT = "agent"
    SIGNATAIRE = "signataire"
    AUDITEUR = "auditeur"

    @property
    def label(self) -> str:
        return {"administrateur": "Administrateur", "agent": "Agent", "signataire": "Signataire (élu)",
                "auditeur": "Auditeur"}[self.value]


desk_members = Table(
    "desk_members",
    Base.metadata,
    Column("desk_id", ForeignKey("desks.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """A person who logs in; acts for the desks they are a member of."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))  # quality shown on stamps: "Maire"
    role: Mapped[Role] = mapped_column(value_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Part of every session's identity: raising it (logout, password change, disabling) ends
    # every session of the user at their next request.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locale: Mapped[str | None] = mapped_column(String(5))  # "fr", "en"; None: the browser's

    organisation: Mapped[Organisation] = relationship()
    desks: Mapped[list[Desk]] = relationship(secondary=desk_members, back_populates="members",
                                             order_by="Desk.name")
    credentials: Mapped[list[SigningCredential]] = relationship(back_populates="user",
                                                                cascade="all, delete-orphan")

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_generation}"


class Desk(Base):
    """A bureau: an inbox held by a role (Maire, DGS, Service finances); users act for it."""

    __tablename__ = "desks"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    quality: Mapped[str | None] = mapped_column(String(200))  # "Le Maire", shown on stamps

    organisation: Mapped[Organisation] = relationship()
    members: Mapped[list[User]] = relationship(secondary=desk_members, back_populates="desks",
                                               order_by="User.full_name")


class Delegation(Base):
    """Desk `from_desk` hands its work to `to_desk` between two dates (suppléance)."""

    __tablename__ = "delegations"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    to_desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    document_types: Mapped[list[str] | None] = mapped_column(JSON)  # None: every type
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    from_desk: Mapped[Desk] = relationship(foreign_keys=[from_desk_id])
    to_desk: Mapped[Desk] = relationship(foreign_keys=[to_desk_id])


class SigningCredential(Base):
    """Where a user's signing key lives; the PIN or passphrase is asked at signing, never stored."""

    __tablename__ = "signing_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # "pkcs12" or "pkcs11" (the local agent later)
    label: Mapped[str] = mapped_column(String(200))
    pkcs12_path: Mapped[str | None] = mapped_column(Text)
    # PKCS#11 (smartcard or HSM on the server): the module, the token and the key on it.
    pkcs11_module: Mapped[str | None] = mapped_column(Text)
    token_label: Mapped[str | None] = mapped_column(String(200))
    key_label: Mapped[str | None] = mapped_column(String(200))
    certificate_subject: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="credentials")


class Throttle(Base):
    """Attempts counted for one key (a username's logins, a user's signing codes) in a window."""

    __tablename__ = "throttles"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)  # "login:maire", "code:3"
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer)


__all__ = ["Role", "User", "Desk", "Delegation", "SigningCredential", "desk_members", "Throttle"]
