"""Who may sign with a server-held key (PKCS#12 file, server-side HSM): the organisation decides.

An organisation may keep its elected officials (role « signataire ») to their own card, reached
through the local agent (`parapheur-agent`): then a server-held key never signs for them, even
when one is configured. The one rule, read by the signing service and by the pages.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from parapheur.accounts.models import Role, User
from parapheur.audit import services as audit
from parapheur.db import memoized
from parapheur.errors import N_, Forbidden, ParapheurError
from parapheur.signatures.agent_models import OrganisationSigningPolicy


class ServerKeyForbidden(ParapheurError):
    """The organisation keeps this official to her card: no server-held key signs for her."""

    status = 403

    def __init__(self) -> None:
        super().__init__(N_("Votre collectivité réserve la signature des élus à leur propre "
                            "carte : signez avec « Utiliser ma carte » (agent de signature "
                            "local). Aucune clé conservée par le serveur ne signe pour vous."))


def _card_only_key(organisation_id: int) -> tuple:
    return ("officials_card_only", organisation_id)


def officials_card_only(session: Session, organisation_id: int | None) -> bool:
    """Whether the organisation keeps its elected officials to their card (read once per unit of
    work: the pages with a signing form ask it; the session user's load reads it beside her)."""
    if not organisation_id:
        return False
    return memoized(session, _card_only_key(organisation_id), lambda: _card_only(
        session.get(OrganisationSigningPolicy, organisation_id)))


def remember_policy(session: Session, organisation_id: int,
                    policy: OrganisationSigningPolicy | None) -> None:
    """The organisation's policy as another query of this unit of work read it (None: it has
    none), kept for `officials_card_only`."""
    memoized(session, _card_only_key(organisation_id), lambda: _card_only(policy))


def _card_only(policy: OrganisationSigningPolicy | None) -> bool:
    return bool(policy is not None and policy.officials_card_only)


def server_keys_allowed(session: Session, user: User) -> bool:
    """Whether a server-held key may sign for this user."""
    return not (user.role is Role.SIGNATAIRE
                and officials_card_only(session, user.organisation_id))


def check_server_key_allowed(session: Session, user: User) -> None:
    """ServerKeyForbidden when a server-held key may not sign for this user."""
    if not server_keys_allowed(session, user):
        raise ServerKeyForbidden()


def set_officials_card_only(session: Session, admin: User, card_only: bool, *,
                            now: datetime) -> OrganisationSigningPolicy:
    """An administrator sets her organisation's policy (in the caller's transaction, journaled)."""
    if admin.role is not Role.ADMIN:
        raise Forbidden(N_("Seul un administrateur règle la politique de signature."))
    policy = session.get(OrganisationSigningPolicy, admin.organisation_id)
    if policy is None:
        policy = OrganisationSigningPolicy(organisation_id=admin.organisation_id)
        session.add(policy)
    changed = bool(policy.officials_card_only) != card_only
    policy.officials_card_only = card_only
    policy.updated_at = now
    policy.updated_by_id = admin.id
    session.flush()
    if changed:
        audit.record(session, "organisation:signing_policy:updated", actor=admin,
                     details={"organisation_id": admin.organisation_id,
                              "officials_card_only": card_only}, clock=lambda: now)
    return policy
