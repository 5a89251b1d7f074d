"""API tokens in the browser: personal ones on « Mon compte », service ones for administrators.

A new token's secret is shown once, in the answer to the creating POST (never flashed, never
kept in the session)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from parapheur.accounts.admin_views import admin_required
from parapheur.accounts.models import User
from parapheur.api import tokens
from parapheur.api.models import TokenKind
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import NotFound, ParapheurError

bp = Blueprint("api_tokens", __name__)


def _days(raw: str | None) -> int:
    try:
        return int((raw or str(tokens.DEFAULT_DAYS)).strip()[:6])
    except ValueError:
        raise ParapheurError(gettext("Durée de validité invalide (un nombre de jours).")) from None


def _page(*, service: bool, created=None, error: str | None = None, status: int = 200):
    session = get_session()
    if service:
        listed = tokens.tokens_of(session, organisation_id=current_user.organisation_id,
                                  kind=TokenKind.SERVICE)
        users = session.execute(select(User).where(
            User.organisation_id == current_user.organisation_id, User.active.is_(True))
            .order_by(User.full_name)).scalars().all()
    else:
        listed = tokens.tokens_of(session, organisation_id=current_user.organisation_id,
                                  user=current_user, kind=TokenKind.PERSONAL)
        users = []
    response = render_template("webhooks/api_tokens.html", service=service, tokens=listed,
                               users=users, scopes=tokens.SCOPES, created=created, error=error,
                               status_of=lambda t: tokens.status_of(t, now()),
                               default_days=tokens.DEFAULT_DAYS, max_days=tokens.MAX_DAYS)
    return response, status, {"Cache-Control": "no-store"}


def _create(*, service: bool):
    session = get_session()
    try:
        if service:
            try:
                owner = session.get(User, int(request.form.get("user_id", "0")[:12] or 0))
            except ValueError:
                owner = None
            if owner is None or owner.organisation_id != current_user.organisation_id:
                raise ParapheurError(gettext("Choisissez le compte au nom duquel le service agira."))
        else:
            owner = current_user
        with transaction(session):
            created = tokens.create_token(
                session, user=owner, kind=TokenKind.SERVICE if service else TokenKind.PERSONAL,
                name=request.form.get("name", ""), scopes=request.form.getlist("scopes"),
                days=_days(request.form.get("days")), created_by=current_user, now=now())
    except ParapheurError as exc:
        session.rollback()
        return _page(service=service, error=exc.message, status=exc.status)
    return _page(service=service, created=created, status=201)


def _revoke(token_id: int, *, service: bool):
    session = get_session()
    token = tokens.get_token(session, token_id, organisation_id=current_user.organisation_id)
    if not service and token.user_id != current_user.id:
        raise NotFound(f"Jeton n° {token_id} introuvable.")
    with transaction(session):
        tokens.revoke_token(session, token, actor=current_user, now=now())
    flash(f"Le jeton « {token.name} » est révoqué.", "success")
    return redirect(url_for("api_tokens.service_tokens" if service else "api_tokens.personal"))


@bp.route("/account/api-tokens", methods=["GET", "POST"])
@login_required
def personal():
    """My personal API tokens; create one (its secret is shown once)."""
    if request.method == "POST":
        return _create(service=False)
    return _page(service=False)


@bp.route("/account/api-tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_personal(token_id: int):
    """Revoke one of my tokens."""
    return _revoke(token_id, service=False)


@bp.route("/admin/api-tokens", methods=["GET", "POST"])
@admin_required
def service_tokens():
    """The organisation's service tokens (administrators); create one."""
    if request.method == "POST":
        return _create(service=True)
    return _page(service=True)


@bp.route("/admin/api-tokens/<int:token_id>/revoke", methods=["POST"])
@admin_required
def revoke_service(token_id: int):
    """Revoke any token of the organisation."""
    return _revoke(token_id, service=True)
