"""Hostile form values: NUL characters, over-long texts, huge ids, non-Latin-1 file names."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest
from app_helpers import csrf_from, db_snapshot, page_text, upload
from sqlalchemy import select

from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = pytest.mark.postgres

HUGE = "99999999999999999999999"


def _visa_waiting(demo) -> tuple[int, str]:
    with demo.app_context():
        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            pending = pending_steps(document)
            if pending and pending[0].action == "visa":
                return document.id, pending[0].state
    raise AssertionError("no document waits for a visa")


def test_a_nul_character_in_the_anonymous_login_form_is_a_400_naming_the_field(demo):
    client = demo.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    before = db_snapshot(demo)
    response = client.post("/login", data={"username": "mai\x00re", "password": "x",
                                           "csrf_token": token})
    assert response.status_code == 400
    assert "« username »" in page_text(response) and "caractère nul" in page_text(response)
    assert db_snapshot(demo) == before


def test_a_nul_character_in_an_upload_title_changes_nothing(demo, client_for, sample_pdf):
    client = client_for("finances")
    before = db_snapshot(demo)
    response = upload(client, sample_pdf, title="Arrêté\x00 de voirie")
    assert response.status_code == 400 and "« title »" in page_text(response)
    assert db_snapshot(demo) == before


def test_over_long_admin_fields_are_refused_with_their_label(demo, client_for):
    admin = client_for("admin")
    token = csrf_from(admin.get("/admin/").get_data(as_text=True))
    before = db_snapshot(demo)
    response = admin.post("/admin/users", data={
        "csrf_token": token, "username": "nouveau", "full_name": "N" * 250,
        "password": "mot-de-passe-1", "role": "agent"})
    assert response.status_code == 400
    assert "« Nom complet » est trop long : 200 caractères au plus" in page_text(response)
    response = admin.post("/admin/desks", data={"csrf_token": token, "slug": "urbanisme",
                                                "name": "Urbanisme", "quality": "Q" * 201})
    assert response.status_code == 400 and "« Qualité » est trop long" in page_text(response)
    assert db_snapshot(demo) == before


def test_huge_ids_are_refused_never_overflow(demo, client_for):
    admin = client_for("admin")
    maire = client_for("maire")
    token = csrf_from(admin.get("/admin/").get_data(as_text=True))
    before = db_snapshot(demo)
    assert admin.get(f"/documents/{HUGE}").status_code == 404
    assert admin.get(f"/documents/{HUGE}/versions/{HUGE}/file").status_code == 404
    response = admin.post("/admin/desks/1/members", data={"csrf_token": token, "user_id": HUGE})
    assert response.status_code == 400
    response = admin.post("/admin/users", data={
        "csrf_token": token, "username": "nouveau", "full_name": "Nouveau", "role": "agent",
        "password": "mot-de-passe-1", "desks": HUGE})
    assert response.status_code == 400 and "« Bureaux » : identifiant invalide" in page_text(response)
    response = maire.post("/signatures/batch", data={
        "csrf_token": csrf_from(maire.get("/").get_data(as_text=True)), "passphrase": "1234",
        "reviewed": "1", "items": f"{HUGE}:signature_maire"})
    assert response.status_code == 400 and "Sélection" in page_text(response)
    assert db_snapshot(demo) == before


def test_an_over_long_rejection_reason_is_refused_by_the_service(demo, client_for):
    document_id, step = _visa_waiting(demo)
    dgs = client_for("dgs")
    token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    before = db_snapshot(demo)
    response = dgs.post(f"/documents/{document_id}/steps/{step}/reject",
                        data={"csrf_token": token, "reason": "x" * 2001})
    assert response.status_code == 400
    assert "« Motif » est trop long : 2000 caractères au plus" in page_text(response)
    assert db_snapshot(demo) == before


def test_an_over_long_metadata_value_is_refused_with_its_label(demo, client_for, sample_pdf):
    client = client_for("finances")
    before = db_snapshot(demo)
    response = upload(client, sample_pdf, objet="o" * 1001)
    assert response.status_code == 400
    assert "« Objet de la délibération » est trop long" in page_text(response)
    assert db_snapshot(demo) == before


@pytest.mark.parametrize("name", ["vœux 2027.pdf", "œuvre-cœur.pdf"])
def test_a_non_latin1_file_name_downloads_over_real_http(live_server, demo, sample_pdf, name):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def fetch(path: str, data: dict | None = None, timeout: float = 10):
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        return opener.open(f"{live_server}{path}", data=body, timeout=timeout)

    token = re.search(r'name="csrf_token" value="([^"]+)"', fetch("/login").read().decode())[1]
    fetch("/login", {"username": "finances", "password": "demo-finances", "csrf_token": token})
    client = demo.test_client()
    client.set_cookie("session", next(c.value for c in jar if c.name == "session"))
    assert upload(client, sample_pdf, filename=name).status_code == 302
    with demo.app_context():
        document_id = get_session().execute(select(Document.id).order_by(Document.id.desc())
                                            ).scalars().first()
    quoted = urllib.parse.quote(name)
    for suffix, disposition in (("", "attachment"), ("?inline=1", "inline")):
        # A timeout here is the hang this guards against: the server never answered.
        with fetch(f"/documents/{document_id}/versions/1/file{suffix}") as response:
            header = response.headers["Content-Disposition"]
            assert header.startswith(disposition)
            assert f"filename*=UTF-8''{quoted}" in header
            assert header.encode("latin-1")  # the header itself is plain ASCII
            assert response.read() == sample_pdf
    with fetch(f"/documents/{document_id}") as page:
        assert page.status == 200
