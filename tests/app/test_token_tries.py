"""A PKCS#11 token's remaining PIN tries are shown when it reports them (issue #9, item 3)."""

from __future__ import annotations

import pytest
from app_helpers import csrf_from, page_text
from pkcs11 import TokenFlag
from sqlalchemy import select

from parapheur.accounts.models import User
from parapheur.db import get_session
from signing.keys import PinTries, Pkcs11Key, pin_tries_from_flags, token_pin_tries


def _register(demo, client_for, token, trusted) -> None:
    demo.config["PKCS11_MODULES"] = (token.module,)
    demo.config["TRUST_ANCHORS"] = trusted  # the token holds a key of another PKI
    with demo.app_context():
        maire_id = get_session().execute(
            select(User.id).where(User.username == "maire")).scalar_one()
    admin = client_for("admin")
    page = admin.get("/admin/").get_data(as_text=True)
    response = admin.post(f"/admin/users/{maire_id}/token", data={
        "csrf_token": csrf_from(page), "module": token.module, "token_label": token.token_label,
        "key_label": "maire", "pin": token.pin})
    assert response.status_code == 302, page_text(response)


def test_a_wrong_pin_says_the_tries_are_low_and_the_form_says_it_too(
        demo, client_for, softhsm_token, dev_pki, demo_pki):
    _register(demo, client_for, softhsm_token,
              (demo_pki.ca_certificate_path, dev_pki.ca_certificate_path))  # a good PIN: the token reports nothing
    assert token_pin_tries(softhsm_token.module, token_label=softhsm_token.token_label) is None
    maire = client_for("maire")
    page = page_text(maire.get("/documents/3"))
    assert "peu d'essais" not in page
    try:
        wrong = maire.post("/documents/3/steps/signature_maire/sign",
                           data={"csrf_token": csrf_from(page), "passphrase": "000000"})
        assert wrong.status_code == 400
        text = page_text(wrong)
        # SoftHSM2 raises CKF_USER_PIN_COUNT_LOW after a wrong PIN, as cards do.
        assert "Code PIN incorrect" in text and "il ne reste que peu d'essais" in text
        form = page_text(maire.get("/documents/3")).split("/steps/signature_maire/sign", 1)[1]
        assert "il ne reste que peu d'essais" in form.split("</form>", 1)[0]
        inbox = page_text(maire.get("/"))
        assert "Signer la sélection" in inbox and "il ne reste que peu d'essais" in inbox
    finally:
        # A good PIN clears the flag (for the token's other tests, and as cards do).
        Pkcs11Key.open(softhsm_token.module, pin=softhsm_token.pin,
                       token_label=softhsm_token.token_label, key_label="maire").close()
    assert "peu d'essais" not in page_text(maire.get("/documents/3"))


@pytest.mark.parametrize("flags, expected", [
    (0, None),
    (TokenFlag.USER_PIN_COUNT_LOW, PinTries.LOW),
    (TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.USER_PIN_FINAL_TRY, PinTries.FINAL),
    (TokenFlag.USER_PIN_FINAL_TRY | TokenFlag.USER_PIN_LOCKED, PinTries.LOCKED),
])
def test_token_flags_give_the_most_severe_state(flags, expected):
    # SoftHSM2 only ever reports COUNT_LOW: the other flags are read from their PKCS#11 values.
    assert pin_tries_from_flags(int(flags)) is expected
    if expected is PinTries.FINAL:
        assert "dernier essai" in expected.notice
    if expected is PinTries.LOCKED:
        assert "PUK" in expected.notice
