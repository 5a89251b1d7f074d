"""Signing a document in the browser: the key stays on the server, the passphrase is asked each time."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required

from parapheur.circuits import services as circuits
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.documents.views import can_view, get_store
from parapheur.errors import ParapheurError
from parapheur.signatures import services

bp = Blueprint("signatures", __name__)


@bp.route("/documents/<int:document_id>/steps/<step>/sign", methods=["POST"])
@login_required
def sign(document_id: int, step: str):
    """Sign the document at this step with the user's certificate."""
    session = get_session()
    document = circuits.get_document(session, document_id)
    if not can_view(session, document, current_user):
        abort(403)
    passphrase = request.form.get("passphrase", "")
    if not passphrase:
        raise ParapheurError("Saisissez le code (mot de passe) de votre certificat pour signer.")
    with transaction(session):
        services.sign_step(session, get_store(), document, step=step, actor=current_user,
                           passphrase=passphrase, now=now(),
                           tsa_url=current_app.config.get("TSA_URL"))
    flash(f"« {document.title} » est signé.", "success")
    return redirect(url_for("documents.inbox"))
