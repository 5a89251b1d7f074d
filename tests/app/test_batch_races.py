"""A batch signature racing with an individual signature of one of its documents (issue #9, 6)."""

from __future__ import annotations

import threading

import pytest
from app_helpers import all_at_signature, csrf_from, page_text, referenced_files, store_files
from sqlalchemy import func, select

from parapheur.audit.services import verify_chain
from parapheur.circuits.models import StepAction
from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus
from parapheur.signatures import services

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _batch_request(client, items):
    token = csrf_from(client.get("/").get_data(as_text=True))
    return client.post("/signatures/batch", data={
        "csrf_token": token, "passphrase": "1234", "reviewed": "1",
        "items": [f"{d}:{s}" for d, s in items]}, follow_redirects=True)


def test_a_document_signed_alone_while_its_batch_signs_is_reported_and_the_others_go_on(
        demo, client_for, monkeypatch):
    items = all_at_signature(demo, client_for)
    assert len(items) >= 3
    contested_id, contested_step = items[1]
    batch_client, single_client = client_for("maire"), client_for("maire")
    single_token = csrf_from(single_client.get(f"/documents/{contested_id}")
                             .get_data(as_text=True))
    signed_files_made = threading.Event()
    single_done = threading.Event()
    real_sign_all = services._sign_all

    def sign_all_then_let_the_other_sign(*args, **kwargs):
        results = real_sign_all(*args, **kwargs)
        if threading.current_thread().name != "batch":
            return results
        signed_files_made.set()  # the batch holds its signed files, nothing recorded yet
        assert single_done.wait(timeout=120)
        return results

    monkeypatch.setattr(services, "_sign_all", sign_all_then_let_the_other_sign)
    responses: dict[str, object] = {}

    def batch() -> None:
        responses["batch"] = _batch_request(batch_client, items)

    def single() -> None:
        assert signed_files_made.wait(timeout=120)
        try:
            responses["single"] = single_client.post(
                f"/documents/{contested_id}/steps/{contested_step}/sign",
                data={"csrf_token": single_token, "passphrase": "1234"})
        finally:
            single_done.set()

    threads = [threading.Thread(target=batch, name="batch"), threading.Thread(target=single)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert responses["single"].status_code == 302
    batch_response = responses["batch"]
    assert batch_response.status_code == 200
    text = page_text(batch_response)
    assert f"{len(items) - 1} document(s) signé(s)" in text
    with demo.app_context():
        session = get_session()
        contested = session.get(Document, contested_id)
        assert f"Non signé : « {contested.title} »" in text and "déjà traité" in text
        assert text.count("Non signé") == 1
        for document_id, step in items:
            document = session.get(Document, document_id)
            assert document.status is DocumentStatus.APPROVED
            signatures = session.execute(select(func.count(StepAction.id)).where(
                StepAction.document_id == document_id, StepAction.step == step)).scalar_one()
            assert signatures == 1
            assert document.current_version.number == 2
        assert verify_chain(session).intact
    # The batch's signed file of the contested document never reached the store.
    assert store_files(demo) == referenced_files(demo)


def test_a_batch_and_a_single_signature_started_together_each_document_signed_once(
        demo, client_for):
    items = all_at_signature(demo, client_for)
    contested_id, contested_step = items[0]
    batch_client, single_client = client_for("maire"), client_for("maire")
    single_token = csrf_from(single_client.get(f"/documents/{contested_id}")
                             .get_data(as_text=True))
    start = threading.Barrier(2)
    responses: dict[str, object] = {}

    def batch() -> None:
        start.wait()
        responses["batch"] = _batch_request(batch_client, items)

    def single() -> None:
        start.wait()
        responses["single"] = single_client.post(
            f"/documents/{contested_id}/steps/{contested_step}/sign",
            data={"csrf_token": single_token, "passphrase": "1234"})

    threads = [threading.Thread(target=batch), threading.Thread(target=single)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert responses["single"].status_code in (302, 409)
    assert responses["batch"].status_code == 200
    text = page_text(responses["batch"])
    single_won = responses["single"].status_code == 302
    signed_by_batch = len(items) - 1 if single_won else len(items)
    assert f"{signed_by_batch} document(s) signé(s)" in text
    assert text.count("Non signé") == (1 if single_won else 0)
    with demo.app_context():
        session = get_session()
        for document_id, step in items:
            assert session.execute(select(func.count(StepAction.id)).where(
                StepAction.document_id == document_id, StepAction.step == step)).scalar_one() == 1
    assert store_files(demo) == referenced_files(demo)
