"""`/api/v1/documents`: deposit, read, list (the documents page's filters, the « à traiter »
tray), download versions and the evidence bundle, and act on the circuit (visa, reject, sign
with the server-held key, take back) — through the services the pages use."""

from __future__ import annotations

import hashlib
import io

from flask import current_app, send_file, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from parapheur.accounts.models import Role
from parapheur.api.auth import require
from parapheur.api.blueprint import ApiBlueprint
from parapheur.api.idempotency import PARAMETER as IDEMPOTENCY
from parapheur.api.idempotency import idempotent
from parapheur.api.schemas import (
    ActionResultSchema,
    AnnexFileQuerySchema,
    AnnexSchema,
    DocumentCreateSchema,
    DocumentPageSchema,
    DocumentQuerySchema,
    DocumentSchema,
    RejectSchema,
    SignSchema,
)
from parapheur.audit import services as audit
from parapheur.audit.evidence import export_document
from parapheur.circuits import services as circuits
from parapheur.clock import now
from parapheur.context import current_store, current_workflows_dir
from parapheur.db import get_session, transaction
from parapheur.documents import access, annexes, services
from parapheur.documents.errors import InvalidUpload
from parapheur.documents.models import Document, DocumentStatus
from parapheur.documents.trays import TrayQuery
from parapheur.downloads import stored_file
from parapheur.errors import Forbidden, NotFound, ParapheurError
from parapheur.signatures import services as signatures
from parapheur.signatures.options import SigningSetup
from parapheur.signatures.reports import trust_anchor_paths

bp = ApiBlueprint("api_documents", __name__, url_prefix="/documents",
                  description="Documents, leurs versions et les actions du circuit")


def document_view(document: Document, annexed: list[annexes.Annex] | None = None) -> dict:
    """What the API says of a document (its annexes read unless given)."""
    if annexed is None:
        annexed = annexes.annexes_of(get_session(), document)
    return {
        "id": document.id, "title": document.title, "doc_type": document.doc_type,
        "doc_subtype": document.doc_subtype, "status": document.status.value,
        "metadata": document.meta or {}, "author": document.author.username,
        "circuit": document.circuit_version.circuit_id, "created_at": document.created_at,
        "updated_at": document.updated_at, "due_at": document.due_at,
        "pending": [{"step": p.state, "action": p.action,
                     "desks": [d for d in p.desks if d not in p.acted], "due": p.due}
                    for p in (circuits.pending_steps(document)
                              if document.status is DocumentStatus.IN_PROGRESS else [])],
        "versions": list(document.versions),
        "annexes": annexed,
    }


def _visible(document_id: int) -> Document:
    return access.get_visible(get_session(), require("documents:read"), document_id, now=now())


@bp.route("")
@bp.arguments(DocumentQuerySchema, location="query")
@bp.response(200, DocumentPageSchema)
def list_documents(args):
    """Les documents visibles, filtrés (mots du titre, état, type, bannette « à traiter »,
    déposant, montant et dates de dépôt, comme la bannette).

    Du plus récent au plus ancien, par pages : `next_after` donne le curseur suivant.
    """
    user = require("documents:read")
    session = get_session()
    moment = now()
    tray = args.get("tray")
    scope = {"a_traiter": access.actionable_documents, "en_retard": access.actionable_documents,
             "mes_depots": access.deposited_documents, "traites": access.processed_documents
             }.get(tray, access.visible_documents)(session, user, moment)
    dialect = session.get_bind().dialect.name
    # The inbox's filters (words, type, author, amount and date ranges), read and checked by its
    # own rule; the state as the documents list filters it.
    narrowing = TrayQuery.from_args({
        "q": args.get("q", ""), "type": args.get("type", ""),
        "auteur": str(args.get("author") or ""), "montant_min": args.get("amount_min", ""),
        "montant_max": args.get("amount_max", ""),
        "du": args["deposited_from"].isoformat() if args.get("deposited_from") else "",
        "au": args["deposited_to"].isoformat() if args.get("deposited_to") else ""})
    query = access.filtered(
        select(Document).where(Document.id.in_(scope), *narrowing.conditions(dialect)),
        dialect=dialect, status=DocumentStatus(args["status"]) if args.get("status") else None)
    if tray == "en_retard":
        query = query.where(access.overdue(moment))
    if args.get("after"):
        query = query.where(Document.id < args["after"])
    limit = args["limit"]
    rows = session.execute(query.options(selectinload(Document.versions),
                                         selectinload(Document.author),
                                         selectinload(Document.circuit_version))
                           .order_by(Document.id.desc()).limit(limit + 1)).scalars().all()
    items = rows[:limit]
    annexed: dict[int, list[annexes.Annex]] = {d.id: [] for d in items}
    if items:
        for annex in session.execute(select(annexes.Annex)
                                     .where(annexes.Annex.document_id.in_(list(annexed)))
                                     .order_by(annexes.Annex.position)).scalars():
            annexed[annex.document_id].append(annex)
    return {"items": [document_view(d, annexed[d.id]) for d in items],
            "next_after": items[-1].id if len(rows) > limit else None}


