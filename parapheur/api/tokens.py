"""Personal and service tokens of the API: created (shown once), checked, revoked, journaled.

A token is `pph_` followed by 43 random URL-safe characters (256 bits); only its SHA-256 is
stored (a random secret that long needs no slow hash: nothing can be guessed from the digest).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Role, User
from parapheur.api.errors import ApiError, ScopeMissing, Unauthenticated
from parapheur.api.models import ApiToken, TokenKind
from parapheur.audit import services as audit
from parapheur.errors import N_, Forbidden, NotFound, ParapheurError
from parapheur.fields import bounded

TOKEN_PREFIX = "pph_"
DEFAULT_DAYS = 90
MAX_DAYS = 366

#: Every permission a token may carry, with what it allows (shown on the creation forms).
SCOPES: dict[str, str] = {
    "documents:read": "Lire les documents, leurs versions et leur dossier de preuve",
    "documents:write": "Déposer des documents",
    "circuits:act": "Viser, rejeter, signer et reprendre un visa",
    "invoices:read": "Lire les factures et leurs statuts",
    "invoices:write": "Importer des factures",
    "delegations:read": "Lire les délégations",
    "delegations:write": "Créer des délégations",
    "exports:read": "Lire les exports comptables PES et les télécharger",
    "exports:write": "Envoyer les acquittements et retours du comptable",
    "admin": "Administrer : comptes, bureaux et webhooks (administrateurs seulement)",
}
ADMIN_SCOPES = frozenset({"admin"})


@dataclass(frozen=True)
class CreatedToken:
    """A new token and its secret, which is never shown again."""

    token: ApiToken
    secret: str

    def __repr__(self) -> str:
        return f"<CreatedToken {self.token.id} ***>"


def digest(secret: str) -> str:
    """The SHA-256 kept for a token's secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def clean_scopes(user: User, scopes: list[str] | tuple[str, ...]) -> list[str]:
    """The scopes asked, checked: known ones, at least one, `admin` for administrators only."""
    chosen = sorted(set(scopes))
    if not chosen:
        raise ApiError(N_("Choisissez au moins une permission pour le jeton."),
                       code="invalid_scopes")
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise ApiError(N_("Permission inconnue : %(value)s."),
                       value=', '.join(u[:40] for u in unknown),
                       code="invalid_scopes")
    if ADMIN_SCOPES & set(chosen) and user.role is not Role.ADMIN:
        raise Forbidden(N_("La permission « admin » est réservée aux comptes administrateurs."))
    return chosen


def create_token(session: Session, *, user: User, kind: TokenKind, name: str, scopes: list[str],
                 days: int = DEFAULT_DAYS, created_by: User, now: datetime) -> CreatedToken:
    """A new token for `user`: personal ones by herself, service ones by an administrator."""
    name = (name or "").strip()
    if not name:
        raise ApiError(N_("Donnez un nom au jeton (à quoi il sert)."), code="invalid_name")
    bounded(name, field="name", label="Nom du jeton", kind="label")
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ApiError(N_("La durée de validité va de 1 à %(MAX_DAYS)s jours."),
                       MAX_DAYS=MAX_DAYS, code="invalid_expiry")
    if kind is TokenKind.PERSONAL and created_by.id != user.id:
        raise Forbidden(N_("Un jeton personnel est créé par son titulaire, depuis « Mon compte "
                           "»."))
    if kind is TokenKind.SERVICE and (created_by.role is not Role.ADMIN
                                      or created_by.organisation_id != user.organisation_id):
        raise Forbidden(N_("Seul un administrateur de la collectivité crée un jeton de service."))
    if not user.active:
        raise ParapheurError(N_("Ce compte est désactivé : il ne peut pas recevoir de jeton."))
    chosen = clean_scopes(user, scopes)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(organisation_id=user.organisation_id, user_id=user.id, kind=kind, name=name,
                     prefix=secret[:12], secret_sha256=digest(secret), scopes=chosen,
                     created_at=now, created_by_id=created_by.id,
                     expires_at=now + timedelta(days=days))
    session.add(token)
    session.flush()
    audit.record(session, "api:token:created", actor=created_by,
                 details={"token_id": token.id, "kind": kind.value, "name": name,
                          "user": user.username, "prefix": token.prefix, "scopes": chosen,
                          "expires_at": token.expires_at.isoformat(),
                          "organisation_id": user.organisation_id},
                 clock=lambda: now)
    return CreatedToken(token, secret)


