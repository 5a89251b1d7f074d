"""« Factures »: import (drag and drop, many files), the list with filters and batch actions,
the invoice page, « À rapprocher », « Délais », and the status history export."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required
from jinja2 import pass_context
from sqlalchemy import func, or_, select

from parapheur.accounts.models import FINANCE_READERS, FINANCE_WRITERS
from parapheur.audit import services as audit
from parapheur.circuits import services as circuits
from parapheur.clock import now
from parapheur.context import current_store, current_workflows_dir
from parapheur.db import get_session, transaction
from parapheur.documents.access import is_visible
from parapheur.downloads import stored_file
from parapheur.errors import Forbidden, ParapheurError, localized
from parapheur.i18n import format_amount, render_locale
from parapheur.invoices import engagements, lifecycle
from parapheur.invoices.checks import euros
from parapheur.invoices.models import Invoice, InvoiceStatus
from parapheur.invoices.services import (
    Limits,
    export_status_history,
    import_invoice,
    status_history_rows,
)

bp = Blueprint("invoices", __name__, url_prefix="/factures")
PAGE_SIZE = 50


def _may_read() -> None:
    if current_user.role not in FINANCE_READERS:
        raise Forbidden(gettext("Les factures sont réservées aux agents, administrateurs et auditeurs."))


def _may_write() -> None:
    if current_user.role not in FINANCE_WRITERS:
        raise Forbidden(gettext("Seuls les agents et les administrateurs traitent les factures."))


def _invoice(invoice_id: int) -> Invoice:
    _may_read()
    return lifecycle.get_invoice(get_session(), invoice_id,
                                 organisation_id=current_user.organisation_id)


def _limits() -> Limits:
    return Limits(max_bytes=int(current_app.config["INVOICES_MAX_MB"]) * 1024 * 1024)


@bp.app_template_filter("euros")
@pass_context
def _euros(context, value):
    """French as before (« 1 234,50 € »); otherwise written for the reader's locale."""
    locale = render_locale(context)
    return euros(value) if locale == "fr" else format_amount(value, locale=locale)


@bp.route("/")
@login_required
def listing():
    """Invoices with filters (status, supplier, service, days left, amount) and batch actions."""
    _may_read()
    session = get_session()
    moment = now()
    args = request.args
    filters = {k: args.get(k, "").strip()[:100] for k in
               ("status", "supplier", "service", "days", "min", "max", "vue")}
    query = select(Invoice).where(Invoice.organisation_id == current_user.organisation_id)
    if filters["status"] in {s.value for s in InvoiceStatus}:
        query = query.where(Invoice.status == InvoiceStatus(filters["status"]))
    elif filters["status"] == "bloquee":
        query = query.where(Invoice.blocked.is_(True))
    if filters["supplier"]:
        like = f"%{filters['supplier']}%"
        query = query.where(or_(Invoice.seller_name.ilike(like), Invoice.seller_siren == filters[
            "supplier"].replace(" ", ""), Invoice.number.ilike(like)))
    if filters["service"]:
        query = query.where(or_(Invoice.buyer_reference == filters["service"],
                                Invoice.service_desk_slug == filters["service"]))
    for key, op in (("min", "ge"), ("max", "le")):
        if filters[key]:
            try:
                amount = Decimal(filters[key].replace(" ", "").replace(",", "."))
            except InvalidOperation:
                flash(gettext("Montant « %(value)s » invalide : filtre ignoré.", value=filters[key]),
                      "error")
                continue
            column = Invoice.total_gross
            query = query.where(column >= amount if op == "ge" else column <= amount)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    try:
        page = max(1, int(args.get("page", 1)))
    except ValueError:
        page = 1
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    invoices = session.execute(query.order_by(Invoice.id.desc())
                               .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).scalars().all()
    rows = [(inv, lifecycle.clock_of(inv, moment)) for inv in invoices]
    if filters["days"]:
        try:
            limit = int(filters["days"])
            rows = [row for row in rows if row[1].remaining_days <= limit
                    and not row[0].blocked and row[0].status not in lifecycle.CLOSED]
        except ValueError:
            flash(gettext("Nombre de jours « %(value)s » invalide : filtre ignoré.",
                          value=filters["days"]), "error")
    to_match = session.execute(select(func.count()).select_from(
        engagements.to_match_query(current_user.organisation_id).subquery())).scalar_one()
    return render_template("pages/invoices.html", rows=rows, filters=filters, total=total,
                           page=page, pages=pages, statuses=list(InvoiceStatus),
                           to_match=to_match, can_write=current_user.role in FINANCE_WRITERS)


