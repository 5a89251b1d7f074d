"""Two-phase PAdES (signing.two_phase): the card signs a hash outside pyHanko, the server finishes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from agent_helpers import load_p12
from checks import assert_pdfsig_valid, assert_pyhanko_valid
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from pdfs import simple_pdf

from signing.errors import CertificateNotUsable, UnreadablePdf
from signing.pades import Level, SignOptions, Stamp
from signing.report import Indication
from signing.two_phase import (
    ExternalKey,
    PreparedSignature,
    PreparedStateInvalid,
    SignatureValueMismatch,
    check_signer_certificate,
    finish_documents,
    prepare_documents,
)
from signing.validation import validate_pdf


def card_sign(private_key, to_sign: bytes) -> bytes:
    """What a card does with CKM_RSA_PKCS: sign a digest it did not compute."""
    return private_key.sign(to_sign, PKCS1v15(), Prehashed(hashes.SHA256()))


def options(level: Level) -> SignOptions:
    return SignOptions(level=level, field_name="Signature1",
                       stamp=Stamp(signer_name="Martine Dupont", quality="Le Maire"))


@pytest.fixture(scope="module")
def maire_key(maire_p12):
    _, cert, chain = maire_p12
    return ExternalKey.from_der(cert, chain)


@pytest.mark.parametrize("level", list(Level), ids=lambda lv: lv.value)
def test_each_level_is_finished_into_a_valid_signature(level, maire_key, maire_p12, pki_server,
                                                       trust_roots, dev_pki, pdfsig, tmp_path):
    [prepared] = prepare_documents([("d1", simple_pdf(), options(level))], maire_key)
    assert prepared.ok, prepared.error
    # The state goes through JSON, as it does when it is stored between the two phases.
    state = PreparedSignature.from_dict(json.loads(json.dumps(prepared.state.to_dict())))
    signature = card_sign(maire_p12[0], state.to_sign)
    [finished] = finish_documents([(state, prepared.prepared_pdf, signature)],
                                  timestamper=pki_server.tsa_url, trust_roots=trust_roots)
    assert finished.ok, finished.error
    doc_timestamps = 1 if level is Level.B_LTA else 0
    report = assert_pdfsig_valid(pdfsig, finished.signed, tmp_path, 1, doc_timestamps)
    assert "Signer Certificate Common Name: Martine Dupont" in report
    assert_pyhanko_valid(finished.signed, dev_pki.ca_certificate_path, 1 + doc_timestamps)
    verdict = validate_pdf(finished.signed, trust_roots=trust_roots, online=True)
    signature_report = verdict.signatures[0]
    assert signature_report.level.value == level.value
    assert signature_report.signer.common_name == "Martine Dupont"
    assert signature_report.indication is Indication.TOTAL_PASSED, signature_report.message


def test_revocation_data_produced_after_the_finish_began_is_collected(
        maire_key, maire_p12, pki_server, trust_roots, monkeypatch):
    """OCSP and CRL answers dated a little later than the finish's start (a slow time stamp, a
    loaded machine, a responder's clock ahead) are fresher data, not wrong data: the official's
    B-LT signature is finished. (pyHanko's one-second tolerance refused them as "too recent".)"""
    [prepared] = prepare_documents([("d", simple_pdf(), options(Level.B_LT))], maire_key)
    signature = card_sign(maire_p12[0], prepared.state.to_sign)
    responders = pki_server.responders
    honest_clock = responders.clock

    def dated_later(answer):
        def run(*args):
            responders.clock = lambda: honest_clock() + timedelta(seconds=90)
            try:
                return answer(*args)
            finally:
                responders.clock = honest_clock
        return run

    monkeypatch.setattr(responders, "ocsp", dated_later(responders.ocsp))
    monkeypatch.setattr(responders, "crl", dated_later(responders.crl))
    [finished] = finish_documents([(prepared.state, prepared.prepared_pdf, signature)],
                                  timestamper=pki_server.tsa_url, trust_roots=trust_roots)
    assert finished.ok, finished.error
    report = validate_pdf(finished.signed, trust_roots=trust_roots).signatures[0]
    assert report.level.value == "B-LT" and report.indication is Indication.TOTAL_PASSED, \
        report.message


def test_a_batch_prepares_each_document_and_reports_the_unfit_one(maire_key):
    outcomes = prepare_documents([("a", simple_pdf(), options(Level.B_B)),
                                  ("b", b"not a pdf", options(Level.B_B)),
                                  ("c", simple_pdf(pages=2), options(Level.B_B))], maire_key)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert isinstance(outcomes[1].error, UnreadablePdf)
    # Each document has its own digest to sign.
    assert outcomes[0].state.to_sign != outcomes[2].state.to_sign


def test_a_signature_by_another_key_is_refused(maire_key, dev_pki):
    [prepared] = prepare_documents([("d", simple_pdf(), options(Level.B_B))], maire_key)
    other_key = load_p12(dev_pki, "adjoint")[0]
    [finished] = finish_documents([(prepared.state, prepared.prepared_pdf,
                                    card_sign(other_key, prepared.state.to_sign))])
    assert isinstance(finished.error, SignatureValueMismatch)
    assert finished.signed is None


def test_a_prepared_pdf_of_another_document_is_refused(maire_key, maire_p12):
    first, second = prepare_documents([("a", simple_pdf(), options(Level.B_B)),
                                       ("b", simple_pdf(text="Arrêté"), options(Level.B_B))],
                                      maire_key)
    [finished] = finish_documents([(first.state, second.prepared_pdf,
                                    card_sign(maire_p12[0], first.state.to_sign))])
    assert isinstance(finished.error, PreparedStateInvalid)


def test_a_tampered_state_is_refused_when_read():
    # Attributes that do not hash to what the card signed cannot be finished.
    with pytest.raises(PreparedStateInvalid):
        PreparedSignature.from_dict({"format": 1, "name": "x"})


def test_a_state_whose_digest_does_not_match_its_attributes_is_refused(maire_key):
    [prepared] = prepare_documents([("d", simple_pdf(), options(Level.B_B))], maire_key)
    data = prepared.state.to_dict()
    data["to_sign"] = "AAAA" + data["to_sign"][4:]
    with pytest.raises(PreparedStateInvalid):
        PreparedSignature.from_dict(data)


def test_a_trusted_valid_certificate_is_accepted(maire_key, trust_roots, pki_server):
    check_signer_certificate(maire_key, trust_roots=trust_roots)


@pytest.mark.parametrize(("name", "says"), [("revoked", "révoqué"), ("expired", "expiré"),
                                            ("untrusted", "autorité de confiance")])
def test_an_unfit_certificate_is_refused(name, says, dev_pki, trust_roots, pki_server):
    _, cert, chain = load_p12(dev_pki, name)
    with pytest.raises(CertificateNotUsable) as refused:
        check_signer_certificate(ExternalKey.from_der(cert, chain), trust_roots=trust_roots)
    assert says in refused.value.message


def test_garbage_instead_of_a_certificate_is_refused():
    with pytest.raises(CertificateNotUsable):
        ExternalKey.from_der(b"\x30\x03\x02\x01\x00")


# --- XAdES of PES bordereaux, two phases with a card: the state kept between them -------------

def _pes_with_one_bordereau(shared_dir) -> bytes:
    return (shared_dir / "samples" / "pes" / "pes_aller_ok.xml").read_bytes()


def test_a_xades_state_survives_json_and_the_card_value_is_inserted_as_bytes(
        shared_dir, maire_p12, trust_roots, dev_pki, system_tool, tmp_path):
    import hashlib
    import sys
    from pathlib import Path

    from signing.xades import (
        PendingSignature,
        ProductionPlace,
        XadesError,
        XadesOptions,
        bordereau_ids,
        finish_external_signature,
        prepare_signature,
    )

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "signing"))
    from xades_checks import xmlsec_verify

    document = _pes_with_one_bordereau(shared_dir)
    [bordereau_id] = bordereau_ids(document)
    private_key, certificate, _ = maire_p12
    pending = prepare_signature(document, bordereau_id, certificate,
                                XadesOptions(ProductionPlace("Démo-Ville", "34000")))
    kept = json.loads(json.dumps(pending.to_dict()))  # what the database keeps
    restored = PendingSignature.from_dict(kept)
    assert restored == pending
    # The card signs the SHA-256 of the canonical SignedInfo, as it signs a PAdES hash.
    assert restored.digest == hashlib.sha256(pending.signed_info).digest()
    value = private_key.sign(restored.digest, PKCS1v15(), Prehashed(hashes.SHA256()))
    signed = finish_external_signature(document, restored, value)

    # Only the signature's bytes were added: the rest of the file is as it was.
    start = signed.index(b"<ds:Signature ")
    end = signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    assert signed[:start] + signed[end:] == document
    accepted, output = xmlsec_verify(system_tool("xmlsec1", "xmlsec1"), signed,
                                     f"{bordereau_id}-SIG", dev_pki.ca_certificate_path, tmp_path)
    assert accepted, output

    # A state whose template does not carry the SignedInfo that was signed is refused.
    forged = dict(kept, template=kept["template"].replace("#" + bordereau_id, "#autre", 1))
    with pytest.raises(XadesError, match="incohérent"):
        PendingSignature.from_dict(forged)
    with pytest.raises(XadesError, match="illisible"):
        PendingSignature.from_dict({"bordereau_id": bordereau_id})
    wrong = private_key.sign(hashlib.sha256(b"autre chose").digest(), PKCS1v15(),
                             Prehashed(hashes.SHA256()))
    with pytest.raises(XadesError, match="ne correspond pas à son certificat"):
        finish_external_signature(document, restored, wrong)
