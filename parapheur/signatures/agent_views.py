"""JSON endpoints of signing with the local agent (prepare / finish), and its guidance page.

The browser is only a courier: it fetches the server-signed request here, hands it to the agent
on 127.0.0.1, and brings the card's signature values back. CSRF applies (X-CSRFToken header).
"""

from __future__ import annotations

from flask import (
    Blueprint,
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

from parapheur.accounts.admin_views import admin_required
from parapheur.clock import now
from parapheur.context import current_store as get_store
from parapheur.db import get_session, transaction
from parapheur.errors import ParapheurError
from parapheur.signatures import agent_policy
from parapheur.signatures import agent_services as services
from parapheur.signatures.options import SigningSetup
from parapheur.signatures.views import MAX_BATCH

bp = Blueprint("agent", __name__, url_prefix="/signatures/agent")
#: The administrator's side: card certificates to approve, and the server-held keys policy.
admin_bp = Blueprint("signing_admin", __name__, url_prefix="/admin/signature")

MAX_JSON_BYTES = 1_000_000


def agent_setup() -> services.AgentSetup:
    """The application's two-phase signing setup (trust, TSA, pairing key, expiry)."""
    return services.AgentSetup(
        signing=SigningSetup.from_config(current_app.config),
        server_key=services.load_server_key(current_app.config["DATA_DIR"]),
        origin=request.host_url.rstrip("/"),
        server_name=current_app.config.get("ORGANISATION_NAME") or "Parapheur",
        prepare_minutes=int(current_app.config.get("AGENT_PREPARE_MINUTES") or 10))


def _json_body() -> dict:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise ParapheurError(gettext("Requête trop volumineuse."), status=413)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ParapheurError(gettext("Requête invalide : un objet JSON est attendu."))
    return body


def _items(values) -> list[tuple[int, str]]:
    if not isinstance(values, list) or not values:
        raise ParapheurError(gettext("Cochez au moins un document à signer."))
    if len(values) > MAX_BATCH:
        raise ParapheurError(f"Une signature groupée porte sur {MAX_BATCH} documents au plus.")
    items = []
    for value in values:
        document_id, _, step = str(value).partition(":")
        if not document_id.isdigit() or not step or len(step) > 100:
            raise ParapheurError(f"Sélection invalide : « {str(value)[:40]} ».")
        items.append((int(document_id), step))
    return items


@bp.get("/pairing")
@login_required
def pairing():
    """What the browser hands the agent to pair it with this server (origin, name, public key)."""
    setup = agent_setup()
    return jsonify(api=services.AGENT_API, origin=setup.origin, server=setup.server_name,
                   server_key=services.public_key_b64(setup.server_key),
                   agent_url=current_app.config.get("AGENT_URL"))


@bp.post("/prepare")
@login_required
def prepare():
    """Phase one: the documents chosen, prepared for the certificate chosen in the agent."""
    body = _json_body()
    batch = services.prepare_batch(
        get_session(), get_store(), _items(body.get("items")), actor=current_user,
        certificate=body.get("certificate"), chain=body.get("chain"), now=now(),
        setup=agent_setup())
    return jsonify(session=batch.token, expires_at=batch.expires_at.isoformat(),
                   request=batch.request, request_signature=batch.request_signature,
                   documents=batch.documents,
                   refused=[{"title": t, "reason": r} for t, r in batch.refused])


@bp.post("/finish")
@login_required
def finish():
    """Phase two: the card's signature values; each document is completed, checked, recorded."""
    body = _json_body()
    signatures = services.parse_signatures(body.get("signatures"))
    result = services.finish_batch(get_session(), get_store(), body.get("session"), signatures,
                                   actor=current_user, now=now(), setup=agent_setup())
    return jsonify(signed=[{"document_id": d.id, "title": d.title} for d in result.signed],
                   failed=[{"title": t, "reason": r} for t, r in result.failed])


@bp.post("/certificates")
@login_required
def register_certificate():
    """The user registers the certificate of her card (an administrator then approves it)."""
    body = _json_body()
    registered = services.register_certificate(get_session(), current_user,
                                               body.get("certificate"), now=now())
    return jsonify(id=registered.id, subject=registered.subject, sha256=registered.sha256,
                   approved=registered.approved_at is not None), 201


@bp.get("/installer")
@login_required
def install():
    """How to install and start the local signing agent."""
    return render_template("pages/agent_install.html",
                           agent_url=current_app.config.get("AGENT_URL"),
                           origin=request.host_url.rstrip("/"))


@bp.app_context_processor
def _signing_policy():
    """`server_keys_allowed()` in every page: whether a server-held key may sign for the user."""
    def server_keys_allowed() -> bool:
        return bool(current_user.is_authenticated) and agent_policy.server_keys_allowed(
            get_session(), current_user)
    return {"server_keys_allowed": server_keys_allowed}


def _admin_page(error: str | None = None, status: int = 200):
    session = get_session()
    return render_template(
        "pages/admin_signature.html", error=error,
        registrations=services.registrations(session, current_user.organisation_id),
        card_only=agent_policy.officials_card_only(session, current_user.organisation_id)
    ), status


@admin_bp.get("/")
@admin_required
def admin_index():
    """Card certificates registered from the agent (to approve or withdraw), and the policy."""
    return _admin_page()


@admin_bp.post("/politique")
@admin_required
def admin_policy():
    """Keep the elected officials to their own card, or let server-held keys sign for them."""
    choice = request.form.get("officials_card_only", "")
    if choice not in ("0", "1"):
        return _admin_page(gettext("Choix invalide pour la signature des élus."), 400)
    session = get_session()
    with transaction(session):
        agent_policy.set_officials_card_only(session, current_user, choice == "1", now=now())
    flash(gettext("Les élus ne signent plus qu'avec leur propre carte.") if choice == "1" else
          gettext("Les clés conservées par le serveur peuvent de nouveau signer pour les élus."),
          "success")
    return redirect(url_for("signing_admin.admin_index"))


@admin_bp.post("/certificats/<int:registration_id>/approuver")
@admin_required
def admin_approve(registration_id: int):
    """Approve a registered card certificate: from then on its owner signs with approved ones."""
    try:
        registered = services.approve_certificate(get_session(), registration_id,
                                                  admin=current_user, now=now())
    except ParapheurError as exc:
        return _admin_page(exc.message, exc.status)
    flash(f"Certificat « {registered.subject} » approuvé.", "success")
    return redirect(url_for("signing_admin.admin_index"))


@admin_bp.post("/certificats/<int:registration_id>/retirer")
@admin_required
def admin_withdraw(registration_id: int):
    """Withdraw a registration (refused, or a card its owner no longer holds)."""
    try:
        services.withdraw_certificate(get_session(), registration_id, admin=current_user,
                                      now=now())
    except ParapheurError as exc:
        return _admin_page(exc.message, exc.status)
    flash(gettext("Enregistrement du certificat retiré."), "success")
    return redirect(url_for("signing_admin.admin_index"))
