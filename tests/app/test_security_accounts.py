"""Logins and sessions under attack: concurrent guessing, lockout abuse, revocation, lifetimes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from app_helpers import csrf_from, first_waiting, login, page_text, run_cli
from sqlalchemy import func, select

from parapheur.accounts.models import Throttle, User
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session


def _events(app, name: str) -> int:
    with app.app_context():
        return get_session().execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.name == name)).scalar_one()


def _login_form(client) -> str:
    return csrf_from(client.get("/login").get_data(as_text=True))


@pytest.mark.postgres
def test_concurrent_guesses_get_at_most_five_password_checks(demo):
    demo.config["LOGIN_RATE_LIMIT"] = "1000 per minute"  # only the per-username count here
    clients = [demo.test_client() for _ in range(16)]
    tokens = [_login_form(client) for client in clients]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def guess(client, token):
        start.wait()
        response = client.post("/login", data={"username": "maire", "password": "guess-123",
                                               "csrf_token": token})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401] * 5 + [429] * 11
    assert _events(demo, "account:login:failed") == 5
    # The right password after the burst is not even checked.
    late = login(demo.test_client(), "maire")
    assert late.status_code == 429 and "Trop de tentatives" in page_text(late)
    assert int(late.headers["Retry-After"]) > 14 * 60


def test_one_source_is_throttled_with_retry_after(demo):
    demo.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    client = demo.test_client()
    for username in ("alice", "bob", "carol"):
        assert login(client, username, "wrong-password").status_code == 401
    refused = login(client, "maire")  # even the right password of another account
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "patientez" in page_text(refused)
    assert client.get("/login").status_code == 200  # only attempts are throttled


def test_an_administrator_unlocks_an_account_on_the_admin_page(demo, client_for):
    attacker = demo.test_client()
    for _ in range(5):
        assert login(attacker, "maire", "wrong-password").status_code == 401
    assert login(demo.test_client(), "maire").status_code == 429
    admin = client_for("admin")
    page = admin.get("/admin/")
    assert "Connexion bloquée" in page_text(page)
    with demo.app_context():
        maire_id = get_session().execute(select(User.id).where(User.username == "maire")).scalar_one()
    response = admin.post(f"/admin/users/{maire_id}/unlock",
                          data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert _events(demo, "account:login:unlocked") == 1
    assert login(demo.test_client(), "maire").status_code == 302


def test_the_cli_unlocks_an_account(demo):
    for _ in range(5):
        login(demo.test_client(), "dgs", "wrong-password")
    result = run_cli(demo, "users", "unlock", "dgs")
    assert result.returncode == 0, result.stderr
    assert "débloquée" in result.stdout
    assert login(demo.test_client(), "dgs").status_code == 302
    unknown = run_cli(demo, "users", "unlock", "nobody")
    assert unknown.returncode == 1 and "n'existe pas" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def _copy_session(source, target) -> None:
    cookie = source.get_cookie("session")
    target.set_cookie("session", cookie.value)


def test_logout_ends_the_session_even_for_a_copied_cookie(demo, client_for):
    maire = client_for("maire")
    thief = demo.test_client()
    _copy_session(maire, thief)
    assert thief.get("/").status_code == 200
    token = csrf_from(maire.get("/").get_data(as_text=True))
    assert maire.post("/logout", data={"csrf_token": token}).status_code == 302
    assert thief.get("/").status_code == 302  # sent to the login page
    assert maire.get("/").status_code == 302


def test_a_password_change_and_disabling_end_sessions_at_once(demo, client_for, clock):
    from parapheur.accounts import services

    maire = client_for("maire")
    dgs = client_for("dgs")
    with demo.app_context():
        session = get_session()
        user = session.execute(select(User).where(User.username == "maire")).scalar_one()
        services.change_password(session, user, current="demo-maire", new="nouveau-secret-1",
                                 now=clock(), actor=user)
        session.commit()
    assert maire.get("/").status_code == 302
    assert login(demo.test_client(), "maire", "nouveau-secret-1").status_code == 302
    with demo.app_context():
        session = get_session()
        admin = session.execute(select(User).where(User.username == "admin")).scalar_one()
        user = session.execute(select(User).where(User.username == "dgs")).scalar_one()
        services.set_active(session, user, False, now=clock(), actor=admin)
        services.set_active(session, user, True, now=clock(), actor=admin)
        session.commit()
    assert dgs.get("/").status_code == 302  # re-enabling does not bring old sessions back


def test_a_login_lasts_session_hours_from_login_however_active(demo, client_for, clock):
    maire = client_for("maire")
    for _ in range(9):  # a request every 50 minutes: never idle
        clock.moment += timedelta(minutes=50)
        assert maire.get("/").status_code == 200
    clock.moment += timedelta(minutes=31)  # 8 h 01 after login
    expired = maire.get("/")
    assert expired.status_code == 302 and "/login" in expired.headers["Location"]


def test_an_idle_session_ends(demo, client_for, clock):
    maire = client_for("maire")
    clock.moment += timedelta(minutes=demo.config["SESSION_IDLE_MINUTES"] + 1)
    assert maire.get("/").status_code == 302


def test_staying_connected_restarts_the_idle_lifetime_but_never_the_absolute_one(
        demo, client_for, clock):
    demo.config.update(SESSION_IDLE_MINUTES=60, SESSION_HOURS=2)
    maire = client_for("maire")
    login_at = int(clock.moment.timestamp())
    page = maire.get("/").get_data(as_text=True)
    assert f'data-ends-at="{login_at + 3600}"' in page and 'data-extendable="oui"' in page
    clock.moment += timedelta(minutes=55)  # reading a long document: no request for 55 minutes
    answer = maire.post("/session/prolonger", data={"csrf_token": csrf_from(page)},
                        headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert answer.get_json() == {"ends_at": login_at + 55 * 60 + 3600, "extendable": True}
    clock.moment += timedelta(minutes=50)  # 1 h 45 after login, 50 minutes after « rester »
    page = maire.get("/").get_data(as_text=True)
    assert maire.get("/").status_code == 200
    # The absolute lifetime (2 h) now comes first: it cannot be extended.
    assert f'data-ends-at="{login_at + 7200}"' in page and 'data-extendable="non"' in page
    without_script = maire.post("/session/prolonger", data={"csrf_token": csrf_from(page),
                                                            "next": "/documents"})
    assert without_script.status_code == 302 and without_script.headers["Location"] == "/documents"
    clock.moment += timedelta(minutes=16)
    assert maire.get("/").status_code == 302  # 2 h 01 after login


def test_a_request_that_changes_nothing_leaves_the_cookie_alone(demo, client_for):
    """A page image that was already loading when the reader posted a comment answers after the
    comment's redirect: it must not send back the session it read before the comment, which would
    put the old cookie back in the browser and lose « Commentaire ajouté. »."""
    document_id, _ = first_waiting(demo, "signature")
    maire = client_for("maire")
    page = maire.get(f"/documents/{document_id}").get_data(as_text=True)
    loading = demo.test_client()  # the image request, sent with the cookie of that moment
    _copy_session(maire, loading)
    posted = maire.post(f"/documents/{document_id}/comments",
                        data={"csrf_token": csrf_from(page), "body": "Vu en commission."})
    assert posted.status_code == 302
    image = loading.get(f"/documents/{document_id}/versions/1/pages/1.png")
    assert image.status_code == 200
    assert "Set-Cookie" not in image.headers
    assert "Set-Cookie" not in loading.get(f"/documents/{document_id}/reading").headers
    assert "Commentaire ajouté." in page_text(maire.get(f"/documents/{document_id}"))


def test_staying_connected_needs_a_session_and_its_csrf_token(demo, client_for):
    anonymous = demo.test_client()
    assert anonymous.post("/session/prolonger").status_code in (302, 400)
    maire = client_for("maire")
    assert maire.post("/session/prolonger").status_code == 400  # no CSRF token


def test_the_csrf_token_changes_at_login_and_logout(demo):
    client = demo.test_client()
    anonymous = _login_form(client)
    login(client, "maire")
    logged_in = csrf_from(client.get("/").get_data(as_text=True))
    assert logged_in != anonymous
    client.post("/logout", data={"csrf_token": logged_in})
    assert _login_form(client) != logged_in
    # The token of the ended session no longer passes.
    stale = client.post("/login", data={"username": "maire", "password": "demo-maire",
                                        "csrf_token": logged_in})
    assert stale.status_code == 400


def test_head_and_get_never_authenticate(demo):
    client = demo.test_client()
    before = _events(demo, "account:login:failed")
    assert client.head("/login").status_code == 200
    assert client.get("/login?username=maire&password=demo-maire").status_code == 200
    assert client.get("/").status_code == 302
    assert _events(demo, "account:login:failed") == before


def test_an_empty_username_is_a_form_error_not_an_attempt(demo):
    client = demo.test_client()
    response = client.post("/login", data={"username": "  ", "password": "x",
                                           "csrf_token": _login_form(client)})
    assert response.status_code == 400
    assert "Saisissez votre identifiant" in page_text(response)
    assert _events(demo, "account:login:failed") == 0
    with demo.app_context():
        assert get_session().execute(select(func.count()).select_from(Throttle)).scalar_one() == 0
