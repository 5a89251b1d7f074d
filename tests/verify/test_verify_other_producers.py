"""Signed PDFs as other software makes them: each fault class once seen on other producers' test suites.

Every case is generated here (pyHanko, the test PKI, byte edits): a malformed /Encrypt, a legacy
SubFilter, document time stamps typed /Sig or untyped, files only a tolerant parse reads, levels read
from validity, and shadow attacks.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields
from pyhanko.sign.signers import pdf_byterange
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

from parapheur.cli import main
from signing.report import Changes, Indication, Kind, Level
from signing.validation import Validator

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
import ltv_pki  # noqa: E402

P, F, U = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE


@pytest.fixture(scope="module")
def validator(verify_pki):
    v = Validator([verify_pki.cert("root")])
    yield v
    v.close()


@pytest.fixture(scope="module")
def base() -> bytes:
    return corpus.one_page_pdf("Marché n° 2026-007")


def _malformed_encrypt(pdf: bytes) -> bytes:
    assert pdf.count(b"trailer\n<<\n") == 1
    return pdf.replace(b"trailer\n<<\n", b"trailer\n<<\n/Encrypt (garbage)\n", 1)


def test_one_bad_file_never_stops_a_folder_run_and_json_stays_well_formed(tmp_path, base, verify_pki):
    (tmp_path / "a-valide.pdf").write_bytes(corpus.sign(base, verify_pki, level="B-LT"))
    (tmp_path / "b-encrypt-malforme.pdf").write_bytes(_malformed_encrypt(base))
    (tmp_path / "c-valide.pdf").write_bytes(corpus.sign(base, verify_pki, level="B-LT"))
    for jobs in ("1", "2"):
        result = CliRunner().invoke(main, ["verify", "--trust", str(verify_pki.root_pem), "--format", "json",
                                           "--jobs", jobs, str(tmp_path)])
        reports = json.loads(result.stdout)
        assert [Path(r["path"]).name for r in reports] == ["a-valide.pdf", "b-encrypt-malforme.pdf", "c-valide.pdf"]
        assert [r["indication"] for r in reports] == ["TOTAL-PASSED", "TOTAL-FAILED", "TOTAL-PASSED"]
        assert reports[1]["error_code"] == "corrupt" and "Encryption" in reports[1]["error"]
        assert result.exit_code == 1


def _with_legacy_subfilter(signed: bytes) -> bytes:
    """The last signature's SubFilter rewritten to adbe.x509.rsa_sha1 (same length)."""
    at = signed.rfind(b"/ETSI.CAdES.detached")
    return signed[:at] + b"/adbe.x509.rsa_sha1 " + signed[at + len(b"/ETSI.CAdES.detached"):]


def test_every_signature_field_is_reported_even_an_unsupported_one(validator, base, verify_pki):
    first = corpus.sign(base, verify_pki, level="B-LT")
    both = _with_legacy_subfilter(corpus.sign(first, verify_pki, field_name="Signature2"))
    report = validator.validate(both, path="deux.pdf")
    assert [s.field_name for s in report.signatures] == ["Signature1", "Signature2"]
    legacy = report.signatures[1]
    assert (legacy.indication, legacy.sub_indication, legacy.subfilter) == (U, "FORMAT_FAILURE", "adbe.x509.rsa_sha1")
    assert "rsa_sha1" in legacy.message
    assert report.signatures[0].intact is True


@pytest.mark.parametrize("sig_type", ["/Sig", None])
def test_document_time_stamps_are_recognised_by_their_subfilter(validator, base, verify_pki, monkeypatch, sig_type):
    original = pdf_byterange.DocumentTimestamp.__init__

    def typed(self, bytes_reserved=None):
        original(self, bytes_reserved=bytes_reserved)
        if sig_type is None:
            del self["/Type"]
        else:
            self["/Type"] = pdf_name(sig_type)

    signed = corpus.sign(base, verify_pki, level="B-LT")
    monkeypatch.setattr(pdf_byterange.DocumentTimestamp, "__init__", typed)
    stamped = corpus.add_document_timestamp(signed, verify_pki)
    monkeypatch.undo()
    assert b"/DocTimeStamp" not in stamped[len(signed):]
    report = validator.validate(stamped, path="ts.pdf")
    sig, stamp = report.signatures
    assert stamp.kind is Kind.DOCUMENT_TIMESTAMP and stamp.indication is P
    assert (sig.kind, sig.indication, sig.level) == (Kind.SIGNATURE, P, Level.B_LTA)


def test_a_file_only_a_tolerant_parse_reads_gets_a_warning_not_a_failure(validator, base, verify_pki):
    """The DSS update's startxref is off by three bytes: the strict parse fails, the signature is intact."""
    data = corpus.sign(base, verify_pki, level="B-LT")
    last = list(re.finditer(rb"startxref\s+(\d+)", data))[-1]
    broken = data[: last.start(1)] + str(int(last.group(1)) + 3).encode() + data[last.end(1):]
    report = validator.validate(broken, path="tolerant.pdf")
    [sig] = report.signatures
    assert (sig.indication, sig.intact) == (P, True)
    assert any("mode tolérant" in w for w in report.warnings)


def test_an_unreadable_signature_structure_is_indeterminate_not_failed(validator, base, verify_pki):
    signed = corpus.sign(base, verify_pki)
    # /Contents holds hex digits that are not a CMS structure.
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    end = signed.index(b">", start)
    garbage = signed[:start] + b"3082" + b"0" * (end - start - 4) + signed[end:]
    report = validator.validate(garbage, path="cms.pdf")
    assert report.error is None
    [sig] = report.signatures
    assert (sig.indication, sig.sub_indication) == (U, "FORMAT_FAILURE")


