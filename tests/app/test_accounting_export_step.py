"""The `bordereau-mandats` circuit's export step: after the ordonnateur's signature the document
waits « en attente d'export » until the queue worker has really deposited the PES file; a failed
deposit is retried, then goes back to the ordonnateur with « échec de l'export : … »."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from accounting_helpers import bordereau_in_circuit, demo_invoices, sign_as_maire
from app_helpers import page_text
from sqlalchemy import select

from parapheur.accounting.models import BordereauMandats, BordereauState, Mandat, PesExport
from parapheur.accounting.pes.validation import check_aller
from parapheur.audit.models import AuditEvent
from parapheur.circuits import services as circuits
from parapheur.circuits.models import StepAction
from parapheur.context import store_for
from parapheur.db import get_session, transaction
from parapheur.documents.models import Document, DocumentStatus
from parapheur.outbox.services import deliver_due
from parapheur.outbox.tasks import QUEUE_KEY, build_queue

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("PARAPHEUR_TEST_REDIS_URL")


def _wait(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)  # waiting on another process, not on time itself
    raise AssertionError(f"timed out waiting for {what}")


def _document(app, document_id: int) -> tuple[DocumentStatus, list[str]]:
    with app.app_context():
        document = get_session().get(Document, document_id)
        return document.status, [p.state for p in circuits.pending_steps(document)]


def _bordereau(app, bordereau_id: int) -> tuple[BordereauState, PesExport | None]:
    with app.app_context():
        session = get_session()
        bordereau = session.get(BordereauMandats, bordereau_id)
        export = bordereau.export
        session.expunge_all()
        return bordereau.state, export


def _exports(results) -> list[str]:
    return [r.outcome for r in results if r.kind == "circuit.export"]


def test_the_worker_exports_and_deposits_then_the_step_completes(demo, client_for, clock,
                                                                 tmp_path):
    depot = tmp_path / "depot"
    bordereau_id, document_id = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 3))
    maire = client_for("maire")
    assert sign_as_maire(maire, document_id).status_code == 302

    # Signed (PAdES and XAdES), nothing exported yet: the step waits for the worker.
    assert _document(demo, document_id) == (DocumentStatus.IN_PROGRESS, ["export_pes"])
    assert _bordereau(demo, bordereau_id) == (BordereauState.SIGNE, None)
    page = page_text(maire.get(f"/documents/{document_id}"))
    assert "Export PES V2 vers Hélios" in page and "en attente d'export" in page
    assert not depot.exists()

    env = {**os.environ, "PARAPHEUR_DATABASE_URL": demo.config["DATABASE_URL"],
           "PARAPHEUR_DATA_DIR": str(demo.config["DATA_DIR"]),
           "PARAPHEUR_SECRET_KEY": "test-secret", "PARAPHEUR_PES_DEPOSIT_DIR": str(depot)}
    if REDIS_URL:  # CI: the production queue; elsewhere Huey's SQLite storage
        name = f"test-{uuid.uuid4().hex[:12]}"
        env.update(PARAPHEUR_REDIS_URL=REDIS_URL, PARAPHEUR_QUEUE_NAME=name)
        demo.config.update(REDIS_URL=REDIS_URL, QUEUE_NAME=name)
        demo.extensions[QUEUE_KEY] = build_queue(demo)
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "parapheur", "worker", "--threads", "1"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _document(demo, document_id)[0] is DocumentStatus.APPROVED,
              "the export step to complete")
        worker.send_signal(signal.SIGINT)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()

    state, export = _bordereau(demo, bordereau_id)
    assert state is BordereauState.EXPORTE and export is not None
    (deposited,) = depot.iterdir()
    assert deposited.name == export.filename and export.deposited_to == str(deposited)
    content = deposited.read_bytes()
    assert content == store_for(demo.config).read(export.sha256)
    assert check_aller(content) == []
    # The demo's own signed bordereau (budget principal) is another budget: not in this file.
    assert content.count(b"<Bordereau ") == 1 and b'<CodBud V="01"/>' in content
    page = page_text(maire.get(f"/documents/{document_id}"))
    assert "Transmis au comptable (PES V2)" in page
    with demo.app_context():
        session = get_session()
        [step] = session.scalars(select(StepAction).where(
            StepAction.document_id == document_id, StepAction.step == "export_pes")).all()
        assert step.decision == "approve" and step.actor_id is None
        names = [e.name for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert names.index("accounting:pes:exported") < names.index("accounting:pes:deposited") \
            < names.index("document:circuit:completed")
        exported = session.scalars(select(AuditEvent).where(
            AuditEvent.name == "document:step:exported",
            AuditEvent.document_id == document_id)).one()
        assert exported.details["filename"] == export.filename
        assert exported.details["deposited_to"] == str(deposited)


def test_a_failed_deposit_is_retried_then_goes_back_to_the_maire_who_signs_again(
        demo, client_for, clock, tmp_path):
    blocker = tmp_path / "pas-un-dossier"
    blocker.write_text("un fichier, pas un dossier")
    demo.config.update(PES_DEPOSIT_DIR=blocker / "depot", OUTBOX_MAX_ATTEMPTS=2)
    bordereau_id, document_id = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 2))
    maire = client_for("maire")
    assert sign_as_maire(maire, document_id).status_code == 302

    assert _exports(deliver_due(demo)) == ["retry"]
    page = page_text(maire.get(f"/documents/{document_id}"))
    assert "en attente d'export (nouvel essai prévu, dernière erreur : Le dossier de dépôt" in page
    # The file was made once and kept; only its deposit failed.
    state, export = _bordereau(demo, bordereau_id)
    assert state is BordereauState.EXPORTE and export.deposited_at is None

    clock.moment += timedelta(minutes=5)  # past the first retry's backoff
    assert _exports(deliver_due(demo)) == ["failed"]
    assert _document(demo, document_id) == (DocumentStatus.IN_PROGRESS,
                                            ["signature_ordonnateur"])
    page = page_text(maire.get(f"/documents/{document_id}"))
    assert "échec de l'export : Le dossier de dépôt" in page and "ne peut pas être créé" in page

    # Deposit folder repaired: the maire signs again, the same file is deposited, no new one.
    demo.config["PES_DEPOSIT_DIR"] = tmp_path / "depot"
    assert sign_as_maire(maire, document_id).status_code == 302
    assert _exports(deliver_due(demo)) == ["done"]
    assert _document(demo, document_id)[0] is DocumentStatus.APPROVED
    state, again = _bordereau(demo, bordereau_id)
    assert again.id == export.id and again.deposited_at is not None
    assert [p.name for p in (tmp_path / "depot").iterdir()] == [export.filename]
    with demo.app_context():
        assert len(get_session().scalars(select(PesExport)).all()) == 1


def test_a_file_helios_would_reject_is_not_made_and_goes_back_at_once(demo, client_for, clock,
                                                                      tmp_path):
    demo.config["PES_DEPOSIT_DIR"] = tmp_path / "depot"
    bordereau_id, document_id = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 1))
    maire = client_for("maire")
    assert sign_as_maire(maire, document_id).status_code == 302
    with demo.app_context():
        session = get_session()
        with transaction(session):  # the signed mandat names a PJ the file no longer carries
            session.scalars(select(Mandat).where(Mandat.bordereau_id == bordereau_id)).one()\
                .attachment_id = "219900016000112026DEP9999999999"

    assert _exports(deliver_due(demo)) == ["failed"]  # permanent: no retry
    assert _document(demo, document_id) == (DocumentStatus.IN_PROGRESS,
                                            ["signature_ordonnateur"])
    page = page_text(maire.get(f"/documents/{document_id}"))
    assert "échec de l'export : Hélios rejetterait le fichier" in page
    assert "(PJRef)" in page and "219900016000112026DEP9999999999" in page
    assert _bordereau(demo, bordereau_id) == (BordereauState.SIGNE, None)
    assert not (tmp_path / "depot").exists()


@pytest.mark.postgres  # one file for the batch, deposited once: the export row is locked
def test_bordereaux_signed_in_one_batch_leave_in_one_file_deposited_once(demo, client_for, clock,
                                                                        tmp_path):
    from app_helpers import csrf_from

    demo.config["PES_DEPOSIT_DIR"] = tmp_path / "depot"
    first = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 2))
    second = bordereau_in_circuit(demo, clock, demo_invoices(demo, clock, 2, first=3))
    maire = client_for("maire")
    token = csrf_from(maire.get("/").get_data(as_text=True))
    response = maire.post("/signatures/batch", data={
        "csrf_token": token, "reviewed": "1", "passphrase": "1234",
        "items": [f"{first[1]}:signature_ordonnateur", f"{second[1]}:signature_ordonnateur"]})
    assert response.status_code == 302
    assert "2 document(s) signé(s)." in page_text(maire.get("/"))

    assert _exports(deliver_due(demo)) == ["done", "done"]
    for _, document_id in (first, second):
        assert _document(demo, document_id)[0] is DocumentStatus.APPROVED
    (_, one), (_, other) = _bordereau(demo, first[0]), _bordereau(demo, second[0])
    assert one.id == other.id  # one PES file for the batch
    (deposited,) = (tmp_path / "depot").iterdir()
    assert deposited.read_bytes().count(b"<Bordereau ") == 2
    with demo.app_context():
        assert len(get_session().scalars(select(AuditEvent).where(
            AuditEvent.name == "accounting:pes:deposited")).all()) == 1
