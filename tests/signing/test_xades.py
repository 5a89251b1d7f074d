"""XAdES signatures of PES bordereaux: checked by xmlsec1 and the DGFiP schemas, never re-serialised."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree
from xades_checks import DS_NS, XADES_NS, xmlsec_verify

from signing.keys import Pkcs11Key
from signing.xades import (
    DEFAULT_HELIOS_POLICY_SHA256,
    HELIOS_POLICY_OID,
    ProductionPlace,
    SignaturePolicy,
    XadesError,
    XadesOptions,
    bordereau_ids,
    finish_signature,
    insert_signature,
    prepare_signature,
    sign_bordereaux,
    signed_bordereau_ids,
)

OPTIONS = XadesOptions(ProductionPlace("Saint-Étienne-les-Orgues", "04230"))
SIGNED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def xmlsec1(system_tool) -> str:
    return system_tool("xmlsec1", "xmlsec1")


@pytest.fixture(scope="module")
def aller_schema(shared_dir):
    root = shared_dir / "schemas" / "pes-v2" / "PES_V2" / "Rev0" / "PES_Aller.xsd"
    return etree.XMLSchema(etree.parse(str(root)))


@pytest.fixture(scope="module")
def two_bordereaux(shared_dir) -> bytes:
    """The real S²LOW sample with its bordereau twice (Ids BORD1, BORD2), ISO-8859-1 encoded."""
    sample = (shared_dir / "samples" / "pes" / "pes_aller_ok.xml").read_bytes()
    start = sample.index(b"<Bordereau ")
    end = sample.index(b"</Bordereau>") + len(b"</Bordereau>")
    first = sample[start:end].replace(b'Id="BORD1093357910"', b'Id="BORD1"')
    second = first.replace(b'Id="BORD1"', b'Id="BORD2"').replace(b"12345", b"12346")
    return sample[:start] + first + b"\n  " + second + sample[end:]


def _signature(document: bytes, bordereau_id: str) -> etree._Element:
    root = etree.fromstring(document)
    (bordereau,) = [b for b in root.iter("Bordereau") if b.get("Id") == bordereau_id]
    return bordereau.find(f"{{{DS_NS}}}Signature")


def test_each_bordereau_signature_is_accepted_by_xmlsec1(two_bordereaux, maire_key, dev_pki,
                                                        xmlsec1, tmp_path):
    signed = sign_bordereaux(two_bordereaux, maire_key, OPTIONS, signed_at=SIGNED_AT)

    assert signed_bordereau_ids(signed) == ["BORD1", "BORD2"]
    for bordereau_id in ("BORD1", "BORD2"):
        accepted, output = xmlsec_verify(xmlsec1, signed, f"{bordereau_id}-SIG",
                                         dev_pki.ca_certificate_path, tmp_path)
        assert accepted, output


def test_signed_pes_stays_valid_against_the_dgfip_schemas(two_bordereaux, maire_key,
                                                         aller_schema):
    signed = sign_bordereaux(two_bordereaux, maire_key, OPTIONS, signed_at=SIGNED_AT)

    # The dev PKI's serial numbers are 159-bit integers: the schemas must accept them.
    serial = _signature(signed, "BORD1").find(f".//{{{DS_NS}}}X509SerialNumber").text
    assert len(serial) > 40
    assert aller_schema.validate(etree.fromstring(signed)), aller_schema.error_log


def test_signature_states_what_helios_expects(two_bordereaux, maire_key):
    signed = sign_bordereaux(two_bordereaux, maire_key, OPTIONS, ids=["BORD1"],
                             signed_at=SIGNED_AT)
    signature = _signature(signed, "BORD1")
    ns = {"ds": DS_NS, "xad": XADES_NS}

    def text(path: str) -> str:
        return signature.findtext(path, namespaces=ns)

    assert signature.find("ds:SignedInfo/ds:SignatureMethod", ns).get("Algorithm") == \
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    reference = signature.find("ds:SignedInfo/ds:Reference[@URI='#BORD1']", ns)
    assert [t.get("Algorithm") for t in reference.iterfind("ds:Transforms/ds:Transform", ns)] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#"]
    props = ".//xad:SignedSignatureProperties/"
    assert text(props + "xad:SigningTime") == "2026-03-02T09:30:00Z"
    assert text(props + "xad:SignaturePolicyIdentifier//xad:Identifier") == HELIOS_POLICY_OID
    assert text(props + "xad:SignaturePolicyIdentifier//xad:DigestValue") == \
        DEFAULT_HELIOS_POLICY_SHA256
    assert text(props + "xad:SignaturePolicyIdentifier//xad:SPURI").endswith(".pdf")
    assert text(props + "xad:SignatureProductionPlace/xad:City") == "Saint-Étienne-les-Orgues"
    assert text(props + "xad:SignatureProductionPlace/xad:PostalCode") == "04230"
    assert text(props + "xad:SignatureProductionPlace/xad:CountryName") == "France"
    assert text(props + "xad:SignerRole/xad:ClaimedRoles/xad:ClaimedRole") == "Ordonnateur"
    cert_digest = text(props + "xad:SigningCertificate/xad:Cert/xad:CertDigest/xad:DigestValue")
    assert base64.b64decode(cert_digest) == __import__("hashlib").sha256(
        maire_key.certificate.dump()).digest()
    assert int(text(props + "xad:SigningCertificate//ds:X509SerialNumber")) == \
        maire_key.certificate.serial_number
    # Only BORD1 was asked for.
    assert signed_bordereau_ids(signed) == ["BORD1"]


def test_signing_inserts_bytes_and_rewrites_nothing_else(two_bordereaux, maire_key):
    once = sign_bordereaux(two_bordereaux, maire_key, OPTIONS, ids=["BORD1"],
                           signed_at=SIGNED_AT)
    twice = sign_bordereaux(once, maire_key, OPTIONS, ids=["BORD2"], signed_at=SIGNED_AT)

    first = once.index(b"<ds:Signature")
    first_length = len(once) - len(two_bordereaux)
    assert once[:first] + once[first + first_length:] == two_bordereaux
    # The second signature leaves the first one's bytes as they were.
    assert once[first:first + first_length] in twice
    assert twice.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')


def test_accented_city_in_a_latin1_file_still_verifies(two_bordereaux, maire_key, dev_pki,
                                                      xmlsec1, tmp_path):
    options = XadesOptions(ProductionPlace("Œuilly — Saint-Égrève", "38120"))
    signed = sign_bordereaux(two_bordereaux, maire_key, options, ids=["BORD1"])

    assert "Œuilly — Saint-Égrève" in etree.fromstring(signed).findtext(
        f".//{{{XADES_NS}}}City")
    accepted, output = xmlsec_verify(xmlsec1, signed, "BORD1-SIG", dev_pki.ca_certificate_path,
                                     tmp_path)
    assert accepted, output


def test_token_key_signs_bordereaux(two_bordereaux, softhsm_token, dev_pki, xmlsec1, tmp_path,
                                    aller_schema):
    with Pkcs11Key.open(softhsm_token.module, pin=softhsm_token.pin,
                        token_label=softhsm_token.token_label, key_label="maire") as key:
        signed = sign_bordereaux(two_bordereaux, key, OPTIONS)

    for bordereau_id in ("BORD1", "BORD2"):
        accepted, output = xmlsec_verify(xmlsec1, signed, f"{bordereau_id}-SIG",
                                         dev_pki.ca_certificate_path, tmp_path)
        assert accepted, output
    assert aller_schema.validate(etree.fromstring(signed)), aller_schema.error_log


@pytest.fixture(scope="module")
def raw_maire(dev_pki):
    """The mayor's private key and certificate as an external signer (the local agent) has them."""
    key, cert, _ = pkcs12.load_key_and_certificates(
        dev_pki.pkcs12_path("maire").read_bytes(), dev_pki.passphrase.encode())
    return key, cert


