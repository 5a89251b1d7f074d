"""Logging in through the organisation's identity provider; its settings for administrators."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask import session as cookie
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from parapheur.accounts import sessions
from parapheur.accounts.models import Role
from parapheur.accounts.views import _safe_next
from parapheur.audit import services as audit
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import N_, Forbidden, ParapheurError, localized
from parapheur.organisations import scope
from parapheur.organisations.services import get_organisation
from parapheur.sso import services
from parapheur.sso.models import IdentityProvider

bp = Blueprint("sso", __name__)

_PENDING = "sso_pending"


def _exchange(provider, pending: dict, code: str) -> dict:
    """The provider's checked claims for the code it sent back to this pending login or link."""
    return services.exchange(provider, code=code, verifier=pending["verifier"],
                             nonce=pending["nonce"], secret_key=current_app.config["SECRET_KEY"],
                             redirect_uri=_redirect_uri())


def _redirect_uri() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for("sso.callback")


def _refused(message: str, status: int):
    return render_template("pages/login.html", error=message, next=""), status


@bp.route("/login/sso/<slug>")
def start(slug: str):
    """Send the browser to the organisation's identity provider (state, nonce, PKCE)."""
    if current_user.is_authenticated:
        return redirect(url_for("documents.inbox"))
    session = get_session()
    if len(slug) > 80:
        abort(404)
    organisation = get_organisation(session, slug)
    provider = services.provider_of(session, organisation)
    if provider is None or not provider.enabled:
        return _refused(f"{organisation.name} ne propose pas de connexion par un fournisseur "
                        "d'identité.", 404)
    try:
        url, pending = services.authorization_request(
            provider, secret_key=current_app.config["SECRET_KEY"],
            redirect_uri=_redirect_uri())
    except ParapheurError as exc:
        return _refused(exc.message, exc.status)
    pending["organisation_id"] = organisation.id
    pending["next"] = _safe_next(request.args.get("next"))
    cookie[_PENDING] = pending
    return redirect(url)


@bp.route("/login/sso/callback")
def callback():
    """The provider's answer: check the state, trade the code, find the account, log in."""
    pending = cookie.pop(_PENDING, None)
    state = request.args.get("state", "")
    if not isinstance(pending, dict) or not state or state != pending.get("state"):
        return _refused(gettext("La réponse du fournisseur d'identité ne correspond à aucune connexion "
                        "en cours (paramètre « state » invalide) : recommencez la connexion."), 400)
    if request.args.get("error"):
        return _refused("Le fournisseur d'identité a refusé la connexion "
                        f"({request.args.get('error', '')[:80]}).", 401)
    code = request.args.get("code", "")
    if not code or len(code) > 2000:
        return _refused(gettext("La réponse du fournisseur d'identité ne contient pas de code."), 400)
    session = get_session()
    provider = session.execute(select(IdentityProvider).where(
        IdentityProvider.organisation_id == pending.get("organisation_id"))).scalar_one_or_none()
    if provider is None or not provider.enabled:
        return _refused(gettext("Ce fournisseur d'identité n'est plus configuré."), 400)
    moment = now()
    if pending.get("link_user_id") is not None:
        return _finish_link(session, provider, pending, code, moment)
    try:
        claims = _exchange(provider, pending, code)
        with transaction(session):
            user = services.account_for(session, provider, claims, now=moment)
            audit.record(session, "account:login:sso", actor=user, clock=lambda: moment,
                         details={"organisation_id": provider.organisation_id,
                                  "issuer": provider.issuer, "subject": claims.get("sub")})
    except ParapheurError as exc:
        with transaction(session):
            audit.record(session, "account:login:sso_refused", clock=lambda: moment,
                         details={"organisation_id": provider.organisation_id,
                                  "issuer": provider.issuer, "reason": exc.message[:300]})
        return _refused(exc.message, exc.status)
    sessions.start(user, moment, organisation_id=provider.organisation_id,
                   auth=f"oidc:{provider.issuer}")
    return redirect(pending.get("next") or url_for("documents.inbox"))