def tokens_of(session: Session, *, organisation_id: int, user: User | None = None,
              kind: TokenKind | None = None) -> list[ApiToken]:
    """The organisation's tokens (of one user, of one kind), newest first."""
    query = select(ApiToken).where(ApiToken.organisation_id == organisation_id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    if kind is not None:
        query = query.where(ApiToken.kind == kind)
    return list(session.execute(query.order_by(ApiToken.id.desc())).scalars())


def get_token(session: Session, token_id: int, *, organisation_id: int) -> ApiToken:
    """A token of the organisation by id."""
    token = session.get(ApiToken, token_id)
    if token is None or token.organisation_id != organisation_id:
        raise NotFound(N_("Jeton n° %(token_id)s introuvable."), token_id=token_id)
    return token


def revoke_token(session: Session, token: ApiToken, *, actor: User, now: datetime) -> None:
    """End a token now (its holder, or an administrator of its organisation); journaled."""
    if actor.id != token.user_id and not (actor.role is Role.ADMIN
                                          and actor.organisation_id == token.organisation_id):
        raise Forbidden(N_("Seuls le titulaire du jeton et les administrateurs peuvent le "
                           "révoquer."))
    if token.revoked_at is not None:
        raise ApiError(N_("Ce jeton est déjà révoqué."), code="already_revoked", status=409)
    token.revoked_at = now
    audit.record(session, "api:token:revoked", actor=actor,
                 details={"token_id": token.id, "prefix": token.prefix, "kind": token.kind.value,
                          "organisation_id": token.organisation_id},
                 clock=lambda: now)
    session.flush()


def status_of(token: ApiToken, now: datetime) -> str:
    """« actif », « expiré » or « révoqué »."""
    if token.revoked_at is not None:
        return "révoqué"
    if token.expires_at <= now:
        return "expiré"
    return "actif"


def authenticate(session: Session, secret: str, *, now: datetime) -> ApiToken:
    """The token a bearer secret names, if it is valid now and its account may still act."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise Unauthenticated(N_("Jeton d'API invalide."), code="invalid_token")
    token = session.execute(select(ApiToken).where(ApiToken.secret_sha256 == digest(secret))
                            ).scalar_one_or_none()
    if token is None:
        raise Unauthenticated(N_("Jeton d'API invalide."), code="invalid_token")
    if token.revoked_at is not None:
        raise Unauthenticated(N_("Ce jeton d'API a été révoqué."), code="revoked_token")
    if token.expires_at <= now:
        raise Unauthenticated(N_("Ce jeton d'API a expiré : créez-en un nouveau."),
                              code="expired_token")
    user = token.user
    if not user.active or user.organisation_id != token.organisation_id:
        raise Unauthenticated(N_("Le compte de ce jeton est désactivé."), code="account_disabled")
    # Written at most once a minute: reading the API does not turn into a write per request.
    if token.last_used_at is None or now - token.last_used_at >= timedelta(minutes=1):
        token.last_used_at = now
    return token


def require_scope(token: ApiToken, scope: str) -> None:
    """Refuse unless the token carries `scope` (403 insufficient_scope)."""
    if scope not in token.scopes:
        raise ScopeMissing(N_("Ce jeton n'a pas la permission « %(scope)s » (%(value)s)."),
                           scope=scope, value=SCOPES.get(scope, scope))
