"""The audit journal is hash-chained; `parapheur audit verify` finds the first broken event."""

from __future__ import annotations

import pytest
from app_helpers import run_cli
from sqlalchemy import select, update

from parapheur.audit import services as audit
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session, transaction


def _seed_events(app, count: int = 5) -> None:
    with app.app_context():
        session = get_session()
        with transaction(session):
            for index in range(count):
                audit.record(session, "test:event:recorded", details={"n": index, "texte": "été"},
                             clock=app.config["CLOCK"])


def test_events_chain_and_verify(app):
    _seed_events(app)
    with app.app_context():
        session = get_session()
        events = session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert events[0].prev_hash == audit.GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
        report = audit.verify_chain(session)
        assert report.intact and report.events == 5


@pytest.mark.parametrize("tamper, broken", [
    ("details", 3), ("delete_middle", 3), ("delete_last", 5), ("name", 2),
])
def test_tampering_is_found_at_the_first_broken_event(app, tamper, broken):
    _seed_events(app)
    with app.app_context():
        session = get_session()
        with transaction(session):
            if tamper == "details":
                session.execute(update(AuditEvent).where(AuditEvent.seq == 3)
                                .values(details={"n": 99, "texte": "été"}))
            elif tamper == "name":
                session.execute(update(AuditEvent).where(AuditEvent.seq == 2)
                                .values(name="test:event:forged"))
            elif tamper == "delete_middle":
                session.delete(session.execute(
                    select(AuditEvent).where(AuditEvent.seq == 3)).scalar_one())
            else:
                session.delete(session.execute(
                    select(AuditEvent).where(AuditEvent.seq == 5)).scalar_one())
        report = audit.verify_chain(session)
    assert not report.intact
    assert report.broken_seq == broken


def test_audit_verify_command_exit_codes(app):
    _seed_events(app, 3)
    result = run_cli(app, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "3 événements" in result.stdout
    with app.app_context():
        session = get_session()
        with transaction(session):
            session.execute(update(AuditEvent).where(AuditEvent.seq == 2)
                            .values(actor_label="intrus"))
    result = run_cli(app, "audit", "verify")
    assert result.returncode == 1
    assert "n°2" in result.stderr
