"""Concurrent actions on the same step: exactly one wins, the others get « déjà traité»."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from parapheur.accounts.models import User
from parapheur.audit.services import verify_chain
from parapheur.circuits import services as circuits
from parapheur.circuits.errors import StepNotCurrent
from parapheur.circuits.models import StepAction
from parapheur.db import get_session, transaction
from parapheur.documents.models import Document

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_two_concurrent_visas_exactly_one_wins(demo, clock):
    with demo.app_context():
        session = get_session()
        document_id = session.execute(select(Document.id).order_by(Document.id)).scalars().first()
        step = circuits.pending_steps(session.get(Document, document_id))[0].state

    contenders = 4
    barrier = threading.Barrier(contenders)
    outcomes: list[str] = []
    lock = threading.Lock()

    def contend() -> None:
        with demo.app_context():
            session = get_session()
            document = session.get(Document, document_id)
            actor = session.execute(select(User).where(User.username == "dgs")).scalar_one()
            circuits.pending_steps(document)  # everyone has read the state before anyone acts
            barrier.wait(timeout=30)
            try:
                with transaction(session):
                    circuits.act(session, document, step=step, actor=actor, decision="approve",
                                 now=clock())
                result = "won"
            except StepNotCurrent as exc:
                result = "déjà traité" if "déjà" in exc.message else exc.message
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["déjà traité"] * (contenders - 1) + ["won"]
    with demo.app_context():
        session = get_session()
        visas = session.execute(select(func.count(StepAction.id)).where(
            StepAction.document_id == document_id, StepAction.step == step)).scalar_one()
        assert visas == 1
        assert verify_chain(session).intact
