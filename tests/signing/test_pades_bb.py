"""PAdES B-B with a PKCS#12 key: valid for pdfsig and pyHanko, incremental, visible stamp."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from checks import assert_pdfsig_valid, assert_pyhanko_valid
from pdfs import simple_pdf
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import Level, SignOptions, Stamp, WrongPassphrase, sign_document
from signing.keys import Pkcs12Key

STAMP = Stamp(signer_name="Martine Dupont", quality="Le Maire",
              on_behalf_of="Jean-Étienne Lefèvre")


def test_b_b_signature_is_valid_for_pdfsig_and_pyhanko(dev_pki, maire_key, pdfsig, tmp_path):
    signed = sign_document(simple_pdf(), maire_key, SignOptions(stamp=STAMP))

    report = assert_pdfsig_valid(pdfsig, signed, tmp_path, 1)
    assert "ETSI.CAdES.detached" in report
    assert "Martine Dupont" in report
    (status,) = assert_pyhanko_valid(signed, dev_pki.ca_certificate_path, 1)
    assert status.signer_reported_dt is not None


def test_signature_dictionary_uses_pades_subfilter(maire_key):
    signed = sign_document(simple_pdf(), maire_key, SignOptions(reason="Visa", location="Mairie"))

    (embedded,) = PdfFileReader(BytesIO(signed)).embedded_signatures
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert embedded.sig_object["/Reason"] == "Visa"


def test_signed_bytes_start_with_the_original(maire_key):
    original = simple_pdf(3)

    signed = sign_document(original, maire_key, SignOptions(stamp=STAMP))

    assert signed.startswith(original)


def test_second_signature_keeps_the_first_valid(dev_pki, maire_key, passphrase, pdfsig, tmp_path):
    adjoint = Pkcs12Key.open(dev_pki.pkcs12_path("adjoint"), passphrase)
    first = sign_document(simple_pdf(), adjoint, SignOptions(stamp=STAMP, field_name="Visa"))

    second = sign_document(first, maire_key, SignOptions(stamp=Stamp("Martine Dupont", "Le Maire",
                                                                     page=0, text_tag=None)))

    assert_pdfsig_valid(pdfsig, second, tmp_path, 2)
    assert_pyhanko_valid(second, dev_pki.ca_certificate_path, 2)


def test_stamp_text_keeps_french_accents(maire_key, tmp_path):
    pdftotext = pytest.importorskip("shutil").which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    # Inside the dev certificates' validity (issued now, valid three years).
    at = datetime(datetime.now(UTC).year + 1, 3, 2, 9, 5, tzinfo=UTC)
    signed = sign_document(simple_pdf(), maire_key, SignOptions(stamp=STAMP), signed_at=at)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)

    text = subprocess.run([pdftotext, str(path), "-"], capture_output=True, text=True).stdout

    assert "en l'absence de Jean-Étienne Lefèvre" in text
    assert f"Signé le 02/03/{at.year} à 10:05" in text  # Paris time (UTC+1 in March)


def test_a_name_outside_the_latin_scripts_is_drawn_with_the_whole_font(maire_key, tmp_path):
    """The stamp font is reduced to the Latin scripts; a Greek or Cyrillic name still shows."""
    from signing.pades import find_stamp_font
    from signing.stamp_font import REDUCED, stamp_font_file

    pdftotext = pytest.importorskip("shutil").which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    font = find_stamp_font()
    assert stamp_font_file(font, "Signé par Jean-Étienne Lefèvre « n° 12 » 5 €") == font + REDUCED
    assert stamp_font_file(font, "Signé par Νίκος Παπαδόπουλος") == font
    texts = {}
    for name in ("Jean-Étienne Lefèvre", "Νίκος Παπαδόπουλος", "Анна Иванова"):
        signed = sign_document(simple_pdf(), maire_key,
                               SignOptions(stamp=Stamp(signer_name=name, quality="Le Maire")))
        path = tmp_path / "signed.pdf"
        path.write_bytes(signed)
        texts[name] = subprocess.run([pdftotext, str(path), "-"], capture_output=True,
                                     text=True).stdout

    for name, text in texts.items():
        assert name in text


def test_signing_time_comes_from_the_injected_clock(dev_pki, maire_key):
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)

    signed = sign_document(simple_pdf(), maire_key, SignOptions(), signed_at=at)

    (status,) = assert_pyhanko_valid(signed, dev_pki.ca_certificate_path, 1)
    assert status.signer_reported_dt == at


def test_wrong_passphrase_is_reported_as_such(dev_pki):
    with pytest.raises(WrongPassphrase) as caught:
        Pkcs12Key.open(dev_pki.pkcs12_path("maire"), "not the passphrase")

    assert "incorrect" in caught.value.message


def test_b_b_level_is_the_default():
    assert SignOptions().level is Level.B_B


def test_every_document_of_a_batch_verifies(dev_pki, pdfsig, passphrase, tmp_path):
    """The first signature of a key comes from pyHanko, later ones reuse its encoded parts."""
    from signing.batch import BatchSigner

    key = Pkcs12Key.open(dev_pki.pkcs12_path("dgs"), passphrase)
    documents = [(f"doc{i}", simple_pdf(text=f"Mandat n° {i}")) for i in range(4)]

    outcomes = BatchSigner(key, SignOptions(stamp=STAMP)).sign_documents(documents)

    for outcome in outcomes:
        assert outcome.ok
        assert_pdfsig_valid(pdfsig, outcome.signed, tmp_path, 1)
        assert_pyhanko_valid(outcome.signed, dev_pki.ca_certificate_path, 1)
    signatures = [PdfFileReader(BytesIO(o.signed)).embedded_signatures[0] for o in outcomes]
    assert len({s.signer_info["signature"].native for s in signatures}) == 4


def test_batch_items_may_carry_their_own_stamp(dev_pki, maire_key):
    from signing.batch import BatchSigner

    first = SignOptions(stamp=Stamp("Martine Dupont", "Le Maire"), field_name="Maire")
    second = SignOptions(stamp=Stamp("Martine Dupont", "Présidente"), field_name="Presidente")

    outcomes = BatchSigner(maire_key, SignOptions()).sign_documents(
        [("a", simple_pdf(), first), ("b", simple_pdf(), second), ("c", simple_pdf())])

    names = [PdfFileReader(BytesIO(o.signed)).embedded_signatures[0].field_name
             for o in outcomes]
    assert names[:2] == ["Maire", "Presidente"]
    for outcome in outcomes:
        assert_pyhanko_valid(outcome.signed, dev_pki.ca_certificate_path, 1)
