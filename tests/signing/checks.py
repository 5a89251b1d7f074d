"""Independent checks of signed PDFs: poppler's pdfsig and pyHanko's validator."""

from __future__ import annotations

import subprocess
from io import BytesIO
from pathlib import Path

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext


def pdfsig_report(pdfsig: str, pdf: bytes, tmp_path: Path) -> str:
    """pdfsig's output for `pdf` (it exits 0 even on a digest mismatch, so callers read this)."""
    path = tmp_path / "checked.pdf"
    path.write_bytes(pdf)
    result = subprocess.run([pdfsig, str(path)], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


def assert_pdfsig_valid(pdfsig: str, pdf: bytes, tmp_path: Path, count: int,
                        doc_timestamps: int = 0) -> str:
    """`count` signatures say "Signature is Valid."; nothing else is reported.

    pdfsig cannot check document timestamps (/SubFilter /ETSI.RFC3161): it lists them as "not
    yet verified", so they are counted apart and checked with pyHanko instead.
    """
    report = pdfsig_report(pdfsig, pdf, tmp_path)
    assert report.count("Signature Validation: Signature is Valid.") == count, report
    assert report.count("Signature has not yet been verified.") == doc_timestamps, report
    assert report.count("Signature Validation:") == count + doc_timestamps, report
    return report


def pyhanko_statuses(pdf: bytes, ca_path: Path, *, allow_fetching: bool = False) -> list:
    """pyHanko's validation status of every signature, trusting only `ca_path`."""
    root = load_cert_from_pemder(str(ca_path))
    reader = PdfFileReader(BytesIO(pdf))
    statuses = []
    for embedded in reader.embedded_signatures:
        context = ValidationContext(trust_roots=[root], allow_fetching=allow_fetching)
        if embedded.sig_object.get("/Type") == "/DocTimeStamp":
            statuses.append(validate_pdf_timestamp(embedded, validation_context=context))
        else:
            statuses.append(validate_pdf_signature(embedded, context))
    return statuses


def assert_pyhanko_valid(pdf: bytes, ca_path: Path, count: int) -> list:
    """All `count` signatures are intact, valid and trusted by the dev CA."""
    statuses = pyhanko_statuses(pdf, ca_path)
    assert len(statuses) == count
    for status in statuses:
        assert status.intact and status.valid, status.pretty_print_details()
        assert status.trusted, status.pretty_print_details()
    return statuses