def test_two_phases_with_an_external_signer(two_bordereaux, raw_maire, dev_pki, xmlsec1,
                                            tmp_path):
    private_key, certificate = raw_maire
    pending = prepare_signature(two_bordereaux, "BORD2", certificate, OPTIONS)
    value = private_key.sign(pending.signed_info, padding.PKCS1v15(), hashes.SHA256())
    element = finish_signature(pending, value)
    signed = insert_signature(two_bordereaux, pending, element)

    assert len(pending.digest) == 32
    accepted, output = xmlsec_verify(xmlsec1, signed, "BORD2-SIG", dev_pki.ca_certificate_path,
                                     tmp_path)
    assert accepted, output


def test_a_wrong_signature_value_is_refused(two_bordereaux, raw_maire):
    private_key, certificate = raw_maire
    pending = prepare_signature(two_bordereaux, "BORD1", certificate, OPTIONS)
    wrong = private_key.sign(b"something else", padding.PKCS1v15(), hashes.SHA256())

    with pytest.raises(XadesError, match="ne correspond pas à son certificat"):
        finish_signature(pending, wrong)


def test_a_bordereau_changed_between_phases_is_refused(two_bordereaux, raw_maire):
    private_key, certificate = raw_maire
    pending = prepare_signature(two_bordereaux, "BORD1", certificate, OPTIONS)
    element = finish_signature(pending, private_key.sign(pending.signed_info, padding.PKCS1v15(),
                                                         hashes.SHA256()))
    changed = two_bordereaux.replace(b'<IdPce V="832"/>', b'<IdPce V="833"/>', 1)

    with pytest.raises(XadesError, match="a changé"):
        insert_signature(changed, pending, element)


