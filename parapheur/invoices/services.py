"""Inspecting and importing invoice files: read, check, find duplicates, keep, route.

Every file given is kept, readable or not: an unreadable, duplicate or misaddressed invoice is
stored with its reasons and blocked (never routed); the others enter the `facture` circuit at
once, their typed fields as the circuit's metadata.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Desk, User
from parapheur.audit import services as audit
from parapheur.documents import services as documents
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_
from parapheur.invoices.checks import (
    ERROR,
    WARNING,
    Problem,
    check_invoice,
    euros,
    french_number,
)
from parapheur.invoices.engagements import credit_problem, find_engagement
from parapheur.invoices.errors import InvoiceReadError, InvoiceStateError
from parapheur.invoices.models import (
    Engagement,
    Invoice,
    InvoiceAttachment,
    InvoiceKind,
    InvoiceLine,
    InvoiceProblem,
    InvoiceStatus,
    InvoiceStatusChange,
    InvoiceVatBreakdown,
)
from parapheur.invoices.reading import ReadInvoice, read_invoice

DOC_TYPE, DOC_SUBTYPE = "FACTURES", "FACTURE"


@dataclass(frozen=True)
class Buyer:
    """The collectivité invoices must be addressed to."""

    siret: str | None
    name: str | None = None


def buyer_of(organisation) -> Buyer:
    """The buyer an organisation's invoices must name: its SIRET (none set: not checked)."""
    return Buyer(organisation.siret, organisation.name)


