"""The queue worker for real: a `parapheur worker` process killed mid-delivery loses nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from parapheur.accounts.models import Role
from parapheur.accounts.services import create_user
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session, transaction
from parapheur.notifications.services import plan
from parapheur.organisations.services import create_organisation
from parapheur.outbox.models import OutboxMessage, OutboxStatus
from parapheur.outbox.tasks import QUEUE_KEY, build_queue

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REDIS_URL = os.environ.get("PARAPHEUR_TEST_REDIS_URL")


def _wait(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # waiting on another process, not on time itself
    raise AssertionError(f"timed out waiting for {what}")


def _rows(app) -> list[OutboxMessage]:
    with app.app_context():
        session = get_session()
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        session.expunge_all()
        return rows


def _start_worker(env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "parapheur", "worker", "--threads", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def test_killed_worker_loses_nothing_and_delivers_each_row_once(app, mailbox, clock, tmp_path):
    env = {**os.environ, "PARAPHEUR_DATABASE_URL": app.config["DATABASE_URL"],
           "PARAPHEUR_DATA_DIR": str(app.config["DATA_DIR"]),
           "PARAPHEUR_SECRET_KEY": "test-secret", "PARAPHEUR_SMTP_URL": mailbox.url,
           "PARAPHEUR_MAIL_FROM": "Parapheur <parapheur@metropole-demo.test>",
           "PARAPHEUR_OUTBOX_LEASE_SECONDS": "1"}
    if REDIS_URL:  # CI: the production queue; elsewhere Huey's SQLite storage
        name = f"test-{uuid.uuid4().hex[:12]}"
        env.update(PARAPHEUR_REDIS_URL=REDIS_URL, PARAPHEUR_QUEUE_NAME=name)
        app.config.update(REDIS_URL=REDIS_URL, QUEUE_NAME=name)
        app.extensions[QUEUE_KEY] = build_queue(app)
    with app.app_context():
        session = get_session()
        with transaction(session):
            organisation = create_organisation(session, slug="essai", name="Commune d'essai",
                                               now=clock())
            for index in range(3):
                user = create_user(session, organisation=organisation, username=f"agent{index}", full_name=f"Agent {index}",
                                   password="motdepasse", role=Role.AGENT,
                                   email=f"agent{index}@metropole-demo.test", now=clock())
                plan(session, user, kind="arrival", subject=f"Message {index}",
                     context={"title": f"Document {index}", "link": "http://x/documents/1",
                              "step": "Visa"},
                     document_id=None, urgent=True, now=clock(), config=app.config)
    assert [r.status for r in _rows(app)] == [OutboxStatus.PENDING] * 3

    mailbox.stall_next = True  # the first message is held open until the worker is killed
    log = (tmp_path / "worker.log").open("wb")
    worker = _start_worker(env, log)
    try:
        assert mailbox.stalled.wait(30), (tmp_path / "worker.log").read_text()
        claimed = [r for r in _rows(app) if r.status is OutboxStatus.CLAIMED]
        assert len(claimed) == 1 and claimed[0].attempts == 1
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    mailbox.release.set()
    assert mailbox.messages == []
    # The dead worker's lease runs out; the next worker takes its row over.
    _wait(lambda: all(r.lease_until is None or r.lease_until < datetime.now(UTC)
                      for r in _rows(app)), "the lease to expire")

    worker = _start_worker(env, log)
    try:
        _wait(lambda: all(r.status is OutboxStatus.DONE for r in _rows(app)),
              "every row to be delivered")
        worker.send_signal(signal.SIGINT)  # graceful stop
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()

    rows = _rows(app)
    received = sorted(str(m["Message-ID"]) for m in mailbox.messages)
    assert received == sorted(f"<mail.{r.payload['notification_id']}@parapheur.local>"
                              for r in rows)  # each row exactly once
    assert sorted(str(m["To"]) for m in mailbox.messages) == [
        f"Agent {i} <agent{i}@metropole-demo.test>" for i in range(3)]
    assert {r.id: r.attempts for r in rows}[claimed[0].id] == 2
    with app.app_context():
        delivered = get_session().execute(select(AuditEvent).where(
            AuditEvent.name == "outbox:message:delivered")).scalars().all()
        assert sorted(e.details["key"] for e in delivered) == sorted(
            r.idempotency_key for r in rows)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_starts_one_worker_and_stops_it_with_itself(tmp_path, sqlite_template):
    from signing.pki_server import free_loopback_port

    (tmp_path / "var").mkdir()
    shutil.copyfile(sqlite_template, tmp_path / "var" / "parapheur.sqlite3")  # a migrated database
    env = {**os.environ, "PARAPHEUR_DATA_DIR": str(tmp_path / "var"),
           "PARAPHEUR_SECRET_KEY": "test-secret"}
    env.pop("PARAPHEUR_REDIS_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "parapheur", "serve", "--port",
                               str(free_loopback_port())], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    pid = None
    try:
        line = _wait(lambda: server.stdout.readline(), "the serve output")
        while "Travailleur" not in line:
            line = server.stdout.readline()
            assert line, "serve ended without starting its worker"
        pid = int(line.split("processus ")[1].split(")")[0])
        os.kill(pid, 0)  # the worker runs
        server.terminate()  # what a service manager sends
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    try:  # an orphaned worker would keep the pipe open: a timeout, not a hang
        output, _ = server.communicate(timeout=30)
    finally:
        orphan = pid is not None and _alive(pid)
        if orphan:
            os.kill(pid, signal.SIGKILL)
    assert "Travailleur arrêté." in output
    assert not orphan, f"the worker {pid} outlived serve"
