"""Every refusal: a clear French message, the original file byte-identical, no output file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pdfs import hybrid_xref_pdf, simple_pdf

from signing import (
    CertificateNotUsable,
    EncryptedPdf,
    Level,
    SignOptions,
    Stamp,
    TimestampUnavailable,
    UnreadablePdf,
    WrongPassphrase,
    sign_file,
)
from signing.keys import Pkcs12Key
from signing.pki_server import free_loopback_port

STAMP = Stamp(signer_name="Martine Dupont", quality="Le Maire")


def _refused(tmp_path: Path, content: bytes, key, options: SignOptions, error: type, **kwargs):
    source = tmp_path / "in.pdf"
    source.write_bytes(content)
    target = tmp_path / "out" / "in.pdf"
    target.parent.mkdir()
    with pytest.raises(error) as caught:
        sign_file(source, target, key, options, **kwargs)
    assert source.read_bytes() == content
    assert list(target.parent.iterdir()) == []
    assert caught.value.message and "Traceback" not in caught.value.message
    return caught.value


def _key_with(dev_pki, *, usage: x509.KeyUsage) -> Pkcs12Key:
    ca_key = serialization.load_pem_private_key(dev_pki.ca_key_path.read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(dev_pki.ca_certificate_path.read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Chiffrement Seul")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(usage, critical=True)
            .sign(ca_key, hashes.SHA256()))
    return Pkcs12Key.from_key_and_chain(key, cert, [ca_cert])


def test_expired_certificate_is_refused(tmp_path, dev_pki, passphrase):
    expired = Pkcs12Key.open(dev_pki.pkcs12_path("expired"), passphrase)

    error = _refused(tmp_path, simple_pdf(), expired, SignOptions(stamp=STAMP),
                     CertificateNotUsable)

    assert "a expiré le" in error.message


def test_not_yet_valid_certificate_is_refused(tmp_path, maire_key):
    before = datetime.now(UTC) - timedelta(days=10)

    error = _refused(tmp_path, simple_pdf(), maire_key, SignOptions(), CertificateNotUsable,
                     signed_at=before)

    assert "n'est valable qu'à partir du" in error.message


def test_certificate_without_signing_key_usage_is_refused(tmp_path, dev_pki):
    encipher_only = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)

    error = _refused(tmp_path, simple_pdf(), _key_with(dev_pki, usage=encipher_only),
                     SignOptions(), CertificateNotUsable)

    assert "n'est pas prévu pour la signature" in error.message


def test_non_repudiation_alone_is_accepted(tmp_path, dev_pki, pdfsig):
    from checks import assert_pdfsig_valid

    non_repudiation = x509.KeyUsage(
        digital_signature=False, content_commitment=True, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)
    source, target = tmp_path / "in.pdf", tmp_path / "out.pdf"
    source.write_bytes(simple_pdf())

    sign_file(source, target, _key_with(dev_pki, usage=non_repudiation), SignOptions())

    assert_pdfsig_valid(pdfsig, target.read_bytes(), tmp_path, 1)


def test_encrypted_pdf_is_refused(tmp_path, maire_key):
    _refused(tmp_path, simple_pdf(encrypt_with="secret"), maire_key, SignOptions(stamp=STAMP),
             EncryptedPdf)


@pytest.mark.parametrize("content", [
    b"PK\x03\x04 this is a zip, not a PDF",
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ngarbage without xref\n",
    b"",
])
def test_unreadable_input_is_refused(content, tmp_path, maire_key):
    _refused(tmp_path, content, maire_key, SignOptions(stamp=STAMP), UnreadablePdf)


def test_truncated_pdf_is_refused(tmp_path, maire_key):
    whole = simple_pdf()

    _refused(tmp_path, whole[: len(whole) // 2], maire_key, SignOptions(), UnreadablePdf)


def test_hybrid_xref_is_refused_unless_allowed(tmp_path, maire_key, pdfsig):
    from checks import assert_pdfsig_valid

    error = _refused(tmp_path, hybrid_xref_pdf(), maire_key, SignOptions(), UnreadablePdf)
    assert "hybrides" in error.message

    source, target = tmp_path / "hybrid.pdf", tmp_path / "hybrid-signed.pdf"
    source.write_bytes(hybrid_xref_pdf())
    sign_file(source, target, maire_key, SignOptions(allow_hybrid_xref=True))
    assert_pdfsig_valid(pdfsig, target.read_bytes(), tmp_path, 1)


@pytest.mark.parametrize("level", [Level.B_T, Level.B_LTA])
def test_unreachable_tsa_is_refused(level, tmp_path, maire_key, pki_server):
    dead = f"http://127.0.0.1:{free_loopback_port()}/tsa"

    error = _refused(tmp_path, simple_pdf(), maire_key, SignOptions(level=level, stamp=STAMP),
                     TimestampUnavailable, timestamper=dead)

    assert "horodatage" in error.message


def test_timestamped_level_without_tsa_is_refused(tmp_path, maire_key):
    error = _refused(tmp_path, simple_pdf(), maire_key, SignOptions(level=Level.B_T),
                     TimestampUnavailable)

    assert "aucun service d'horodatage" in error.message


def test_wrong_passphrase_leaves_the_key_file_alone(dev_pki):
    path = dev_pki.pkcs12_path("dgs")
    before = path.read_bytes()

    with pytest.raises(WrongPassphrase):
        Pkcs12Key.open(path, "Motdepasse123")

    assert path.read_bytes() == before


def test_revoked_certificate_is_refused_at_long_term_levels(tmp_path, dev_pki, passphrase,
                                                            pki_server):
    revoked = Pkcs12Key.open(dev_pki.pkcs12_path("revoked"), passphrase)

    error = _refused(tmp_path, simple_pdf(), revoked, SignOptions(level=Level.B_LT),
                     CertificateNotUsable, timestamper=pki_server.tsa_url)

    assert "révoqué" in error.message


def test_unreachable_revocation_responders_are_refused(tmp_path, passphrase):
    from signing.errors import RevocationInfoUnavailable
    from signing.pki import Person, init_dev_pki

    # A PKI whose OCSP/CRL URLs point at a port nobody listens on.
    lonely = init_dev_pki(tmp_path / "pki", organisation="Commune isolée",
                          people=[Person("maire", "Paul Martin", "Maire")],
                          passphrase=passphrase,
                          base_url=f"http://127.0.0.1:{free_loopback_port()}")
    key = Pkcs12Key.open(lonely.pkcs12_path("maire"), passphrase)
    work = tmp_path / "work"
    work.mkdir()

    error = _refused(work, simple_pdf(), key, SignOptions(level=Level.B_LT),
                     RevocationInfoUnavailable, timestamper=lonely.tsa_url)

    assert "révocation" in error.message
