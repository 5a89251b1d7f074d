"""« Comptabilité »: the bordereaux de mandats and their PES files, the acquittements and returns
the comptable sends back (uploaded here), and the re-issue of rejected mandats."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from parapheur.accounting.inbound import KINDS, apply_return_file
from parapheur.accounting.models import BordereauMandats, PesExport, PesReturnFile
from parapheur.accounting.services import (
    AccountingError,
    bordereau_setup,
    exported_file,
    reissue_mandats,
    rejected_mandats,
    start_bordereau_circuit,
    sync_refused_bordereaux,
)
from parapheur.accounts.models import FINANCE_READERS, FINANCE_WRITERS
from parapheur.clock import now
from parapheur.context import current_store, current_workflows_dir
from parapheur.db import get_session, transaction
from parapheur.downloads import pes_file
from parapheur.errors import Forbidden, NotFound

bp = Blueprint("accounting", __name__, url_prefix="/comptabilite")
LISTED = 100


def _may_read() -> None:
    if current_user.role not in FINANCE_READERS:
        raise Forbidden(gettext("La comptabilité est réservée aux agents, administrateurs et auditeurs."))


def _may_write() -> None:
    if current_user.role not in FINANCE_WRITERS:
        raise Forbidden(gettext("Seuls les agents des finances et les administrateurs envoient les "
                        "retours du comptable et réémettent les mandats."))


def _max_bytes() -> int:
    return int(current_app.config["PES_UPLOAD_MAX_MB"]) * 1024 * 1024


@bp.route("/")
@login_required
def index():
    """The bordereaux, the rejected mandats to re-issue, the PES files sent, the returns."""
    _may_read()
    session = get_session()
    organisation_id = current_user.organisation_id
    with transaction(session):  # a bordereau the ordonnateur refused comes back for re-issue
        sync_refused_bordereaux(session, organisation_id, actor=None, now=now())
    bordereaux = session.scalars(
        select(BordereauMandats).where(BordereauMandats.organisation_id == organisation_id)
        .order_by(BordereauMandats.exercice.desc(), BordereauMandats.cod_bud,
                  BordereauMandats.number.desc()).limit(LISTED)).all()
    replaced_by = {b.replaces_id: b for b in bordereaux if b.replaces_id is not None}
    to_reissue = [(b, rejected_mandats(b)) for b in bordereaux if rejected_mandats(b)]
    exports = session.scalars(select(PesExport).where(PesExport.organisation_id == organisation_id)
                              .order_by(PesExport.created_at.desc(), PesExport.id.desc())
                              .limit(LISTED)).all()
    returns = session.scalars(select(PesReturnFile)
                              .where(PesReturnFile.organisation_id == organisation_id)
                              .order_by(PesReturnFile.id.desc()).limit(LISTED)).all()
    return render_template("accounting/index.html", bordereaux=bordereaux,
                           replaced_by=replaced_by, to_reissue=to_reissue, exports=exports,
                           returns=returns, kinds=KINDS, can_write=current_user.role in FINANCE_WRITERS,
                           max_mb=current_app.config["PES_UPLOAD_MAX_MB"])


@bp.route("/retours", methods=["POST"])
@login_required
def upload_return():
    """Apply an uploaded PES_ACQUIT or PES_Retour once, then show what it changed."""
    _may_write()
    kind = request.form.get("kind", "")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise AccountingError("no_file", f"Choisissez le fichier à envoyer "
                              f"({KINDS.get(kind, 'acquittement ou retour')}).")
    data = upload.read(_max_bytes() + 1)
    session = get_session()
    with transaction(session):
        outcome = apply_return_file(session, current_store(), current_user.organisation,
                                    kind=kind, data=data, filename=upload.filename,
                                    max_bytes=_max_bytes(), actor=current_user, now=now())
        record_id = outcome.record.id
        imported_at = outcome.record.imported_at
    if outcome.applied_now:
        flash(f"{KINDS[kind]} appliqué.", "success")
    else:
        flash(f"Ce fichier a déjà été appliqué le {imported_at:%d/%m/%Y à %H:%M} (UTC) : rien "
              f"n'a changé cette fois.", "info")
    return redirect(url_for("accounting.show_return", return_id=record_id))


@bp.route("/retours/<int:return_id>")
@login_required
def show_return(return_id: int):
    """An applied acquittement or retour: what it changed."""
    _may_read()
    record = get_session().get(PesReturnFile, return_id)
    if record is None or record.organisation_id != current_user.organisation_id:
        raise NotFound(gettext("Retour n° %(id)s introuvable.", id=return_id))
    return render_template("accounting/return.html", record=record, kinds=KINDS)


@bp.route("/exports/<int:export_id>/fichier")
@login_required
def download_export(export_id: int):
    """A PES file as it was exported (checked against its SHA-256; the download is journaled)."""
    _may_read()
    session = get_session()
    export = session.get(PesExport, export_id)
    if export is None or export.organisation_id != current_user.organisation_id:
        raise NotFound(f"Export PES n° {export_id} introuvable.")
    with transaction(session):
        export, content = exported_file(session, current_store(), current_user.organisation,
                                        export, actor=current_user, now=now())
        filename, sha256 = export.filename, export.sha256
    return pes_file(content, filename=filename, sha256=sha256)


@bp.route("/bordereaux/<int:bordereau_id>/reemettre", methods=["POST"])
@login_required
def reissue(bordereau_id: int):
    """Issue the chosen rejected mandats again in a new bordereau, sent for the signature."""
    _may_write()
    session = get_session()
    rejected = session.get(BordereauMandats, bordereau_id)
    if rejected is None or rejected.organisation_id != current_user.organisation_id:
        raise NotFound(gettext("Bordereau n° %(id)s introuvable.", id=bordereau_id))
    try:
        chosen = [int(v) for v in request.form.getlist("mandat")]
    except ValueError:
        raise AccountingError("bad_mandat", "Mandat invalide dans le formulaire.") from None
    if not chosen:
        raise AccountingError("no_mandat", f"Cochez au moins un mandat rejeté du "
                              f"{rejected.label} à réémettre.")
    desk = current_user.desks[0] if current_user.desks else None
    if desk is None:
        raise Forbidden(gettext("Vous n'avez aucun bureau : le nouveau bordereau ne peut pas être "
                        "déposé pour la signature."))
    moment = now()
    with transaction(session):
        setup = bordereau_setup(session, rejected,
                                policy_sha256=current_app.config["HELIOS_POLICY_SHA256"])
        bordereau = reissue_mandats(session, setup, rejected, chosen, issued_on=moment.date(),
                                    actor=current_user, now=moment)
        document = start_bordereau_circuit(
            session, current_store(), bordereau, current_user.organisation,
            author=current_user, author_desk=desk, render=render_template,
            circuits_dir=current_workflows_dir(), now=moment)
        message = gettext("%(label)s créé avec %(count)s mandat(s) réémis du %(rejected)s ; "
                          "document n° %(id)s à signer par l'ordonnateur.",
                          label=bordereau.label, count=len(bordereau.mandats),
                          rejected=rejected.label, id=document.id)
    flash(message, "success")
    return redirect(url_for("accounting.index"))