@bp.route("", methods=["POST"])
@bp.doc(parameters=[IDEMPOTENCY])
@idempotent
@bp.arguments(DocumentCreateSchema, location="files")
@bp.response(201, DocumentSchema)
def create_document(args):
    """Déposer un document (PDF principal, typologie, métadonnées du circuit) ; il part dans
    son circuit."""
    user = require("documents:write")
    session = get_session()
    doc_type, _, doc_subtype = args["typology"].partition("/")
    if not doc_type or not doc_subtype:
        raise ParapheurError("Typologie attendue sous la forme TYPE/SOUS-TYPE.")
    if not args["title"].strip():
        raise ParapheurError("Le titre du document est obligatoire.")
    upload = args["file"]
    if not getattr(upload, "filename", None):
        raise InvalidUpload("Joignez le fichier PDF à déposer (champ « file »).", reason="missing")
    circuit, _ = circuits.circuit_for_typology(current_workflows_dir(), doc_type, doc_subtype)
    raw = {k: v if isinstance(v, str) else ("" if v is None else str(v).lower()
                                            if isinstance(v, bool) else str(v))
           for k, v in args["metadata"].items()}
    metadata = circuits.clean_metadata(session, circuit, raw,
                                       organisation_id=user.organisation_id)
    desk = services.author_desk(user, args.get("author_desk"))
    offered = [annexes.AnnexFile(f.filename or "", f.read())
               for f in args["annexes"] if getattr(f, "filename", None)]
    max_bytes = int(current_app.config["MAX_UPLOAD_MB"]) << 20
    if offered:  # checked before anything is stored, main PDF included
        annexes.check_annexes(offered, already=0, max_bytes=max_bytes)
    moment = now()
    with transaction(session):
        document = services.create_document(
            session, current_store(), title=args["title"], doc_type=doc_type,
            doc_subtype=doc_subtype, data=upload.read(), filename=upload.filename, author=user,
            author_desk=desk, now=moment, metadata=metadata,
            circuits_dir=current_workflows_dir())
        if offered:
            annexes.add_annexes(session, current_store(), document, offered, actor=user,
                                now=moment, max_bytes=max_bytes, at_creation=True)
    return document_view(document), 201, {
        "Location": url_for("api_documents.get_document", document_id=document.id)}


@bp.route("/<int:document_id>")
@bp.response(200, DocumentSchema)
def get_document(document_id: int):
    """Un document visible : état, étapes en attente, versions."""
    return document_view(_visible(document_id))


@bp.route("/<int:document_id>/versions/<int:number>/file")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
def download_version(document_id: int, number: int):
    """Le fichier d'une version, vérifié contre son SHA-256 avant l'envoi."""
    document = _visible(document_id)
    version = services.get_version(get_session(), document, number)
    return stored_file(current_store().read(version.sha256), sha256=version.sha256,
                       name=version.filename, mimetype="application/pdf")


@bp.route("/<int:document_id>/annexes")
@bp.response(200, AnnexSchema(many=True))
def list_annexes(document_id: int):
    """Les annexes d'un document visible, dans l'ordre où elles ont été jointes."""
    return annexes.annexes_of(get_session(), _visible(document_id))


