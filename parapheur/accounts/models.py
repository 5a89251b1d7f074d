"""Accounts: users with roles, desks (bureaux) with members, delegations between desks."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.db import Base, UTCDateTime, value_enum
from parapheur.organisations.models import Membership, Organisation


class Role(enum.StrEnum):
    """What a user may do in the application as a whole (desks say on which documents)."""

    ADMIN = "administrateur"
    AGENT = "agent"
    SIGNATAIRE = "signataire"
    AUDITEUR = "auditeur"
    # Creates organisations and their first administrator; sees no organisation's documents.
    PLATFORM = "plateforme"

    @property
    def label(self) -> str:
        return {"administrateur": "Administrateur", "agent": "Agent", "signataire": "Signataire (élu)",
                "auditeur": "Auditeur", "plateforme": "Administrateur de la plateforme"}[self.value]


#: Who reads the finance side (invoices, mandatement, PES exports and returns), and who changes it:
#: the pages of /factures and /comptabilite and the API (invoices, exports) follow these.
FINANCE_READERS = (Role.AGENT, Role.ADMIN, Role.AUDITEUR)
FINANCE_WRITERS = (Role.AGENT, Role.ADMIN)


desk_members = Table(
    "desk_members",
    Base.metadata,
    Column("desk_id", ForeignKey("desks.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """A person who logs in; acts for the desks they are a member of.

    A user belongs to her home organisation (`home_organisation_id`, with `home_role`) and may be a
    member of others (`organisations.models.Membership`, a role in each). During a request she
    works in one of them, chosen at login or with the header's switcher and kept in the session:
    `organisation_id`, `organisation`, `role` and `desks` are those of that working organisation
    (`organisations.scope.work_in` sets it; without it, the home organisation's).
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    home_organisation_id: Mapped[int] = mapped_column("organisation_id",
                                                      ForeignKey("organisations.id"), index=True)
    # Usernames are unique on the whole instance: one person, one login, several organisations.
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))  # quality shown on stamps: "Maire"
    home_role: Mapped[Role] = mapped_column("role", value_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Part of every session's identity: raising it (logout, password change, disabling) ends
    # every session of the user at their next request.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locale: Mapped[str | None] = mapped_column(String(5))  # "fr", "en"; None: the browser's

    home_organisation: Mapped[Organisation] = relationship()
    # Her desks in every organisation; `desks` keeps those of the working organisation.
    all_desks: Mapped[list[Desk]] = relationship(secondary=desk_members, back_populates="members",
                                                 order_by="Desk.name")
    credentials: Mapped[list[SigningCredential]] = relationship(back_populates="user",
                                                                cascade="all, delete-orphan")
    # Her memberships of other organisations, read with her at each request (load_user);
    # organisations.scope is their rule, and they are written as Membership rows, not here.
    memberships: Mapped[list[Membership]] = relationship(viewonly=True)

    # The working organisation (not stored: the session keeps it), as (organisation, role).
    _working = None  # tuple[Organisation, Role] | None

    def work_as(self, organisation: Organisation, role: Role) -> None:
        """Work in `organisation` with `role` for this request (checked by organisations.scope)."""
        self._working = (organisation, role)

    @hybrid_property
    def organisation_id(self) -> int:
        return self._working[0].id if self._working else self.home_organisation_id

    @organisation_id.inplace.setter
    def _organisation_id_setter(self, value: int) -> None:
        self.home_organisation_id = value

    @organisation_id.inplace.expression
    @classmethod
    def _organisation_id_expression(cls):
        return cls.home_organisation_id

    @property
    def organisation(self) -> Organisation:
        return self._working[0] if self._working else self.home_organisation

    @organisation.setter
    def organisation(self, value: Organisation) -> None:
        self.home_organisation = value

    @hybrid_property
    def role(self) -> Role:
        return self._working[1] if self._working else self.home_role

    @role.inplace.setter
    def _role_setter(self, value: Role) -> None:
        self.home_role = value

    @role.inplace.expression
    @classmethod
    def _role_expression(cls):
        return cls.home_role

    @property
    def desks(self) -> list[Desk]:
        """Her desks in the organisation she works in."""
        organisation_id = self.organisation_id
        return [desk for desk in self.all_desks if desk.organisation_id == organisation_id]

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

    __table_args__ = (UniqueConstraint("organisation_id", "slug", name="uq_desks_organisation_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # Unique in its organisation: every commune has its « maire » desk, named so by the circuits.
    slug: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    quality: Mapped[str | None] = mapped_column(String(200))  # "Le Maire", shown on stamps

    organisation: Mapped[Organisation] = relationship()
    members: Mapped[list[User]] = relationship(secondary=desk_members, back_populates="all_desks",
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
    # Indexed: every request of a session reads its user's credential (organisations.scope).
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
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
