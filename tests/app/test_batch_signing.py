"""Signing a batch from the inbox: one code entry, each document its own transaction."""

from __future__ import annotations

import subprocess

from app_helpers import all_at_signature, csrf_from, db_snapshot, page_text, without_journal
from sqlalchemy import select

from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus


def _batch(client, items, *, passphrase="1234", reviewed=True):
    page = client.get("/").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "passphrase": passphrase,
            "items": [f"{d}:{s}" for d, s in items]}
    if reviewed:
        data["reviewed"] = "1"
    return client.post("/signatures/batch", data=data)


def test_inbox_offers_the_batch_and_signs_every_ticked_document(demo, client_for, pdfsig, tmp_path):
    items = all_at_signature(demo, client_for)
    maire = client_for("maire")
    inbox = page_text(maire.get("/"))
    assert "Signer la sélection" in inbox and inbox.count('name="items"') == 3
    response = _batch(maire, items)
    assert response.status_code == 302
    assert "3 document(s) signé(s)" in page_text(maire.get("/"))
    with demo.app_context():
        documents = get_session().execute(select(Document).order_by(Document.id)).scalars().all()
        assert all(d.status is DocumentStatus.APPROVED for d in documents)
        numbers = [(d.id, d.current_version.number) for d in documents]
    for document_id, number in numbers:
        pdf = maire.get(f"/documents/{document_id}/versions/{number}/file").data
        path = tmp_path / f"{document_id}.pdf"
        path.write_bytes(pdf)
        output = subprocess.run([pdfsig, str(path)], capture_output=True, text=True).stdout
        assert "Signature is Valid." in output, output


def test_wrong_code_refuses_the_whole_batch(demo, client_for):
    items = all_at_signature(demo, client_for)
    maire = client_for("maire")
    before = db_snapshot(demo)
    response = _batch(maire, items, passphrase="0000")
    assert response.status_code == 400
    assert "incorrect" in page_text(response)
    assert without_journal(db_snapshot(demo)) == without_journal(before)


def test_documents_not_waiting_for_the_signer_are_reported_and_the_others_signed(demo, client_for):
    maire = client_for("maire")
    with demo.app_context():
        rows = [(d.id, pending_steps(d)[0].state) for d in
                get_session().execute(select(Document).order_by(Document.id)).scalars()]
    at_visa = [r for r in rows if r[1].startswith("visa")]
    at_signature = [r for r in rows if not r[1].startswith("visa")]
    response = _batch(maire, [*at_visa[:1], *at_signature, (999, "signature_maire")])
    assert response.status_code == 302
    inbox = page_text(maire.get("/"))
    assert "1 document(s) signé(s)" in inbox
    assert inbox.count("Non signé") == 2
    with demo.app_context():
        assert get_session().get(Document, at_visa[0][0]).status is DocumentStatus.IN_PROGRESS


def test_batch_needs_the_review_confirmation_and_a_selection(demo, client_for):
    items = all_at_signature(demo, client_for)
    maire = client_for("maire")
    before = db_snapshot(demo)
    assert _batch(maire, items, reviewed=False).status_code == 400
    assert _batch(maire, []).status_code == 400
    response = _batch(maire, [("x", "y")])
    assert response.status_code == 400
    assert db_snapshot(demo) == before
