"""Signing a document in the browser: the key stays on the server, the passphrase is asked each time."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, make_response, redirect, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from parapheur.clock import now
from parapheur.context import current_store
from parapheur.db import get_session, transaction
from parapheur.documents import access
from parapheur.documents.views import BatchForm, action_refused, render_inbox
from parapheur.errors import ParapheurError
from parapheur.fields import parse_id
from parapheur.signatures import services
from parapheur.signatures.options import SigningSetup

bp = Blueprint("signatures", __name__)

MAX_BATCH = 200  # one request signs at most this many documents


@bp.route("/documents/<int:document_id>/steps/<step>/sign", methods=["POST"])
@login_required
def sign(document_id: int, step: str):
    """Sign the document at this step with the user's certificate."""
    session = get_session()
    document = access.get_visible(session, current_user, document_id, now=now())
    passphrase = request.form.get("passphrase", "")
    try:
        if not passphrase:
            raise ParapheurError(gettext("Saisissez le code (mot de passe) de votre certificat pour "
                                 "signer."))
        with transaction(session):
            services.sign_step(session, current_store(), document, step=step,
                               actor=current_user, passphrase=passphrase, now=now(),
                               setup=SigningSetup.from_config(current_app.config))
    except ParapheurError as exc:
        # The form again with the message; the code typed is never given back.
        return action_refused(document_id, exc, step=step, action="sign")
    flash(f"« {document.title} » est signé.", "success")
    return redirect(url_for("documents.inbox"))


@bp.route("/signatures/batch", methods=["POST"])
@login_required
def sign_batch():
    """Sign every document ticked in the inbox with one entry of the certificate's code.

    A refused batch shows the inbox again with the message and the same documents ticked.
    """
    ticked = request.form.getlist("items")[:MAX_BATCH + 1]
    session = get_session()
    try:
        result = _sign_ticked(session, ticked)
    except ParapheurError as exc:
        session.rollback()
        batch = BatchForm(exc.message, ticked=frozenset(v[:120] for v in ticked),
                          reviewed=request.form.get("reviewed") == "1")
        response = make_response(render_inbox(status=exc.status, batch=batch))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
    if result.signed:
        flash(f"{len(result.signed)} document(s) signé(s).", "success")
    for document_id in result.unavailable:
        flash(f"Non signé : document n° {document_id} indisponible.", "error")
    for title, reason in result.failed:
        flash(f"Non signé : « {title} » — {reason}", "error")
    return redirect(url_for("documents.inbox"))


def _sign_ticked(session, ticked: list[str]) -> services.BatchResult:
    """Check the batch form and sign; raises ParapheurError for a batch refused as a whole."""
    items = []
    for value in ticked:
        document_id, _, step = value.partition(":")
        if not step or len(step) > 100:
            raise ParapheurError(f"Sélection invalide : « {value[:40]} ».")
        items.append((parse_id(document_id, field="items", label="Sélection"), step))
    if not items:
        raise ParapheurError(gettext("Cochez au moins un document à signer."))
    if len(items) > MAX_BATCH:
        raise ParapheurError(f"Une signature groupée porte sur {MAX_BATCH} documents au plus.")
    if request.form.get("reviewed") != "1":
        raise ParapheurError(gettext("Confirmez avoir pris connaissance des documents sélectionnés."))
    passphrase = request.form.get("passphrase", "")
    if not passphrase:
        raise ParapheurError(gettext("Saisissez le code (mot de passe) de votre certificat pour signer."))
    return services.sign_batch(session, current_store(), items, actor=current_user,
                               passphrase=passphrase, now=now(),
                               setup=SigningSetup.from_config(current_app.config))
