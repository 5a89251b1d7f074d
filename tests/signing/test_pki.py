"""The development PKI and its loopback responders (TSA, OCSP, CRL)."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from asn1crypto import crl, ocsp, x509
from asn1crypto import pem as asn1_pem

from signing.keys import Pkcs12Key
from signing.pki import DevPki, Person, init_dev_pki


def _cert(path) -> x509.Certificate:
    _, _, der = asn1_pem.unarmor(path.read_bytes())
    return x509.Certificate.load(der)


def test_load_round_trips(dev_pki):
    loaded = DevPki.load(dev_pki.directory)

    assert loaded == dev_pki
    assert [p.key for p in loaded.people] == ["maire", "adjoint", "dgs"]


def test_people_seal_and_test_identities_open_with_the_passphrase(dev_pki):
    names = {key: Pkcs12Key.open(dev_pki.pkcs12_path(key), dev_pki.passphrase).subject_name
             for key in ("maire", "revoked", "expired", "untrusted")}
    seal = Pkcs12Key.open(dev_pki.seal_pkcs12_path, dev_pki.passphrase)

    assert names["maire"] == "Martine Dupont"
    assert seal.subject_name.startswith("Cachet serveur")
    assert {"revoked", "expired", "untrusted"} <= names.keys()


def test_untrusted_identity_chains_to_another_root(dev_pki):
    key = Pkcs12Key.open(dev_pki.pkcs12_path("untrusted"), dev_pki.passphrase)
    other_root = _cert(dev_pki.untrusted_ca_certificate_path)

    assert key.certificate.issuer == other_root.subject
    assert key.certificate.issuer != _cert(dev_pki.ca_certificate_path).subject


def test_expired_identity_is_expired(dev_pki):
    key = Pkcs12Key.open(dev_pki.pkcs12_path("expired"), dev_pki.passphrase)

    assert key.certificate["tbs_certificate"]["validity"]["not_after"].native < datetime.now(UTC)


def test_unknown_person_key_is_an_error(dev_pki):
    with pytest.raises(KeyError):
        dev_pki.pkcs12_path("nobody")


def test_certificates_point_at_the_loopback_responders(dev_pki):
    cert = Pkcs12Key.open(dev_pki.pkcs12_path("maire"), dev_pki.passphrase).certificate

    assert cert.ocsp_urls == [dev_pki.ocsp_url]
    assert [point.url for point in cert.crl_distribution_points] == [dev_pki.crl_url]
    assert set(cert.key_usage_value.native) == {"digital_signature", "non_repudiation"}


def test_long_names_are_cut_to_the_x520_limit(tmp_path):
    pki = init_dev_pki(tmp_path, organisation="Communauté d'agglomération du Grand Saint-Étienne-"
                       "Métropole et des communes associées", people=[
                           Person("dgs", "Marie-Françoise de La Tour d'Auvergne-Lauraguais "
                                  "épouse Dupont-Aignan", "Directrice générale des services")],
                       passphrase="pw")

    name = Pkcs12Key.open(pki.pkcs12_path("dgs"), "pw").subject_name
    assert len(name.encode("utf-8")) <= 64 and name.startswith("Marie-Françoise")


def test_crl_lists_the_revoked_certificate(dev_pki, pki_server):
    revoked = Pkcs12Key.open(dev_pki.pkcs12_path("revoked"), dev_pki.passphrase).certificate

    with urllib.request.urlopen(pki_server.crl_url, timeout=5) as answer:
        crl_list = crl.CertificateList.load(answer.read())

    serials = [entry["user_certificate"].native for entry in crl_list["tbs_cert_list"][
        "revoked_certificates"]]
    assert serials == [revoked.serial_number]
    assert crl_list.issuer == _cert(dev_pki.ca_certificate_path).subject


@pytest.mark.parametrize(("key", "status"), [("maire", "good"), ("revoked", "revoked")])
def test_ocsp_answers_good_or_revoked(key, status, dev_pki, pki_server):
    cert = Pkcs12Key.open(dev_pki.pkcs12_path(key), dev_pki.passphrase).certificate
    issuer = _cert(dev_pki.ca_certificate_path)
    request = ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": {
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": issuer.subject.sha1,
        "issuer_key_hash": issuer.public_key.sha1,
        "serial_number": cert.serial_number}}]}})
    http = urllib.request.Request(pki_server.ocsp_url, data=request.dump(),
                                  headers={"Content-Type": "application/ocsp-request"})

    with urllib.request.urlopen(http, timeout=5) as answer:
        response = ocsp.OCSPResponse.load(answer.read())

    assert response["response_status"].native == "successful"
    single = response.basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == status


def test_tsa_rejects_garbage_without_dying(pki_server):
    http = urllib.request.Request(pki_server.tsa_url, data=b"not a request",
                                  headers={"Content-Type": "application/timestamp-query"})

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(http, timeout=5)

    assert caught.value.code == 400
    with urllib.request.urlopen(pki_server.base_url + "/health", timeout=5) as answer:
        assert answer.status == 200


def test_responders_use_the_injected_clock(dev_pki):
    from asn1crypto import tsp

    from signing.pki_server import PkiResponders

    frozen = datetime(2027, 1, 15, 10, 30, tzinfo=UTC)
    responders = PkiResponders(dev_pki, clock=lambda: frozen)
    request = tsp.TimeStampReq({"version": 1, "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\0" * 32},
        "cert_req": True})

    answer = tsp.TimeStampResp.load(responders.timestamp(request.dump()))

    tst_info = answer["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert tst_info["gen_time"].native == frozen
