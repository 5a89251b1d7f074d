"""PAdES B-T, B-LT and B-LTA with the dev PKI's TSA/OCSP/CRL over loopback HTTP."""

from __future__ import annotations

from io import BytesIO

import pytest
from checks import assert_pdfsig_valid, pyhanko_statuses
from pdfs import simple_pdf
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import Level, SignOptions, Stamp, sign_document

STAMP = Stamp(signer_name="Martine Dupont", quality="Le Maire")


def _dss(pdf: bytes):
    reader = PdfFileReader(BytesIO(pdf))
    dss = reader.root.get("/DSS")
    return None if dss is None else dss.get_object()


def test_b_t_carries_a_signature_timestamp(dev_pki, pki_server, maire_key, pdfsig, tmp_path):
    signed = sign_document(simple_pdf(), maire_key, SignOptions(level=Level.B_T, stamp=STAMP),
                           timestamper=pki_server.tsa_url)

    assert_pdfsig_valid(pdfsig, signed, tmp_path, 1)
    (status,) = pyhanko_statuses(signed, dev_pki.ca_certificate_path)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.trusted
    assert _dss(signed) is None


@pytest.mark.parametrize("level", [Level.B_LT, Level.B_LTA])
def test_long_term_levels_embed_revocation_data(level, dev_pki, pki_server, maire_key, pdfsig,
                                                tmp_path):
    signed = sign_document(simple_pdf(), maire_key, SignOptions(level=level, stamp=STAMP),
                           timestamper=pki_server.tsa_url)

    statuses = pyhanko_statuses(signed, dev_pki.ca_certificate_path)
    signature = statuses[0]
    assert signature.bottom_line, signature.pretty_print_details()
    assert signature.timestamp_validity is not None and signature.timestamp_validity.trusted
    dss = _dss(signed)
    assert dss is not None
    revocation = [dss[k].get_object() for k in ("/OCSPs", "/CRLs") if k in dss]
    assert sum(len(entries) for entries in revocation) >= 1
    assert len(dss["/Certs"].get_object()) >= 2
    reader = PdfFileReader(BytesIO(signed))
    doc_timestamps = [s for s in reader.embedded_signatures
                      if s.sig_object.get("/Type") == "/DocTimeStamp"]
    assert len(doc_timestamps) == (1 if level is Level.B_LTA else 0)
    report = assert_pdfsig_valid(pdfsig, signed, tmp_path, 1, doc_timestamps=len(doc_timestamps))
    for timestamp_status in statuses[1:]:
        assert timestamp_status.valid and timestamp_status.trusted
    assert "ETSI.CAdES.detached" in report


@pytest.mark.parametrize("level", [Level.B_T, Level.B_LTA])
def test_every_document_of_a_timestamped_batch_verifies(level, dev_pki, pki_server, passphrase,
                                                        pdfsig, tmp_path):
    """Later documents of a batch reuse the first one's CMS encoding, timestamp included."""
    from signing.batch import BatchSigner
    from signing.keys import Pkcs12Key

    key = Pkcs12Key.open(dev_pki.pkcs12_path("adjoint"), passphrase)
    outcomes = BatchSigner(key, SignOptions(level=level), timestamper=pki_server.tsa_url
                           ).sign_documents([(f"d{i}", simple_pdf()) for i in range(3)])

    for outcome in outcomes:
        assert outcome.ok, outcome.error
        statuses = pyhanko_statuses(outcome.signed, dev_pki.ca_certificate_path)
        assert statuses[0].bottom_line, statuses[0].pretty_print_details()
        assert statuses[0].timestamp_validity.intact and statuses[0].timestamp_validity.trusted
        assert len(statuses) == (2 if level is Level.B_LTA else 1)
        assert_pdfsig_valid(pdfsig, outcome.signed, tmp_path, 1,
                            doc_timestamps=len(statuses) - 1)


def test_b_b_stays_b_b_when_a_timestamper_is_configured(dev_pki, pki_server, maire_key):
    signed = sign_document(simple_pdf(), maire_key, SignOptions(level=Level.B_B),
                           timestamper=pki_server.tsa_url)

    (status,) = pyhanko_statuses(signed, dev_pki.ca_certificate_path)
    assert status.bottom_line and status.timestamp_validity is None