@bp.route("/<int:document_id>/annexes/<int:annex_id>/file")
@bp.arguments(AnnexFileQuerySchema, location="query")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream")
def download_annex(args, document_id: int, annex_id: int):
    """Une annexe telle que déposée (ou signée : `signed=true`), vérifiée par son SHA-256."""
    annex = annexes.get_annex(get_session(), _visible(document_id), annex_id)
    if args["signed"] and not annex.signed_sha256:
        raise NotFound("Cette annexe n'a pas été signée.")
    sha256 = annex.signed_sha256 if args["signed"] else annex.sha256
    return stored_file(current_store().read(sha256), sha256=sha256, mimetype=annex.media_type,
                       name=annexes.download_name(annex, signed=args["signed"]))


@bp.route("/<int:document_id>/evidence.zip")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/zip")
def evidence(document_id: int):
    """Le dossier de preuve scellé (auditeurs et administrateurs) ; le téléchargement est
    journalisé."""
    user = require("documents:read")
    if user.role not in (Role.ADMIN, Role.AUDITEUR):
        raise Forbidden("Le dossier de preuve est réservé aux auditeurs et aux administrateurs.")
    session = get_session()
    document = access.get_visible(session, user, document_id, now=now())
    data = export_document(session, current_store(), document,
                           organisation=document.organisation.name,
                           trust_anchors=trust_anchor_paths(current_app.config),
                           seal_config=current_app.config, now=now())
    with transaction(session):
        audit.record(session, "document:evidence:exported", actor=user, document_id=document.id,
                     details={"sha256": hashlib.sha256(data).hexdigest(), "via": "api"},
                     clock=now)
    response = send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True,
                         download_name=f"dossier-de-preuve-{document.id}.zip", conditional=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _acted(document: Document, step: str, decision: str) -> dict:
    get_session().refresh(document)
    return {"document": document_view(document), "decision": decision, "step": step}


@bp.route("/<int:document_id>/steps/<step>/visa", methods=["POST"])
@bp.response(200, ActionResultSchema)
def give_visa(document_id: int, step: str):
    """Donner le visa à une étape."""
    user = require("circuits:act")
    session = get_session()
    document = access.get_visible(session, user, document_id, now=now())
    with transaction(session):
        circuits.act(session, document, step=step[:100], actor=user, decision="approve",
                     now=now())
    return _acted(document, step, "visa")


@bp.route("/<int:document_id>/steps/<step>/reject", methods=["POST"])
@bp.arguments(RejectSchema)
@bp.response(200, ActionResultSchema)
def reject(args, document_id: int, step: str):
    """Rejeter le document à une étape (motif obligatoire)."""
    user = require("circuits:act")
    session = get_session()
    document = access.get_visible(session, user, document_id, now=now())
    with transaction(session):
        circuits.act(session, document, step=step[:100], actor=user, decision="reject",
                     reason=args["reason"], now=now())
    return _acted(document, step, "rejet")


@bp.route("/<int:document_id>/steps/<step>/sign", methods=["POST"])
@bp.arguments(SignSchema)
@bp.response(200, ActionResultSchema)
def sign(args, document_id: int, step: str):
    """Signer avec le certificat gardé par le serveur (son code est demandé à chaque fois)."""
    user = require("circuits:act")
    session = get_session()
    document = access.get_visible(session, user, document_id, now=now())
    with transaction(session):
        signatures.sign_step(session, current_store(), document, step=step[:100], actor=user,
                             passphrase=args["passphrase"], now=now(),
                             setup=SigningSetup.from_config(current_app.config))
    return _acted(document, step, "signature")


@bp.route("/<int:document_id>/take-back", methods=["POST"])
@bp.response(200, ActionResultSchema)
def take_back(document_id: int):
    """Droit de remords : reprendre son visa tant que l'étape suivante n'a pas agi."""
    user = require("circuits:act")
    session = get_session()
    document = access.get_visible(session, user, document_id, now=now())
    with transaction(session):
        result = circuits.take_back(session, document, actor=user, now=now())
    return _acted(document, result.step_action.step, "reprise")
