"""Administration in the browser: accounts, desks (bureaux) and their members."""

from __future__ import annotations

import re
from functools import wraps

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from parapheur.accounts import services
from parapheur.accounts.models import Desk, Role, User
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.errors import N_, Forbidden, NotFound, ParapheurError
from parapheur.fields import FieldError, parse_id
from parapheur.organisations import scope

bp = Blueprint("admin", __name__, url_prefix="/admin")

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_USERNAME = re.compile(r"^[a-zA-Z0-9._-]{2,80}$")
#: The roles an organisation's administrator gives (not the platform administrator's).
ORGANISATION_ROLES = [role for role in Role if role is not Role.PLATFORM]


def admin_required(view):
    """Only administrators pass."""
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role is not Role.ADMIN:
            raise Forbidden(gettext("Cette page est réservée aux administrateurs."))
        return view(*args, **kwargs)
    return wrapped


def _page(error: str | None = None, status: int = 200):
    session = get_session()
    organisation_id = scope.current_organisation_id()
    users = session.execute(select(User).where(scope.members_of(organisation_id))
                            .order_by(User.full_name)).scalars().all()
    desks = session.execute(select(Desk).where(Desk.organisation_id == organisation_id)
                            .order_by(Desk.name)).scalars().all()
    from parapheur.organisations.models import Membership

    # Each account's role in this organisation (a member of several has one in each).
    roles_here = {row.user_id: Role(row.role) for row in session.execute(
        select(Membership).where(Membership.organisation_id == organisation_id)).scalars()}
    # Each account's desks here: a member of several organisations has desks in each.
    desks_here = {user.id: [desk for desk in user.all_desks if desk.organisation_id == organisation_id]
                  for user in users}
    return render_template("pages/admin.html", users=users, desks=desks, roles=ORGANISATION_ROLES,
                           roles_here=roles_here, desks_here=desks_here,
                           locked=services.locked_usernames(session, now=now()),
                           error=error, form=request.form), status


def _get(model, identifier: int, what: str):
    """The desk or account of the organisation the administrator works in, else NotFound."""
    session = get_session()
    organisation_id = scope.current_organisation_id()
    if model is User:
        found = session.execute(select(User).where(User.id == identifier,
                                                   scope.members_of(organisation_id))).scalar()
    else:
        found = session.get(model, identifier)
        if found is not None and found.organisation_id != organisation_id:
            found = None
    if found is None:
        raise NotFound(f"{what} introuvable.")
    return found


def _own_account(user_id: int) -> User:
    """An account homed in this organisation: what changes it (disabling, unlocking, signing
    keys) holds in every organisation she belongs to, so only her home organisation does it."""
    user = _get(User, user_id, "Compte")
    if user.home_organisation_id != scope.current_organisation_id():
        raise Forbidden(N_("Ce compte est géré par sa collectivité d'origine : seule celle-ci "
                           "peut le désactiver, le débloquer ou lui enregistrer une clé de "
                           "signature."))
    return user


def _change(action, done: str):
    """Run one change in its own transaction; a refusal re-shows the page with the reason."""
    session = get_session()
    try:
        with transaction(session):
            action(session)
    except ParapheurError as exc:
        return _page(exc.message, exc.status)
    flash(done, "success")
    return redirect(url_for("admin.index"))


@bp.route("/")
@admin_required
def index():
    """Accounts and desks."""
    return _page()


@bp.route("/users", methods=["POST"])
@admin_required
def create_user():
    """Create an account, optionally member of desks."""
    form = request.form
    username = form.get("username", "").strip()
    if not _USERNAME.match(username):
        return _page(gettext("Identifiant invalide : 2 à 80 lettres, chiffres, points, tirets."), 400)
    try:
        role = Role(form.get("role", ""))
    except ValueError:
        return _page(gettext("Rôle inconnu."), 400)
    if role not in ORGANISATION_ROLES:  # the platform's administrator is made from the shell
        return _page(gettext("Rôle inconnu."), 400)
    if not form.get("full_name", "").strip():
        return _page(gettext("Le nom complet est obligatoire."), 400)
    try:
        desk_ids = [parse_id(value, field="desks", label="Bureaux") for value in form.getlist("desks")]
    except FieldError as exc:
        return _page(exc.message, exc.status)

    def action(session):
        user = services.create_user(
            session, organisation=current_user.organisation, username=username, full_name=form["full_name"].strip(),
            password=form.get("password", ""), role=role,
            title=form.get("title", "").strip() or None,
            email=form.get("email", "").strip() or None, now=now(), actor=current_user)
        for desk_id in desk_ids:
            services.add_member(session, _get(Desk, desk_id, "Bureau"), user, now=now(),
                                actor=current_user)

    return _change(action, gettext("Compte « %(username)s » créé.", username=username))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@admin_required
