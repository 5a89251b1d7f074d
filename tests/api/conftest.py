"""Fixtures of the REST API and webhook tests: the app fixtures of tests/app, tokens, a receiver."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --- The web application's fixtures (tests/app/conftest.py), shared rather than copied ---
sys.path.insert(0, str(Path(__file__).parent.parent / "app"))


from app_helpers import WebhookReceiver, borrow_app_fixtures  # noqa: E402

borrow_app_fixtures(globals(), "api")

ALL_SCOPES = ("documents:read", "documents:write", "circuits:act", "invoices:read",
              "invoices:write", "delegations:read", "delegations:write", "exports:read", "exports:write")


@pytest.fixture
def token_for(demo):
    """`token_for("dgs")`: a new personal token's secret (every non-admin scope by default)."""
    from sqlalchemy import select

    from parapheur.accounts.models import Role, User
    from parapheur.api import tokens
    from parapheur.api.models import TokenKind
    from parapheur.clock import now
    from parapheur.db import get_session, transaction

    def make(username: str, scopes: tuple[str, ...] | None = None, days: int = 30) -> str:
        with demo.app_context():
            session = get_session()
            with transaction(session):
                user = session.execute(select(User).where(User.username == username)).scalar_one()
                chosen = scopes if scopes is not None else (
                    ALL_SCOPES + (("admin",) if user.role is Role.ADMIN else ()))
                created = tokens.create_token(session, user=user, kind=TokenKind.PERSONAL,
                                              name="tests", scopes=list(chosen), days=days,
                                              created_by=user, now=now())
            return created.secret
    return make


@pytest.fixture
def api(demo):
    """`api(secret).get(url)`: the test client with the bearer token header (and no cookie)."""
    class Caller:
        def __init__(self, secret: str):
            self.client = demo.test_client(use_cookies=False)
            self.headers = {"Authorization": f"Bearer {secret}"}

        def __getattr__(self, method):
            call = getattr(self.client, method)

            def with_token(url, **kwargs):
                headers = {**self.headers, **kwargs.pop("headers", {})}
                return call(url, headers=headers, **kwargs)
            return with_token
    return Caller


@pytest.fixture
def receiver():
    """A webhook receiver on loopback."""
    server = WebhookReceiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def webhooks_app(demo):
    """The demo, allowed to deliver webhooks to loopback (the receiver of these tests)."""
    demo.config["WEBHOOK_ALLOW_PRIVATE"] = True
    return demo
