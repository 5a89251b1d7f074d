"""Login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user, login_required, login_user, logout_user

from parapheur.accounts import services
from parapheur.audit import services as audit
from parapheur.clock import now
from parapheur.db import get_session, transaction

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
    """Show the login form; log the user in."""
    if current_user.is_authenticated:
        return redirect(url_for("documents.inbox"))
    if request.method == "GET":
        return render_template("pages/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    session = get_session()
    moment = now()
    try:
        services.check_not_locked(session, username, now=moment)
    except services.TooManyAttempts as exc:
        session.rollback()
        return render_template("pages/login.html", error=exc.message, username=username,
                               next=request.form.get("next", "")), exc.status
    try:
        with transaction(session):
            user = services.authenticate(session, username, password)
            services.clear_login_failures(session, username)
            audit.record(session, "account:login:succeeded", actor=user, clock=lambda: moment)
    except services.InvalidCredentials as exc:
        with transaction(session):
            services.record_login_failure(session, username, now=moment)
            audit.record(session, "account:login:failed", details={"username": username[:80]},
                         clock=lambda: moment)
        return render_template("pages/login.html", error=exc.message, username=username,
                               next=request.form.get("next", "")), 401
    flask_session.permanent = True  # expires after PARAPHEUR_SESSION_HOURS
    login_user(user)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End the session."""
    session = get_session()
    with transaction(session):
        audit.record(session, "account:logout", actor=current_user, clock=now)
    logout_user()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("accounts.login"))
