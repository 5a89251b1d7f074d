"""`/api/v1/exports`: the organisation's PES V2 files (pending, deposited, or failed: the export
step gave up its deposit), their bordereaux, each file downloadable; and the comptable's
acquittements and retours uploaded back — through the services the « Comptabilité » pages use."""

from __future__ import annotations

from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from parapheur.accounting.inbound import apply_return_file
from parapheur.accounting.models import PesExport, PesReturnFile
from parapheur.accounting.services import exported_file
from parapheur.accounts.models import FINANCE_READERS, FINANCE_WRITERS, User
from parapheur.api.auth import require
from parapheur.api.blueprint import ApiBlueprint
from parapheur.api.idempotency import PARAMETER as IDEMPOTENCY
from parapheur.api.idempotency import idempotent
from parapheur.api.schemas import (
    ExportPageSchema,
    ExportQuerySchema,
    ExportSchema,
    ReturnFileSchema,
    ReturnUploadSchema,
)
from parapheur.circuits.services import EXPORT_KIND
from parapheur.clock import now
from parapheur.context import current_store
from parapheur.db import get_session, transaction
from parapheur.downloads import pes_file
from parapheur.errors import Forbidden, NotFound
from parapheur.outbox.models import OutboxMessage, OutboxStatus

bp = ApiBlueprint("api_exports", __name__, url_prefix="/exports",
                  description="Exports comptables PES V2, acquittements et retours du comptable")


def _reader(scope: str = "exports:read") -> User:
    user = require(scope)
    if user.role not in FINANCE_READERS:
        raise Forbidden("La comptabilité est réservée aux agents, administrateurs et auditeurs.")
    return user


def _writer() -> User:
    user = require("exports:write")
    if user.role not in FINANCE_WRITERS:
        raise Forbidden("Seuls les agents des finances et les administrateurs envoient les "
                        "retours du comptable.")
    return user


def _deliveries(exports: list[PesExport]) -> dict[int, OutboxMessage]:
    """The last export-step delivery of each export's bordereaux' documents, by document id."""
    documents = {b.document_id for e in exports for b in e.bordereaux if b.document_id}
    if not documents:
        return {}
    last: dict[int, OutboxMessage] = {}
    for message in get_session().execute(
            select(OutboxMessage).where(OutboxMessage.kind == EXPORT_KIND,
                                        OutboxMessage.document_id.in_(documents))
            .order_by(OutboxMessage.id)).scalars():
        last[message.document_id] = message
    return last


def export_view(export: PesExport, deliveries: dict[int, OutboxMessage]) -> dict:
    """What the API says of a PES file: its state follows its deposit, or its given-up step."""
    status, error = "deposited", None
    if export.deposited_at is None:
        given_up = [m for b in export.bordereaux if (m := deliveries.get(b.document_id))
                    and m.status is OutboxStatus.FAILED]
        status, error = ("failed", given_up[0].last_error) if given_up else ("pending", None)
    return {"id": export.id, "number": export.number, "filename": export.filename,
            "sha256": export.sha256, "size": export.size, "cod_col": export.cod_col,
            "cod_bud": export.cod_bud, "status": status, "error": error,
            "created_at": export.created_at, "deposited_at": export.deposited_at,
            "deposited_to": export.deposited_to,
            "bordereaux": [{"id": b.id, "label": b.label, "exercice": b.exercice,
                            "number": b.number, "state": b.state.value,
                            "amount_ht": str(b.amount_ht), "amount_tva": str(b.amount_tva),
                            "document_id": b.document_id}
                           for b in sorted(export.bordereaux, key=lambda b: b.id)]}


def _export(user: User, export_id: int) -> PesExport:
    export = get_session().get(PesExport, export_id)
    if export is None or export.organisation_id != user.organisation_id:
        raise NotFound(f"Export PES n° {export_id} introuvable.")
    return export


@bp.route("")
@bp.arguments(ExportQuerySchema, location="query")
@bp.response(200, ExportPageSchema)
def list_exports(args):
    """Les fichiers PES de l'organisation, du plus récent au plus ancien, par pages
    (`status` : pending, deposited ou failed)."""
    user = _reader()
    query = (select(PesExport).where(PesExport.organisation_id == user.organisation_id)
             .options(selectinload(PesExport.bordereaux)).order_by(PesExport.id.desc()))
    if args.get("after"):
        query = query.where(PesExport.id < args["after"])
    if args.get("status") == "deposited":
        query = query.where(PesExport.deposited_at.is_not(None))
    elif args.get("status"):
        query = query.where(PesExport.deposited_at.is_(None))
    limit = args["limit"]
    rows = get_session().execute(query.limit(limit + 1)).scalars().all()
    items = rows[:limit]
    deliveries = _deliveries(list(items))
    views = [export_view(e, deliveries) for e in items]
    if args.get("status") in ("pending", "failed"):
        views = [v for v in views if v["status"] == args["status"]]
    return {"items": views, "next_after": items[-1].id if len(rows) > limit else None}


@bp.route("/<int:export_id>")
@bp.response(200, ExportSchema)
def get_export(export_id: int):
    """Un fichier PES : son état de remise, ses bordereaux."""
    export = _export(_reader(), export_id)
    return export_view(export, _deliveries([export]))


@bp.route("/<int:export_id>/file")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/xml")
def download_export(export_id: int):
    """Le fichier PES_Aller tel qu'exporté, vérifié par son SHA-256 ; le téléchargement est
    journalisé."""
    user = _reader()
    session = get_session()
    export = _export(user, export_id)
    with transaction(session):
        export, content = exported_file(session, current_store(), user.organisation, export,
                                        actor=user, now=now())
        filename, sha256 = export.filename, export.sha256
    return pes_file(content, filename=filename, sha256=sha256)


def return_view(record: PesReturnFile, *, applied_now: bool | None = None) -> dict:
    """What the API says of an acquittement or retour."""
    view = {"id": record.id, "kind": record.kind, "filename": record.filename,
            "sha256": record.sha256, "size": record.size, "pes_name": record.pes_name,
            "changes": list(record.changes or []), "imported_at": record.imported_at}
    if applied_now is not None:
        view["applied_now"] = applied_now
    return view


@bp.route("/returns", methods=["POST"])
@bp.doc(parameters=[IDEMPOTENCY])
@idempotent
@bp.arguments(ReturnUploadSchema, location="files")
@bp.response(201, ReturnFileSchema)
def upload_return(args):
    """Appliquer un PES_ACQUIT (`kind=acquit`) ou un PES_Retour (`kind=retour`) reçu du comptable,
    une seule fois : le même fichier renvoyé ne change rien (`applied_now` faux)."""
    user = _writer()
    upload = args["file"]
    max_bytes = int(current_app.config["PES_UPLOAD_MAX_MB"]) * 1024 * 1024
    session = get_session()
    with transaction(session):
        outcome = apply_return_file(session, current_store(), user.organisation,
                                    kind=args["kind"], data=upload.read(max_bytes + 1),
                                    filename=upload.filename or "", max_bytes=max_bytes,
                                    actor=user, now=now())
    record = outcome.record
    return return_view(record, applied_now=outcome.applied_now), 201, {
        "Location": url_for("api_exports.get_return", return_id=record.id)}


@bp.route("/returns/<int:return_id>")
@bp.response(200, ReturnFileSchema)
def get_return(return_id: int):
    """Un acquittement ou un retour appliqué : ce qu'il a changé."""
    user = _reader()
    record = get_session().get(PesReturnFile, return_id)
    if record is None or record.organisation_id != user.organisation_id:
        raise NotFound(f"Retour n° {return_id} introuvable.")
    return return_view(record)
