"""Signing under pressure: concurrent signers, brute-forced codes, unavailable services."""

from __future__ import annotations

import threading

import pytest
from app_helpers import (
    csrf_from,
    db_snapshot,
    page_text,
    referenced_files,
    store_files,
    without_journal,
)
from sqlalchemy import func, select

from parapheur.audit.models import AuditEvent
from parapheur.circuits.services import pending_steps
from parapheur.db import get_session
from parapheur.documents.models import Document
from signing.pki_server import free_loopback_port


def _waiting_for_maire(demo) -> tuple[int, str]:
    with demo.app_context():
        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            step = pending_steps(document)[0].state
            if step.startswith("signature"):
                return document.id, step
    raise AssertionError("no demo document waits for the Maire's signature")


def _events(demo, name: str) -> int:
    with demo.app_context():
        return get_session().execute(select(func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.name == name)).scalar_one()


@pytest.mark.postgres
def test_two_simultaneous_signatures_one_wins_the_other_gets_409(demo, client_for):
    document_id, step = _waiting_for_maire(demo)
    clients = [client_for("maire"), client_for("maire")]
    tokens = [csrf_from(c.get(f"/documents/{document_id}").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(2)
    responses = []

    def sign(client, token):
        start.wait()
        responses.append(client.post(f"/documents/{document_id}/steps/{step}/sign",
                                     data={"csrf_token": token, "passphrase": "1234"}))

    threads = [threading.Thread(target=sign, args=pair)
               for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses) == [302, 409]
    loser = next(r for r in responses if r.status_code == 409)
    assert "déjà traité" in page_text(loser)
    # The loser's signed file is not left in the store: every file there is a known version.
    assert store_files(demo) == referenced_files(demo)


def test_an_unreachable_time_stamping_service_is_503_and_changes_nothing(demo, client_for):
    document_id, step = _waiting_for_maire(demo)
    demo.config["TSA_URL"] = f"http://127.0.0.1:{free_loopback_port()}/tsa"  # nobody listens
    maire = client_for("maire")
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    before, files = db_snapshot(demo), store_files(demo)
    response = maire.post(f"/documents/{document_id}/steps/{step}/sign",
                          data={"csrf_token": token, "passphrase": "1234"})
    assert response.status_code == 503
    text = page_text(response)
    assert "indisponible, réessayez" in text and "incorrect" not in text
    assert without_journal(db_snapshot(demo)) == without_journal(before)
    assert store_files(demo) == files


def test_wrong_codes_are_journaled_then_throttled(demo, client_for):
    document_id, step = _waiting_for_maire(demo)
    maire = client_for("maire")
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))

    def attempt(code: str):
        return maire.post(f"/documents/{document_id}/steps/{step}/sign",
                          data={"csrf_token": token, "passphrase": code})

    for guess in range(5):
        response = attempt(f"99{guess}")
        assert response.status_code == 400 and "incorrect" in page_text(response)
    assert _events(demo, "signature:code:failed") == 5
    with demo.app_context():
        details = [e.details for e in get_session().execute(
            select(AuditEvent).where(AuditEvent.name == "signature:code:failed")).scalars()]
    assert not any("990" in str(d) for d in details)  # never the code itself
    throttled = attempt("1234")  # even the right code waits now
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Trop de codes" in page_text(throttled)
    with demo.app_context():
        assert get_session().get(Document, document_id).current_version.number == 1


def test_a_signature_that_does_not_verify_is_never_recorded(demo_pki, sample_pdf):
    from parapheur.signatures.services import verification_problem
    from signing.batch import BatchSigner
    from signing.keys import Pkcs12Key
    from signing.pades import SignOptions
    from signing.validation import Validator

    key = Pkcs12Key.open(demo_pki.pkcs12_path("maire"), "1234")
    options = SignOptions(field_name="Signature1")
    signed = BatchSigner(key, options).sign_bytes(sample_pdf)
    validator = Validator([c for c in key.signer.cert_registry if c.self_signed])
    try:
        assert verification_problem(validator, signed, "Signature1") is None
        # One byte changed inside the signed range: `parapheur verify` says TOTAL-FAILED.
        position = signed.index(b"Seconde page") if b"Seconde page" in signed else len(signed) // 3
        tampered = signed[:position] + bytes([signed[position] ^ 1]) + signed[position + 1:]
        problem = verification_problem(validator, tampered, "Signature1")
        assert problem is not None and "ne se vérifie pas" in problem
        assert verification_problem(validator, signed, "Signature9") is not None
    finally:
        validator.close()
