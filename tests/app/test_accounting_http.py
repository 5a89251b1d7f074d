"""PES files sent to the tiers de télétransmission over HTTP, through the outbox: a 500 and a
timeout are retried with backoff and journaled, then the file (made once) is taken and the
bordereau's export step completes; the bearer token is never journaled."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from accounting_helpers import bordereau_in_circuit, demo_invoices, sign_as_maire
from app_helpers import page_text
from sqlalchemy import select

from parapheur.accounting.models import PesExport
from parapheur.audit.models import AuditEvent
from parapheur.context import store_for
from parapheur.db import get_session
from parapheur.documents.models import Document, DocumentStatus
from parapheur.outbox.services import deliver_due

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "accounting"))
from tdt_server import TdtServer  # noqa: E402

TOKEN = "jeton-tres-secret-42"


@pytest.fixture
def tdt():
    server = TdtServer().start()
    yield server
    server.stop()


def _exports(results) -> list[tuple[str, str | None]]:
    return [(r.outcome, r.error) for r in results if r.kind == "circuit.export"]


def test_a_500_then_a_timeout_are_retried_then_the_file_is_taken(demo, client_for, clock, tdt,
                                                                 tmp_path, caplog):
    token_file = tmp_path / "tdt-token"
    token_file.write_text(TOKEN + "\n")
    demo.config.update(PES_HTTP_URL=tdt.url, PES_HTTP_TOKEN_FILE=token_file, PES_HTTP_TIMEOUT=1,
                       OUTBOX_MAX_ATTEMPTS=4)
    tdt.answers = [500, "stall"]
    _, document_id = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 2))
    maire = client_for("maire")
    assert sign_as_maire(maire, document_id).status_code == 302

    [(outcome, error)] = _exports(deliver_due(demo))
    assert outcome == "retry"
    assert error == "Le tiers de télétransmission a répondu HTTP 500 (refusé) : erreur 500 du TdT."
    assert "dernière erreur : Le tiers de télétransmission a répondu HTTP 500" in page_text(
        maire.get(f"/documents/{document_id}"))

    clock.moment += timedelta(minutes=5)
    assert _exports(deliver_due(demo)) == [
        ("retry", "Le tiers de télétransmission n'a pas répondu en 1 s.")]

    clock.moment += timedelta(minutes=10)
    assert _exports(deliver_due(demo)) == [("done", None)]
    with demo.app_context():
        session = get_session()
        assert session.get(Document, document_id).status is DocumentStatus.APPROVED
        (export,) = session.scalars(select(PesExport)).all()
        assert export.deposited_to == f"{tdt.url} (HTTP 201, accusé TDT-3)"
        content = store_for(demo.config).read(export.sha256)
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        retried = [e.details["error"] for e in events if e.name == "outbox:message:retried"
                   and e.details["kind"] == "circuit.export"]
        assert len(retried) == 2
        deposited = [e for e in events if e.name == "accounting:pes:deposited"]
        assert [e.details["to"] for e in deposited] == [export.deposited_to]
        assert all(TOKEN not in json.dumps(e.details) for e in events)
    # Three tries of one file: the same bytes and the same idempotency key each time.
    assert len(tdt.received) == 3
    assert {r.body for r in tdt.received} == {content}
    assert {r.headers["idempotency-key"] for r in tdt.received} == {
        f"{export.filename}:{export.sha256}"}
    assert {r.headers["authorization"] for r in tdt.received} == {f"Bearer {TOKEN}"}
    assert TOKEN not in caplog.text


def test_a_refused_token_is_not_retried_and_goes_back_to_the_maire(demo, client_for, clock, tdt):
    demo.config.update(PES_HTTP_URL=tdt.url, OUTBOX_MAX_ATTEMPTS=4)
    tdt.answers = [401]
    _, document_id = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 1))
    maire = client_for("maire")
    assert sign_as_maire(maire, document_id).status_code == 302
    assert [o for o, _ in _exports(deliver_due(demo))] == ["failed"]
    page = page_text(maire.get(f"/documents/{document_id}"))
    assert "échec de l'export : Le tiers de télétransmission a répondu HTTP 401 " \
           "(identifiants refusés (vérifiez le jeton))" in page
    assert len(tdt.received) == 1 and "authorization" not in tdt.received[0].headers
