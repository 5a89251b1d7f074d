"""Supplier invoices as read from their file, their lines, VAT breakdown, problems, engagements,
and the history of their lifecycle status (the public-sector platform's statuses)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from parapheur.accounts.models import User
from parapheur.db import Base, ExactDecimal, UTCDateTime, value_enum
from parapheur.documents.models import Document
from parapheur.organisations.models import Organisation


class InvoiceStatus(enum.StrEnum):
    """Lifecycle statuses of an invoice, as the public-sector platform (Chorus Pro) names them."""

    DEPOSEE = "deposee"
    MISE_A_DISPOSITION = "mise_a_disposition"
    SUSPENDUE = "suspendue"
    REJETEE = "rejetee"
    SERVICE_FAIT = "service_fait"
    MANDATEE = "mandatee"
    MISE_EN_PAIEMENT = "mise_en_paiement"
    COMPTABILISEE = "comptabilisee"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    InvoiceStatus.DEPOSEE: "Déposée",
    InvoiceStatus.MISE_A_DISPOSITION: "Mise à disposition",
    InvoiceStatus.SUSPENDUE: "Suspendue",
    InvoiceStatus.REJETEE: "Rejetée",
    InvoiceStatus.SERVICE_FAIT: "Service fait",
    InvoiceStatus.MANDATEE: "Mandatée",
    InvoiceStatus.MISE_EN_PAIEMENT: "Mise en paiement",
    InvoiceStatus.COMPTABILISEE: "Comptabilisée",
}


class InvoiceKind(enum.StrEnum):
    """Invoice or credit note (from the UNTDID 1001 type code)."""

    INVOICE = "facture"
    CREDIT_NOTE = "avoir"

    @property
    def label(self) -> str:
        return {"facture": "Facture", "avoir": "Avoir"}[self.value]


class Engagement(Base):
    """A budget commitment (bon de commande) imported from the finance software."""

    __tablename__ = "engagements"
    __table_args__ = (UniqueConstraint("organisation_id", "number",
                                       name="uq_engagements_org_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    number: Mapped[str] = mapped_column(String(60))
    exercice: Mapped[int] = mapped_column(Integer)
    service: Mapped[str] = mapped_column(String(100), index=True)  # code service (BT-10)
    desk_slug: Mapped[str | None] = mapped_column(String(80))  # the ordering service's desk
    supplier_siren: Mapped[str] = mapped_column(String(9), index=True)
    supplier_name: Mapped[str | None] = mapped_column(String(300))
    label: Mapped[str | None] = mapped_column(String(300))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))  # TTC
    imputation_nature: Mapped[str] = mapped_column(String(20))
    imputation_fonction: Mapped[str | None] = mapped_column(String(20))
    imputation_operation: Mapped[str | None] = mapped_column(String(20))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())

    invoices: Mapped[list[Invoice]] = relationship(back_populates="engagement")


class Invoice(Base):
    """A supplier invoice: the fields read from its file, its checks and where it stands."""

    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_duplicate_key", "seller_siren", "number", "issue_year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), unique=True)
    # The file as received
    filename: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_size: Mapped[int] = mapped_column(BigInteger)
    container: Mapped[str] = mapped_column(String(10))  # pdf | xml
    syntax: Mapped[str | None] = mapped_column(String(10))  # cii | ubl
    profile: Mapped[str | None] = mapped_column(String(40))  # minimum … extended-ctc-fr
    xml_sha256: Mapped[str | None] = mapped_column(String(64))  # the XML in the store
    # BT-1, BT-3, BT-2, BT-9, BT-5
    number: Mapped[str | None] = mapped_column(String(100))
    type_code: Mapped[str | None] = mapped_column(String(10))
    kind: Mapped[InvoiceKind] = mapped_column(value_enum(InvoiceKind))
    issue_date: Mapped[date | None] = mapped_column(Date)
    issue_year: Mapped[int | None] = mapped_column(Integer)
    due_date: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str | None] = mapped_column(String(3))
    # Seller (BG-4)
    seller_name: Mapped[str | None] = mapped_column(String(300))
    seller_siren: Mapped[str | None] = mapped_column(String(9))
    seller_siret: Mapped[str | None] = mapped_column(String(14))
    seller_vat_id: Mapped[str | None] = mapped_column(String(40))
    seller_iban: Mapped[str | None] = mapped_column(String(40))
    # Buyer (BG-7)
    buyer_name: Mapped[str | None] = mapped_column(String(300))
    buyer_siren: Mapped[str | None] = mapped_column(String(9))
    buyer_siret: Mapped[str | None] = mapped_column(String(14))
    buyer_vat_id: Mapped[str | None] = mapped_column(String(40))
    # References: BT-10 (code service), BT-13, BT-12
    buyer_reference: Mapped[str | None] = mapped_column(String(100), index=True)
    order_reference: Mapped[str | None] = mapped_column(String(100), index=True)
    contract_reference: Mapped[str | None] = mapped_column(String(100))
    # Totals (BG-22): BT-109, BT-110, BT-112, BT-113, BT-115
    total_net: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))
    total_vat: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))
    total_gross: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))
    prepaid: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))
    amount_due: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))
    # Where it stands
    status: Mapped[InvoiceStatus] = mapped_column(value_enum(InvoiceStatus), index=True)
    misaddressed: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)  # kept, never routed
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    engagement_id: Mapped[int | None] = mapped_column(ForeignKey("engagements.id"))
    service_desk_slug: Mapped[str | None] = mapped_column(String(80))
    imputation_nature: Mapped[str | None] = mapped_column(String(20))
    imputation_fonction: Mapped[str | None] = mapped_column(String(20))
    imputation_operation: Mapped[str | None] = mapped_column(String(20))
    # Délai global de paiement: runs from receipt, suspended once by a justified suspension.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dgp_suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dgp_resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()
    document: Mapped[Document | None] = relationship()
    engagement: Mapped[Engagement | None] = relationship(back_populates="invoices")
    duplicate_of: Mapped[Invoice | None] = relationship(remote_side=[id])
    imported_by: Mapped[User | None] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan")
    vat_breakdown: Mapped[list[InvoiceVatBreakdown]] = relationship(
        back_populates="invoice", order_by="InvoiceVatBreakdown.position",
        cascade="all, delete-orphan")
    attachments: Mapped[list[InvoiceAttachment]] = relationship(
        back_populates="invoice", order_by="InvoiceAttachment.position",
        cascade="all, delete-orphan")
    problems: Mapped[list[InvoiceProblem]] = relationship(
        back_populates="invoice", order_by="InvoiceProblem.position",
        cascade="all, delete-orphan")
    status_history: Mapped[list[InvoiceStatusChange]] = relationship(
        back_populates="invoice", order_by="InvoiceStatusChange.id",
        cascade="all, delete-orphan")


class InvoiceLine(Base):
    """One invoice line (BG-25)."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"),
                                            index=True)
    position: Mapped[int] = mapped_column(Integer)
    line_id: Mapped[str | None] = mapped_column(String(60))  # BT-126
    name: Mapped[str | None] = mapped_column(Text)  # BT-153
    quantity: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 4))  # BT-129
    unit_code: Mapped[str | None] = mapped_column(String(10))  # BT-130
    unit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 6))  # BT-146
    net_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))  # BT-131
    vat_category: Mapped[str | None] = mapped_column(String(4))  # BT-151
    vat_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal(7, 4))  # BT-152

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class InvoiceVatBreakdown(Base):
    """One VAT breakdown row per category and rate (BG-23)."""

    __tablename__ = "invoice_vat_breakdown"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"),
                                            index=True)
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(4))  # BT-118
    rate: Mapped[Decimal | None] = mapped_column(ExactDecimal(7, 4))  # BT-119
    taxable_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))  # BT-116
    tax_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(18, 2))  # BT-117
    exemption_reason: Mapped[str | None] = mapped_column(Text)  # BT-120

    invoice: Mapped[Invoice] = relationship(back_populates="vat_breakdown")


class InvoiceAttachment(Base):
    """A supporting document carried by the invoice (BG-24 or a PDF attachment), in the store."""

    __tablename__ = "invoice_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"),
                                            index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(300))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))  # None: a reference without content
    size: Mapped[int | None] = mapped_column(BigInteger)

    invoice: Mapped[Invoice] = relationship(back_populates="attachments")


class InvoiceProblem(Base):
    """One problem found when checking the invoice, with its rule id and a French sentence."""

    __tablename__ = "invoice_problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"),
                                            index=True)
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20))  # lecture, xsd, schematron, calcul, …
    rule_id: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10))  # erreur | alerte
    message: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)

    invoice: Mapped[Invoice] = relationship(back_populates="problems")


class InvoiceStatusChange(Base):
    """One change of lifecycle status: the history the platform receives (CSV/JSON)."""

    __tablename__ = "invoice_status_changes"
    __table_args__ = (UniqueConstraint("invoice_id", "seq", name="uq_invoice_status_changes_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"),
                                            index=True)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[InvoiceStatus] = mapped_column(value_enum(InvoiceStatus))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)

    invoice: Mapped[Invoice] = relationship(back_populates="status_history")
    actor: Mapped[User | None] = relationship()
