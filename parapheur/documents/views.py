"""Inbox, upload, document page with its circuit diagram, downloads, and visa / rejection actions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import and_, false, func, literal, select, true, union_all
from sqlalchemy.orm import defer, joinedload, selectinload

from parapheur.accounts.models import Desk, Role
from parapheur.accounts.services import acting_rights
from parapheur.audit import services as audit
from parapheur.audit.evidence import export_document
from parapheur.circuits import graph
from parapheur.circuits import services as circuits
from parapheur.circuits.definition import Circuit
from parapheur.circuits.errors import CircuitError, MetadataError
from parapheur.circuits.models import StepAction
from parapheur.clock import now
from parapheur.context import current_store, current_workflows_dir
from parapheur.db import get_session, transaction
from parapheur.documents import access, annexes, batch, reading_views, services, trays
from parapheur.documents.errors import InvalidUpload
from parapheur.documents.models import Document, DocumentStatus
from parapheur.downloads import stored_file
from parapheur.errors import Forbidden, ParapheurError, localized
from parapheur.signatures import services as signatures
from parapheur.signatures.reports import trust_anchor_paths

bp = Blueprint("documents", __name__)


def _visible(document_id: int, moment: datetime | None = None, *, options=()) -> Document:
    """The document if the current user may see it, else « Document n° N indisponible » (404)."""
    return access.get_visible(get_session(), current_user, document_id,
                              now=now() if moment is None else moment, options=options)


#: What the document page reads of the document itself, loaded with it (not one query each).
DOCUMENT_PAGE_LOADS = (joinedload(Document.circuit_version), joinedload(Document.author),
                       joinedload(Document.author_desk), joinedload(Document.versions))


@bp.app_template_global()
def typology_label(doc_type: str, doc_subtype: str) -> str:
    """« Type — Sous-type » in French for pages (the codes when no longer configured).

    Read once per request and pair: a list of many documents does not re-read the catalogue.
    """
    labels = g.setdefault("typology_labels", {})
    key = (doc_type, doc_subtype)
    if key not in labels:
        labels[key] = circuits.typology_label(current_workflows_dir(), doc_type, doc_subtype)
    return labels[key]


#: Documents per page of the « À traiter » tray.
INBOX_PAGE_SIZE = 50


@bp.route("/")
@login_required
def inbox():
    """The bannettes: to process (sorted, filtered, searched, 50 a page), mine, processed.

    A constant number of queries whatever the number of documents and the filters: who may act
    is decided in SQL (`access.actionable_documents`), the page is read by keyset in the chosen
    order (`trays.TrayQuery`), the circuits in one query.
    """
    return render_inbox()


@dataclass(frozen=True)
class BatchForm:
    """A refused batch signature, shown again: the message, the ticks and the confirmation."""

    message: str
    ticked: frozenset[str] = frozenset()  # "document_id:step" values ticked
    reviewed: bool = False


def render_inbox(*, status: int = 200, batch: BatchForm | None = None):
    """The inbox page; after a refused batch, with its message and the ticks as they were."""
    session = get_session()
    moment = now()
    tray = access.actionable_tray(session, current_user, moment)
    filter_error = None
    try:
        view = trays.TrayQuery.from_args(request.args)
        cursor = view.cursor(request.args)
    except trays.TrayQueryError as exc:
        # The page still answers, unfiltered, with the message beside what was typed.
        filter_error, status = exc.message, exc.status
        view, cursor = trays.TrayQuery(), None
    dialect = session.get_bind().dialect.name
    page = session.execute(
        access.tray_page(tray, after=cursor, size=INBOX_PAGE_SIZE + 1,
                         sort=view.sort, descending=view.descending,
                         where=view.conditions(dialect))
        # Its rows show neither the metadata nor the search text: not read, not decoded.
        .options(selectinload(Document.circuit_version),
                 defer(Document.meta), defer(Document.search_text))
    ).scalars().all()
    has_next = len(page) > INBOX_PAGE_SIZE
    page = page[:INBOX_PAGE_SIZE]
    rights = acting_rights(session, current_user, now=moment)
    to_process = []
    for document in page:
        for pending, capacity in circuits.user_can_act(session, document, current_user,
                                                        now=moment, rights=rights):
            is_late = pending.due is not None and moment > pending.due
            to_process.append((document, pending, capacity, is_late))
    next_args = {**view.args(), **view.cursor_args(page[-1])} if has_next else None
    mine_query = access.deposited_documents(session, current_user, moment)
    processed_query = access.processed_documents(session, current_user, moment)
    # The tray counted by author, in one pass: the authors the « Déposé par » filter offers
    # (those of the documents waiting for the user) and, summed, the tray's total, its late
    # documents and those matching the filters (`count(*) FILTER (WHERE …)`, the same pass).
    conditions = view.conditions(dialect)
    filtered = (and_(true(), *conditions)) if view.filtered else None
    late = access.overdue(moment)
    by_author = session.execute(access.tray_by_author(tray, now=moment, matching=filtered)).all()
    authors = [(row[0], row[1]) for row in by_author]
    tray_n = sum(row[2] for row in by_author)
    # Without a filter, the filtered count is the tray's.
    tray_filtered = sum(row[4] for row in by_author) if filtered is not None else tray_n
    # The other trays' counts in one round trip, one pass over each.
    mine_counts = _counts(mine_query.whereclause,
                          and_(Document.status == DocumentStatus.IN_PROGRESS, late))
    processed_counts = _counts(processed_query.whereclause)
    # Each subquery is one row (an aggregate without GROUP BY): joined on nothing, one row.
    mine_n, mine_late, processed_n = session.execute(
        select(*mine_counts.c, *processed_counts.c).select_from(
            mine_counts.join(processed_counts, true()))).one()
    counts = (tray_n, sum(row[3] for row in by_author), mine_n, mine_late, processed_n,
              tray_filtered)
    # The two lists show a title, a status and a late badge: those columns, not documents
    # (a hundred rows' metadata and run states read and decoded for nothing); late as counted.
    # Both in one round trip: each list its own ORDER BY … LIMIT, tagged, then UNION ALL.
    listed = (Document.id, Document.title, Document.status)
    recent = (Document.updated_at.desc(), Document.id.desc())
    lists = [query.with_only_columns(*listed, flag.label("late"), literal(tray).label("tray"))
             .order_by(*recent).limit(50).subquery()
             for tray, query, flag in (
                 ("mine", mine_query, and_(Document.status == DocumentStatus.IN_PROGRESS, late)),
                 ("processed", processed_query, false()))]
    rows = session.execute(union_all(*(select(*sub.c) for sub in lists))).all()
    mine = [row for row in rows if row.tray == "mine"]
    processed = [row for row in rows if row.tray == "processed"]
    late_ids = {d.id for d in mine if d.late}
    return render_template("pages/inbox.html", to_process=to_process, mine=mine,
                           processed=processed, late_ids=late_ids, to_process_count=counts[0],
                           late_count=counts[1], mine_count=counts[2], mine_late_count=counts[3],
                           processed_count=counts[4], filtered_count=counts[5],
                           next_args=next_args, first_page=cursor is None, view=view,
                           view_args=view.args(), filter_error=filter_error,
                           raw_filters=request.args if filter_error else view_form(view),
                           authors=authors, sorts=trays.SORT_LABELS,
                           typology=circuits.typology_choices(current_workflows_dir()),
                           types=list(circuits.catalogue(current_workflows_dir())
                                      .typology.types().items()), batch=batch,
                           token_notice=_token_notice(session, [p for _, p, _, _ in to_process])
                           ), status


def view_form(view: trays.TrayQuery) -> dict[str, str]:
    """The filter form's values for a view (what the user typed, as read back)."""
    values = view.args()
    for name in ("montant_min", "montant_max"):
        if name in values:
            values[name] = values[name].replace(".", ",")
    return values


