"""Placement at a #signature# tag, certification, PDF/A, archival refresh, in-place safety."""

from __future__ import annotations

from io import BytesIO

import pytest
from checks import assert_pdfsig_valid, pyhanko_statuses
from pdfs import pdfa_marked_pdf, simple_pdf
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import Level, SignOptions, Stamp, sign_document
from signing.archive import extend_document
from signing.errors import SignatureFieldError
from signing.placement import find_text_tag


def _widget_rect(pdf: bytes, index: int = -1) -> tuple[int, list[float]]:
    reader = PdfFileReader(BytesIO(pdf))
    field = reader.embedded_signatures[index].sig_field
    page = field["/P"].get_object()
    pages = [reader.find_page_for_modification(i)[0].get_object() for i in
             range(int(reader.root["/Pages"]["/Count"]))]
    return pages.index(page), [float(v) for v in field["/Rect"]]


def test_tag_is_found_in_split_tj_strings():
    pdf = simple_pdf(3, tag_on_page=1, tag_at=(300, 150))

    found = find_text_tag(PdfFileReader(BytesIO(pdf)), "#signature#")

    assert found is not None
    page, (x, y) = found
    assert page == 1
    assert (round(x), round(y)) == (300, 150)


def test_stamp_goes_to_the_tag(maire_key, pdfsig, tmp_path):
    pdf = simple_pdf(3, tag_on_page=1, tag_at=(300, 150))

    signed = sign_document(pdf, maire_key, SignOptions(stamp=Stamp("Martine Dupont", "Le Maire")))

    page, (x1, y1, x2, y2) = _widget_rect(signed)
    assert page == 1
    assert x1 == 300 and y1 < 150 < y2
    assert_pdfsig_valid(pdfsig, signed, tmp_path, 1)


def test_without_tag_the_stamp_goes_bottom_right_of_the_last_page(maire_key):
    signed = sign_document(simple_pdf(2), maire_key,
                           SignOptions(stamp=Stamp("Martine Dupont", "Le Maire")))

    page, (x1, y1, x2, y2) = _widget_rect(signed)
    assert page == 1
    assert x2 > 500 and y1 < 100


def test_explicit_page_and_box(maire_key):
    stamp = Stamp("Martine Dupont", "Le Maire", page=0, box=(50, 60, 250, 120), text_tag=None)

    signed = sign_document(simple_pdf(2), maire_key, SignOptions(stamp=stamp))

    assert _widget_rect(signed) == (0, [50.0, 60.0, 250.0, 120.0])


def test_page_out_of_range_is_refused(maire_key):
    with pytest.raises(SignatureFieldError) as caught:
        sign_document(simple_pdf(2), maire_key,
                      SignOptions(stamp=Stamp("M", "Le Maire", page=5, text_tag=None)))

    assert "2 page(s)" in caught.value.message


def test_certification_then_a_second_signature(dev_pki, maire_key, passphrase, pdfsig, tmp_path):
    from pyhanko.sign.fields import MDPPerm

    from signing.keys import Pkcs12Key

    certified = sign_document(simple_pdf(), maire_key, SignOptions(certify=True))
    adjoint = Pkcs12Key.open(dev_pki.pkcs12_path("adjoint"), passphrase)
    second = sign_document(certified, adjoint, SignOptions())

    first, later = pyhanko_statuses(second, dev_pki.ca_certificate_path)
    assert PdfFileReader(BytesIO(second)).embedded_signatures[0].docmdp_level == \
        MDPPerm.FILL_FORMS
    assert first.bottom_line and later.bottom_line, first.pretty_print_details()
    assert_pdfsig_valid(pdfsig, second, tmp_path, 2)
    with pytest.raises(SignatureFieldError):
        sign_document(second, adjoint, SignOptions(certify=True))


def test_duplicate_field_name_is_refused(maire_key):
    signed = sign_document(simple_pdf(), maire_key, SignOptions(field_name="Visa"))

    with pytest.raises(SignatureFieldError):
        sign_document(signed, maire_key, SignOptions(field_name="Visa"))


def test_pdfa_identification_is_kept(maire_key):
    original = pdfa_marked_pdf()
    assert b"<pdfaid:part>2</pdfaid:part>" in PdfFileReader(BytesIO(original)).root[
        "/Metadata"].get_object().data

    signed = sign_document(original, maire_key,
                           SignOptions(stamp=Stamp("Martine Dupont", "Le Maire")))

    metadata = PdfFileReader(BytesIO(signed)).root["/Metadata"].get_object().data
    assert b"pdfaid" in metadata and b"2" in metadata.split(b"pdfaid:part")[1][:5]
    # The stamp's font is embedded, as PDF/A requires.
    assert b"/FontFile2" in signed


def test_archival_refresh_from_b_b_to_b_lta(dev_pki, pki_server, maire_key, pdfsig, tmp_path):
    signed = sign_document(simple_pdf(), maire_key, SignOptions())
    root = load_cert_from_pemder(str(dev_pki.ca_certificate_path))

    archived = extend_document(signed, Level.B_LTA, trust_roots=[root],
                               timestamper=pki_server.tsa_url)

    assert archived.startswith(signed)
    statuses = pyhanko_statuses(archived, dev_pki.ca_certificate_path)
    assert len(statuses) == 2 and statuses[0].bottom_line and statuses[1].trusted
    dss = PdfFileReader(BytesIO(archived)).root["/DSS"].get_object()
    assert "/OCSPs" in dss or "/CRLs" in dss
    assert_pdfsig_valid(pdfsig, archived, tmp_path, 1, doc_timestamps=1)

    renewed = extend_document(archived, Level.B_LTA, trust_roots=[root],
                              timestamper=pki_server.tsa_url)

    assert renewed.startswith(archived)
    assert len(pyhanko_statuses(renewed, dev_pki.ca_certificate_path)) == 3


def test_stamp_at_a_tag_near_the_page_edge_stays_on_the_page(maire_key):
    pdf = simple_pdf(1, tag_on_page=0, tag_at=(560, 20))

    signed = sign_document(pdf, maire_key, SignOptions(stamp=Stamp("Martine Dupont", "Le Maire")))

    _, (x1, y1, x2, y2) = _widget_rect(signed)
    assert 0 <= x1 and x2 <= 595 and 0 <= y1 and y2 <= 842


def test_tag_inside_a_line_of_a_word_processor_pdf(maire_key):
    """WeasyPrint writes Type0 fonts with /ToUnicode, as office suites do."""
    weasyprint = pytest.importorskip("weasyprint")
    html = ("<p>Délibération du conseil municipal</p>"
            "<p style='margin-top:400px'>Le Maire, #signature#</p>")
    pdf = weasyprint.HTML(string=html).write_pdf()
    reader = PdfFileReader(BytesIO(pdf))

    page, (tag_x, tag_y) = find_text_tag(reader, "#signature#")
    _, (line_x, line_y) = find_text_tag(reader, "Le Maire")

    assert page == 0
    assert tag_y == pytest.approx(line_y)
    assert tag_x > line_x + 30  # after "Le Maire, ", not at the line start
