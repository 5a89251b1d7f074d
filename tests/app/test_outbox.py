"""The outbox: rows written in the caller's transaction, claimed once, checked at start-up."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from app_helpers import run_cli
from sqlalchemy import select

from parapheur import create_app
from parapheur.accounts.models import Desk
from parapheur.accounts.services import create_delegation, end_delegation
from parapheur.config import PROJECT_ROOT, ConfigError
from parapheur.db import get_session, transaction
from parapheur.notifications.late import queue_late_steps
from parapheur.notifications.models import Notification
from parapheur.outbox import services as outbox
from parapheur.outbox.models import OutboxMessage, OutboxStatus

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = pytest.mark.postgres


def _count(app) -> int:
    with app.app_context():
        return len(get_session().execute(select(OutboxMessage.id)).all())


def test_a_rollback_leaves_no_orphan_and_a_key_gives_one_row(app, clock):
    with app.app_context():
        session = get_session()
        with pytest.raises(RuntimeError):
            with transaction(session):
                outbox.enqueue(session, "notification.event", {"event": "x"}, key="k1",
                               now=clock())
                raise RuntimeError("the state change failed")
        assert _count(app) == 0
        with transaction(session):
            first = outbox.enqueue(session, "notification.event", {}, key="k2", now=clock())
            again = outbox.enqueue(session, "notification.event", {}, key="k2", now=clock())
        assert first.id == again.id and _count(app) == 1


def test_a_row_is_claimed_by_one_worker_only(app, clock):
    maker = app.extensions["parapheur.sessionmaker"]
    with app.app_context():
        session = get_session()
        with transaction(session):
            message = outbox.enqueue(session, "notification.event", {}, key="once", now=clock())
    lease = timedelta(minutes=5)
    with maker() as first, transaction(first):
        assert outbox.claim(first, message.id, worker="a", now=clock(), lease=lease)
    with maker() as second, transaction(second):
        assert not outbox.claim(second, message.id, worker="b", now=clock(), lease=lease)
        # Once the first worker's lease has run out, the row may be taken over.
        assert outbox.claim(second, message.id, worker="b", now=clock() + lease * 2, lease=lease)


def test_concurrent_sweeps_take_disjoint_rows(app, clock, database_url):
    maker = app.extensions["parapheur.sessionmaker"]
    with app.app_context():
        session = get_session()
        with transaction(session):
            for index in range(4):
                outbox.enqueue(session, "notification.event", {}, key=f"r{index}", now=clock())
    lease = timedelta(minutes=5)
    first = maker()
    taken_first = outbox.claim_due(first, worker="a", now=clock(), lease=lease, limit=2)
    if database_url.startswith("postgresql"):
        # Still uncommitted: SKIP LOCKED hands the second worker the other rows at once.
        with maker() as second, transaction(second):
            taken_second = outbox.claim_due(second, worker="b", now=clock(), lease=lease)
        first.commit()
    else:
        first.commit()  # SQLite serialises writers; the conditional UPDATE does the rest
        with maker() as second, transaction(second):
            taken_second = outbox.claim_due(second, worker="b", now=clock(), lease=lease)
    first.close()
    assert len(taken_first) == 2 and len(taken_second) == 2
    assert not set(taken_first) & set(taken_second)


EXPORT_WITHOUT_EXPORTER = """\
id: envoi
title: Envoi
initial: envoi
on_reject: rejete
states:
  envoi:
    action: export
    exporter: {exporter}
    next: fait
  fait: {{final: approved}}
  rejete: {{final: rejected}}
