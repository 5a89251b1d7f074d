"""OpenID Connect (authorization code + PKCE) with an organisation's identity provider.

Where the settings live (decided): per organisation, in `identity_providers` — issuer, client id,
the client secret encrypted with a key derived from the instance's `PARAPHEUR_SECRET_KEY`
(`sso.secrets`), whether unknown identities get an account, whether local passwords stay. One
instance serves many collectivités, each with its own provider (ProConnect or its own), so the
settings cannot be the instance's.

An identity (issuer, sub) finds its account through `sso_identities`: linked beforehand
(`parapheur sso link`), or at its first login by its verified e-mail address when the provider
matches by e-mail. An unknown identity gets an account only if the administrator allowed it.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parapheur.accounts.models import Role, User
from parapheur.audit import services as audit
from parapheur.errors import N_, Forbidden, NotFound, ParapheurError
from parapheur.organisations.models import Organisation
from parapheur.organisations.scope import members_of, place_in
from parapheur.sso import secrets as sso_secrets
from parapheur.sso.models import IdentityProvider, SsoIdentity

#: Seconds an HTTP exchange with a provider may take; bytes its answers may hold.
TIMEOUT = 10
MAX_ANSWER = 256 * 1024
ALGORITHMS = ["RS256", "PS256", "ES256"]


class SsoError(ParapheurError):
    """The login through the identity provider could not be completed."""

    status = 401


@dataclass(frozen=True)
class Discovery:
    """What a provider's discovery document says (OpenID Connect Discovery 1.0)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def check_url(url: str, label: str) -> str:
    """An https URL (plain http only on loopback, for development and tests)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if len(url) > 500 or not parts.netloc or parts.scheme not in ("https", "http") or (
            parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1")):
        raise ParapheurError(N_("%(label)s doit être une adresse https:// (reçu « %(value)s »)."),
                             label=label, value=url[:80])
    return url.rstrip("/") if label.startswith("L'émetteur") else url


def _get_json(url: str) -> dict[str, Any]:
    import requests

    try:
        with requests.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"},
                          allow_redirects=False, stream=True) as response:
            if response.status_code != 200:
                raise SsoError(N_("Le fournisseur d'identité a répondu %(status_code)s à "
                                  "%(url)s."),
                               status_code=response.status_code, url=url, status=502)
            body = response.raw.read(MAX_ANSWER + 1, decode_content=True)
    except requests.RequestException as exc:
        raise SsoError(N_("Le fournisseur d'identité ne répond pas (%(error)s)."),
                       error=type(exc).__name__,
                       status=502) from None
    if len(body) > MAX_ANSWER:
        raise SsoError(N_("La réponse du fournisseur d'identité à %(url)s est trop volumineuse."),
                       url=url,
                       status=502)
    try:
        data = json.loads(body)
    except ValueError:
        raise SsoError(N_("Le fournisseur d'identité a répondu autre chose que du JSON à "
                          "%(url)s."), url=url,
                       status=502) from None
    if not isinstance(data, dict):
        raise SsoError(N_("Réponse inattendue du fournisseur d'identité à %(url)s."),
                       url=url, status=502)
    return data


def discover(issuer: str) -> Discovery:
    """Read the provider's discovery document; its issuer must be the one configured."""
    data = _get_json(f"{issuer}/.well-known/openid-configuration")
    if data.get("issuer") != issuer:
        raise SsoError(N_("Le document de découverte annonce l'émetteur « %(value)s » au lieu "
                          "de « %(issuer)s »."),
                       value=data.get('issuer'), issuer=issuer, status=502)
    try:
        return Discovery(issuer, *(check_url(str(data[key]), f"Le point « {key} »") for key in
                                   ("authorization_endpoint", "token_endpoint", "jwks_uri")))
    except KeyError as exc:
        raise SsoError(N_("Le document de découverte n'indique pas %(value)s."), value=exc.args[0],
                       status=502) from None


def provider_of(session: Session, organisation: Organisation) -> IdentityProvider | None:
    return session.execute(select(IdentityProvider).where(
        IdentityProvider.organisation_id == organisation.id)).scalar_one_or_none()


def login_buttons(session: Session) -> list[dict[str, str]]:
    """The login page's buttons: each organisation with an enabled provider."""
    rows = session.execute(
        select(IdentityProvider, Organisation).join(Organisation)
        .where(IdentityProvider.enabled.is_(True)).order_by(Organisation.name)).all()
    return [{"slug": org.slug, "name": org.name, "label": provider.label}
            for provider, org in rows]


