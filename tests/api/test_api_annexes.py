"""Annexes through `/api/v1/documents`: deposited with the main PDF, listed, downloaded; bad
annexes refused as problems with nothing stored; another organisation reaches none of them."""

from __future__ import annotations

import hashlib
import io

from api_helpers import neighbour_account
from sqlalchemy import func, select

from parapheur.db import get_session
from parapheur.documents.annexes import Annex
from parapheur.documents.models import Document


def _deposit(caller, pdf: bytes, annexes: list[tuple[bytes, str]]):
    data = {"title": "Marché avec annexes", "typology": "ACTES/DELIBERATION",
            "file": (io.BytesIO(pdf), "deliberation.pdf"),
            "annexes": [(io.BytesIO(content), name) for content, name in annexes]}
    return caller.post("/api/v1/documents", data=data, content_type="multipart/form-data")


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        session = get_session()
        return (session.execute(select(func.count(Document.id))).scalar_one(),
                session.execute(select(func.count(Annex.id))).scalar_one())


def test_a_document_deposited_with_annexes_lists_and_serves_them(demo, token_for, api,
                                                                 sample_pdf):
    finances = api(token_for("finances"))
    notes = b"Cahier des clauses\n"
    created = _deposit(finances, sample_pdf, [(sample_pdf, "plan.pdf"), (notes, "ccap.txt")])
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert [(a["filename"], a["media_type"], a["page_count"]) for a in body["annexes"]] == [
        ("plan.pdf", "application/pdf", 2), ("ccap.txt", "text/plain", None)]

    listed = finances.get(f"/api/v1/documents/{body['id']}/annexes")
    assert listed.status_code == 200 and listed.get_json() == body["annexes"]
    in_list = finances.get("/api/v1/documents?q=annexes").get_json()["items"]
    assert [d["annexes"] for d in in_list if d["id"] == body["id"]] == [body["annexes"]]

    text = body["annexes"][1]
    download = finances.get(f"/api/v1/documents/{body['id']}/annexes/{text['id']}/file")
    assert download.status_code == 200 and download.data == notes
    assert download.mimetype == "text/plain"
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(notes).hexdigest() \
        == text["sha256"]
    unsigned = finances.get(f"/api/v1/documents/{body['id']}/annexes/{text['id']}/file"
                            "?signed=true")
    assert unsigned.status_code == 404 and unsigned.mimetype == "application/problem+json"
    other_doc = finances.get(f"/api/v1/documents/1/annexes/{text['id']}/file")
    assert other_doc.status_code == 404


def test_bad_annexes_are_problems_and_store_nothing(demo, token_for, api, sample_pdf):
    finances = api(token_for("finances"))
    before = _counts(demo)
    for annexes, reason in (([(b"MZ\x90\x00", "outil.exe")], "type de fichier"),
                            ([(b"pas un pdf", "faux.pdf")], "ne correspond pas"),
                            ([(b"", "vide.txt")], "vide"),
                            ([(b"x", f"a{i}.txt") for i in range(21)], "au plus 20")):
        refused = _deposit(finances, sample_pdf, annexes)
        assert refused.status_code == 400, refused.get_data(as_text=True)
        assert refused.mimetype == "application/problem+json"
        assert reason in refused.get_json()["detail"]
    assert _counts(demo) == before


def test_an_annex_over_the_upload_limit_is_refused(demo, token_for, api, sample_pdf):
    demo.config["MAX_UPLOAD_MB"] = 1
    finances = api(token_for("finances"))
    before = _counts(demo)
    refused = _deposit(finances, sample_pdf, [(b"a" * ((1 << 20) + 1), "gros.txt")])
    assert refused.status_code in (400, 413) and refused.mimetype == "application/problem+json"
    assert _counts(demo) == before


def test_another_organisation_reaches_no_annex(demo, token_for, api, sample_pdf):
    finances = api(token_for("finances"))
    body = _deposit(finances, sample_pdf, [(b"annexe\n", "note.txt")]).get_json()
    neighbour_account(demo, "agent-voisin", "agent")
    other = api(token_for("agent-voisin"))
    annex_id = body["annexes"][0]["id"]
    for url in (f"/api/v1/documents/{body['id']}/annexes",
                f"/api/v1/documents/{body['id']}/annexes/{annex_id}/file"):
        response = other.get(url)
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
    no_scope = api(token_for("finances", ("invoices:read",)))
    assert no_scope.get(f"/api/v1/documents/{body['id']}/annexes").status_code == 403