def set_active(user_id: int):
    """Enable or disable an account."""
    active = request.form.get("active") == "1"
    return _change(lambda session: services.set_active(
        session, _own_account(user_id), active, now=now(), actor=current_user),
        gettext("Compte réactivé.") if active else gettext("Compte désactivé."))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@admin_required
def unlock(user_id: int):
    """Give an account locked by failed logins its attempts back."""
    return _change(lambda session: services.unlock(
        session, _own_account(user_id).username, now=now(), actor=current_user),
        gettext("Connexion débloquée."))


@bp.route("/desks", methods=["POST"])
@admin_required
def create_desk():
    """Create a desk."""
    slug = request.form.get("slug", "").strip()
    name = request.form.get("name", "").strip()
    if not _SLUG.match(slug):
        return _page(gettext("Code de bureau invalide : minuscules, chiffres et tirets."), 400)
    if not name:
        return _page(gettext("Le nom du bureau est obligatoire."), 400)
    return _change(lambda session: services.create_desk(
        session, organisation=current_user.organisation, slug=slug, name=name, quality=request.form.get("quality", "").strip() or None,
        now=now(), actor=current_user), f"Bureau « {name} » créé.")


@bp.route("/desks/<int:desk_id>/members", methods=["POST"])
@admin_required
def add_member(desk_id: int):
    """Add a member to a desk."""
    try:
        user_id = parse_id(request.form.get("user_id"), field="user_id", label="Compte")
    except FieldError:
        return _page(gettext("Choisissez un compte."), 400)
    return _change(lambda session: services.add_member(
        session, _get(Desk, desk_id, "Bureau"), _get(User, user_id, "Compte"), now=now(),
        actor=current_user), gettext("Membre ajouté."))


@bp.route("/desks/<int:desk_id>/members/<int:user_id>/remove", methods=["POST"])
@admin_required
def remove_member(desk_id: int, user_id: int):
    """Remove a member from a desk."""
    return _change(lambda session: services.remove_member(
        session, _get(Desk, desk_id, "Bureau"), _get(User, user_id, "Compte"), now=now(),
        actor=current_user), gettext("Membre retiré."))


@bp.route("/users/<int:user_id>/credential", methods=["POST"])
@admin_required
def register_credential(user_id: int):
    """Give a user their PKCS#12 signing certificate (checked with its code, which is not kept)."""
    from pathlib import Path

    upload = request.files.get("pkcs12")
    data = upload.read() if upload is not None else b""
    directory = Path(current_app.config["DATA_DIR"]) / "credentials"
    return _change(lambda session: services.register_pkcs12(
        session, _own_account(user_id), data, request.form.get("passphrase", ""),
        directory=directory, now=now(), actor=current_user, trust_roots=_trust_roots(),
        name_mismatch_reason=request.form.get("name_mismatch_reason")),
        gettext("Certificat de signature enregistré."))


def _trust_roots() -> list:
    from parapheur.signatures.reports import trust_anchor_paths
    from signing.validation import load_trust_roots

    return load_trust_roots(trust_anchor_paths(current_app.config))


@bp.route("/users/<int:user_id>/token", methods=["POST"])
@admin_required
def register_token(user_id: int):
    """Give a user a key on a PKCS#11 token (checked with its PIN, which is not kept)."""
    form = request.form
    return _change(lambda session: services.register_pkcs11(
        session, _own_account(user_id), module=form.get("module", "").strip(),
        token_label=form.get("token_label", ""), key_label=form.get("key_label", ""),
        pin=form.get("pin", ""), now=now(), actor=current_user, trust_roots=_trust_roots(),
        allowed_modules=current_app.config.get("PKCS11_MODULES") or (),
        name_mismatch_reason=form.get("name_mismatch_reason")),
        gettext("Clé sur jeton PKCS#11 enregistrée."))