@dataclass(frozen=True)
class Limits:
    """Size limits of an invoice file and of its XML."""

    max_bytes: int = 20 * 1024 * 1024
    max_xml_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class Inspection:
    """What reading and checking one file found (nothing stored)."""

    filename: str
    sha256: str | None
    invoice: ReadInvoice | None
    problems: tuple[Problem, ...]

    @property
    def readable(self) -> bool:
        return self.invoice is not None

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == ERROR)

    def as_dict(self) -> dict[str, Any]:
        """A stable JSON form (amounts as decimal strings)."""
        inv = self.invoice
        data: dict[str, Any] = {"file": self.filename, "sha256": self.sha256,
                                "readable": self.readable,
                                "problems": [p.as_dict() for p in self.problems]}
        if inv is None:
            return data

        def d(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        data["invoice"] = {
            "container": inv.container, "syntax": inv.syntax, "profile": inv.profile,
            "number": inv.number, "type_code": inv.type_code,
            "kind": "avoir" if inv.is_credit_note else "facture",
            "issue_date": inv.issue_date.isoformat() if inv.issue_date else None,
            "due_date": inv.due_date.isoformat() if inv.due_date else None,
            "currency": inv.currency,
            "seller": dict(inv.seller.__dict__), "buyer": dict(inv.buyer.__dict__),
            "buyer_reference": inv.buyer_reference, "order_reference": inv.order_reference,
            "contract_reference": inv.contract_reference,
            "totals": {k: d(v) for k, v in inv.totals.__dict__.items()},
            "vat_breakdown": [{"category": r.category, "rate": d(r.rate),
                               "taxable_amount": d(r.taxable_amount),
                               "tax_amount": d(r.tax_amount),
                               "exemption_reason": r.exemption_reason}
                              for r in inv.vat_breakdown],
            "lines": [{"line_id": li.line_id, "name": li.name, "quantity": d(li.quantity),
                       "unit_code": li.unit_code, "unit_price": d(li.unit_price),
                       "net_amount": d(li.net_amount), "vat_category": li.vat_category,
                       "vat_rate": d(li.vat_rate)} for li in inv.lines],
            "attachments": [{"filename": a.filename, "mime_type": a.mime_type,
                             "size": len(a.content) if a.content is not None else None}
                            for a in inv.attachments],
        }
        return data


def inspect_file(data: bytes, filename: str, *, buyer: Buyer, limits: Limits = Limits(),
                 schematrons: bool = True) -> Inspection:
    """Read and check one file; a file that cannot be read gives one `lecture` problem."""
    import hashlib

    sha256 = hashlib.sha256(data).hexdigest() if data else None
    try:
        invoice = read_invoice(data, filename, max_bytes=limits.max_bytes,
                               max_xml_bytes=limits.max_xml_bytes)
    except InvoiceReadError as exc:
        return Inspection(filename, sha256, None,
                          (Problem("lecture", exc.code.upper().replace("_", "-"), ERROR,
                                   exc.message),))
    problems = check_invoice(invoice, buyer_siret=buyer.siret, buyer_name=buyer.name,
                             schematrons=schematrons)
    return Inspection(filename, sha256, invoice, tuple(problems))


# ---------------------------------------------------------------------------------------------
# Import

@dataclass
class ImportResult:
    """What importing one file did."""

    filename: str
    invoice: Invoice
    routed: bool
    problems: list[Problem] = field(default_factory=list)

    @property
    def summary(self) -> str:
        inv = self.invoice
        if inv.duplicate_of_id:
            return f"bloquée : doublon de la facture #{inv.duplicate_of_id}"
        if inv.misaddressed:
            return "bloquée : mal adressée"
        if inv.blocked:
            return "bloquée : illisible"
        return f"importée, en circuit (document #{inv.document_id})"


def seller_siren(invoice: ReadInvoice) -> str | None:
    """The seller's SIREN, read or taken from its SIRET (the duplicate key's first part)."""
    return invoice.seller.siren or (invoice.seller.siret[:9] if invoice.seller.siret else None)


def find_duplicate(session: Session, *, organisation_id: int, sha256: str, siren: str | None,
                   number: str | None, year: int | None) -> Invoice | None:
    """The first invoice the organisation received with the same file, or the same seller
    SIREN + number + year."""
    condition = Invoice.file_sha256 == sha256
    if siren and number and year:
        condition = or_(condition, (Invoice.seller_siren == siren) & (Invoice.number == number)
                        & (Invoice.issue_year == year))
    return session.execute(select(Invoice).where(
        condition, Invoice.organisation_id == organisation_id,
        Invoice.duplicate_of_id.is_(None)).order_by(Invoice.id).limit(1)).scalar_one_or_none()


def _service_desk(session: Session, invoice: ReadInvoice, default_slug: str | None,
                  fallback: Desk | None, engagement: Engagement | None = None, *,
                  organisation_id: int) -> Desk | None:
    """The desk certifying service fait: the engagement's, the code service's (BT-10), else
    the default one."""
    candidates = []
    if engagement is not None and engagement.desk_slug:
        candidates.append(engagement.desk_slug)
    if invoice.buyer_reference:
        candidates.append(invoice.buyer_reference.strip().lower())
    if default_slug:
        candidates.append(default_slug)
    for slug in candidates:  # a desk code is unique within its organisation
        desk = session.execute(select(Desk).where(
            Desk.slug == slug, Desk.organisation_id == organisation_id)).scalar_one_or_none()
        if desk is not None:
            return desk
    return fallback


def circuit_metadata(invoice: ReadInvoice, desk: Desk) -> dict[str, Any]:
    """The invoice's typed fields as the `facture` circuit's metadata (decimals as exact text)."""
    t = invoice.totals
    meta: dict[str, Any] = {
        "montant_ttc": str(t.gross if t.gross is not None else t.due or Decimal(0)),
        "service_ordonnateur": desk.slug,
        "fournisseur": invoice.seller.name,
        "numero_facture": invoice.number,
        "fournisseur_siren": seller_siren(invoice),
        "montant_ht": None if t.net is None else str(t.net),
        "montant_tva": None if t.vat is None else str(t.vat),
        "montant_a_payer": None if t.due is None else str(t.due),
        "code_service": invoice.buyer_reference,
        "bon_de_commande": invoice.order_reference,
        "date_facture": invoice.issue_date.isoformat() if invoice.issue_date else None,
    }
    return {k: v for k, v in meta.items() if v not in (None, "")}


def _visual_pdf(invoice: ReadInvoice, filename: str, render: Callable[..., str]) -> bytes:
    """A PDF visual of an XML invoice (templates/pdf/invoice.html), the XML attached to it."""
    from weasyprint import HTML, Attachment

    html = render("pdf/invoice.html", invoice=invoice, filename=filename,
                  kind="Avoir" if invoice.is_credit_note else "Facture",
                  dates={"issue": invoice.issue_date.strftime("%d/%m/%Y")
                         if invoice.issue_date else "—",
                         "due": invoice.due_date.strftime("%d/%m/%Y")
                         if invoice.due_date else None},
                  money=euros, number=lambda v: "" if v is None else french_number(v))
    attachment = Attachment(string=invoice.xml.decode("utf-8-sig", errors="replace"),
                            name=filename if filename.lower().endswith(".xml")
                            else "facture.xml",
                            description="Facture électronique reçue (fait foi)",
                            relationship="Source")
    return HTML(string=html).write_pdf(pdf_variant="pdf/a-3b", attachments=[attachment])


def record_status(session: Session, invoice: Invoice, status: InvoiceStatus, *,
                  actor: User | None, now: datetime, reason: str | None = None,
                  details: dict[str, Any] | None = None) -> None:
    """Move the invoice to a lifecycle status: history row and audit event, same transaction."""
    if status in (InvoiceStatus.SUSPENDUE, InvoiceStatus.REJETEE) and not (reason or "").strip():
        raise InvoiceStateError("reason_required",
                                N_("Le motif est obligatoire pour passer au statut « %(label)s "
                                   "»."), label=status.label)
    invoice.status = status
    invoice.status_history.append(InvoiceStatusChange(
        seq=len(invoice.status_history) + 1, status=status, occurred_at=now,
        actor_id=actor.id if actor else None, reason=(reason or "").strip() or None))
    session.flush()
    audit.record(session, "invoice:status:changed", actor=actor,
                 document_id=invoice.document_id,
                 details={"invoice_id": invoice.id, "number": invoice.number,
                          "status": status.value, "reason": reason, **(details or {})},
                 clock=lambda: now)


def import_invoice(session: Session, store: ContentStore, *, data: bytes, filename: str,
                   actor: User, actor_desk: Desk | None, now: datetime,
                   render: Callable[..., str], circuits_dir: Path, buyer: Buyer | None = None,
                   default_desk: str | None = "finances",
                   limits: Limits = Limits(), schematrons: bool = True) -> ImportResult:
    """Keep one file as an invoice with its problems; route it unless it is blocked.

    The invoice belongs to the actor's organisation, whose SIRET the buyer must be (unless
    `buyer` says otherwise). Runs in the caller's transaction (one file, one transaction, its
    audit events with it).
    """
    if len(data) > limits.max_bytes:
        # Refused before anything is kept: what would be kept is not the file that was sent.
        raise InvoiceReadError("too_large", N_("Le fichier « %(filename)s » dépasse la taille "
                                               "maximale (%(value)s Mo) : il n'a pas été "
                                               "importé."),
                               filename=filename, value=limits.max_bytes // (1024 * 1024))
    organisation_id = actor.organisation_id
    if buyer is None:
        buyer = buyer_of(actor.organisation)
    cleaned = documents.clean_filename(filename or "facture")
    # clean_filename makes a PDF name; an XML keeps its own extension.
    filename = cleaned if (filename or "").lower().endswith(".pdf") \
        else cleaned.removesuffix(".pdf")
    inspection = inspect_file(data, filename, buyer=buyer, limits=limits,
                              schematrons=schematrons)
    problems = list(inspection.problems)
    sha256 = inspection.sha256 or ""
    read = inspection.invoice
    invoice = Invoice(organisation_id=organisation_id, filename=filename, file_sha256=sha256, file_size=len(data),
                      container=read.container if read else "inconnu",
                      kind=InvoiceKind.CREDIT_NOTE if read and read.is_credit_note
                      else InvoiceKind.INVOICE,
                      status=InvoiceStatus.DEPOSEE, received_at=now, created_at=now,
                      imported_by_id=actor.id, misaddressed=False, blocked=read is None)
    duplicate = engagement = None
    if read is not None:
        _fill(invoice, read)
        # A Factur-X keeps its XML inside the stored PDF; an XML file is its own XML.
        invoice.xml_sha256 = sha256 if read.container == "xml" else None
        invoice.misaddressed = any(p.rule_id == "MAL-ADRESSEE" for p in problems)
        duplicate = find_duplicate(session, organisation_id=organisation_id, sha256=sha256,
                                   siren=invoice.seller_siren, number=invoice.number,
                                   year=invoice.issue_year)
        if duplicate is None and not invoice.misaddressed:
            engagement = find_engagement(session, organisation_id=organisation_id,
                                         order_reference=read.order_reference,
                                         siren=invoice.seller_siren,
                                         service=read.buyer_reference)
            if engagement is not None:
                # By id: the relationship would put the invoice in the session half-filled.
                invoice.engagement_id = engagement.id
                warning = credit_problem(session, engagement, invoice)
                if warning:
                    problems.append(Problem("engagement", "CREDIT-INSUFFISANT", WARNING,
                                            warning))
    elif sha256:
        duplicate = find_duplicate(session, organisation_id=organisation_id, sha256=sha256,
                                   siren=None, number=None, year=None)
    if duplicate is not None:
        invoice.duplicate_of_id = duplicate.id
        same_file = duplicate.file_sha256 == sha256
        problems.append(Problem(
            "doublon", "DOUBLON", ERROR,
            f"Doublon : {'ce même fichier' if same_file else 'la facture n° ' + (invoice.number or '')} "
            f"a déjà été reçu{'' if same_file else 'e'} le "
            f"{duplicate.received_at.strftime('%d/%m/%Y')} (facture #{duplicate.id}"
            f"{', n° ' + duplicate.number if same_file and duplicate.number else ''}). "
            f"Elle n'est pas traitée une seconde fois.",
            f"/factures/{duplicate.id}"))
    invoice.blocked = read is None or duplicate is not None or invoice.misaddressed
    invoice.problems = [InvoiceProblem(position=i, source=p.source, rule_id=p.rule_id[:60],
                                       severity=p.severity, message=p.message,
                                       location=p.location)
                        for i, p in enumerate(problems)]
    session.add(invoice)
    session.flush()
    record_status(session, invoice, InvoiceStatus.DEPOSEE, actor=actor, now=now, details={
        "filename": filename, "sha256": sha256, "size": len(data),
        "readable": read is not None, "problems": len(problems), "blocked": invoice.blocked,
        "duplicate_of": invoice.duplicate_of_id})
    routed = False
    if not invoice.blocked and read is not None:
        desk = _service_desk(session, read, default_desk, actor_desk, engagement,
                             organisation_id=organisation_id)
        if desk is not None:
            pdf = read.pdf if read.pdf is not None else _visual_pdf(read, filename, render)
            pdf_name = filename if filename.lower().endswith(".pdf") \
                else filename.rsplit(".", 1)[0] + ".pdf"
            document = documents.create_document(
                session, store, title=_title(read), doc_type=DOC_TYPE, doc_subtype=DOC_SUBTYPE,
                data=pdf, filename=pdf_name, author=actor, author_desk=actor_desk or desk,
                now=now, circuits_dir=circuits_dir, metadata=circuit_metadata(read, desk))
            invoice.document_id = document.id
            invoice.service_desk_slug = desk.slug
            session.flush()
            record_status(session, invoice, InvoiceStatus.MISE_A_DISPOSITION, actor=actor,
                          now=now)
            routed = True
    if data and not (routed and read is not None and read.container == "pdf"):
        store.put(data)  # a routed Factur-X is already stored as its document's first version
    for position, attachment in enumerate(read.attachments if read else ()):
        digest = store.put(attachment.content) if attachment.content is not None else None
        invoice.attachments.append(InvoiceAttachment(
            position=position, filename=attachment.filename[:300],
            mime_type=attachment.mime_type, description=attachment.description,
            sha256=digest, size=len(attachment.content) if attachment.content else None))
    session.flush()
    return ImportResult(filename, invoice, routed, problems)


def _title(invoice: ReadInvoice) -> str:
    kind = "Avoir" if invoice.is_credit_note else "Facture"
    return f"{kind} {invoice.number or '?'} — {invoice.seller.name or 'fournisseur inconnu'}"[:300]


def _fill(invoice: Invoice, read: ReadInvoice) -> None:
    t = read.totals
    invoice.syntax, invoice.profile = read.syntax, read.profile
    invoice.number = (read.number or "")[:100] or None
    invoice.type_code = read.type_code
    invoice.issue_date, invoice.due_date = read.issue_date, read.due_date
    invoice.issue_year = read.issue_date.year if read.issue_date else None
    invoice.currency = read.currency
    invoice.seller_name, invoice.seller_siren = read.seller.name, seller_siren(read)
    invoice.seller_siret, invoice.seller_vat_id = read.seller.siret, read.seller.vat_id
    invoice.seller_iban = read.seller.iban
    invoice.buyer_name, invoice.buyer_siren = read.buyer.name, read.buyer.siren
    invoice.buyer_siret, invoice.buyer_vat_id = read.buyer.siret, read.buyer.vat_id
    invoice.buyer_reference = read.buyer_reference
    invoice.order_reference, invoice.contract_reference = (read.order_reference,
                                                           read.contract_reference)
    invoice.total_net, invoice.total_vat, invoice.total_gross = t.net, t.vat, t.gross
    invoice.prepaid, invoice.amount_due = t.prepaid, t.due
    invoice.lines = [InvoiceLine(position=i, line_id=li.line_id, name=li.name,
                                 quantity=li.quantity, unit_code=li.unit_code,
                                 unit_price=li.unit_price, net_amount=li.net_amount,
                                 vat_category=li.vat_category, vat_rate=li.vat_rate)
                     for i, li in enumerate(read.lines)]
    invoice.vat_breakdown = [InvoiceVatBreakdown(position=i, category=r.category, rate=r.rate,
                                                 taxable_amount=r.taxable_amount,
                                                 tax_amount=r.tax_amount,
                                                 exemption_reason=r.exemption_reason)
                             for i, r in enumerate(read.vat_breakdown)]


# ---------------------------------------------------------------------------------------------
# Status history export (for the platform)

HISTORY_COLUMNS = ("invoice_id", "number", "seller_siren", "seq", "status", "status_label",
                   "occurred_at", "reason")


def status_history_rows(session: Session, organisation_id: int,
                        invoice_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Every status change of the organisation's invoices (or some), oldest first."""
    query = select(InvoiceStatusChange, Invoice).join(Invoice).where(
        Invoice.organisation_id == organisation_id).order_by(
        InvoiceStatusChange.invoice_id, InvoiceStatusChange.seq)
    if invoice_ids:
        query = query.where(Invoice.id.in_(invoice_ids))
    return [{"invoice_id": inv.id, "number": inv.number, "seller_siren": inv.seller_siren,
             "seq": change.seq, "status": change.status.value,
             "status_label": change.status.label,
             "occurred_at": change.occurred_at.isoformat(), "reason": change.reason}
            for change, inv in session.execute(query).all()]


def export_status_history(rows: list[dict[str, Any]], fmt: str) -> str:
    """The status history as CSV (semicolon, for spreadsheets) or JSON."""
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_COLUMNS, delimiter=";")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
