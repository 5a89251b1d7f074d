"""The documents page lists what a user may see; auditors download evidence bundles."""

from __future__ import annotations

import io
import zipfile

import pytest
from app_helpers import csrf_from, page_text, upload
from sqlalchemy import select

from parapheur.audit.bundle import check_bundle
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = pytest.mark.postgres


def test_auditor_sees_every_document_and_filters_them(demo, client_for):
    auditor = client_for("auditeur")
    page = page_text(auditor.get("/documents"))
    assert "3 documents" in page
    assert page.count("Dossier de preuve (.zip)") == 3
    page = page_text(auditor.get("/documents?q=médiathèque"))
    assert "1 document" in page and "Tarifs de la médiathèque" in page
    page = page_text(auditor.get("/documents?q=MEDIATHEQUE"))  # accents and case aside
    assert "1 document" in page and "Tarifs de la médiathèque" in page
    assert "0 document" in page_text(auditor.get("/documents?status=rejete"))
    assert "3 documents" in page_text(auditor.get("/documents?type=ACTES&status=en_cours"))
    assert "0 document" in page_text(auditor.get("/documents?q=100%25"))  # % is literal


def test_others_see_only_the_documents_they_take_part_in(demo, client_for, sample_pdf):
    finances = client_for("finances")
    assert upload(finances, sample_pdf, title="Arrêté de stationnement",
                  typology="ACTES/ARRETE").status_code == 302
    adjoint = page_text(client_for("adjoint").get("/documents"))
    assert "0 document" in adjoint
    dgs = page_text(client_for("dgs").get("/documents"))
    assert "Délibération n° 2026-041" in dgs
    assert "Dossier de preuve" not in dgs


def test_bad_filters_are_refused(demo, client_for):
    auditor = client_for("auditeur")
    assert auditor.get("/documents?status=perdu").status_code == 400
    assert auditor.get("/documents?page=deux").status_code == 400
    assert auditor.get("/documents?page=999999999999999999999999").status_code == 200


def test_auditor_downloads_a_bundle_that_checks(demo, client_for, demo_pki, tmp_path):
    from parapheur.demo.seed import DEMO_PASSPHRASE

    passphrase = tmp_path / "seal-passphrase"
    passphrase.write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    demo.config["SEAL_PKCS12"] = demo_pki.seal_pkcs12_path  # the bundle is sealed with it
    demo.config["SEAL_PASSPHRASE_FILE"] = passphrase
    maire = client_for("maire")
    token = csrf_from(maire.get("/documents/3").get_data(as_text=True))
    assert maire.post("/documents/3/steps/signature_maire/sign",
                      data={"csrf_token": token, "passphrase": "1234"}).status_code == 302
    response = client_for("auditeur").get("/documents/3/evidence.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    path = tmp_path / "preuve.zip"
    path.write_bytes(response.data)
    assert check_bundle(path).ok
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert {"bordereau.pdf", "sceau.pdf"} <= set(archive.namelist())
    with demo.app_context():
        names = get_session().execute(select(AuditEvent.name)).scalars().all()
        assert "document:evidence:exported" in names


def test_evidence_is_for_auditors_and_administrators(demo, client_for):
    assert client_for("maire").get("/documents/3/evidence.zip").status_code == 403
    assert client_for("auditeur").get("/documents/999/evidence.zip").status_code == 404
