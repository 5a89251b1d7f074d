"""Bad input gets a clear, specific error, and leaves every row as it was."""

from __future__ import annotations

import io

import pytest
from app_helpers import db_snapshot, login, page_text, upload
from sqlalchemy import select

from parapheur.audit.models import AuditEvent
from parapheur.db import get_session
from parapheur.documents.models import Document


def _encrypted(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    writer.encrypt("owner-secret", "user-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_upload_of_a_good_pdf_starts_its_circuit(demo, client_for, sample_pdf):
    client = client_for("finances")
    response = upload(client, sample_pdf)
    assert response.status_code == 302
    with demo.app_context():
        document = get_session().execute(
            select(Document).where(Document.title == "Arrêté de voirie")).scalar_one()
        assert document.current_version.page_count == 2


@pytest.mark.parametrize("case, expected", [
    ("not_pdf", "n'est pas un PDF"),
    ("truncated", "tronqué"),
    ("encrypted", "chiffré"),
    ("empty", "vide"),
])
def test_bad_uploads_are_refused_and_change_nothing(demo, client_for, sample_pdf, case, expected):
    data = {
        "not_pdf": b"PK\x03\x04 this is a zip, not a pdf" * 10,
        "truncated": sample_pdf[: len(sample_pdf) // 2],
        "encrypted": _encrypted(sample_pdf),
        "empty": b"",
    }[case]
    client = client_for("finances")
    before = db_snapshot(demo)
    response = upload(client, data)
    assert response.status_code == 400
    assert expected in page_text(response)
    assert db_snapshot(demo) == before
    assert not list((demo.config["DATA_DIR"] / "store").glob("**/.tmp-*"))


def test_oversized_upload_gets_413_and_changes_nothing(demo, client_for):
    client = client_for("finances")
    before = db_snapshot(demo)
    big = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024) + b"\n%%EOF\n"
    response = upload(client, big)
    assert response.status_code == 413
    assert "taille maximale" in page_text(response)
    assert db_snapshot(demo) == before


def test_unknown_typology_is_refused(demo, client_for, sample_pdf):
    client = client_for("finances")
    before = db_snapshot(demo)
    response = upload(client, sample_pdf, typology="ACTES/Inexistant")
    assert response.status_code in (400, 404)
    assert db_snapshot(demo) == before


def test_wrong_login_password_is_refused(demo):
    client = demo.test_client()
    before = db_snapshot(demo)
    response = login(client, "maire", "not-the-password")
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in page_text(response)
    assert client.get("/").status_code == 302  # still anonymous: sent to the login page
    after = db_snapshot(demo)
    # Only the failed attempt is journaled and counted (for the lockout); nothing else moved.
    kept = ("audit", "throttles")
    assert {k: v for k, v in after.items() if not k.startswith(kept)} == \
           {k: v for k, v in before.items() if not k.startswith(kept)}
    assert len(after["throttles"]) == len(before["throttles"]) + 1
    with demo.app_context():
        last = get_session().execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
        assert last.name == "account:login:failed"


def test_missing_csrf_token_is_refused(demo, client_for, sample_pdf):
    client = client_for("finances")
    before = db_snapshot(demo)
    response = upload(client, sample_pdf, token="")
    assert response.status_code == 400
    assert "CSRF" in page_text(response)
    assert db_snapshot(demo) == before


def test_login_form_without_csrf_is_refused(demo):
    client = demo.test_client()
    response = client.post("/login", data={"username": "maire", "password": "demo-maire"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_five_failures_lock_the_username_for_a_while(demo, clock):
    from datetime import timedelta

    client = demo.test_client()
    for _ in range(5):
        assert login(client, "dgs", "wrong-password").status_code == 401
    locked = login(client, "dgs")  # even the right password is not checked now
    assert locked.status_code == 429
    assert "Trop de tentatives" in page_text(locked)
    assert login(client, "maire").status_code == 302  # other usernames are not affected
    clock.moment += timedelta(minutes=16)
    other = demo.test_client()
    assert login(other, "dgs").status_code == 302
    # A success clears the count.
    with demo.app_context():
        from parapheur.accounts.models import Throttle

        assert get_session().get(Throttle, "login:dgs").attempts == 0


def test_a_login_expires_after_the_configured_hours(demo):
    client = demo.test_client()
    response = login(client, "maire")
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