def configure(session: Session, organisation: Organisation, *, label: str, issuer: str,
              client_id: str, client_secret: str | None, match_by: str, create_accounts: bool,
              local_passwords: bool, enabled: bool, secret_key: str, now: datetime,
              actor: User | None, session_auth: str | None = None) -> IdentityProvider:
    """Set the organisation's provider (checked by reading its discovery document)."""
    label = (label or "").strip() or "ProConnect"
    if len(label) > 100:
        raise ParapheurError(N_("Le libellé du bouton est trop long (100 caractères au plus)."))
    issuer = check_url(issuer, "L'émetteur (issuer)")
    client_id = (client_id or "").strip()
    if not client_id or len(client_id) > 500:
        raise ParapheurError(N_("L'identifiant client est obligatoire (500 caractères au plus)."))
    if match_by not in ("email", "sub"):
        raise ParapheurError(N_("Le rapprochement des comptes se fait par « email » ou « sub »."))
    provider = provider_of(session, organisation)
    if client_secret is not None and len(client_secret) > 1000:
        raise ParapheurError(N_("Le secret client est trop long."))
    if provider is None and not client_secret:
        raise ParapheurError(N_("Le secret client est obligatoire."))
    if not local_passwords and enabled and session_auth is not None \
            and session_auth != f"oidc:{issuer}":
        raise ParapheurError(N_("Connectez-vous d'abord par ce fournisseur d'identité avant de "
                                "désactiver les mots de passe locaux (sans quoi personne ne "
                                "pourrait plus se connecter pour corriger un réglage erroné)."))
    discover(issuer)
    if provider is None:
        provider = IdentityProvider(organisation_id=organisation.id)
        session.add(provider)
    provider.label, provider.issuer, provider.client_id = label, issuer, client_id
    if client_secret:
        provider.client_secret_encrypted = sso_secrets.encrypt(secret_key, client_secret)
    provider.match_by, provider.create_accounts = match_by, bool(create_accounts)
    provider.local_passwords, provider.enabled = bool(local_passwords), bool(enabled)
    provider.scopes = "openid email profile"
    provider.updated_at = now
    session.flush()
    audit.record(session, "sso:provider:configured", actor=actor,
                 details={"organisation_id": organisation.id, "issuer": issuer,
                          "client_id": client_id, "match_by": match_by,
                          "create_accounts": provider.create_accounts,
                          "local_passwords": provider.local_passwords,
                          "enabled": provider.enabled, "secret_changed": bool(client_secret)},
                 clock=lambda: now)
    return provider


def link(session: Session, user: User, organisation: Organisation, subject: str, *,
         now: datetime, actor: User | None = None) -> SsoIdentity:
    """Link `user` to the identity `subject` at the organisation's provider."""
    provider = provider_of(session, organisation)
    if provider is None:
        raise ParapheurError(N_("%(organisation_name)s n'a pas de fournisseur d'identité "
                                "configuré."), organisation_name=organisation.name)
    if place_in(session, user, organisation.id) is None:
        raise ParapheurError(N_("%(username)s n'est pas membre de %(organisation_name)s."),
                             username=user.username, organisation_name=organisation.name)
    subject = (subject or "").strip()
    if not subject or len(subject) > 255:
        raise ParapheurError(N_("L'identifiant « sub » est obligatoire (255 caractères au "
                                "plus)."))
    owner = session.execute(select(SsoIdentity.user_id).where(
        SsoIdentity.issuer == provider.issuer, SsoIdentity.subject == subject)).scalar()
    if owner == user.id:
        raise ParapheurError(N_("Ce compte est déjà lié à cette identité de %(provider)s."),
                             provider=provider.label, status=409)
    if owner is not None:
        raise ParapheurError(N_("Cette identité de %(provider)s est déjà liée à un autre compte : "
                                "déliez-la d'abord de celui-ci, ou demandez-le à "
                                "l'administrateur."), provider=provider.label, status=409)
    identity = SsoIdentity(user_id=user.id, issuer=provider.issuer, subject=subject,
                           created_at=now)
    session.add(identity)
    session.flush()
    audit.record(session, "sso:identity:linked", actor=actor,
                 details={"user_id": user.id, "username": user.username,
                          "issuer": provider.issuer, "subject": subject}, clock=lambda: now)
    return identity


def identity_of(session: Session, user: User,
                provider: IdentityProvider) -> SsoIdentity | None:
    """The user's identity at that provider, if linked."""
    return session.execute(select(SsoIdentity).where(
        SsoIdentity.user_id == user.id, SsoIdentity.issuer == provider.issuer)).scalars().first()


def unlink(session: Session, user: User, organisation: Organisation, *,
           now: datetime, actor: User | None = None) -> None:
    """Remove the link of `user` to the organisation's provider; journaled."""
    provider = provider_of(session, organisation)
    identity = identity_of(session, user, provider) if provider is not None else None
    if identity is None:
        raise NotFound("Ce compte n'est lié à aucune identité de ce fournisseur.")
    audit.record(session, "sso:identity:unlinked", actor=actor,
                 details={"user_id": user.id, "username": user.username,
                          "issuer": identity.issuer, "subject": identity.subject},
                 clock=lambda: now)
    session.delete(identity)
    session.flush()


def client_for(provider: IdentityProvider, *, secret_key: str, redirect_uri: str):
    """Authlib's OAuth 2 client for this provider (PKCE S256, client_secret_basic)."""
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(provider.client_id,
                         sso_secrets.decrypt(secret_key, provider.client_secret_encrypted),
                         scope=provider.scopes, redirect_uri=redirect_uri,
                         code_challenge_method="S256",
                         token_endpoint_auth_method="client_secret_basic")


