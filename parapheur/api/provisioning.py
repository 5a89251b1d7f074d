"""`/api/v1/delegations`, `/users`, `/desks`: delegations and provisioning, over the services
of the pages (the same checks, the same journal)."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import or_, select

from parapheur.accounts import services as accounts
from parapheur.accounts.models import Delegation, Desk, Role, User
from parapheur.api.auth import require
from parapheur.api.blueprint import ApiBlueprint
from parapheur.api.idempotency import PARAMETER as IDEMPOTENCY
from parapheur.api.idempotency import idempotent
from parapheur.api.schemas import (
    DelegationCreateSchema,
    DelegationSchema,
    DeskCreateSchema,
    DeskSchema,
    UserCreateSchema,
    UserSchema,
)
from parapheur.circuits import services as circuits
from parapheur.clock import now
from parapheur.context import current_workflows_dir
from parapheur.db import get_session, transaction
from parapheur.errors import N_, Forbidden, NotFound, ParapheurError

delegations_bp = ApiBlueprint("api_delegations", __name__, url_prefix="/delegations",
                              description="Délégations entre bureaux")
users_bp = ApiBlueprint("api_users", __name__, url_prefix="/users",
                        description="Comptes (administrateurs)")
desks_bp = ApiBlueprint("api_desks", __name__, url_prefix="/desks",
                        description="Bureaux (administrateurs)")



def _org_desks(session, organisation_id: int) -> dict[str, Desk]:
    return {d.slug: d for d in session.execute(
        select(Desk).where(Desk.organisation_id == organisation_id)).scalars()}


@delegations_bp.route("")
@delegations_bp.response(200, DelegationSchema(many=True))
def list_delegations():
    """Les délégations données et reçues par vos bureaux (toutes pour un administrateur)."""
    user = require("delegations:read")
    session = get_session()
    query = select(Delegation).join(Desk, Delegation.from_desk_id == Desk.id).where(
        Desk.organisation_id == user.organisation_id)
    if user.role is not Role.ADMIN:
        ids = [d.id for d in user.desks]
        query = query.where(or_(Delegation.from_desk_id.in_(ids), Delegation.to_desk_id.in_(ids)))
    return list(session.execute(query.order_by(Delegation.starts_at.desc(), Delegation.id))
                .scalars())


@delegations_bp.route("", methods=["POST"])
@delegations_bp.doc(parameters=[IDEMPOTENCY])
@idempotent
@delegations_bp.arguments(DelegationCreateSchema)
@delegations_bp.response(201, DelegationSchema)
def create_delegation(args):
    """Un bureau confie son travail à un autre du premier au dernier jour (inclus, heure de
    Paris), pour tous les types de documents ou certains."""
    user = require("delegations:write")
    session = get_session()
    desks = _org_desks(session, user.organisation_id)
    from_desk, to_desk = desks.get(args["from_desk"]), desks.get(args["to_desk"])
    if from_desk is None or to_desk is None:
        raise NotFound(N_("Bureau inconnu dans votre collectivité."))
    if user.role is not Role.ADMIN and from_desk not in user.desks:
        raise Forbidden(N_("Vous ne pouvez déléguer que le travail de vos propres bureaux."))
    types = args.get("document_types") or []
    known = dict(circuits.catalogue(current_workflows_dir()).typology.types().items())
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ParapheurError(N_("Type de document inconnu : %(value)s."), value=', '.join(unknown))
    if args["last_day"] < args["first_day"]:
        raise ParapheurError(N_("Le dernier jour de la délégation suit le premier."))
    starts, ends = accounts.delegation_period(args["first_day"], args["last_day"])
    with transaction(session):
        delegation = accounts.create_delegation(
            session, from_desk=from_desk, to_desk=to_desk, starts_at=starts, ends_at=ends,
            document_types=types or None, now=now(), actor=user)
    return delegation, 201, {"Location": url_for("api_delegations.list_delegations")}


def _admin() -> User:
    user = require("admin")
    if user.role is not Role.ADMIN:
        raise Forbidden(N_("Réservé aux administrateurs."))
    return user


def user_view(user: User) -> dict:
    return {"id": user.id, "username": user.username, "full_name": user.full_name,
            "email": user.email, "title": user.title, "role": user.role, "active": user.active,
            "desks": [d.slug for d in user.desks]}


@users_bp.route("")
@users_bp.response(200, UserSchema(many=True))
def list_users():
    """Les comptes de la collectivité."""
    admin = _admin()
    return [user_view(u) for u in get_session().execute(
        select(User).where(User.organisation_id == admin.organisation_id).order_by(User.id))
        .scalars()]


@users_bp.route("", methods=["POST"])
@users_bp.doc(parameters=[IDEMPOTENCY])
@idempotent
@users_bp.arguments(UserCreateSchema)
@users_bp.response(201, UserSchema)
def create_user(args):
    """Créer un compte (rôle, qualité, mot de passe initial, bureaux) ; journalisé."""
    admin = _admin()
    session = get_session()
    desks = _org_desks(session, admin.organisation_id)
    missing = [slug for slug in args.get("desks") or [] if slug not in desks]
    if missing:
        raise NotFound(N_("Bureau inconnu dans votre collectivité : %(value)s."),
                       value=', '.join(missing))
    moment = now()
    with transaction(session):
        user = accounts.create_user(
            session, organisation=admin.organisation, username=args["username"],
            full_name=args["full_name"], password=args["password"], role=Role(args["role"]),
            title=args.get("title"), email=args.get("email"), now=moment, actor=admin)
        for slug in args.get("desks") or []:
            accounts.add_member(session, desks[slug], user, now=moment, actor=admin)
    return user_view(user), 201


def desk_view(desk: Desk) -> dict:
    return {"id": desk.id, "slug": desk.slug, "name": desk.name, "quality": desk.quality,
            "members": [u.username for u in desk.members]}


@desks_bp.route("")
@desks_bp.response(200, DeskSchema(many=True))
def list_desks():
    """Les bureaux de la collectivité et leurs membres."""
    admin = _admin()
    return [desk_view(d) for d in get_session().execute(
        select(Desk).where(Desk.organisation_id == admin.organisation_id).order_by(Desk.id))
        .scalars()]


@desks_bp.route("", methods=["POST"])
@desks_bp.doc(parameters=[IDEMPOTENCY])
@idempotent
@desks_bp.arguments(DeskCreateSchema)
@desks_bp.response(201, DeskSchema)
def create_desk(args):
    """Créer un bureau et ses membres ; journalisé."""
    admin = _admin()
    session = get_session()
    names = args.get("members") or []
    members = list(session.execute(select(User).where(
        User.organisation_id == admin.organisation_id, User.username.in_(names))).scalars())
    missing = sorted(set(names) - {u.username for u in members})
    if missing:
        raise NotFound(N_("Compte inconnu dans votre collectivité : %(value)s."),
                       value=', '.join(missing))
    with transaction(session):
        desk = accounts.create_desk(session, organisation=admin.organisation, slug=args["slug"],
                                    name=args["name"], quality=args.get("quality"),
                                    members=members, now=now(), actor=admin)
    return desk_view(desk), 201
