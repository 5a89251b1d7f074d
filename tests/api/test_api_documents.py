"""`/api/v1` over HTTP: tokens authenticate (never cookies), documents, circuit actions, errors."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from api_helpers import deposit
from sqlalchemy import func, select

from parapheur.audit.models import AuditEvent
from parapheur.db import get_session
from parapheur.documents.models import Document


def _count_documents(app) -> int:
    with app.app_context():
        return get_session().execute(select(func.count(Document.id))).scalar_one()


def test_no_token_is_a_401_problem_and_a_logged_in_cookie_does_not_authenticate(client_for):
    browser = client_for("dgs")  # a real login session: its cookie must not open the API
    response = browser.get("/api/v1/documents")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "missing_token" and problem["status"] == 401
    assert "jeton" in problem["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert browser.post("/api/v1/documents", data={}).status_code == 401


def test_deposit_read_list_and_download_without_csrf(demo, token_for, api, sample_pdf):
    finances = api(token_for("finances"))
    before = _count_documents(demo)
    created = deposit(finances, sample_pdf, title="Budget par l'API")  # no CSRF token at all
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["title"] == "Budget par l'API" and body["status"] == "en_cours"
    assert body["pending"][0]["step"] == "visa_dgs" and body["pending"][0]["desks"] == ["dgs"]
    assert created.headers["Location"].endswith(f"/api/v1/documents/{body['id']}")
    assert _count_documents(demo) == before + 1
    with demo.app_context():
        event = get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "document:created", AuditEvent.document_id == body["id"])
        ).scalar_one()
        assert event.actor_label == "finances"

    read = finances.get(f"/api/v1/documents/{body['id']}")
    assert read.status_code == 200 and read.get_json()["versions"][0]["number"] == 1
    listed = finances.get("/api/v1/documents?q=budget+API&status=en_cours&type=ACTES")
    assert [d["id"] for d in listed.get_json()["items"]] == [body["id"]]
    # The « à traiter » tray of the DGS holds it; the finances agent waits on nothing.
    dgs = api(token_for("dgs"))
    tray = dgs.get("/api/v1/documents?tray=a_traiter&limit=200").get_json()["items"]
    assert body["id"] in [d["id"] for d in tray]
    assert finances.get("/api/v1/documents?tray=a_traiter").get_json()["items"] == []

    download = finances.get(f"/api/v1/documents/{body['id']}/versions/1/file")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert hashlib.sha256(download.data).hexdigest() == download.headers["X-Content-SHA256"]
    assert download.data == sample_pdf


def test_the_list_pages_by_cursor(token_for, api):
    auditeur = api(token_for("auditeur", ("documents:read",)))
    first = auditeur.get("/api/v1/documents?limit=1").get_json()
    assert len(first["items"]) == 1 and first["next_after"] == first["items"][0]["id"]
    second = auditeur.get(f"/api/v1/documents?limit=1&after={first['next_after']}").get_json()
    assert second["items"][0]["id"] < first["items"][0]["id"]



def test_the_list_takes_the_inboxs_author_amount_and_date_filters(demo, token_for, api,
                                                                   sample_pdf):
    from parapheur.accounts.models import User

    finances = api(token_for("finances"))
    body = deposit(finances, sample_pdf, title="Marché de voirie").get_json()
    with demo.app_context():
        session = get_session()
        author = session.get(Document, body["id"]).author_id
        others = session.execute(select(User.id).where(User.id != author)).scalars().first()
        day = session.get(Document, body["id"]).created_at.date().isoformat()

    def ids(query: str) -> list[int]:
        response = finances.get(f"/api/v1/documents?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [d["id"] for d in response.get_json()["items"]]

    assert body["id"] in ids(f"author={author}&deposited_from={day}&deposited_to={day}")
    assert body["id"] not in ids(f"author={others}")
    assert body["id"] not in ids("deposited_to=2000-01-01")
    # The inbox's own rule reads and checks amounts: a wrong one is a 400 problem naming it.
    wrong = finances.get("/api/v1/documents?amount_min=douze")
    assert wrong.status_code == 400 and wrong.mimetype == "application/problem+json"
    assert "Montant minimum" in wrong.get_json()["detail"]
    reversed_range = finances.get("/api/v1/documents?amount_min=10&amount_max=1")
    assert reversed_range.status_code == 400

    # The inbox's other trays: her deposits, what she acted on, what is late for a desk.
    assert body["id"] in ids("tray=mes_depots")
    assert body["id"] not in ids("tray=traites")
    dgs = api(token_for("dgs"))
    assert body["id"] not in [d["id"] for d in dgs.get("/api/v1/documents?tray=mes_depots")
                              .get_json()["items"]]
    assert body["id"] in [d["id"] for d in dgs.get("/api/v1/documents?tray=a_traiter&limit=200")
                          .get_json()["items"]]
    late = [d["id"] for d in dgs.get("/api/v1/documents?tray=en_retard&limit=200")
            .get_json()["items"]]
    assert body["id"] not in late  # deposited now: its visa is not due yet
    with demo.app_context():
        session = get_session()
        overdue = session.get(Document, body["id"])
        overdue.due_at = overdue.created_at - timedelta(days=1)
        session.commit()
    assert body["id"] in [d["id"] for d in dgs.get("/api/v1/documents?tray=en_retard&limit=200")
                          .get_json()["items"]]


def test_hidden_documents_are_unavailable_and_bad_input_is_a_clear_problem(
        token_for, api, sample_pdf):
    maire = api(token_for("maire"))
    hidden = maire.get("/api/v1/documents/1")  # waits for the DGS: the maire does not see it yet
    assert hidden.status_code == 404
    assert hidden.get_json()["code"] == "document_unavailable"
    assert "indisponible" in hidden.get_json()["detail"]
    finances = api(token_for("finances"))
    not_pdf = deposit(finances, b"%PDF-1.7 not really", title="Faux")
    assert not_pdf.status_code == 400 and not_pdf.mimetype == "application/problem+json"
    assert not_pdf.get_json()["code"] == "invalid_upload"
    missing = finances.post("/api/v1/documents", data={"title": "x"},
                            content_type="multipart/form-data")
    assert missing.status_code == 422
    problem = missing.get_json()
    assert problem["code"] == "validation_failed" and "typology" in str(problem["errors"])
    unknown_type = deposit(finances, sample_pdf, typology="ACTES/NIMPORTEQUOI")
    assert unknown_type.status_code in (400, 404) and unknown_type.get_json()["code"]


def test_scopes_limit_what_a_token_does(token_for, api, sample_pdf):
    reader = api(token_for("finances", ("documents:read",)))
    refused = deposit(reader, sample_pdf)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "insufficient_scope"
    assert "documents:write" in refused.get_json()["detail"]
    assert reader.get("/api/v1/users").get_json()["code"] == "insufficient_scope"


def test_visa_take_back_reject_and_sign_through_the_circuit_services(demo, token_for, api):
    dgs = api(token_for("dgs"))
    visa = dgs.post("/api/v1/documents/1/steps/visa_dgs/visa")
    assert visa.status_code == 200, visa.get_data(as_text=True)
    assert visa.get_json()["document"]["pending"][0]["step"] == "signature_maire"
    again = dgs.post("/api/v1/documents/1/steps/visa_dgs/visa")
    assert again.status_code == 409 and again.get_json()["code"] == "step_not_current"
    back = dgs.post("/api/v1/documents/1/take-back")
    assert back.status_code == 200
    assert back.get_json()["document"]["pending"][0]["step"] == "visa_dgs"
    no_reason = dgs.post("/api/v1/documents/1/steps/visa_dgs/reject", json={})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]["json"]
    assert dgs.post("/api/v1/documents/1/steps/visa_dgs/visa").status_code == 200

    maire = api(token_for("maire"))
    wrong = maire.post("/api/v1/documents/1/steps/signature_maire/sign",
                       json={"passphrase": "pas-le-bon"})
    assert wrong.status_code in (400, 403) and wrong.mimetype == "application/problem+json"
    signed = maire.post("/api/v1/documents/1/steps/signature_maire/sign",
                        json={"passphrase": "1234"})
    assert signed.status_code == 200, signed.get_data(as_text=True)
    document = signed.get_json()["document"]
    assert document["status"] == "termine"
    assert [v["kind"] for v in document["versions"]] == ["original", "signature"]
    second = maire.get("/api/v1/documents/1/versions/2/file")
    assert second.status_code == 200 and b"/ByteRange" in second.data

    rejected = api(token_for("dgs")).post("/api/v1/documents/2/steps/visa_dgs/reject",
                                          json={"reason": "Pièce manquante"})
    assert rejected.status_code == 200 and rejected.get_json()["document"]["status"] == "rejete"


def test_evidence_bundle_for_auditors_only(demo, demo_pki, token_for, api, tmp_path):
    from parapheur.demo.seed import DEMO_PASSPHRASE

    passphrase = tmp_path / "seal-passphrase"
    passphrase.write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    demo.config["SEAL_PKCS12"] = demo_pki.seal_pkcs12_path
    demo.config["SEAL_PASSPHRASE_FILE"] = passphrase
    refused = api(token_for("dgs")).get("/api/v1/documents/1/evidence.zip")
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    bundle = api(token_for("auditeur", ("documents:read",))).get("/api/v1/documents/1/evidence.zip")
    assert bundle.status_code == 200 and bundle.mimetype == "application/zip"
    assert bundle.data[:2] == b"PK"
    with demo.app_context():
        assert get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "document:evidence:exported",
            AuditEvent.actor_label == "auditeur")).scalar_one().details["via"] == "api"


@pytest.mark.postgres
def test_idempotency_key_gives_the_same_answer_and_refuses_another_body(
        demo, token_for, api, sample_pdf):
    finances = api(token_for("finances"))
    before = _count_documents(demo)
    key = {"Idempotency-Key": "depot-2026-0001"}
    first = deposit(finances, sample_pdf, title="Une seule fois", headers=key)
    replay = deposit(finances, sample_pdf, title="Une seule fois", headers=key)
    assert first.status_code == replay.status_code == 201
    assert replay.get_json()["id"] == first.get_json()["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    assert _count_documents(demo) == before + 1
    other = deposit(finances, sample_pdf, title="Un autre contenu", headers=key)
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"
    assert _count_documents(demo) == before + 1
    # Another token's same key is its own.
    again = deposit(api(token_for("finances")), sample_pdf, title="Une seule fois", headers=key)
    assert again.status_code == 201 and again.get_json()["id"] != first.get_json()["id"]
    bad_key = deposit(finances, sample_pdf, headers={"Idempotency-Key": "é" * 3})
    assert bad_key.status_code == 400 and bad_key.get_json()["code"] == "invalid_idempotency_key"


def test_a_refusal_under_a_key_is_replayed_too(token_for, api):
    dgs = api(token_for("dgs"))
    key = {"Idempotency-Key": "delegation-1"}
    body = {"from_desk": "dgs", "to_desk": "dgs", "first_day": "2026-12-10",
            "last_day": "2026-12-11"}
    first = dgs.post("/api/v1/delegations", json=body, headers=key)
    assert first.status_code == 400 and "lui-même" in first.get_json()["detail"]
    second = dgs.post("/api/v1/delegations", json=body, headers=key)
    assert second.status_code == 400 and second.headers["Idempotent-Replayed"] == "true"


def test_rate_limit_per_token_answers_429_with_retry_after(demo, token_for, api):
    demo.config["API_RATE_LIMIT"] = "3 per minute"
    caller = api(token_for("auditeur", ("documents:read",)))
    statuses = [caller.get("/api/v1/documents?limit=1").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = caller.get("/api/v1/documents?limit=1")
    assert limited.mimetype == "application/problem+json"
    assert limited.get_json()["code"] == "rate_limited" and limited.headers.get("Retry-After")
    # Another token has its own allowance.
    assert api(token_for("auditeur", ("documents:read",))).get(
        "/api/v1/documents?limit=1").status_code == 200
