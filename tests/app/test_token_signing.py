"""An official signs in the browser with a key on a PKCS#11 token (a real SoftHSM2 token)."""

from __future__ import annotations

import subprocess

from app_helpers import csrf_from, db_snapshot, page_text
from sqlalchemy import select

from parapheur.accounts.models import SigningCredential, User
from parapheur.db import get_session


def _register(admin, user_id: int, token, *, pin: str, key_label: str = "maire"):
    page = admin.get("/admin/").get_data(as_text=True)
    return admin.post(f"/admin/users/{user_id}/token", data={
        "csrf_token": csrf_from(page), "module": token.module, "token_label": token.token_label,
        "key_label": key_label, "pin": pin})


def _maire_id(app) -> int:
    with app.app_context():
        return get_session().execute(select(User.id).where(User.username == "maire")).scalar_one()


def test_the_maire_signs_with_her_token(demo, client_for, softhsm_token, pki_server, dev_pki,
                                        demo_pki, pdfsig, tmp_path):
    # The token holds a key of another PKI than the demo's (whose TSA stamps the signature): both
    # roots are trusted anchors of this application.
    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path, dev_pki.ca_certificate_path)
    demo.config["PKCS11_MODULES"] = (softhsm_token.module,)
    admin = client_for("admin")
    response = _register(admin, _maire_id(demo), softhsm_token, pin=softhsm_token.pin)
    assert response.status_code == 302, page_text(response)
    with demo.app_context():
        credential = get_session().execute(
            select(SigningCredential).where(SigningCredential.active.is_(True),
                                            SigningCredential.kind == "pkcs11")).scalar_one()
        assert credential.token_label == softhsm_token.token_label

    maire = client_for("maire")
    page = maire.get("/documents/3").get_data(as_text=True)
    wrong = maire.post("/documents/3/steps/signature_maire/sign",
                       data={"csrf_token": csrf_from(page), "passphrase": "000000"})
    assert wrong.status_code == 400 and "PIN" in page_text(wrong)
    response = maire.post("/documents/3/steps/signature_maire/sign",
                          data={"csrf_token": csrf_from(page), "passphrase": softhsm_token.pin})
    assert response.status_code == 302, page_text(response)
    pdf = maire.get("/documents/3/versions/2/file").data
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    output = subprocess.run([pdfsig, str(path)], capture_output=True, text=True).stdout
    assert "Signature is Valid." in output, output


def test_a_bad_token_registration_is_refused(demo, client_for, softhsm_token):
    demo.config["PKCS11_MODULES"] = (softhsm_token.module,)
    admin = client_for("admin")
    before = db_snapshot(demo)
    assert _register(admin, _maire_id(demo), softhsm_token, pin="000000").status_code == 400
    assert _register(admin, _maire_id(demo), softhsm_token, pin=softhsm_token.pin,
                     key_label="inconnue").status_code == 400
    page = admin.get("/admin/").get_data(as_text=True)
    missing_module = admin.post(f"/admin/users/{_maire_id(demo)}/token", data={
        "csrf_token": csrf_from(page), "module": "/nonexistent/lib.so", "token_label": "x",
        "key_label": "y", "pin": "1"})
    assert missing_module.status_code == 400
    assert db_snapshot(demo) == before