@bp.route("/import", methods=["POST"])
@login_required
def import_files():
    """Import one file (JSON answer, used by the drag-and-drop page) or several (a page)."""
    _may_write()
    files = request.files.getlist("files")
    if not files or all(not f.filename for f in files):
        if request.accept_mimetypes.best == "application/json":
            return jsonify({"error": "Aucun fichier reçu."}), 400
        flash(gettext("Choisissez au moins un fichier de facture."), "error")
        return redirect(url_for("invoices.listing"))
    session = get_session()
    results = []
    for upload in files:
        data = upload.read(_limits().max_bytes + 1)
        try:
            with transaction(session):
                desk = current_user.desks[0] if current_user.desks else None
                result = import_invoice(
                    session, current_store(), data=data, filename=upload.filename or "facture",
                    actor=current_user, actor_desk=desk, now=now(), render=render_template,
                    circuits_dir=current_workflows_dir(), default_desk=current_app.config["INVOICES_DEFAULT_DESK"], limits=_limits())
            results.append({"file": result.filename, "invoice_id": result.invoice.id,
                            "url": url_for("invoices.show", invoice_id=result.invoice.id),
                            "routed": result.routed, "summary": result.summary,
                            "problems": [p.as_dict() for p in result.problems]})
        except ParapheurError as exc:
            results.append({"file": upload.filename, "invoice_id": None, "url": None,
                            "routed": False, "summary": localized(exc), "problems": []})
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"results": results})
    return render_template("pages/invoice_import.html", results=results)


@bp.route("/<int:invoice_id>")
@login_required
def show(invoice_id: int):
    """The invoice: its rendering, fields, problems, engagement, circuit, history, DGP clock."""
    session = get_session()
    moment = now()
    invoice = _invoice(invoice_id)
    document = invoice.document
    actions = []
    document_visible = False
    if document is not None:
        document_visible = is_visible(session, current_user, document.id, now=moment)
        actions = circuits.user_can_act(session, document, current_user, now=moment)
    clock = lifecycle.clock_of(invoice, moment)
    remaining = engagements.remaining_credit(session, invoice.engagement) \
        if invoice.engagement else None
    return render_template(
        "pages/invoice.html", invoice=invoice, document=document, actions=actions,
        document_visible=document_visible, clock=clock, remaining=remaining,
        cost=lifecycle.late_cost(invoice, moment, current_app.config),
        pending=circuits.pending_steps(document) if document else [],
        progress=circuits.progress(session, document, now=moment) if document else [],
        can_write=current_user.role in FINANCE_WRITERS)


@bp.route("/<int:invoice_id>/fichier")
@login_required
def original(invoice_id: int):
    """The file as received (PDF or XML), checked against its SHA-256."""
    invoice = _invoice(invoice_id)
    mimetype = "application/pdf" if invoice.container == "pdf" else "application/xml"
    return stored_file(current_store().read(invoice.file_sha256), sha256=invoice.file_sha256,
                       name=invoice.filename, mimetype=mimetype)


def _reason() -> str | None:
    return (request.form.get("reason") or "").strip()[:2000] or None


@bp.route("/<int:invoice_id>/action", methods=["POST"])
@login_required
def act(invoice_id: int):
    """Service fait / visa (approve) or rejection (with its reason) of the current step."""
    _may_write()
    decision = request.form.get("decision", "")
    session = get_session()
    with transaction(session):
        invoice = _invoice(invoice_id)
        if decision == "reject" and not _reason():
            raise ParapheurError(gettext("Le motif du rejet est obligatoire."))
        step = lifecycle.act(session, invoice, actor=current_user, decision=decision,
                             now=now(), reason=_reason(), step=request.form.get("step"))
    done = (gettext("%(step)s : rejeté (statut « %(status)s »).") if decision == "reject"
            else gettext("%(step)s : fait (statut « %(status)s »)."))
    flash(done % {"step": step.label, "status": invoice.status.label}, "success")
    return redirect(url_for("invoices.show", invoice_id=invoice_id))


