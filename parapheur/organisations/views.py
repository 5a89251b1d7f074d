"""Choosing the organisation one works in (header), and the platform administrator's pages."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as cookie
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import func, select

from parapheur.accounts.models import Role, User
from parapheur.accounts.services import create_user
from parapheur.audit import services as audit
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import Forbidden, ParapheurError
from parapheur.fields import FieldError, parse_id
from parapheur.organisations import scope
from parapheur.organisations.models import Organisation
from parapheur.organisations.services import create_organisation

bp = Blueprint("organisations", __name__)

_USERNAME = re.compile(r"^[a-zA-Z0-9._-]{2,80}$")


@bp.route("/organisation", methods=["POST"])
@login_required
def switch():
    """Work in another of one's organisations (kept in the session)."""
    try:
        organisation_id = parse_id(request.form.get("organisation_id"), field="organisation_id",
                                   label="Collectivité")
    except FieldError as exc:
        raise ParapheurError(exc.message) from None
    session = get_session()
    place = scope.work_in(session, current_user, organisation_id, cookie.get(scope.AUTH_KEY))
    cookie[scope.SESSION_KEY] = place.organisation.id
    with transaction(session):
        audit.record(session, "account:organisation:switched", actor=current_user, clock=now,
                     details={"organisation_id": place.organisation.id})
    flash(f"Vous travaillez maintenant pour {place.organisation.name}.", "success")
    return redirect(url_for("documents.inbox"))


def _platform_only() -> None:
    if current_user.home_role is not Role.PLATFORM:
        raise Forbidden(gettext("Cette page est réservée à l'administrateur de la plateforme."))


def _page(error: str | None = None, status: int = 200):
    session = get_session()
    counts = dict(session.execute(
        select(User.home_organisation_id, func.count(User.id))
        .group_by(User.home_organisation_id)).all())
    organisations = session.execute(select(Organisation).order_by(Organisation.name)).scalars()
    return render_template("organisations/platform.html", organisations=list(organisations),
                           counts=counts, error=error, form=request.form), status


@bp.route("/plateforme")
@login_required
def platform():
    """Every organisation of the instance (platform administrator)."""
    _platform_only()
    return _page()


@bp.route("/plateforme/organisations", methods=["POST"])
@login_required
def create():
    """Create an organisation and its first administrator in one transaction."""
    _platform_only()
    form = request.form
    username = form.get("admin_username", "").strip()
    if not _USERNAME.match(username):
        return _page(gettext("Identifiant de l'administrateur invalide : 2 à 80 lettres, chiffres, "
                     "points, tirets."), 400)
    if not form.get("admin_full_name", "").strip():
        return _page(gettext("Le nom de l'administrateur est obligatoire."), 400)
    session = get_session()
    moment = now()
    try:
        with transaction(session):
            organisation = create_organisation(
                session, slug=form.get("slug", "").strip(), name=form.get("name", ""),
                siret=form.get("siret"), city=form.get("city"),
                postal_code=form.get("postal_code"), codique=form.get("codique"),
                now=moment, actor=current_user)
            create_user(session, organisation=organisation, username=username,
                        full_name=form["admin_full_name"].strip(),
                        password=form.get("admin_password", ""), role=Role.ADMIN,
                        email=form.get("admin_email", "").strip() or None, now=moment,
                        actor=current_user)
    except ParapheurError as exc:
        return _page(exc.message, exc.status)
    flash(f"Collectivité « {organisation.name} » créée avec son administrateur « {username} ».",
          "success")
    return redirect(url_for("organisations.platform"))


@bp.route("/admin/membres", methods=["POST"])
@login_required
def add_member():
    """An organisation's administrator adds the account of another organisation, with a role."""
    from parapheur.accounts.admin_views import ORGANISATION_ROLES
    from parapheur.organisations.services import add_membership

    if current_user.role is not Role.ADMIN:
        raise Forbidden(gettext("Cette page est réservée aux administrateurs."))
    username = request.form.get("username", "").strip()
    try:
        role = Role(request.form.get("role", ""))
    except ValueError:
        role = None
    if role not in ORGANISATION_ROLES:
        raise ParapheurError(gettext("Rôle inconnu."))
    if not _USERNAME.match(username):
        raise ParapheurError(gettext("Identifiant invalide : 2 à 80 lettres, chiffres, points, tirets."))
    session = get_session()
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None:
        raise ParapheurError(f"Aucun compte « {username} » sur cette instance.", status=404)
    organisation = scope.current_organisation()
    with transaction(session):
        add_membership(session, organisation, user, role, now=now(), actor=current_user)
    flash(f"{user.full_name} est membre de {organisation.name} ({role.label}).", "success")
    return redirect(url_for("admin.index"))


def _places():
    """The header's switcher: the organisations the user may work in."""
    if not current_user or not current_user.is_authenticated:
        return []
    return scope.memberships(get_session(), current_user)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["organisation_places"] = _places
