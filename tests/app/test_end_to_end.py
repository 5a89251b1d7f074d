"""The first end-to-end path: login → visa → sign → download, checked by independent validators."""

from __future__ import annotations

import io
import subprocess

import pytest
from app_helpers import csrf_from, page_text
from sqlalchemy import select

from parapheur.audit.services import verify_chain
from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus, VersionKind

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = pytest.mark.postgres


def _waiting_for(app, step_action: str) -> Document:
    with app.app_context():
        from parapheur.circuits.services import pending_steps

        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            pending = pending_steps(document)
            if pending and pending[0].action == step_action:
                return document
    raise AssertionError(f"no demo document waits for {step_action}")


def test_visa_then_signature_then_download(demo, client_for, pdfsig, demo_pki, tmp_path):
    document = _waiting_for(demo, "visa")
    dgs = client_for("dgs")
    inbox = dgs.get("/").get_data(as_text=True)
    assert document.title in inbox
    page = dgs.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "Donner le visa" in page
    step = _pending_state(demo, document.id)
    response = dgs.post(f"/documents/{document.id}/steps/{step}/visa",
                        data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert "Visa donné" in dgs.get("/").get_data(as_text=True)

    maire = client_for("maire")
    page = maire.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "Signer" in page and "Code de votre certificat" in page
    step = _pending_state(demo, document.id)
    response = maire.post(f"/documents/{document.id}/steps/{step}/sign",
                          data={"csrf_token": csrf_from(page), "passphrase": "1234"})
    assert response.status_code == 302, page_text(response)

    with demo.app_context():
        signed = get_session().get(Document, document.id)
        assert signed.status is DocumentStatus.APPROVED
        assert [v.kind for v in signed.versions] == [VersionKind.ORIGINAL, VersionKind.SIGNED]
        number = signed.current_version.number
        expected_sha = signed.current_version.sha256

    download = maire.get(f"/documents/{document.id}/versions/{number}/file")
    assert download.status_code == 200
    assert download.headers["X-Content-SHA256"] == expected_sha
    assert "attachment" in download.headers["Content-Disposition"]
    pdf = download.data
    assert b"/ETSI.CAdES.detached" in pdf

    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    output = subprocess.run([pdfsig, str(path)], capture_output=True, text=True).stdout
    assert "Signature is Valid." in output, output
    assert "ETSI.CAdES.detached" in output, output
    assert "Martine Dupont" in output

    _assert_pyhanko_valid(pdf, demo_pki)

    with demo.app_context():
        assert verify_chain(get_session()).intact


def _pending_state(app, document_id: int) -> str:
    with app.app_context():
        from parapheur.circuits.services import pending_steps

        return pending_steps(get_session().get(Document, document_id))[0].state


def _assert_pyhanko_valid(pdf: bytes, demo_pki) -> None:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = load_cert_from_pemder(str(demo_pki.ca_certificate_path))
    reader = PdfFileReader(io.BytesIO(pdf))
    assert len(reader.embedded_signatures) == 1
    status = validate_pdf_signature(reader.embedded_signatures[0],
                                    ValidationContext(trust_roots=[root], allow_fetching=False))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    # B-LT: the validation data (DSS) is appended after the signed revision, and nothing else.
    assert status.coverage.name in ("ENTIRE_FILE", "ENTIRE_REVISION")
    assert status.modification_level.name in ("NONE", "LTA_UPDATES")
    assert status.timestamp_validity is not None and status.timestamp_validity.valid
