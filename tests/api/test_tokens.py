"""API tokens: hashed at rest, scoped, expiring, revocable, journaled; pages and CLI."""

from __future__ import annotations

import re
from datetime import timedelta

from api_helpers import neighbour_account
from app_helpers import csrf_from, run_cli
from sqlalchemy import select, text

from parapheur.api.models import ApiToken
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session

SECRET_RE = re.compile(r'id="token-secret">(pph_[A-Za-z0-9_-]+)<')


def _events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(get_session().execute(select(AuditEvent).where(AuditEvent.name == name)
                                          .order_by(AuditEvent.seq)).scalars())


def test_a_personal_token_from_mon_compte_is_shown_once_and_kept_hashed(demo, client_for, api):
    browser = client_for("dgs")
    assert "Mes jetons d'API" in browser.get("/account").get_data(as_text=True)
    page = browser.get("/account/api-tokens").get_data(as_text=True)
    created = browser.post("/account/api-tokens", data={
        "csrf_token": csrf_from(page), "name": "Script GED", "scopes": ["documents:read"],
        "days": "30"})
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    secret = SECRET_RE.search(created.get_data(as_text=True)).group(1)
    assert secret not in browser.get("/account/api-tokens").get_data(as_text=True)
    with demo.app_context():
        session = get_session()
        stored = " ".join(str(v) for row in session.execute(text("SELECT * FROM api_tokens"))
                          for v in row)
        assert secret not in stored and secret[:12] in stored  # the prefix only, and a hash
        token = session.execute(select(ApiToken)).scalar_one()
        assert token.kind.value == "personnel" and token.scopes == ["documents:read"]
        assert secret not in repr(token)
    [event] = _events(demo, "api:token:created")
    assert event.actor_label == "dgs" and secret not in str(event.details)
    assert api(secret).get("/api/v1/documents/1").status_code == 200
    refused = browser.post("/account/api-tokens", data={
        "csrf_token": csrf_from(page), "name": "Trop", "scopes": ["admin"]})
    assert refused.status_code == 403 and "administrateurs" in refused.get_data(as_text=True)
    no_scope = browser.post("/account/api-tokens", data={"csrf_token": csrf_from(page),
                                                         "name": "Rien"})
    assert no_scope.status_code == 400


def test_expired_and_revoked_tokens_are_refused(demo, token_for, api, clock, client_for):
    secret = token_for("dgs", ("documents:read",), days=1)
    caller = api(secret)
    assert caller.get("/api/v1/documents/1").status_code == 200
    clock.moment += timedelta(days=1, seconds=1)
    expired = caller.get("/api/v1/documents/1")
    assert expired.status_code == 401 and expired.json["code"] == "expired_token"
    clock.moment -= timedelta(days=1, seconds=1)
    with demo.app_context():
        token_id = get_session().execute(select(ApiToken.id)).scalar_one()
    browser = client_for("dgs")
    token = csrf_from(browser.get("/account/api-tokens").get_data(as_text=True))
    assert browser.post(f"/account/api-tokens/{token_id}/revoke",
                        data={"csrf_token": token}).status_code == 302
    revoked = caller.get("/api/v1/documents/1")
    assert revoked.status_code == 401 and revoked.json["code"] == "revoked_token"
    assert _events(demo, "api:token:revoked")[0].actor_label == "dgs"
    # Another user cannot revoke it (it is not theirs: 404), nor use a made-up token.
    other = client_for("finances")
    assert other.post(f"/account/api-tokens/{token_id}/revoke", data={
        "csrf_token": csrf_from(other.get("/account/api-tokens").get_data(as_text=True))}
    ).status_code == 404
    assert api("pph_" + "x" * 43).get("/api/v1/documents").json["code"] == "invalid_token"


def test_a_disabled_account_loses_its_tokens(demo, token_for, api):
    from parapheur.accounts.models import User
    from parapheur.db import transaction

    caller = api(token_for("dgs", ("documents:read",)))
    with demo.app_context():
        session = get_session()
        with transaction(session):
            session.execute(select(User).where(User.username == "dgs")).scalar_one().active = False
    assert caller.get("/api/v1/documents/1").json["code"] == "account_disabled"


def test_service_tokens_by_administrators(demo, client_for, api):
    admin = client_for("admin")
    assert "Jetons de service" in admin.get("/admin/").get_data(as_text=True)
    page = admin.get("/admin/api-tokens").get_data(as_text=True)
    with demo.app_context():
        from parapheur.accounts.models import User

        finances_id = get_session().execute(select(User.id).where(
            User.username == "finances")).scalar_one()
    created = admin.post("/admin/api-tokens", data={
        "csrf_token": csrf_from(page), "user_id": str(finances_id), "name": "Logiciel financier",
        "scopes": ["invoices:read", "documents:write"], "days": "365"})
    assert created.status_code == 201
    secret = SECRET_RE.search(created.get_data(as_text=True)).group(1)
    with demo.app_context():
        token = get_session().execute(select(ApiToken)).scalar_one()
        assert token.kind.value == "service" and token.user.username == "finances"
        assert token.created_by.username == "admin"
    assert api(secret).get("/api/v1/documents/1").json["code"] == "insufficient_scope"
    assert client_for("dgs").get("/admin/api-tokens").status_code == 403


def test_tokens_command_creates_lists_and_revokes(demo, api):
    created = run_cli(demo, "tokens", "create", "dgs", "--name", "Export nocturne",
                      "--scope", "documents:read")
    assert created.returncode == 0, created.stdout + created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("pph_")
    assert api(secret).get("/api/v1/documents/1").status_code == 200
    service = run_cli(demo, "tokens", "create", "finances", "--name", "GED", "--scope",
                      "documents:write", "--service", "admin")
    assert service.returncode == 0, service.stderr
    refused = run_cli(demo, "tokens", "create", "finances", "--name", "GED", "--scope",
                      "documents:write", "--service", "dgs")
    assert refused.returncode == 1 and "administrateur" in refused.stderr
    listed = run_cli(demo, "tokens", "list")
    assert listed.returncode == 0 and "Export nocturne" in listed.stdout
    assert secret not in listed.stdout and "actif" in listed.stdout
    token_id = listed.stdout.splitlines()[0].split("\t")[0]
    assert run_cli(demo, "tokens", "revoke", token_id, "--as", "finances").returncode == 1
    revoked = run_cli(demo, "tokens", "revoke", token_id, "--as", "dgs")
    assert revoked.returncode == 0
    assert api(secret).get("/api/v1/documents/1").json["code"] == "revoked_token"
    assert "révoqué" in run_cli(demo, "tokens", "list").stdout


def test_a_token_never_reaches_another_organisation(demo, token_for, api):
    neighbour_account(demo, "admin-voisine", "administrateur")
    other = api(token_for("admin-voisine"))
    assert other.get("/api/v1/documents").json["items"] == []
    assert other.get("/api/v1/documents/1").status_code == 404
    assert [u["username"] for u in other.get("/api/v1/users").json] == ["admin-voisine"]
    assert other.get("/api/v1/desks").json == []
    assert other.post("/api/v1/delegations", json={
        "from_desk": "maire", "to_desk": "adjoint", "first_day": "2026-12-20",
        "last_day": "2026-12-21"}).status_code == 404
    # The demo's administrator sees none of the other organisation's tokens either.
    assert "admin-voisine" not in run_cli(demo, "tokens", "list", "--org",
                                          "metropole-demo").stdout