def _break_signature_timestamp(signed: bytes) -> bytes:
    """Flip one hex digit of the TSA's signature inside /Contents (outside the signed byte ranges)."""
    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[-1]
    [token] = list(extract_tst_data_iter(sig.signer_info, signed=False))
    value = token["signer_infos"][0]["signature"].native.hex().encode()
    lowered = signed.lower()
    at = lowered.index(value) + 10
    digit = signed[at:at + 1]
    return signed[:at] + (b"1" if digit != b"1" else b"2") + signed[at + 1:]


def test_level_comes_from_validity_not_presence(validator, base, verify_pki):
    invalid_ts = validator.validate(_break_signature_timestamp(corpus.sign(base, verify_pki, level="B-T")))
    [sig] = invalid_ts.signatures
    assert sig.intact and sig.valid and sig.level is Level.B_B
    assert "signature-timestamp" not in sig.baseline_elements

    # No signature time stamp, but a valid document time stamp over the signature: B-T.
    stamped = corpus.add_document_timestamp(corpus.sign(base, verify_pki), verify_pki)
    sig, _ = validator.validate(stamped).signatures
    assert sig.level is Level.B_T and sig.baseline_elements == ("document-timestamp",)

    # adbe.pkcs7.detached: no PAdES level, but which baseline elements it carries is said.
    adbe = corpus.sign(base, verify_pki, level="B-LTA", subfilter=fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED)
    sig, _ = validator.validate(adbe).signatures
    assert sig.level is None
    assert sig.baseline_elements == ("signature-timestamp", "validation-data", "document-timestamp")


def _form_pdf() -> bytes:
    """One page with a filled text field whose appearance shows an amount."""
    writer = PdfFileWriter(stream_xrefs=False)
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica")}))
    resources = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})})
    content = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 760 Td (Bon de commande) Tj ET"))
    page = PageObject(contents=content, media_box=(0, 0, 595, 842), resources=resources)
    writer.insert_page(page)
    appearance = generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
        pdf_name("/BBox"): generic.ArrayObject(map(generic.FloatObject, (0, 0, 200, 20))),
        pdf_name("/Resources"): resources,
    }, stream_data=b"BT /F1 12 Tf 2 5 Td (Montant : 100 EUR) Tj ET")
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    widget = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
        pdf_name("/FT"): pdf_name("/Tx"), pdf_name("/T"): generic.TextStringObject("montant"),
        pdf_name("/V"): generic.TextStringObject("100 EUR"), pdf_name("/F"): generic.NumberObject(4),
        pdf_name("/Rect"): generic.ArrayObject(map(generic.FloatObject, (72, 700, 272, 720))),
        pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): writer.add_object(appearance)}),
        pdf_name("/P"): page_ref,
    }))
    page_ref.get_object()[pdf_name("/Annots")] = generic.ArrayObject([widget])
    writer.root[pdf_name("/AcroForm")] = generic.DictionaryObject({pdf_name("/Fields"): generic.ArrayObject([widget])})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _overwrite_field_appearance(signed: bytes) -> bytes:
    """Shadow attack "replace via overwrite": the field's appearance stream object is overwritten."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    widget_ref = writer.root["/AcroForm"]["/Fields"].raw_get(0)
    widget = widget_ref.get_object()
    ap_ref = widget["/AP"].raw_get("/N")
    old = ap_ref.get_object()
    forged = generic.StreamObject({k: old.raw_get(k) for k in old if k not in ("/Length", "/Filter")},
                                  stream_data=b"BT /F1 12 Tf 2 5 Td (Montant : 0 EUR) Tj ET")
    writer.objects[(ap_ref.generation, ap_ref.idnum)] = forged
    widget[pdf_name("/V")] = generic.TextStringObject("0 EUR")
    writer.update_container(widget)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _append_page(signed: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    content = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 18 Tf 72 720 Td (Avenant) Tj ET"))
    writer.insert_page(PageObject(contents=content, media_box=(0, 0, 595, 842)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("attack", [_overwrite_field_appearance, _append_page], ids=["overwrite", "page"])
def test_shadow_attacks_are_other_changes(validator, verify_pki, attack):
    signed = corpus.sign(_form_pdf(), verify_pki, level="B-LT")
    clean = validator.validate(signed)
    assert [s.changes_after_signing for s in clean.signatures] == [Changes.VALIDATION_DATA]
    report = validator.validate(attack(signed))
    [sig] = report.signatures
    assert (sig.indication, sig.sub_indication, sig.changes_after_signing) == (U, "SIG_CONSTRAINTS_FAILURE", Changes.OTHER)


def test_plain_ecdsa_signatures_verify():
    """BSI TR-03111 plain ECDSA (r‖s): TOTAL-PASSED when right, SIG_CRYPTO_FAILURE when a bit is flipped."""
    import asn1crypto.x509

    pki = ltv_pki.make_ltv_pki()
    ident = ltv_pki.ecdsa_identity(pki)
    pki.ids["ecdsa"] = ident
    pdf = corpus.one_page_pdf("Attestation n° 2026-12")
    v = Validator([asn1crypto.x509.Certificate.load(pki.root.asn1.dump())])
    try:
        [good] = v.validate(ltv_pki.sign_plain_ecdsa(pki, pdf, ident)).signatures
        [bad] = v.validate(ltv_pki.sign_plain_ecdsa(pki, pdf, ident, tamper=True)).signatures
    finally:
        v.close()
    assert (good.indication, good.valid, good.signature_algorithm) == (P, True, "sha256_ecdsa_plain")
    assert (bad.indication, bad.sub_indication, bad.valid) == (F, "SIG_CRYPTO_FAILURE", False)
