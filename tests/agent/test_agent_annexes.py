"""The local agent's two-phase signing does not sign annexes: a `sign_annexes` step is refused."""

from __future__ import annotations

import base64
import io
import json

from agent_helpers import load_p12
from app_helpers import csrf_from
from sqlalchemy import select

from parapheur.db import get_session
from parapheur.documents.annexes import Annex
from parapheur.documents.models import Document


def _post_json(client, url: str, body: dict):
    token = csrf_from(client.get("/").get_data(as_text=True))
    return client.post(url, data=json.dumps(body), content_type="application/json",
                       headers={"Accept": "application/json", "X-CSRFToken": token})


def test_a_deliberation_with_a_pdf_annex_is_left_to_the_server_signature(
        demo, demo_pki, client_for, sample_pdf):
    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path,)
    finances = client_for("finances")
    page = finances.get("/documents/new?typology=ACTES/DELIBERATION").get_data(as_text=True)
    assert finances.post("/documents/new", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "title": "Délibération et son annexe",
        "typology": "ACTES/DELIBERATION", "file": (io.BytesIO(sample_pdf), "d.pdf"),
        "annexes": [(io.BytesIO(sample_pdf), "annexe.pdf")]}).status_code == 302
    with demo.app_context():
        document_id = get_session().execute(select(Document.id).where(
            Document.title == "Délibération et son annexe")).scalar_one()
    dgs = client_for("dgs")
    token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    assert dgs.post(f"/documents/{document_id}/steps/visa_dgs/visa",
                    data={"csrf_token": token}).status_code == 302
    _, cert, chain = load_p12(demo_pki, "maire")
    maire = client_for("maire")
    response = _post_json(maire, "/signatures/agent/prepare", {
        "items": [f"{document_id}:signature_maire"], "certificate":
            base64.b64encode(cert).decode(), "chain": [base64.b64encode(c).decode() for c in chain]})
    assert response.status_code == 400
    assert "signe aussi les annexes PDF" in response.get_json()["error"]
    with demo.app_context():
        assert get_session().execute(select(Annex.signed_sha256)).scalar_one() is None
