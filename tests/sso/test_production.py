"""The production layout for real: two gunicorn processes and two `parapheur worker` processes on
one PostgreSQL and one Redis; a login on one server holds on the other (no sticky sessions), and
the same visa posted at once through both servers is given exactly once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from app_helpers import csrf_from
from sqlalchemy import func, select

from parapheur.audit.services import verify_chain
from parapheur.circuits import services as circuits
from parapheur.circuits.models import StepAction
from parapheur.db import get_session
from parapheur.documents.models import Document

pytestmark = pytest.mark.postgres

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


def _login(base: str) -> requests.Session:
    http = requests.Session()
    token = csrf_from(http.get(f"{base}/login", timeout=10).text)
    answer = http.post(f"{base}/login", data={"username": "dgs", "password": "demo-dgs",
                                              "csrf_token": token},
                       allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    return http


def test_two_servers_and_two_workers_on_one_postgresql_and_redis(demo, tmp_path):
    if not demo.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the production layout runs on PostgreSQL")
    if not REDIS_URL:
        if os.environ.get("PARAPHEUR_REQUIRE_SYSTEM_DEPS") == "1":
            pytest.fail("PARAPHEUR_TEST_REDIS_URL is needed for the production layout test")
        pytest.skip("PARAPHEUR_TEST_REDIS_URL is not set")
    with demo.app_context():
        session = get_session()
        document_id = session.execute(select(Document.id).order_by(Document.id)).scalars().first()
        step = circuits.pending_steps(session.get(Document, document_id))[0].state
    env = {**os.environ, "PARAPHEUR_DATABASE_URL": demo.config["DATABASE_URL"],
           "PARAPHEUR_DATA_DIR": str(demo.config["DATA_DIR"]),
           "PARAPHEUR_SECRET_KEY": "one-key-for-every-process", "PARAPHEUR_REDIS_URL": REDIS_URL,
           "PARAPHEUR_QUEUE_NAME": f"test-{uuid.uuid4().hex[:12]}"}
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
    with demo.app_context():
        session = get_session()
        visas = session.execute(select(func.count(StepAction.id)).where(
            StepAction.document_id == document_id, StepAction.step == step)).scalar_one()
        assert visas == 1
        assert [p.state for p in circuits.pending_steps(session.get(Document, document_id))] \
            == ["signature_maire"]
        assert verify_chain(session).intact
