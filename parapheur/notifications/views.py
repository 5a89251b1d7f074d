"""« Mon compte »: change one's password, choose how and when notifications arrive."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from parapheur.accounts import services as accounts
from parapheur.accounts import sessions
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import ParapheurError
from parapheur.notifications import services
from parapheur.notifications.models import DeliveryMode

bp = Blueprint("account", __name__)


def _page(status: int = 200, error: str | None = None, password_error: str | None = None):
    session = get_session()
    preference = services.preference_for(session, current_user)
    return render_template(
        "pages/account.html", preference=preference, modes=list(DeliveryMode),
        organisation_hours=services.organisation_quiet_hours(
            session, current_user.organisation_id, current_app.config).describe(),
        own_hours=services.quiet_hours_for(session, current_user, current_app.config).describe(),
        error=error, password_error=password_error), status


@bp.route("/account")
@login_required
def index():
    """The account page."""
    return _page()


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    """Change the password (the current one is checked first)."""
    session = get_session()
    form = request.form
    try:
        with transaction(session):
            accounts.change_password(session, current_user, current=form.get("current", ""),
                                     new=form.get("new", ""), confirm=form.get("confirm", ""),
                                     now=now(), actor=current_user)
    except ParapheurError as exc:
        return _page(exc.status, password_error=exc.message)
    # Every session of the account was revoked; this browser, which just proved the password,
    # gets a fresh one.
    sessions.start(current_user._get_current_object(), now())
    flash(gettext("Mot de passe modifié."), "success")
    return redirect(url_for("account.index"))


def _hour(value: str | None) -> int:
    try:
        return int(value or "8")
    except ValueError:
        raise ParapheurError(gettext("L'heure du résumé doit être un nombre entre 0 et 23.")) from None


@bp.route("/account/notifications", methods=["POST"])
@login_required
def notifications():
    """Store the delivery mode and, when the user wants their own, quiet hours."""
    session = get_session()
    form = request.form
    own = form.get("own_quiet_hours") == "on"
    try:
        change = services.PreferenceChange(
            mode=form.get("mode", ""), digest_hour=_hour(form.get("digest_hour")),
            quiet_start=(form.get("quiet_start") or "").strip()[:5] or None if own else None,
            quiet_end=(form.get("quiet_end") or "").strip()[:5] or None if own else None,
            quiet_weekends=(form.get("quiet_weekends") == "on") if own else None,
            quiet_holidays=(form.get("quiet_holidays") == "on") if own else None)
        with transaction(session):
            services.set_preferences(session, current_user, change, now=now())
    except ParapheurError as exc:
        return _page(exc.status, error=exc.message)
    flash(gettext("Préférences de notification enregistrées."), "success")
    return redirect(url_for("account.index"))