def authorization_request(provider: IdentityProvider, *, secret_key: str,
                          redirect_uri: str) -> tuple[str, dict[str, Any]]:
    """The provider's URL to send the browser to, and what the callback must find again."""
    found = discover(provider.issuer)
    pending: dict[str, Any] = {"state": secrets.token_urlsafe(32), "nonce": secrets.token_urlsafe(32),
               "verifier": secrets.token_urlsafe(64)}
    client = client_for(provider, secret_key=secret_key, redirect_uri=redirect_uri)
    url, _ = client.create_authorization_url(found.authorization_endpoint,
                                             state=pending["state"],
                                             code_verifier=pending["verifier"],
                                             nonce=pending["nonce"])
    return url, pending


def exchange(provider: IdentityProvider, *, code: str, verifier: str, nonce: str,
             secret_key: str, redirect_uri: str) -> dict[str, Any]:
    """Trade the code for tokens and return the ID token's checked claims."""
    import requests
    from authlib.common.errors import AuthlibBaseError
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    found = discover(provider.issuer)
    client = client_for(provider, secret_key=secret_key, redirect_uri=redirect_uri)
    try:
        token = client.fetch_token(found.token_endpoint, grant_type="authorization_code",
                                   code=code, code_verifier=verifier, timeout=TIMEOUT)
    except AuthlibBaseError as exc:
        raise SsoError(N_("Le fournisseur d'identité a refusé le code d'autorisation "
                          "(%(error)s)."), error=exc.error) from None
    except requests.RequestException as exc:
        raise SsoError(N_("Le fournisseur d'identité ne répond pas (%(error)s)."),
                       error=type(exc).__name__,
                       status=502) from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoError(N_("Le fournisseur d'identité n'a pas renvoyé de jeton d'identité."))
    try:
        keys = KeySet.import_key_set(_get_json(found.jwks_uri))  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True}, exp={"essential": True},
            nonce={"essential": True, "value": nonce}, leeway=60).validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise SsoError(N_("Le jeton d'identité est invalide (%(error)s : %(value)s)."),
                       error=type(exc).__name__, value=str(exc)[:120]) from None
    return dict(decoded.claims)


def account_for(session: Session, provider: IdentityProvider, claims: dict[str, Any], *,
                now: datetime) -> User:
    """The account of this identity in the provider's organisation (linked, matched or created)."""
    organisation = provider.organisation
    subject = str(claims.get("sub", ""))[:255]
    identity = session.execute(select(SsoIdentity).where(
        SsoIdentity.issuer == provider.issuer, SsoIdentity.subject == subject)).scalar_one_or_none()
    user = session.get(User, identity.user_id) if identity is not None else None
    if user is None and provider.match_by == "email":
        user = _by_email(session, organisation, claims)
    if user is None and provider.create_accounts:
        user = _create_account(session, organisation, claims, now=now)
    if user is None:
        raise Forbidden(N_("Aucun compte de %(organisation_name)s ne correspond à votre "
                           "identité (%(value)s) : demandez à l'administrateur de votre "
                           "collectivité de créer votre compte."),
                        organisation_name=organisation.name, value=claims.get('email') or subject)
    if not user.active or place_in(session, user, organisation.id) is None:
        raise Forbidden(N_("Votre compte n'est pas (ou plus) actif dans %(organisation_name)s."),
                        organisation_name=organisation.name)
    if identity is None:
        identity = SsoIdentity(user_id=user.id, issuer=provider.issuer, subject=subject,
                               created_at=now)
        session.add(identity)
    identity.last_login_at = now
    session.flush()
    return user


def _by_email(session: Session, organisation: Organisation,
              claims: dict[str, Any]) -> User | None:
    email = claims.get("email")
    if not isinstance(email, str) or not email or claims.get("email_verified") is False:
        return None
    found = session.execute(select(User).where(
        func.lower(User.email) == email.strip().lower(), members_of(organisation.id))
    ).scalars().all()
    if len(found) > 1:
        raise Forbidden(N_("Plusieurs comptes de %(organisation_name)s portent l'adresse "
                           "%(email)s : l'administrateur doit lier votre identité à l'un d'eux."),
                        organisation_name=organisation.name, email=email)
    return found[0] if found else None


def _create_account(session: Session, organisation: Organisation, claims: dict[str, Any], *,
                    now: datetime) -> User:
    from parapheur.accounts.services import create_user

    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    base = re.sub(r"[^a-z0-9._-]", "", (claims.get("preferred_username")
                                        or (email or "").split("@")[0] or "agent").lower())[:60]
    base = base if len(base) >= 2 else "agent"
    username, n = base, 1
    while session.execute(select(User.id).where(User.username == username)).first():
        n += 1
        username = f"{base}{n}"
    name = " ".join(str(claims.get(k, "")) for k in ("given_name", "usual_name", "family_name")
                    if claims.get(k)).strip() or str(claims.get("name") or username)
    # A password nobody knows: this account logs in through its provider only.
    return create_user(session, organisation=organisation, username=username,
                       full_name=name[:200], password=secrets.token_urlsafe(32) + "Aa1!",
                       role=Role.AGENT, email=email[:200] if email else None, now=now)
