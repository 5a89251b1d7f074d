"""Login sessions: their identity, their absolute and idle lifetimes, and revoking them.

The session cookie carries the user's id with their *session generation*; raising the generation
(logout, password change, disabling) ends every session of that user at its next request, though
copies of the cookie still exist. A session also ends `SESSION_HOURS` after login whatever the
activity, and after `SESSION_IDLE_MINUTES` without a request.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, flash
from flask import session as cookie
from flask_login import login_user, logout_user

from parapheur.accounts.models import User
from parapheur.clock import now

_LOGIN_AT = "login_at"
_SEEN_AT = "seen_at"


def load_user(user_id: str) -> User | None:
    """The session's user, if the account is active and the session was not revoked since."""
    from parapheur.db import get_session
    from parapheur.organisations import scope

    identifier, _, generation = user_id.partition(":")
    try:
        user_pk, expected = int(identifier), int(generation)
    except ValueError:
        return None
    session = get_session()
    user = scope.load_session_user(session, user_pk, cookie)
    if user is None or not user.active or user.session_generation != expected:
        return None
    # The organisation she works in (organisations.scope): gone or refused, the session ends.
    if not scope.apply_session(session, user, cookie):
        return None
    return user


def start(user: User, moment: datetime, *, organisation_id: int | None = None,
          auth: str = "password") -> None:
    """Open a fresh session for `user` (a new CSRF token with it: nothing of the old one is kept).

    `auth` says how she authenticated (« password » or « oidc:ISSUER »), `organisation_id` where
    she works (organisations.scope); both stay in the session.
    """
    from parapheur.organisations import scope

    cookie.clear()
    cookie.permanent = True  # the cookie's own expiry; the lifetimes below are checked here
    login_user(user)
    cookie[_LOGIN_AT] = cookie[_SEEN_AT] = int(moment.timestamp())
    cookie[scope.AUTH_KEY] = auth
    if organisation_id is not None:
        cookie[scope.SESSION_KEY] = organisation_id


def end() -> None:
    """Forget the session in this browser (the caller revokes the user's sessions server-side)."""
    logout_user()
    cookie.clear()


def _enforce_lifetimes() -> None:
    if "_user_id" not in cookie:
        return
    moment = int(now().timestamp())
    login_at = cookie.get(_LOGIN_AT)
    seen_at = cookie.get(_SEEN_AT)
    config = current_app.config
    if (not isinstance(login_at, int) or not isinstance(seen_at, int)
            or moment - login_at >= int(config["SESSION_HOURS"]) * 3600
            or moment - seen_at >= int(config["SESSION_IDLE_MINUTES"]) * 60):
        end()
        flash("Votre session a expiré : reconnectez-vous.", "info")
        return
    if moment - seen_at >= 60:  # the cookie is rewritten at most once a minute
        cookie[_SEEN_AT] = moment


def ends_at() -> tuple[int, bool] | None:
    """When this request's session ends (epoch seconds), and whether it can still be extended
    (False when the absolute lifetime comes first); None without a session."""
    login_at, seen_at = cookie.get(_LOGIN_AT), cookie.get(_SEEN_AT)
    if "_user_id" not in cookie or not isinstance(login_at, int) or not isinstance(seen_at, int):
        return None
    config = current_app.config
    idle_end = seen_at + int(config["SESSION_IDLE_MINUTES"]) * 60
    absolute_end = login_at + int(config["SESSION_HOURS"]) * 3600
    return min(idle_end, absolute_end), idle_end < absolute_end


def extend(moment: datetime) -> tuple[int, bool] | None:
    """The user is still there: the idle lifetime starts again now (the absolute one never moves)."""
    if "_user_id" in cookie:
        cookie[_SEEN_AT] = int(moment.timestamp())
    return ends_at()


def init_app(app: Flask) -> None:
    """Check each request's session before any view runs."""
    app.before_request(_enforce_lifetimes)