def _counts(where, *filters):
    """One row: `count(*)` of the documents `where` selects, then of those matching each filter
    (`count(*) FILTER (WHERE …)`, one pass), as a subquery to select from beside others."""
    return (select(func.count(), *(func.count().filter(f) for f in filters))
            .select_from(Document).where(where).subquery())


@dataclass(frozen=True)
class FormField:
    """A metadata field of the selected circuit, as the upload form shows it."""

    name: str
    label: str
    type: str
    optional: bool
    choices: tuple[tuple[str, str], ...] | None  # (value, label) for selects
    value: str


def _form_fields(session, circuit: Circuit, values) -> list[FormField]:
    desks = None
    result = []
    for name, spec in circuit.fields.items():
        choices: tuple[tuple[str, str], ...] | None = None
        if spec.type == "desk":
            if desks is None:
                desks = tuple((d.slug, d.name) for d in session.execute(
                    select(Desk).where(Desk.organisation_id == current_user.organisation_id)
                    .order_by(Desk.name)).scalars())
            choices = desks
        elif spec.type == "boolean":
            choices = (("true", "Oui"), ("false", "Non"))
        elif spec.values is not None:
            choices = tuple((v, v) for v in spec.values)
        result.append(FormField(name, spec.label or name, spec.type, spec.optional, choices,
                                str(values.get(name, "") or "")))
    return result


