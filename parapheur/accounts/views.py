"""Login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from parapheur.accounts import services, sessions
from parapheur.audit import services as audit
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.organisations import scope

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only redirect to a path of this site after login (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("documents.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form (GET and HEAD never authenticate); log the user in (POST)."""
    if current_user.is_authenticated:
        return redirect(url_for("documents.inbox"))
    if request.method != "POST":
        return render_template("pages/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    form = {"username": username, "next": request.form.get("next", "")}
    if not username or not password:
        # A form error, not a login attempt: neither counted nor journaled.
        return render_template("pages/login.html", error="Saisissez votre identifiant et votre "
                               "mot de passe.", **form), 400
    if len(username) > 80 or len(password) > 256:
        return _refused(services.InvalidCredentials(), 401, form)
    session = get_session()
    moment = now()
    try:
        user = services.log_in(session, username, password, now=moment)
    except services.TooManyAttempts as exc:
        response = _refused(exc, 429, form)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except services.InvalidCredentials as exc:
        return _refused(exc, 401, form)
    # Where she works: the first of her organisations that still accepts local passwords.
    place = scope.first_place(session, user, scope.PASSWORD)
    if place is None:
        with transaction(session):
            audit.record(session, "account:login:password_refused", actor=user, clock=now,
                         details={"reason": "local passwords disabled"})
        return _refused(LocalPasswordsDisabled(), 403, form)
    sessions.start(user, moment, organisation_id=place.organisation.id, auth=scope.PASSWORD)
    return redirect(_safe_next(request.form.get("next")))


class LocalPasswordsDisabled(services.InvalidCredentials):
    """Her organisations accept only their identity provider's login."""

    def __init__(self):
        super().__init__()
        self.message = (gettext("Votre collectivité a désactivé les mots de passe locaux : connectez-vous "
                        "avec son fournisseur d'identité (bouton ci-dessous)."))


def _refused(exc, status: int, form: dict):
    return make_response(render_template("pages/login.html", error=exc.message, **form), status)


@bp.route("/session/prolonger", methods=["POST"])
@login_required
def extend_session():
    """« Rester connecté »: the idle lifetime starts again (JSON for the page's script, else back)."""
    ends = sessions.extend(now())
    if request.accept_mimetypes.best == "application/json":
        return {"ends_at": ends[0] if ends else None, "extendable": bool(ends and ends[1])}
    flash(gettext("Votre session est prolongée."), "success")
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/langue", methods=["POST"])
def choose_locale():
    """The language of the pages: kept in the session, and on the account when logged in."""
    from parapheur.i18n import LOCALES, remember_locale

    locale = request.form.get("locale", "")
    if locale not in LOCALES:
        return render_template("pages/error.html", title="Langue inconnue",
                               message=f"Langues disponibles : {', '.join(LOCALES.values())}."), 400
    remember_locale(locale)
    if current_user.is_authenticated and current_user.locale != locale:
        session = get_session()
        with transaction(session):
            current_user.locale = locale
            audit.record(session, "account:locale:changed", actor=current_user,
                         details={"locale": locale}, clock=now)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/accessibilite")
def accessibility():
    """The accessibility statement (RGAA 4.1), reachable without logging in."""
    return render_template("pages/accessibility.html")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End the session, and every other session of the account (copies of the cookie included)."""
    session = get_session()
    with transaction(session):
        services.revoke_sessions(current_user)
        audit.record(session, "account:logout", actor=current_user, clock=now)
    sessions.end()
    flash(gettext("Vous êtes déconnecté."), "info")
    return redirect(url_for("accounts.login"))
