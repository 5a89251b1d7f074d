"""The production layout for real: two gunicorn processes and two `parapheur worker` processes on
one PostgreSQL and one Redis; a login on one server holds on the other (no sticky sessions), the
same visa posted at once through both servers is given exactly once, and the workers deposit a
signed bordereau's PES file once and deliver each webhook event once to a loopback receiver."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from accounting_helpers import bordereau_in_circuit, demo_invoices, sign_as_maire
from app_helpers import WebhookReceiver, csrf_from
from sqlalchemy import func, select

from parapheur.accounting.models import BordereauMandats, PesExport
from parapheur.accounts.models import User
from parapheur.audit.services import verify_chain
from parapheur.circuits import services as circuits
from parapheur.circuits.models import StepAction
from parapheur.clock import now
from parapheur.db import get_session, transaction
from parapheur.documents.models import Document
from parapheur.outbox.models import OutboxMessage, OutboxStatus
from parapheur.outbox.tasks import QUEUE_KEY, build_queue
from parapheur.webhooks.services import create_subscription

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REDIS_URL = os.environ.get("PARAPHEUR_TEST_REDIS_URL")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(base: str, processes, log_path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise AssertionError(f"a process stopped: {log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)  # waiting on another process to start, not on time itself
    raise AssertionError(f"{base} never became ready: {log_path.read_text()[-3000:]}")


def _busy(demo) -> list[tuple[str, str]]:
    """The outbox rows due and not delivered yet (mails held for quiet hours are not due)."""
    with demo.app_context():
        return [(m.kind, m.status.value) for m in get_session().execute(
            select(OutboxMessage).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.CLAIMED]),
                OutboxMessage.available_at <= datetime.now(UTC))).scalars()]


def _login(base: str) -> requests.Session:
    http = requests.Session()
    token = csrf_from(http.get(f"{base}/login", timeout=10).text)
    answer = http.post(f"{base}/login", data={"username": "dgs", "password": "demo-dgs",
                                              "csrf_token": token},
                       allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    return http


def test_two_servers_and_two_workers_on_one_postgresql_and_redis(demo, client_for, clock,
                                                                 tmp_path):
    if not demo.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the production layout runs on PostgreSQL")
    if not REDIS_URL:
        if os.environ.get("PARAPHEUR_REQUIRE_SYSTEM_DEPS") == "1":
            pytest.fail("PARAPHEUR_TEST_REDIS_URL is needed for the production layout test")
        pytest.skip("PARAPHEUR_TEST_REDIS_URL is not set")
    queue_name = f"test-{uuid.uuid4().hex[:12]}"
    depot = tmp_path / "depot"
    receiver = WebhookReceiver()  # every POST answered 200
    receiver.thread.start()
    # This process nudges the same Redis queue the workers read (they start after it).
    demo.config.update(REDIS_URL=REDIS_URL, QUEUE_NAME=queue_name, WEBHOOK_ALLOW_PRIVATE=True)
    demo.extensions[QUEUE_KEY] = build_queue(demo)
    with demo.app_context():
        session = get_session()
        document_id = session.execute(select(Document.id).order_by(Document.id)).scalars().first()
        step = circuits.pending_steps(session.get(Document, document_id))[0].state
        admin = session.execute(select(User).where(User.username == "admin")).scalar_one()
        with transaction(session):
            create_subscription(session, actor=admin, url=receiver.url,
                                events=["document.signed", "document.step_entered",
                                        "export.done"],
                                description="production", now=now(), allow_private=True)
    # A bordereau signed by the maire: its export step waits for a worker.
    bordereau_id, bordereau_document = bordereau_in_circuit(demo, clock,
                                                            demo_invoices(demo, clock, 1))
    assert sign_as_maire(client_for("maire"), bordereau_document).status_code == 302
    env = {**os.environ, "PARAPHEUR_DATABASE_URL": demo.config["DATABASE_URL"],
           "PARAPHEUR_DATA_DIR": str(demo.config["DATA_DIR"]),
           "PARAPHEUR_SECRET_KEY": "one-key-for-every-process", "PARAPHEUR_REDIS_URL": REDIS_URL,
           "PARAPHEUR_QUEUE_NAME": queue_name, "PARAPHEUR_PES_DEPOSIT_DIR": str(depot),
           "PARAPHEUR_WEBHOOK_ALLOW_PRIVATE": "1"}
    log_path = tmp_path / "processes.log"
    log = log_path.open("wb")
    bases = [f"http://127.0.0.1:{_free_port()}" for _ in range(2)]
    processes = [subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-b",
                                   base.removeprefix("http://"), "parapheur.wsgi:app"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
                 for base in bases]
    processes += [subprocess.Popen([sys.executable, "-m", "parapheur", "worker", "--threads", "1"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
                  for _ in range(2)]
    try:
        for base in bases:
            _wait_ready(base, processes, log_path)
            assert requests.get(f"{base}/readyz", timeout=10).json()["checks"] == {
                "database": "ok", "queue": "ok", "store": "ok"}
        first, second = _login(bases[0]), _login(bases[1])
        # A session opened on one server holds on the other: no sticky sessions needed.
        assert first.get(f"{bases[1]}/", allow_redirects=False, timeout=10).status_code == 200
        tokens = [csrf_from(http.get(f"{base}/documents/{document_id}", timeout=10).text)
                  for http, base in ((first, bases[0]), (second, bases[1]))]
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def visa(http, base, token):
            barrier.wait(timeout=30)
            statuses.append(http.post(f"{base}/documents/{document_id}/steps/{step}/visa",
                                      data={"csrf_token": token}, allow_redirects=False,
                                      timeout=60).status_code)

        threads = [threading.Thread(target=visa, args=args) for args in
                   ((first, bases[0], tokens[0]), (second, bases[1], tokens[1]))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        assert sorted(statuses) == [302, 409], log_path.read_text()[-3000:]
        # The two workers drain the queue: the export, the webhooks of the signature and visa,
        # and the two « export.done » (the PES file's, then its step's, written once the file
        # was deposited: the queue may look empty in between).
        deadline = time.monotonic() + 90
        while (busy := _busy(demo)) or not depot.exists() or sum(
                b["type"] == "export.done" for b in receiver.events()) < 2:
            assert time.monotonic() < deadline, (busy, depot.exists(), receiver.events())
            time.sleep(0.2)  # waiting on the worker processes, not on time itself
        assert all(p.poll() is None for p in processes), log_path.read_text()[-3000:]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        receiver.server.shutdown()
        receiver.server.server_close()
    (deposited,) = depot.iterdir()  # one PES file, deposited once
    ids = [b["id"] for b in receiver.events()]
    assert len(ids) == len(set(ids)), ids  # each event delivered once
    done = [b["data"] for b in receiver.events() if b["type"] == "export.done"]
    # Once for the PES file made, once for the export step of the bordereau's document.
    assert sorted(("export_id" in d, d.get("document_id")) for d in done) == [
        (False, bordereau_document), (True, None)], done
    assert {b["type"] for b in receiver.events()} >= {"document.signed", "document.step_entered"}
    with demo.app_context():
        session = get_session()
        export = session.get(BordereauMandats, bordereau_id).export
        assert export is not None and export.deposited_to == str(deposited)
        assert [d["export_id"] for d in done if "export_id" in d] == [export.id]
        assert session.execute(select(func.count(PesExport.id))).scalar_one() == 1
        assert _busy(demo) == []
    with demo.app_context():
        session = get_session()
        visas = session.execute(select(func.count(StepAction.id)).where(
            StepAction.document_id == document_id, StepAction.step == step)).scalar_one()
        assert visas == 1
        assert [p.state for p in circuits.pending_steps(session.get(Document, document_id))] \
            == ["signature_maire"]
        assert verify_chain(session).intact
