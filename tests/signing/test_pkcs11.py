"""PKCS#11 keys on a real SoftHSM2 token: each level, the seal, a wrong PIN, a missing key."""

from __future__ import annotations

import pytest
from checks import assert_pdfsig_valid, pyhanko_statuses
from pdfs import simple_pdf

from signing import Level, SignOptions, Stamp, WrongPassphrase, sign_document
from signing.errors import KeyUnavailable
from signing.keys import Pkcs11Key


@pytest.fixture
def token_key(softhsm_token):
    key = Pkcs11Key.open(softhsm_token.module, pin=softhsm_token.pin,
                         token_label=softhsm_token.token_label, key_label="maire")
    yield key
    key.close()


@pytest.mark.parametrize("level", list(Level))
def test_token_signs_at_every_level(level, token_key, dev_pki, pki_server, pdfsig, tmp_path):
    signed = sign_document(simple_pdf(), token_key,
                           SignOptions(level=level, stamp=Stamp("Martine Dupont", "Le Maire")),
                           timestamper=pki_server.tsa_url if level.needs_timestamp else None)

    statuses = pyhanko_statuses(signed, dev_pki.ca_certificate_path)
    assert statuses[0].bottom_line, statuses[0].pretty_print_details()
    assert (statuses[0].timestamp_validity is not None) == level.needs_timestamp
    assert len(statuses) == (2 if level is Level.B_LTA else 1)
    assert_pdfsig_valid(pdfsig, signed, tmp_path, 1, doc_timestamps=len(statuses) - 1)
    assert token_key.subject_name == "Martine Dupont"


def test_seal_on_the_token_signs(softhsm_token, dev_pki, pdfsig, tmp_path):
    with Pkcs11Key.open(softhsm_token.module, pin=softhsm_token.pin,
                        token_label=softhsm_token.token_label, key_label="seal") as seal:
        signed = sign_document(simple_pdf(), seal, SignOptions())

    assert_pdfsig_valid(pdfsig, signed, tmp_path, 1)
    assert seal.subject_name.startswith("Cachet serveur")


def test_one_login_serves_many_documents(token_key, dev_pki):
    from signing.batch import BatchSigner

    outcomes = BatchSigner(token_key, SignOptions()).sign_documents(
        [(f"doc{i}", simple_pdf()) for i in range(5)])

    assert [o.ok for o in outcomes] == [True] * 5
    for outcome in outcomes:
        (status,) = pyhanko_statuses(outcome.signed, dev_pki.ca_certificate_path)
        assert status.bottom_line


def test_wrong_pin_is_reported_as_such(softhsm_token):
    with pytest.raises(WrongPassphrase) as caught:
        Pkcs11Key.open(softhsm_token.module, pin="000000", token_label=softhsm_token.token_label,
                       key_label="maire")

    assert "PIN incorrect" in caught.value.message


def test_wrong_pin_while_the_token_is_open_is_refused_without_a_card_attempt(token_key,
                                                                             softhsm_token):
    with pytest.raises(WrongPassphrase):
        Pkcs11Key.open(softhsm_token.module, pin="000000", token_label=softhsm_token.token_label,
                       key_label="maire")

    with Pkcs11Key.open(softhsm_token.module, pin=softhsm_token.pin,
                        token_label=softhsm_token.token_label, key_label="maire") as again:
        assert again.subject_name == "Martine Dupont"


def test_unknown_key_label_is_reported(softhsm_token):
    with pytest.raises(KeyUnavailable) as caught:
        Pkcs11Key.open(softhsm_token.module, pin=softhsm_token.pin,
                       token_label=softhsm_token.token_label, key_label="nobody")

    assert "introuvable" in caught.value.message


def test_unknown_token_is_reported(softhsm_token):
    with pytest.raises(KeyUnavailable):
        Pkcs11Key.open(softhsm_token.module, pin=softhsm_token.pin, token_label="no-such-token",
                       key_label="maire")


def test_seal_is_configured_as_either_kind(softhsm_token, dev_pki, pdfsig, tmp_path):
    from signing.keys import KeySpec, open_key

    file_seal = KeySpec(kind="pkcs12", path=dev_pki.seal_pkcs12_path,
                        passphrase=dev_pki.passphrase)
    token_seal = KeySpec(kind="pkcs11", module=softhsm_token.module,
                         token_label=softhsm_token.token_label, key_label="seal",
                         pin=softhsm_token.pin)

    for spec in (file_seal, token_seal):
        with open_key(spec) as seal:
            signed = sign_document(simple_pdf(), seal, SignOptions())
        assert seal.subject_name.startswith("Cachet serveur")
        assert_pdfsig_valid(pdfsig, signed, tmp_path, 1)


def test_unknown_key_kind_is_refused():
    from signing.keys import KeySpec, open_key

    with pytest.raises(KeyUnavailable):
        open_key(KeySpec(kind="remote"))