@bp.route("/<int:invoice_id>/suspendre", methods=["POST"])
@login_required
def suspend(invoice_id: int):
    """Suspend the payment clock once, for a reason (a missing piece)."""
    _may_write()
    session = get_session()
    with transaction(session):
        lifecycle.suspend(session, _invoice(invoice_id), actor=current_user,
                          reason=_reason() or "", now=now())
    flash(gettext("Facture suspendue : le délai global de paiement est arrêté."), "success")
    return redirect(url_for("invoices.show", invoice_id=invoice_id))


@bp.route("/<int:invoice_id>/reprendre", methods=["POST"])
@login_required
def resume(invoice_id: int):
    """The missing piece arrived: the clock runs again."""
    _may_write()
    session = get_session()
    with transaction(session):
        lifecycle.resume(session, _invoice(invoice_id), actor=current_user, now=now())
    flash(gettext("Facture reprise : le délai global de paiement repart."), "success")
    return redirect(url_for("invoices.show", invoice_id=invoice_id))


@bp.route("/<int:invoice_id>/rapprocher", methods=["POST"])
@login_required
def match(invoice_id: int):
    """Pick the engagement, or enter the imputation (M57 nature, fonction, opération)."""
    _may_write()
    session = get_session()
    form = request.form
    with transaction(session):
        warning = engagements.match_invoice(
            session, _invoice(invoice_id), actor=current_user, now=now(),
            engagement_number=form.get("engagement", "").strip()[:60] or None,
            nature=form.get("nature", "")[:20], fonction=form.get("fonction", "")[:20],
            operation=form.get("operation", "")[:20])
    flash(warning or "Facture rapprochée.", "error" if warning else "success")
    if request.form.get("next") == "a-rapprocher":
        return redirect(url_for("invoices.to_match"))
    return redirect(url_for("invoices.show", invoice_id=invoice_id))


@bp.route("/lot", methods=["POST"])
@login_required
def batch():
    """Batch service fait / visa (or rejection) of the selected invoices; a result per invoice."""
    _may_write()
    try:
        ids = [int(i) for i in request.form.getlist("ids")][:500]
    except ValueError:
        raise ParapheurError(gettext("Sélection invalide.")) from None
    if not ids:
        raise ParapheurError(gettext("Sélectionnez au moins une facture."))
    decision = request.form.get("decision", "approve")
    if decision == "reject" and not _reason():
        raise ParapheurError(gettext("Le motif du rejet est obligatoire."))
    outcomes = lifecycle.batch_act(get_session(), ids, actor=current_user, decision=decision,
                                   now=now(), reason=_reason())
    done = sum(1 for o in outcomes if o.ok)
    flash(f"{done} facture(s) traitée(s) sur {len(outcomes)}.",
          "success" if done == len(outcomes) else "error")
    return render_template("pages/invoice_batch.html", outcomes=outcomes)


@bp.route("/a-rapprocher")
@login_required
def to_match():
    """« À rapprocher »: routed invoices with neither engagement nor imputation."""
    _may_read()
    invoices = get_session().execute(
        engagements.to_match_query(current_user.organisation_id).limit(500)).scalars().all()
    return render_template("pages/invoice_to_match.html", invoices=invoices,
                           can_write=current_user.role in FINANCE_WRITERS)


@bp.route("/delais")
@login_required
def deadlines():
    """« Délais »: the running payment clocks, those at risk first, with the cost of lateness."""
    _may_read()
    moment = now()
    rows = [(inv, clock, lifecycle.late_cost(inv, moment, current_app.config))
            for inv, clock in lifecycle.deadlines(get_session(), current_user.organisation_id,
                                                  moment)]
    return render_template("pages/invoice_deadlines.html", rows=rows)


@bp.route("/historique.<fmt>")
@login_required
def history(fmt: str):
    """The status history for the platform, CSV or JSON (journaled)."""
    _may_read()
    if fmt not in ("csv", "json"):
        abort(404)
    session = get_session()
    rows = status_history_rows(session, current_user.organisation_id)
    with transaction(session):
        audit.record(session, "invoice:history:exported", actor=current_user,
                     details={"format": fmt, "rows": len(rows)}, clock=now)
    body = export_status_history(rows, fmt)
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    response = Response(body, mimetype=f"{mimetype}; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="statuts-factures.{fmt}"'
    return response

