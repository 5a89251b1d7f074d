"""Mandats, bordereaux de mandats, PES exports and the gap-free counters that number them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.db import Base, ExactDecimal, UTCDateTime, value_enum
from parapheur.invoices.models import Invoice


class BordereauState(enum.StrEnum):
    """Where a bordereau de mandats stands."""

    A_SIGNER = "a_signer"
    SIGNE = "signe"
    EXPORTE = "exporte"
    PRIS_EN_CHARGE = "pris_en_charge"
    REJETE = "rejete"

    @property
    def label(self) -> str:
        return {"a_signer": "À signer", "signe": "Signé", "exporte": "Transmis à Hélios",
                "pris_en_charge": "Pris en charge", "rejete": "Rejeté"}[self.value]


class MandatState(enum.StrEnum):
    """Where a mandat stands."""

    A_BORDEREAUTER = "a_bordereauter"
    BORDEREAUTE = "bordereaute"
    PRIS_EN_CHARGE = "pris_en_charge"
    REJETE = "rejete"
    PAYE = "paye"

    @property
    def label(self) -> str:
        return {"a_bordereauter": "À bordereauter", "bordereaute": "Sur bordereau",
                "pris_en_charge": "Pris en charge", "rejete": "Rejeté (à corriger)",
                "paye": "Mis en paiement"}[self.value]


class AccountingCounter(Base):
    """The last number given in a scope (bordereaux of a budget, exercice and type; exports).

    Taken with SELECT … FOR UPDATE and advanced in the transaction that uses the number, so a
    rolled-back attempt gives its number back (no gap); the unique constraints of the numbered
    rows make a number impossible to give twice.
    """

    __tablename__ = "accounting_counters"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class PesExport(Base):
    """One PES_Aller file produced: numbered, kept in the content store, journaled."""

    __tablename__ = "pes_exports"
    __table_args__ = (
        UniqueConstraint("organisation_id", "cod_col", "cod_bud", "number",
                         name="uq_pes_exports_number"),
        CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(120))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    cod_col: Mapped[str] = mapped_column(String(3))
    cod_bud: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deposited_to: Mapped[str | None] = mapped_column(Text)
    deposited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    bordereaux: Mapped[list[BordereauMandats]] = relationship(back_populates="export")


class BordereauMandats(Base):
    """A numbered batch of mandats of one budget, exercice and type, signed by the ordonnateur."""

    __tablename__ = "bordereaux_mandats"
    __table_args__ = (
        UniqueConstraint("organisation_id", "cod_col", "cod_bud", "exercice", "type_bordereau",
                         "number", name="uq_bordereaux_mandats_number"),
        CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    cod_col: Mapped[str] = mapped_column(String(3))
    cod_bud: Mapped[str] = mapped_column(String(2))
    exercice: Mapped[int] = mapped_column(Integer)
    type_bordereau: Mapped[str] = mapped_column(String(2))
    number: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column(Date)
    amount_ht: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    amount_tva: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    cumulative_amount: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    state: Mapped[BordereauState] = mapped_column(value_enum(BordereauState), index=True)
    #: the signed `Bordereau` element (ISO-8859-1), placed as it is in the PES
    signed_element: Mapped[bytes | None] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signer_name: Mapped[str | None] = mapped_column(String(200))
    export_id: Mapped[int | None] = mapped_column(ForeignKey("pes_exports.id"), index=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    #: the rejected bordereau whose mandats this one issues again
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("bordereaux_mandats.id"), index=True)
    #: the PDF visual travelling through the `bordereau-mandats` circuit
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    export: Mapped[PesExport | None] = relationship(back_populates="bordereaux")
    replaces: Mapped[BordereauMandats | None] = relationship(remote_side="BordereauMandats.id")
    mandats: Mapped[list[Mandat]] = relationship(back_populates="bordereau",
                                                 order_by="Mandat.number")

    @property
    def label(self) -> str:
        """« Bordereau 12 (exercice 2026) »."""
        return f"Bordereau {self.number} (exercice {self.exercice})"


class Mandat(Base):
    """An order to pay one certified invoice, with its imputation and its creditor."""

    __tablename__ = "mandats"
    __table_args__ = (
        UniqueConstraint("invoice_id", name="uq_mandats_invoice_id"),
        UniqueConstraint("bordereau_id", "number", name="uq_mandats_bordereau_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    bordereau_id: Mapped[int | None] = mapped_column(ForeignKey("bordereaux_mandats.id"),
                                                     index=True)
    exercice: Mapped[int] = mapped_column(Integer)
    #: IdPce, given when the mandat joins a bordereau
    number: Mapped[int | None] = mapped_column(Integer)
    cod_col: Mapped[str] = mapped_column(String(3))
    cod_bud: Mapped[str] = mapped_column(String(2))
    object: Mapped[str] = mapped_column(String(100))
    nature: Mapped[str] = mapped_column(String(20))
    fonction: Mapped[str | None] = mapped_column(String(20))
    operation: Mapped[str | None] = mapped_column(String(20))
    amount_ht: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    amount_tva: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    payment_mode: Mapped[str] = mapped_column(String(2))
    supplier_name: Mapped[str] = mapped_column(String(300))
    supplier_siret: Mapped[str | None] = mapped_column(String(14))
    supplier_iban: Mapped[str | None] = mapped_column(String(40))
    #: IdUnique of the invoice as a PJ
    attachment_id: Mapped[str] = mapped_column(String(50), unique=True)
    state: Mapped[MandatState] = mapped_column(value_enum(MandatState), index=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    paid_on: Mapped[date | None] = mapped_column(Date)
    paid_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    invoice: Mapped[Invoice] = relationship()
    bordereau: Mapped[BordereauMandats | None] = relationship(back_populates="mandats")


class PesReturnFile(Base):
    """A PES_ACQUIT or PES_Retour applied: kept in the store, applied once, with what it changed.

    The same file uploaded again (same digest) is recognised and changes nothing.
    """

    __tablename__ = "pes_return_files"
    __table_args__ = (
        UniqueConstraint("organisation_id", "kind", "sha256", name="uq_pes_return_files_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: "acquit" or "retour"
    kind: Mapped[str] = mapped_column(String(10))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    #: the name the user's file had
    filename: Mapped[str] = mapped_column(String(255))
    #: the PES file it answers (NomFic), as the file says
    pes_name: Mapped[str | None] = mapped_column(String(200))
    changes: Mapped[list[str]] = mapped_column(JSON)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