PAGE_SIZE = 50


@bp.route("/documents")
@login_required
def listing():
    """Every document the user may see, filtered by status, type and words of the title."""
    session = get_session()
    moment = now()
    query = select(Document).where(
        Document.id.in_(access.visible_documents(session, current_user, moment)))
    text = request.args.get("q", "").strip()[:200]
    status = request.args.get("status", "")
    try:
        chosen = DocumentStatus(status) if status else None
    except ValueError:
        raise ParapheurError(gettext("État inconnu : « %(status)s ».", status=status[:40])) from None
    doc_type = request.args.get("type", "")
    query = access.filtered(query, text=text, status=chosen, doc_type=doc_type,
                            dialect=session.get_bind().dialect.name)
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        raise ParapheurError(gettext("Numéro de page invalide.")) from None
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = min(page, max(1, -(-total // PAGE_SIZE)))  # past the last page: the last page
    documents = session.execute(query.order_by(Document.updated_at.desc(), Document.id.desc())
                                .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).scalars().all()
    return render_template(
        "pages/documents.html", documents=documents, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), statuses=list(DocumentStatus),
        types=list(circuits.catalogue(current_workflows_dir()).typology.types().items()),
        filters={"q": text, "status": status, "type": doc_type})


@bp.route("/documents/<int:document_id>/evidence.zip")
@login_required
def evidence(document_id: int):
    """The document's evidence bundle (administrators and auditors)."""
    if current_user.role not in (Role.ADMIN, Role.AUDITEUR):
        raise Forbidden(gettext("Le dossier de preuve est réservé aux auditeurs et aux administrateurs."))
    session = get_session()
    document = _visible(document_id)
    data = export_document(session, current_store(), document,
                           organisation=document.organisation.name,
                           trust_anchors=trust_anchor_paths(current_app.config),
                           seal_config=current_app.config, now=now())
    with transaction(session):
        audit.record(session, "document:evidence:exported", actor=current_user,
                     document_id=document.id, details={"sha256": hashlib.sha256(data).hexdigest()},
                     clock=now)
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="dossier-de-preuve-{document.id}.zip"')
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/documents/new", methods=["GET", "POST"])
@login_required
def new_document():
    """Upload a PDF with its title, typology and the metadata its circuit asks; it starts its circuit.

    Two steps without JavaScript: choosing the typology (GET ?typology=) shows the circuit's fields.
    """
    typology = circuits.typology_choices(current_workflows_dir())
    session = get_session()
    source = request.form if request.method == "POST" else request.args
    form = {"title": source.get("title", ""), "typology": source.get("typology", "")}
    circuit = None
    fields: list[FormField] = []
    error = None
    status = 200
    if form["typology"]:
        doc_type, _, doc_subtype = form["typology"].partition("/")
        try:
            circuit, _ = circuits.circuit_for_typology(
                current_workflows_dir(), doc_type, doc_subtype, session=session,
                organisation_id=current_user.organisation_id)
            fields = _form_fields(session, circuit, source)
        except CircuitError as exc:
            error, status = exc.message, exc.status
    if request.method == "GET":
        return render_template("pages/new_document.html", typology=typology, form=form,
                               circuit=circuit, fields=fields, error=error), status
    upload = request.files.get("file")
    try:
        if error is not None:
            raise ParapheurError(error, status=status)
        if upload is None or not upload.filename:
            raise InvalidUpload(gettext("Choisissez un fichier PDF à déposer."), reason="missing")
        doc_type, _, doc_subtype = form["typology"].partition("/")
        if not doc_type or not doc_subtype or circuit is None:
            raise ParapheurError(gettext("Choisissez le type et le sous-type du document."))
        if not form["title"].strip():
            raise ParapheurError(gettext("Le titre du document est obligatoire."))
        metadata = circuits.clean_metadata(session, circuit, request.form,
                                           organisation_id=current_user.organisation_id)
        desk = services.author_desk(current_user, request.form.get("author_desk"))
        moment = now()
        with transaction(session):
            document = services.create_document(
                session, current_store(), title=form["title"], doc_type=doc_type,
                doc_subtype=doc_subtype, data=upload.read(), filename=upload.filename,
                author=current_user, author_desk=desk, now=moment, metadata=metadata,
                circuits_dir=current_workflows_dir())
            extra = [f for f in request.files.getlist("annexes") if f and f.filename]
            if extra:
                annexes.add_annexes(
                    session, current_store(), document,
                    [annexes.AnnexFile(f.filename or "", f.read()) for f in extra],
                    actor=current_user, now=moment, at_creation=True,
                    max_bytes=int(current_app.config["MAX_UPLOAD_MB"]) << 20)
    except ParapheurError as exc:
        session.rollback()
        problems = exc.problems if isinstance(exc, MetadataError) else []
        return render_template("pages/new_document.html", typology=typology, form=form,
                               circuit=circuit, fields=fields, error=exc.message,
                               problems=problems), exc.status
    flash(gettext("Le document « %(title)s » est déposé et part dans son circuit.",
                  title=document.title), "success")
    return redirect(url_for("documents.show", document_id=document.id))


@bp.route("/documents/<int:document_id>")
@login_required
def show(document_id: int):
    """The document: its pages, its circuit, its history and the actions open to the user."""
    moment = now()  # one moment for the whole page: the delegations in force are read once
    return render_document(_visible(document_id, moment, options=DOCUMENT_PAGE_LOADS),
                           moment=moment)


@dataclass(frozen=True)
class FailedAction:
    """An action refused on the document page, shown again by its form.

    `entered` is what the user typed that is safe to give back (a rejection's reason); a
    certificate code is never part of it.
    """

    message: str
    step: str | None = None
    action: str = ""  # "visa", "reject", "sign", "take_back"
    entered: str = ""


def render_document(document: Document, *, status: int = 200, failed: FailedAction | None = None,
                    moment: datetime | None = None):
    """The document page; after a refused action, with its message by the form concerned.

    `moment`: the request's moment, the one the document was found visible at (default now).
    """
    session = get_session()
    moment = now() if moment is None else moment
    actions = circuits.user_can_act(session, document, current_user, now=moment)
    # The history with who acted and for which desks (the page and the steps' progress read it).
    history = session.execute(
        select(StepAction).where(StepAction.document_id == document.id)
        .order_by(StepAction.acted_at, StepAction.id)
        .options(joinedload(StepAction.actor), joinedload(StepAction.desk),
                 joinedload(StepAction.on_behalf_of))).scalars().all()
    return render_template("pages/document.html", document=document, actions=actions,
                           history=history, pending=circuits.pending_steps(document),
                           **reading_views.page_context(session, document, history=history,
                                                        actions=actions),
                           progress=circuits.progress(session, document, now=moment,
                                                      actions=history),
                           late=circuits.is_late(document, moment),
                           diagram=Markup(_diagram(session, document)),
                           take_back=circuits.take_back_step(session, document, current_user,
                                                             now=moment),
                           failed=failed,
                           can_cancel=circuits.can_cancel(session, document, current_user,
                                                          now=moment),
                           can_replace=circuits.author_capacity(session, document, current_user,
                                                                now=moment) is not None
                           and services.replaceable(session, document),
                           token_notice=_token_notice(session, [p for p, _ in actions])), status


def _token_notice(session, pending: list) -> str | None:
    """The remaining PIN tries of the user's token, only when a signature form is shown."""
    if not any(p.action == "signature" for p in pending):
        return None
    return signatures.pin_tries_notice(session, current_user)


def action_refused(document_id: int, exc: ParapheurError, *, step: str | None, action: str,
                   entered: str = ""):
    """The document page again after `exc` refused an action (nothing was changed), status 4xx."""
    get_session().rollback()
    moment = now()
    # Read again: the refused transaction is gone.
    document = _visible(document_id, moment, options=DOCUMENT_PAGE_LOADS)
    failed = FailedAction(localized(exc), step=step, action=action, entered=entered[:REASON_ECHO])
    response = make_response(render_document(document, status=exc.status, failed=failed,
                                             moment=moment))
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


#: At most this much of an entered reason is given back in the form (the limit is 2,000).
REASON_ECHO = 4000


def _diagram(session, document: Document) -> str:
    # Presentation attributes only (no style=): the CSP's style-src 'self' allows it inline.
    return graph.render_svg(circuits.circuit_of(document), circuits.run_state(document),
                            desk_labels=circuits.desk_labels(session, document.organisation_id))


@bp.route("/documents/<int:document_id>/circuit.svg")
@login_required
def circuit_svg(document_id: int):
    """The document's circuit diagram with its current step highlighted, as an SVG image."""
    document = _visible(document_id)
    response = Response(_diagram(get_session(), document), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/documents/<int:document_id>/versions/<int:number>/file")
@login_required
def download(document_id: int, number: int):
    """A version of the file, checked against its SHA-256 before it is sent."""
    document = _visible(document_id)
    version = services.get_version(get_session(), document, number)
    stem = version.filename[:-4] if version.filename.lower().endswith(".pdf") else version.filename
    name = version.filename if version.number == 1 else f"{stem}-v{version.number}.pdf"
    return stored_file(current_store().read(version.sha256), sha256=version.sha256, name=name,
                       mimetype="application/pdf", attachment=not request.args.get("inline"))


@bp.route("/documents/<int:document_id>/steps/<step>/visa", methods=["POST"])
@login_required
def give_visa(document_id: int, step: str):
    """Give the visa on a step."""
    return _decide(document_id, step, "approve", gettext("Visa donné."))


@bp.route("/documents/<int:document_id>/steps/<step>/reject", methods=["POST"])
@login_required
def reject(document_id: int, step: str):
    """Reject the document at a step, with a mandatory reason."""
    return _decide(document_id, step, "reject", gettext("Document rejeté."))


@bp.route("/documents/<int:document_id>/take-back", methods=["POST"])
@login_required
def take_back(document_id: int):
    """Exercise the "droit de remords" on the last visa."""
    session = get_session()
    document = _visible(document_id)
    try:
        with transaction(session):
            circuits.take_back(session, document, actor=current_user, now=now())
    except ParapheurError as exc:
        return action_refused(document_id, exc, step=None, action="take_back")
    flash(gettext("Votre visa est repris : l'étape vous attend à nouveau."), "success")
    return redirect(url_for("documents.show", document_id=document_id))


@bp.route("/documents/<int:document_id>/cancel", methods=["POST"])
@login_required
def cancel(document_id: int):
    """The author's desk abandons the document, with a reason (circuits with `on_cancel`)."""
    session = get_session()
    document = _visible(document_id)
    reason = request.form.get("reason")
    try:
        with transaction(session):
            circuits.cancel(session, document, actor=current_user, reason=reason, now=now())
    except ParapheurError as exc:
        return action_refused(document_id, exc, step=None, action="cancel", entered=reason or "")
    flash(gettext("Le document « %(title)s » est abandonné.", title=document.title), "success")
    return redirect(url_for("documents.show", document_id=document_id))


@bp.route("/documents/<int:document_id>/file", methods=["POST"])
@login_required
def replace_file(document_id: int):
    """The author's desk replaces the file before the circuit's first action (a new version)."""
    session = get_session()
    document = _visible(document_id)
    upload = request.files.get("file")
    try:
        if circuits.author_capacity(session, document, current_user, now=now()) is None:
            raise Forbidden(gettext("Seul le bureau qui a déposé ce document peut en remplacer le "
                            "fichier."))
        if upload is None or not upload.filename:
            raise InvalidUpload(gettext("Choisissez le fichier PDF qui remplace l'actuel."),
                                reason="missing")
        with transaction(session):
            version = services.replace_file(session, current_store(), document,
                                            data=upload.read(), filename=upload.filename,
                                            actor=current_user, now=now())
    except ParapheurError as exc:
        return action_refused(document_id, exc, step=None, action="replace")
    flash(gettext("Le fichier est remplacé (version %(number)s) ; les versions précédentes sont "
                  "conservées.", number=version.number), "success")
    return redirect(url_for("documents.show", document_id=document_id))


def _decide(document_id: int, step: str, decision: str, done_message: str):
    session = get_session()
    document = _visible(document_id)
    reason = request.form.get("reason")
    try:
        with transaction(session):
            circuits.act(session, document, step=step, actor=current_user, decision=decision,
                         reason=reason, now=now())
    except ParapheurError as exc:
        return action_refused(document_id, exc, step=step,
                              action="reject" if decision == "reject" else "visa",
                              entered=reason or "")
    flash(done_message, "success")
    return redirect(url_for("documents.inbox"))


def _batch_decision() -> tuple[str, str]:
    """The batch's action as the page names it (visa, rejet) and as the engine does."""
    action = request.form.get("action", "")
    if action not in batch.DECISIONS:
        raise ParapheurError(gettext("Choisissez « Viser la sélection » ou « Rejeter la sélection »."))
    return action, batch.DECISIONS[action]


@bp.route("/bannette/lot", methods=["POST"])
@login_required
def batch_summary():
    """The summary of a batch visa or rejection: the ticked documents, before anything changes."""
    action, decision = _batch_decision()
    items = batch.parse_items(request.form.getlist("items"))
    lines = batch.summarise(get_session(), items, actor=current_user, decision=decision,
                            now=now())
    return render_template("pages/batch_decision.html", action=action, lines=lines,
                           reason="", error=None)


@bp.route("/bannette/lot/confirmer", methods=["POST"])
@login_required
def batch_confirm():
    """Give the visa on (or reject) each confirmed document; a result line per document."""
    action, decision = _batch_decision()
    items = batch.parse_items(request.form.getlist("items"))
    session = get_session()
    reason = (request.form.get("reason") or "").strip()
    error = None
    if request.form.get("reviewed") != "1":
        error = gettext("Confirmez avoir pris connaissance des documents sélectionnés.")
    elif decision == "reject" and not reason:
        error = gettext("Le motif du rejet est obligatoire.")
    if error is not None:
        lines = batch.summarise(session, items, actor=current_user, decision=decision, now=now())
        return render_template("pages/batch_decision.html", action=action, lines=lines,
                               reason=reason[:2000], error=error), 400
    outcomes = batch.decide(session, items, actor=current_user, decision=decision, now=now(),
                            reason=reason or None)
    return render_template("pages/batch_result.html", action=action, outcomes=outcomes,
                           done=sum(1 for o in outcomes if o.done))