def test_tampering_after_signing_is_detected_by_xmlsec1(two_bordereaux, maire_key, dev_pki,
                                                       xmlsec1, tmp_path):
    signed = sign_bordereaux(two_bordereaux, maire_key, OPTIONS, ids=["BORD1"])
    tampered = signed.replace(b'<MtHT V="39724.75"/>', b'<MtHT V="99724.75"/>', 1)

    accepted, output = xmlsec_verify(xmlsec1, tampered, "BORD1-SIG",
                                     dev_pki.ca_certificate_path, tmp_path)
    assert not accepted, output
    # Changing a signed property (the claimed role) breaks the second reference.
    tampered = signed.replace(b">Ordonnateur<", b">Comptable<", 1)
    accepted, output = xmlsec_verify(xmlsec1, tampered, "BORD1-SIG",
                                     dev_pki.ca_certificate_path, tmp_path)
    assert not accepted, output


def test_refusals_name_the_problem(two_bordereaux, maire_key):
    with pytest.raises(XadesError, match="Aucun bordereau d'identifiant BORD9"):
        sign_bordereaux(two_bordereaux, maire_key, OPTIONS, ids=["BORD9"])
    signed = sign_bordereaux(two_bordereaux, maire_key, OPTIONS, ids=["BORD1"])
    with pytest.raises(XadesError, match="déjà signé"):
        sign_bordereaux(signed, maire_key, OPTIONS, ids=["BORD1"])
    with pytest.raises(XadesError, match="pas un XML lisible"):
        sign_bordereaux(b"<PES_Aller>", maire_key, OPTIONS)
    with pytest.raises(XadesError, match="32 octets"):
        SignaturePolicy(sha256_b64="not-a-hash")
    assert bordereau_ids(two_bordereaux) == ["BORD1", "BORD2"]


def test_policy_hash_is_a_setting(two_bordereaux, maire_key):
    other = base64.b64encode(b"\x01" * 32).decode()
    options = XadesOptions(OPTIONS.place, policy=SignaturePolicy(sha256_b64=other))
    signed = sign_bordereaux(two_bordereaux, maire_key, options, ids=["BORD1"])

    assert _signature(signed, "BORD1").findtext(
        f".//{{{XADES_NS}}}SigPolicyHash/{{{XADES_NS}}}DigestValue") == other


def test_own_check_agrees_with_xmlsec1_on_intact_and_tampered(two_bordereaux, maire_key):
    from signing.xades import bordereau_element, check_bordereau_signature

    signed = sign_bordereaux(two_bordereaux, maire_key, OPTIONS, ids=["BORD1"])
    assert check_bordereau_signature(signed, "BORD1").intact
    assert check_bordereau_signature(signed, "BORD1").signer == "Martine Dupont"
    assert check_bordereau_signature(signed, "BORD2").reason == "le bordereau n'est pas signé"
    tampered = signed.replace(b'<MtHT V="39724.75"/>', b'<MtHT V="99724.75"/>', 1)
    assert "#BORD1" in check_bordereau_signature(tampered, "BORD1").reason
    tampered = signed.replace(b">Ordonnateur<", b">Comptable<", 1)
    assert "SIG-SP" in check_bordereau_signature(tampered, "BORD1").reason
    # The signed element moved into another file of the same encoding still holds.
    element = bordereau_element(signed, "BORD1")
    assert element.startswith(b"<Bordereau ") and element.endswith(b"</Bordereau>")
    moved = two_bordereaux.replace(bordereau_element(two_bordereaux, "BORD1"), element)
    assert check_bordereau_signature(moved, "BORD1").intact
