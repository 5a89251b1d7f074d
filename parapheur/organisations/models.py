"""The collectivité as data: the organisation every user, desk and document belongs to, and its budgets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.db import Base, UTCDateTime


class Organisation(Base):
    """A collectivité (commune, métropole, département, syndicat) served by this instance."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str | None] = mapped_column(String(14))  # the buyer of its invoices; IdColl of PES
    city: Mapped[str | None] = mapped_column(String(100))  # SignatureProductionPlace of its XAdES
    postal_code: Mapped[str | None] = mapped_column(String(10))
    country: Mapped[str] = mapped_column(String(2), default="FR")
    # Codique of the public accountant's poste comptable (IdPost in PES V2), seven digits.
    codique: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    budgets: Mapped[list[Budget]] = relationship(back_populates="organisation",
                                                 cascade="all, delete-orphan",
                                                 order_by="Budget.code_bud")

    def __repr__(self) -> str:
        return f"<Organisation {self.slug}>"


class Budget(Base):
    """A budget of the organisation (principal or annexe), as Hélios knows it (CodCol, CodBud)."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("organisation_id", "code_col", "code_bud",
                                       name="uq_budgets_org_codcol_codbud"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    code_col: Mapped[str] = mapped_column(String(3))  # CodCol
    code_bud: Mapped[str] = mapped_column(String(2))  # CodBud: 00 principal, others annexes
    label: Mapped[str] = mapped_column(String(200))  # LibelleColBud
    nomenclature: Mapped[str] = mapped_column(String(10), default="M57")
    # IdPost when this budget is held by another poste comptable than the organisation's.
    codique: Mapped[str | None] = mapped_column(String(7))

    organisation: Mapped[Organisation] = relationship(back_populates="budgets")

    @property
    def poste_comptable(self) -> str | None:
        """The codique of the public accountant who receives this budget's PES (IdPost)."""
        return self.codique or self.organisation.codique




class Membership(Base):
    """A user's membership of an organisation other than her home one, with her role there.

    Her home organisation (`users.organisation_id`, role `users.role`) needs no row: the rule
    `organisations.scope.memberships` reads both.
    """

    __tablename__ = "organisation_memberships"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id",
                                       name="uq_organisation_memberships_user_org"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"),
                                                 index=True)
    role: Mapped[str] = mapped_column(String(20))  # a accounts.models.Role value
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()


__all__ = ["Organisation", "Budget", "Membership"]