"""


def test_an_export_step_without_installed_exporter_stops_the_start_and_the_check(
        tmp_path, database_url):
    directory = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", directory)
    (directory / "envoi.yaml").write_text(EXPORT_WITHOUT_EXPORTER.format(exporter="ged"),
                                          encoding="utf-8")
    settings = {"TESTING": True, "DATA_DIR": tmp_path / "data", "DATABASE_URL": database_url,
                "SECRET_KEY": "x", "WORKFLOWS_DIR": directory}
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    assert "envoi.yaml:6:1: circuit « envoi », étape « envoi » : l'exportateur « ged » n'est " \
           "pas installé (exportateurs installés : pes-v2)" in str(refused.value)
    started = create_app({**settings, "EXPORTERS": {"ged": lambda run: {}}})
    started.extensions["parapheur.engine"].dispose()

    result = run_cli(started, "workflows", "check", str(directory / "envoi.yaml"))
    assert result.returncode == 1
    assert "l'exportateur « ged » n'est pas installé" in result.stdout
    result = run_cli(started, "workflows", "check", *map(str, sorted(
        (PROJECT_ROOT / "workflows").glob("*.yaml"))))
    assert result.returncode == 0, result.stdout  # the shipped exports name installed exporters


def test_delegation_start_and_end_are_told_to_both_desks(demo, clock, mailbox):
    from test_notifications import deliver_everything

    with demo.app_context():
        session = get_session()
        desks = {d.slug: d for d in session.execute(select(Desk)).scalars()}
        with transaction(session):
            delegation = create_delegation(
                session, from_desk=desks["maire"], to_desk=desks["adjoint"],
                starts_at=clock() + timedelta(days=3), ends_at=clock() + timedelta(days=10),
                now=clock())
    deliver_everything(demo)
    with demo.app_context():
        kinds = {n.kind for n in get_session().execute(select(Notification)).scalars()}
    assert "delegation_started" not in kinds  # not before it starts

    clock.moment += timedelta(days=3, minutes=1)
    deliver_everything(demo)
    with demo.app_context():
        session = get_session()
        started = session.execute(select(Notification).where(
            Notification.kind == "delegation_started")).scalars().all()
        assert {n.user.username for n in started} == {"maire", "adjoint"}
        with transaction(session):
            end_delegation(session, session.get(type(delegation), delegation.id), now=clock())
    deliver_everything(demo)
    with demo.app_context():
        ended = get_session().execute(select(Notification).where(
            Notification.kind == "delegation_ended")).scalars().all()
        assert {n.user.username for n in ended} == {"maire", "adjoint"}
        assert "Paul Lefèvre" not in ended[0].subject and "→" in ended[0].subject


def test_late_documents_are_told_once_per_step(demo, clock):
    with demo.app_context():
        session = get_session()
        with transaction(session):
            assert queue_late_steps(session, now=clock()) == 0
        later = clock() + timedelta(days=30)
        with transaction(session):
            first = queue_late_steps(session, now=later)
        with transaction(session):
            assert queue_late_steps(session, now=later + timedelta(hours=1)) == 0
        assert first >= 1
        rows = session.execute(select(OutboxMessage).where(
            OutboxMessage.idempotency_key.like("late:%"))).scalars().all()
        assert len(rows) == first and all(r.status is OutboxStatus.PENDING for r in rows)


def test_an_application_is_freed_once_dropped(database_url, tmp_path, clock):
    """The commit hook that nudges the queue must not pin its application: SQLAlchemy keeps a
    sessionmaker's listeners in a class-level registry, so a hook holding the app kept every
    application a process built (a test run's workers had grown to hundreds of MB)."""
    import gc
    import weakref

    def build_use_and_drop() -> weakref.ref:
        application = create_app({"TESTING": True, "DATA_DIR": tmp_path / "data",
                                  "DATABASE_URL": database_url, "SECRET_KEY": "test-secret",
                                  "CLOCK": clock})
        assert application.test_client().get("/login").status_code == 200
        with application.app_context():
            session = get_session()
            with transaction(session):
                outbox.enqueue(session, "notification.event", {"event": "x"}, key="freed",
                               now=clock())
            assert session.info.get(outbox.NEW_IDS_KEY) is None  # the hook ran and took them
        application.extensions["parapheur.engine"].dispose()
        return weakref.ref(application)

    freed = build_use_and_drop()
    gc.collect()
    assert freed() is None
