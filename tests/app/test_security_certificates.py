"""Registering a signing certificate: only a trusted, unrevoked one, in the holder's name."""

from __future__ import annotations

import io

from app_helpers import csrf_from, db_snapshot, page_text
from sqlalchemy import select

from parapheur.accounts.models import User
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session


def _user_id(app, username: str) -> int:
    with app.app_context():
        return get_session().execute(select(User.id).where(User.username == username)).scalar_one()


def _register(admin, user_id: int, data: bytes, reason: str = ""):
    token = csrf_from(admin.get("/admin/").get_data(as_text=True))
    return admin.post(f"/admin/users/{user_id}/credential", content_type="multipart/form-data",
                      data={"csrf_token": token, "passphrase": "1234",
                            "name_mismatch_reason": reason,
                            "pkcs12": (io.BytesIO(data), "certificat.p12")})


def test_untrusted_and_revoked_certificates_are_refused(demo, client_for, demo_pki):
    admin = client_for("admin")
    adjoint = _user_id(demo, "adjoint")
    before = db_snapshot(demo)
    untrusted = _register(admin, adjoint, demo_pki.pkcs12_path("untrusted").read_bytes(), "x")
    assert untrusted.status_code == 400
    assert "n'est pas émis par une autorité de confiance" in page_text(untrusted)
    revoked = _register(admin, adjoint, demo_pki.pkcs12_path("revoked").read_bytes(), "x")
    assert revoked.status_code == 400 and "révoqué" in page_text(revoked)
    assert db_snapshot(demo) == before


def test_another_persons_certificate_needs_a_journaled_reason(demo, client_for, demo_pki):
    admin = client_for("admin")
    dgs = _user_id(demo, "dgs")
    before = db_snapshot(demo)
    maire_certificate = demo_pki.pkcs12_path("maire").read_bytes()
    refused = _register(admin, dgs, maire_certificate)
    assert refused.status_code == 400
    assert "au nom de « Martine Dupont »" in page_text(refused) and "motif" in page_text(refused)
    assert db_snapshot(demo) == before
    accepted = _register(admin, dgs, maire_certificate, reason="Intérim de la signature du maire")
    assert accepted.status_code == 302
    with demo.app_context():
        event = get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "account:credential:registered")
            .order_by(AuditEvent.id.desc())).scalars().first()
    assert event.details["name_mismatch_reason"] == "Intérim de la signature du maire"


def test_a_pkcs11_module_outside_the_allow_list_is_refused(demo, client_for):
    admin = client_for("admin")
    token = csrf_from(admin.get("/admin/").get_data(as_text=True))
    before = db_snapshot(demo)
    response = admin.post(f"/admin/users/{_user_id(demo, 'maire')}/token", data={
        "csrf_token": token, "module": "/bin/sh", "token_label": "carte", "key_label": "maire",
        "pin": "123456"})
    assert response.status_code == 400
    assert "Module PKCS#11 non autorisé" in page_text(response)
    assert db_snapshot(demo) == before
