"""The task queue (Huey): the tasks that deliver outbox rows, and the periodic jobs.

The outbox rows in the database are the truth; Huey carries a "deliver row N" nudge right after
the commit that wrote the row (or at the row's time, for a retry or a digest) and runs the
periodic jobs. A nudge lost with a crashed queue costs a minute: the sweep finds the row again.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import event

from parapheur.archival.services import refresh_archives
from parapheur.clock import now as clock_now
from parapheur.context import store_for
from parapheur.db import get_session, secure_sqlite_file
from parapheur.outbox import services
from parapheur.signatures.options import SigningSetup

if TYPE_CHECKING:
    from flask import Flask

QUEUE_KEY = "parapheur.queue"
QUEUE_FILE = "queue.sqlite3"
log = logging.getLogger(__name__)


@dataclass
class Queue:
    """The app's Huey instance and its tasks."""

    huey: Huey
    deliver_message: Any
    sweep: Any
    periodic: dict[str, Any]

    def nudge(self, items: Iterable[tuple[int, datetime]], *, now: datetime) -> None:
        """Ask a worker to deliver these rows now, or at their time when it is later."""
        for message_id, available_at in items:
            if available_at is not None and available_at > now:
                self.deliver_message.schedule(args=(message_id,), eta=available_at)
            else:
                self.deliver_message(message_id)


def make_huey(config: dict[str, Any]) -> Huey:
    """RedisHuey when PARAPHEUR_REDIS_URL is set, else SqliteHuey in the data directory."""
    name = str(config.get("QUEUE_NAME") or "parapheur")
    if config.get("REDIS_URL"):
        return RedisHuey(name, url=config["REDIS_URL"], utc=True)
    queue_file = Path(config["DATA_DIR"]) / QUEUE_FILE
    secure_sqlite_file(f"sqlite:///{queue_file}")  # private, like the database
    return SqliteHuey(name, filename=str(queue_file), utc=True)


def build_queue(app: Flask) -> Queue:
    """The queue of this app, with its delivery task and periodic jobs bound to the app."""
    huey = make_huey(app.config)

    def deliver_outbox_message(message_id: int) -> str:
        """Deliver one outbox row (a no-op when another worker has it or it is done)."""
        return services.deliver(app, message_id).outcome

    def sweep_outbox() -> int:
        """Deliver every due row: missed nudges, retries, expired leases."""
        return len(services.deliver_due(app))

    def remind_late_documents() -> int:
        """Queue a « document en retard » notification for each step past its deadline."""
        from parapheur.notifications.late import queue_late_reminders

        return queue_late_reminders(app)

    def refresh_archive_timestamps() -> int:
        """Renew the document time stamp of B-LTA documents whose TSA certificate expires soon."""
        setup = SigningSetup.from_config(app.config)
        with app.app_context():
            report = refresh_archives(get_session(), store_for(app.config), now=clock_now(),
                                      tsa_url=setup.tsa_url, trust_roots=setup.trust_roots)
        return len(report.refreshed)

    deliver_task = huey.task(name="deliver_outbox_message")(deliver_outbox_message)
    periodic = {
        "sweep_outbox": huey.periodic_task(crontab(minute="*"), name="sweep_outbox")(
            sweep_outbox),
        "remind_late_documents": huey.periodic_task(
            crontab(minute="*/15"), name="remind_late_documents")(remind_late_documents),
        "refresh_archive_timestamps": huey.periodic_task(
            crontab(hour="3", minute="17"), name="refresh_archive_timestamps")(
            refresh_archive_timestamps),
    }
    return Queue(huey, deliver_task, periodic["sweep_outbox"], periodic)


def init_app(app: Flask) -> None:
    """Build the queue and nudge it after each commit that wrote outbox rows."""
    app.extensions[QUEUE_KEY] = build_queue(app)
    maker = app.extensions["parapheur.sessionmaker"]
    # SQLAlchemy keeps a sessionmaker's listeners in a class-level registry keyed weakly by its
    # Session class; a listener holding the app would hold that class (app → sessionmaker) and
    # keep every application a process builds alive. It holds the app weakly.
    app_ref = weakref.ref(app)

    @event.listens_for(maker, "after_commit")
    def _nudge(session) -> None:
        items = session.info.pop(services.NEW_IDS_KEY, None)
        application = app_ref()
        if not items or application is None:
            return
        try:
            application.extensions[QUEUE_KEY].nudge(items, now=datetime.now(UTC))
        except Exception as exc:  # noqa: BLE001 - the rows are committed; the sweep delivers them
            log.warning("task queue unreachable, outbox rows wait for the sweep: %s", exc)

    @event.listens_for(maker, "after_rollback")
    def _forget(session) -> None:
        session.info.pop(services.NEW_IDS_KEY, None)


#: Seconds an idle worker on SQLite storage waits at most between two looks at the queue.
POLL_AT_MOST_EVERY = 1.0


def run_worker(app: Flask, *, workers: int = 2, periodic: bool = True) -> None:
    """Run a Huey consumer for this app until SIGINT/SIGTERM (graceful on SIGINT)."""
    queue: Queue = app.extensions[QUEUE_KEY]
    # An idle consumer on SQLite polls, backing off up to `max_delay` (Huey's default: 10 s):
    # a row committed then would wait that long. One cheap query a second keeps it prompt
    # (Redis blocks on its list and is woken at once either way).
    consumer = queue.huey.create_consumer(workers=workers, worker_type="thread",
                                          periodic=periodic, check_worker_health=True,
                                          max_delay=POLL_AT_MOST_EVERY)
    # Rows left by a worker that died, and those due while no worker ran, go out first.
    queue.sweep()
    consumer.run()
