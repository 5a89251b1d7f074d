"""The organisation a request works in: one place for the rule every page and the API follow.

A user belongs to her home organisation and to those of her memberships (`Membership`); she works
in one of them at a time, chosen at login or with the header's switcher and kept in the session
(`SESSION_KEY`). Everything a page lists or reaches is filtered by `current_organisation()` —
documents through `documents.access`, the other rows (invoices, desks, users, delegations,
accounting) by their `organisation_id` — so nothing of another organisation is ever visible.

An organisation may refuse local passwords (`sso.models.IdentityProvider.local_passwords`): it
then accepts only the sessions its own identity provider opened (`may_work_in`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import ColumnElement, Integer, bindparam, func, or_, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from parapheur.accounts.models import Role, SigningCredential, User
from parapheur.db import memoized
from parapheur.errors import Forbidden, NotFound
from parapheur.organisations.models import Membership, Organisation
from parapheur.signatures import agent_policy, credentials

#: Session keys: the organisation the user works in, and how she authenticated.
SESSION_KEY = "organisation_id"
AUTH_KEY = "auth"
PASSWORD = "password"


@dataclass(frozen=True)
class Place:
    """An organisation the user belongs to, with her role there."""

    organisation: Organisation
    role: Role


def memberships(session: Session, user: User) -> list[Place]:
    """Her home organisation first, then her other memberships by name."""
    def read() -> tuple[Place, ...]:
        return _places(user, session.execute(
            select(Membership).where(Membership.user_id == user.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .options(contains_eager(Membership.organisation))).scalars())

    # Read once per request (the working organisation and the header's switcher both ask).
    return list(memoized(session, _memberships_key(user), read))


@cache
def _session_user_statement():
    """The query of `load_session_user`, built once: every request runs it, and building it and
    its cache key again took a fifth of a plain page's CPU."""
    from parapheur.signatures.agent_models import OrganisationSigningPolicy
    from parapheur.sso.models import IdentityProvider

    working = func.coalesce(bindparam("working", type_=Integer), User.home_organisation_id)
    return (select(User, IdentityProvider, OrganisationSigningPolicy, SigningCredential)
            .outerjoin(IdentityProvider, IdentityProvider.organisation_id == working)
            .outerjoin(OrganisationSigningPolicy,
                       OrganisationSigningPolicy.organisation_id == working)
            .outerjoin(SigningCredential, SigningCredential.id == credentials.latest_active_id(
                User.id))
            .where(User.id == bindparam("user_id", type_=Integer))
            .options(joinedload(User.home_organisation), joinedload(User.all_desks),
                     joinedload(User.memberships).joinedload(Membership.organisation)))


def load_session_user(session: Session, user_id: int, cookie) -> User | None:
    """The user of a session with, in the same query, what every request of hers reads: her home
    organisation, her desks, her memberships (`memberships`), the identity provider of the
    organisation the session works in (`may_work_in`), its signing policy and her signing
    credential (what the signing forms ask: `agent_policy.officials_card_only`,
    `credentials.active_credential`), kept as this unit of work's readings."""
    try:
        working = _session_organisation_id(cookie)
    except (TypeError, ValueError):
        working = None  # refused by apply_session; the home organisation's provider meanwhile
    row = session.execute(_session_user_statement(),
                          {"working": working, "user_id": user_id}).unique().first()
    if row is None:
        return None
    user, provider, policy, credential = row
    memoized(session, _memberships_key(user), lambda: _places(user, user.memberships))
    organisation_id = working if working is not None else user.home_organisation_id
    memoized(session, _provider_key(organisation_id), lambda: provider)
    agent_policy.remember_policy(session, organisation_id, policy)
    credentials.remember(session, user.id, credential)
    return user


def _memberships_key(user: User) -> tuple:
    return ("memberships", user.id, user.home_organisation_id, user.home_role)


def _places(user: User, rows) -> tuple[Place, ...]:
    others = sorted((row for row in rows if row.organisation_id != user.home_organisation_id),
                    key=lambda row: (row.organisation.name, row.organisation_id))
    return (Place(user.home_organisation, user.home_role),
            *(Place(row.organisation, Role(row.role)) for row in others))


def place_in(session: Session, user: User, organisation_id: int) -> Place | None:
    """Her membership of that organisation, or None."""
    return next((p for p in memberships(session, user) if p.organisation.id == organisation_id),
                None)


def members_of(organisation_id: int) -> ColumnElement[bool]:
    """SQL condition on `User`: a member of the organisation (home or by membership)."""
    return or_(User.home_organisation_id == organisation_id,
               User.id.in_(select(Membership.user_id)
                           .where(Membership.organisation_id == organisation_id)))


def may_work_in(session: Session, organisation_id: int, auth: str | None) -> bool:
    """Whether a session opened by `auth` (PASSWORD or « oidc:ISSUER ») may work there."""
    from parapheur.sso.models import IdentityProvider

    provider = memoized(session, _provider_key(organisation_id), lambda: session.execute(
        select(IdentityProvider).where(IdentityProvider.organisation_id == organisation_id)
    ).scalar_one_or_none())
    if provider is None or not provider.enabled or provider.local_passwords:
        return True
    return auth == f"oidc:{provider.issuer}"


def _provider_key(organisation_id: int) -> tuple:
    return ("identity_provider", organisation_id)


def work_in(session: Session, user: User, organisation_id: int, auth: str | None) -> Place:
    """Make `user` work in that organisation for this request, or Forbidden/NotFound."""
    place = place_in(session, user, organisation_id)
    if place is None:
        raise NotFound("Cette collectivité n'existe pas ou vous n'en êtes pas membre.")
    if not may_work_in(session, organisation_id, auth):
        raise Forbidden(f"{place.organisation.name} n'accepte que la connexion par son "
                        "fournisseur d'identité : reconnectez-vous par celui-ci.")
    user.work_as(place.organisation, place.role)
    return place


def first_place(session: Session, user: User, auth: str) -> Place | None:
    """Where a fresh session opened by `auth` works: the first membership that accepts it."""
    for place in memberships(session, user):
        if may_work_in(session, place.organisation.id, auth):
            return place
    return None


def apply_session(session: Session, user: User, cookie) -> bool:
    """Work in the session's organisation; False when she no longer may (the session ends)."""
    try:
        organisation_id = _session_organisation_id(cookie)
    except (TypeError, ValueError):
        return False
    if organisation_id is None:
        return may_work_in(session, user.home_organisation_id, cookie.get(AUTH_KEY))
    try:
        work_in(session, user, organisation_id, cookie.get(AUTH_KEY))
    except (NotFound, Forbidden):
        return False
    return True


def _session_organisation_id(cookie) -> int | None:
    """The organisation the session chose (None: her home one); TypeError or ValueError when
    the cookie holds no organisation id."""
    chosen = cookie.get(SESSION_KEY)
    return None if chosen is None else int(chosen)


def current_organisation() -> Organisation:
    """The organisation the current request works in (the logged-in user's working one).

    The one function pages and the API scope their queries with; outside a login it is an error.
    """
    from flask_login import current_user

    if not current_user or not current_user.is_authenticated:
        raise Forbidden("Connectez-vous pour accéder à cette page.")
    return current_user.organisation


def current_organisation_id() -> int:
    """`current_organisation().id`."""
    return current_organisation().id
