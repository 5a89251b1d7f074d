"""`/api/v1/invoices`: import a file, read an invoice, its status history (the pages' rules)."""

from __future__ import annotations

from flask import current_app, render_template, url_for
from sqlalchemy import select

from parapheur.accounts.models import FINANCE_READERS, FINANCE_WRITERS
from parapheur.api.auth import require
from parapheur.api.blueprint import ApiBlueprint
from parapheur.api.idempotency import PARAMETER as IDEMPOTENCY
from parapheur.api.idempotency import idempotent
from parapheur.api.schemas import (
    InvoiceImportResultSchema,
    InvoiceImportSchema,
    InvoiceSchema,
    InvoiceStatusSchema,
)
from parapheur.clock import now
from parapheur.context import current_store, current_workflows_dir
from parapheur.db import get_session, transaction
from parapheur.errors import Forbidden, ParapheurError
from parapheur.invoices import lifecycle
from parapheur.invoices.models import Invoice, InvoiceStatusChange
from parapheur.invoices.services import Limits, import_invoice

bp = ApiBlueprint("api_invoices", __name__, url_prefix="/invoices",
                  description="Factures fournisseurs : import, lecture, statuts")


def _money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def invoice_view(invoice: Invoice) -> dict:
    """What the API says of an invoice (amounts as exact decimal strings)."""
    return {"id": invoice.id, "number": invoice.number, "filename": invoice.filename,
            "status": invoice.status.value, "status_label": invoice.status.label,
            "seller_name": invoice.seller_name, "seller_siren": invoice.seller_siren,
            "issue_date": invoice.issue_date, "due_date": invoice.due_date,
            "currency": invoice.currency, "total_net": _money(invoice.total_net),
            "total_vat": _money(invoice.total_vat), "total_gross": _money(invoice.total_gross),
            "amount_due": _money(invoice.amount_due), "blocked": invoice.blocked,
            "document_id": invoice.document_id, "received_at": invoice.received_at,
            "problems": [{"rule": p.rule_id, "severity": p.severity, "message": p.message,
                          "source": p.source} for p in invoice.problems]}


def _reader():
    user = require("invoices:read")
    if user.role not in FINANCE_READERS:
        raise Forbidden("Les factures sont réservées aux agents, administrateurs et auditeurs.")
    return user


def _invoice(invoice_id: int) -> Invoice:
    user = _reader()
    session = get_session()
    return lifecycle.get_invoice(session, invoice_id, organisation_id=user.organisation_id)


@bp.route("", methods=["POST"])
@bp.doc(parameters=[IDEMPOTENCY])
@idempotent
@bp.arguments(InvoiceImportSchema, location="files")
@bp.response(201, InvoiceImportResultSchema)
def import_file(args):
    """Importer une facture (Factur-X, UBL, CII) : gardée avec ses anomalies ; bloquée si
    illisible, en double ou mal adressée, sinon mise en circuit."""
    user = require("invoices:write")
    if user.role not in FINANCE_WRITERS:
        raise Forbidden("Seuls les agents et les administrateurs traitent les factures.")
    upload = args["file"]
    if not getattr(upload, "filename", None):
        raise ParapheurError("Joignez le fichier de la facture (champ « file »).")
    limits = Limits(max_bytes=int(current_app.config["INVOICES_MAX_MB"]) * 1024 * 1024)
    data = upload.read(limits.max_bytes + 1)
    session = get_session()
    with transaction(session):
        result = import_invoice(
            session, current_store(), data=data, filename=upload.filename, actor=user,
            actor_desk=user.desks[0] if user.desks else None, now=now(), render=render_template,
            circuits_dir=current_workflows_dir(),
            default_desk=current_app.config["INVOICES_DEFAULT_DESK"], limits=limits)
    return ({"invoice": invoice_view(result.invoice), "routed": result.routed,
             "summary": result.summary}, 201,
            {"Location": url_for("api_invoices.get_invoice", invoice_id=result.invoice.id)})


@bp.route("/<int:invoice_id>")
@bp.response(200, InvoiceSchema)
def get_invoice(invoice_id: int):
    """Une facture de la collectivité : champs, montants, anomalies, statut."""
    return invoice_view(_invoice(invoice_id))


@bp.route("/<int:invoice_id>/statuses")
@bp.response(200, InvoiceStatusSchema(many=True))
def statuses(invoice_id: int):
    """L'historique des statuts de la facture (du plus ancien au plus récent)."""
    invoice = _invoice(invoice_id)
    rows = get_session().execute(select(InvoiceStatusChange).where(
        InvoiceStatusChange.invoice_id == invoice.id).order_by(InvoiceStatusChange.seq)).scalars()
    return [{"status": r.status.value, "label": r.status.label, "reason": r.reason,
             "changed_at": r.occurred_at} for r in rows]