@bp.route("/account/sso/link", methods=["POST"])
@login_required
def link_start():
    """« Lier mon compte » : send the logged-in user to her organisation's provider."""
    session = get_session()
    organisation = scope.current_organisation()
    provider = services.provider_of(session, organisation)
    if provider is None or not provider.enabled:
        raise ParapheurError(N_("%(organisation)s ne propose pas de connexion par un "
                                "fournisseur d'identité."), organisation=organisation.name)
    url, pending = services.authorization_request(
        provider, secret_key=current_app.config["SECRET_KEY"], redirect_uri=_redirect_uri())
    pending["organisation_id"] = organisation.id
    pending["link_user_id"] = current_user.id
    cookie[_PENDING] = pending
    return redirect(url)


def _finish_link(session, provider: IdentityProvider, pending: dict, code: str, moment):
    """The provider's answer to « Lier mon compte »: store its `sub` for the same user."""
    if not current_user.is_authenticated or current_user.id != pending["link_user_id"]:
        return _refused(gettext("La liaison a été commencée par un autre compte ou votre "
                                "session a pris fin : reconnectez-vous et recommencez."), 403)
    try:
        claims = _exchange(provider, pending, code)
        with transaction(session):
            services.link(session, current_user, provider.organisation,
                          str(claims.get("sub", "")), now=moment, actor=current_user)
    except ParapheurError as exc:
        return render_template("pages/error.html", status=exc.status,
                               title=gettext("Liaison impossible"), message=localized(exc)), exc.status
    flash(gettext("Votre compte est lié à votre identité %(provider)s.", provider=provider.label),
          "success")
    return redirect(url_for("account.index"))


@bp.route("/account/sso/unlink", methods=["POST"])
@login_required
def unlink():
    """« Délier » : remove the link of the logged-in user to her organisation's provider."""
    session = get_session()
    with transaction(session):
        services.unlink(session, current_user, scope.current_organisation(), now=now(),
                        actor=current_user)
    flash(gettext("Votre compte n'est plus lié au fournisseur d'identité."), "success")
    return redirect(url_for("account.index"))


def _account_link():
    """For « Mon compte »: the working organisation's enabled provider and her identity there."""
    if not current_user.is_authenticated:
        return None
    session = get_session()
    provider = services.provider_of(session, scope.current_organisation())
    if provider is None or not provider.enabled:
        return None
    return {"provider": provider,
            "identity": services.identity_of(session, current_user, provider)}


@bp.route("/admin/sso", methods=["GET", "POST"])
@login_required
def settings():
    """The organisation's identity provider (administrators of the organisation)."""
    if current_user.role is not Role.ADMIN:
        raise Forbidden(gettext("Cette page est réservée aux administrateurs."))
    session = get_session()
    organisation = scope.current_organisation()
    provider = services.provider_of(session, organisation)
    error, status = None, 200
    if request.method == "POST":
        form = request.form
        try:
            with transaction(session):
                services.configure(
                    session, organisation, label=form.get("label", ""),
                    issuer=form.get("issuer", ""), client_id=form.get("client_id", ""),
                    client_secret=form.get("client_secret") or None,
                    match_by=form.get("match_by", "email"),
                    create_accounts=form.get("create_accounts") == "1",
                    local_passwords=form.get("local_passwords") == "1",
                    enabled=form.get("enabled") == "1",
                    secret_key=current_app.config["SECRET_KEY"], now=now(), actor=current_user,
                    session_auth=cookie.get(scope.AUTH_KEY))
            flash(gettext("Fournisseur d'identité enregistré."), "success")
            return redirect(url_for("sso.settings"))
        except ParapheurError as exc:
            error, status = exc.message, exc.status
    return render_template("organisations/sso.html", provider=provider, organisation=organisation,
                           redirect_uri=_redirect_uri(), error=error, form=request.form), status


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["sso_account_link"] = _account_link
    app.jinja_env.globals["sso_login_buttons"] = lambda: services.login_buttons(get_session())
