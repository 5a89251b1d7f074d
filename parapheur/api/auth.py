"""Who calls the API: a bearer token, never a cookie; what it may do: its scopes."""

from __future__ import annotations

import hashlib

from flask import g, request

from parapheur.accounts.models import User
from parapheur.api import tokens
from parapheur.api.errors import Unauthenticated
from parapheur.api.models import ApiToken
from parapheur.clock import now
from parapheur.db import get_session, transaction


def authenticate_request() -> None:
    """Before every API view: the `Authorization: Bearer` token, checked (cookies are ignored)."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("Authentification requise : envoyez un jeton d'API dans l'en-tête "
                              "« Authorization: Bearer … ».", code="missing_token")
    session = get_session()
    with transaction(session):
        token = tokens.authenticate(session, secret.strip(), now=now())
    g.api_token = token


def current_token() -> ApiToken:
    """The token of this API request."""
    return g.api_token


def actor() -> User:
    """The account the token speaks for."""
    return g.api_token.user


def require(scope: str) -> User:
    """The caller, if the token carries `scope`."""
    token = current_token()
    tokens.require_scope(token, scope)
    return token.user


def rate_limit_key() -> str:
    """Rate limits count per token (per address for requests without one)."""
    header = request.headers.get("Authorization", "")
    if header:
        return "api-token:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:32]
    return "api-address:" + (request.remote_addr or "-")
