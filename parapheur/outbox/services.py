"""Writing side effects into the outbox, claiming them atomically, delivering them with retries.

A side effect is a row added in the caller's transaction: a rollback leaves no orphan, a commit
never loses one. A worker claims a row (a lease, so that a worker that dies gives it back), runs
the handler of its kind, and marks it done in the same transaction as the handler's own database
changes, so those happen exactly once. Effects outside the database (a mail, a webhook) carry
the row's idempotency key, so that the receiver can drop the rare repeat after a crash between
the send and the commit.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from parapheur.audit import services as audit
from parapheur.clock import now as clock_now
from parapheur.db import transaction
from parapheur.errors import N_, ParapheurError
from parapheur.outbox.models import OutboxMessage, OutboxStatus

if TYPE_CHECKING:
    from flask import Flask

HANDLERS_KEY = "parapheur.outbox_handlers"
NEW_IDS_KEY = "parapheur.outbox_new"
DEFAULT_MAX_ATTEMPTS = 8


class DeliveryError(ParapheurError):
    """A handler could not do its work; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, **params: Any):
        super().__init__(message, **params)
        self.permanent = permanent


class NotYet(DeliveryError):
    """A handler tried nothing: its work waits for something else, until `retry_at`.

    The row is tried again then, and this turn is not counted among its attempts."""

    def __init__(self, message: str, *, retry_at: datetime, **params: Any):
        super().__init__(message, **params)
        self.retry_at = retry_at


class LeaseLost(Exception):
    """Another worker took the row over (our lease expired) before we finished."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed side effect is tried again."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=5)

    def backoff(self, attempts: int) -> timedelta:
        """Delay before the next try after `attempts` failed ones (exponential, capped)."""
        return min(self.max_delay, self.base_delay * (2 ** max(0, attempts - 1)))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        """The policy set by PARAPHEUR_OUTBOX_* settings."""
        return cls(max_attempts=int(config.get("OUTBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)),
                   base_delay=timedelta(seconds=float(config.get("OUTBOX_RETRY_SECONDS", 30))),
                   lease=timedelta(seconds=float(config.get("OUTBOX_LEASE_SECONDS", 300))))


@dataclass(frozen=True)
class Delivery:
    """What a handler gets: the claimed row, a session in which to work, the time, the app."""

    session: Session
    message: OutboxMessage
    now: datetime
    config: Mapping[str, Any]
    extensions: Mapping[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        return self.message.payload


@dataclass(frozen=True)
class Handler:
    """How to deliver one kind of side effect, and what to do when it is given up."""

    deliver: Callable[[Delivery], Mapping[str, Any] | None]
    give_up: Callable[[Delivery, str], None] | None = None
    description: str = ""


@dataclass
class DeliveryResult:
    """What one delivery attempt did: done, retry (with when), failed, or skipped (not ours)."""

    outcome: str
    kind: str | None = None
    next_attempt_at: datetime | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def enqueue(session: Session, kind: str, payload: Mapping[str, Any], *, key: str, now: datetime,
            document_id: int | None = None, available_at: datetime | None = None,
            max_attempts: int | None = None) -> OutboxMessage:
    """Add a side effect in the caller's transaction; the same key twice gives the same row."""
    existing = find_by_key(session, key)
    if existing is not None:
        return existing
    message = OutboxMessage(kind=kind, idempotency_key=key, payload=dict(payload),
                            document_id=document_id, status=OutboxStatus.PENDING, attempts=0,
                            max_attempts=max_attempts,
                            available_at=available_at or now, created_at=now)
    # Two transactions writing the same key at once: the unique key makes the second one fail
    # at flush, and it is retried (by the user, or by the queue for a handler) and finds the row.
    session.add(message)
    session.flush()
    _nudge_after_commit(session, message.id, message.available_at)
    return message


def _nudge_after_commit(session: Session, message_id: int, available_at: datetime) -> None:
    """Once the session commits, the queue is asked to deliver the row at `available_at`
    (`outbox.tasks` reads this list after the commit; a rollback forgets it)."""
    session.info.setdefault(NEW_IDS_KEY, []).append((message_id, available_at))


def find_by_key(session: Session, key: str) -> OutboxMessage | None:
    """The row with this idempotency key, if any."""
    return session.execute(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
                           ).scalar_one_or_none()


def reschedule(session: Session, message: OutboxMessage, available_at: datetime) -> None:
    """Move a pending side effect to another time (a delegation ended early, say)."""
    if message.status is OutboxStatus.PENDING:
        message.available_at = available_at
        session.flush()
        _nudge_after_commit(session, message.id, available_at)


def cancel(session: Session, message: OutboxMessage, reason: str, *, now: datetime) -> None:
    """Drop a side effect that no longer applies (journaled as such when it is given up)."""
    if message.status is OutboxStatus.PENDING:
        message.status = OutboxStatus.DONE
        message.finished_at = now
        message.last_error = f"annulé : {reason}"
        session.flush()


def worker_name() -> str:
    """Who claims: host, process and a random part (each claim is told apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claimable(now: datetime):
    return or_(and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.available_at <= now),
               and_(OutboxMessage.status == OutboxStatus.CLAIMED, OutboxMessage.lease_until < now))


def claim(session: Session, message_id: int, *, worker: str, now: datetime,
          lease: timedelta) -> bool:
    """Take one row if it is due and nobody holds it (one conditional UPDATE: atomic everywhere)."""
    result = session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, _claimable(now))
        .values(status=OutboxStatus.CLAIMED, claimed_by=worker, lease_until=now + lease,
                attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1  # a CursorResult for an UPDATE


def claim_due(session: Session, *, worker: str, now: datetime, lease: timedelta,
              limit: int = 50) -> list[int]:
    """Take up to `limit` due rows, oldest first; concurrent workers never take the same one."""
    query = (select(OutboxMessage.id).where(_claimable(now))
             .order_by(OutboxMessage.available_at, OutboxMessage.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.execute(query.with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids))
            .values(status=OutboxStatus.CLAIMED, claimed_by=worker, lease_until=now + lease,
                    attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False))
        return ids
    # SQLite has no row locks: each candidate is taken by its own conditional UPDATE.
    return [mid for mid in session.execute(query).scalars()
            if claim(session, mid, worker=worker, now=now, lease=lease)]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ParapheurError):
        return exc.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:1000] if text else type(exc).__name__


def deliver_claimed(app: Flask, message_id: int, *, worker: str) -> DeliveryResult:
    """Run the handler of a row this worker holds, and record the outcome in the audit journal."""
    maker: sessionmaker = app.extensions["parapheur.sessionmaker"]
    handlers: Mapping[str, Handler] = app.extensions[HANDLERS_KEY]
    policy = RetryPolicy.from_config(app.config)
    moment = clock_now()
    handler: Handler | None = None
    with maker() as session:
        try:
            with transaction(session):
                message = session.get(OutboxMessage, message_id)
                if message is None or message.claimed_by != worker:
                    raise LeaseLost()
                handler = handlers.get(message.kind)
                if handler is None:
                    raise DeliveryError(N_("Aucun traitement n'est enregistré pour « %(kind)s "
                                           "»."), kind=message.kind,
                                        permanent=True)
                details = dict(handler.deliver(Delivery(session, message, moment, app.config,
                                                        app.extensions)) or {})
                finished = session.execute(
                    update(OutboxMessage).where(OutboxMessage.id == message_id,
                                                OutboxMessage.claimed_by == worker,
                                                OutboxMessage.status == OutboxStatus.CLAIMED)
                    .values(status=OutboxStatus.DONE, finished_at=moment, lease_until=None,
                            last_error=None)
                    .execution_options(synchronize_session=False))
                if getattr(finished, "rowcount", 0) != 1:
                    raise LeaseLost()
                audit.record(session, "outbox:message:delivered", document_id=message.document_id,
                             details={"kind": message.kind, "key": message.idempotency_key,
                                      "attempt": message.attempts, **details},
                             clock=lambda: moment)
            return DeliveryResult("done", kind=message.kind, details=details)
        except LeaseLost:
            return DeliveryResult("skipped")
        except NotYet as exc:
            reason, permanent, waiting_until = _describe(exc), False, exc.retry_at
        except Exception as exc:  # noqa: BLE001 - any failure of a handler is retried or given up
            reason, waiting_until = _describe(exc), None
            permanent = isinstance(exc, DeliveryError) and exc.permanent
            app.logger.warning("outbox message %s failed: %s", message_id, reason)
    with maker() as session, transaction(session):
        message = session.get(OutboxMessage, message_id, with_for_update=True)
        if message is None or message.claimed_by != worker \
                or message.status is not OutboxStatus.CLAIMED:
            return DeliveryResult("skipped", error=reason)
        message.last_error = reason
        message.lease_until = None
        if waiting_until is not None:  # nothing was tried: the turn is given back
            message.attempts -= 1
        base = {"kind": message.kind, "key": message.idempotency_key,
                "attempt": message.attempts, "error": reason}
        if permanent or message.attempts >= (message.max_attempts or policy.max_attempts):
            message.status = OutboxStatus.FAILED
            message.finished_at = moment
            audit.record(session, "outbox:message:failed", document_id=message.document_id,
                         details=base, clock=lambda: moment)
            if handler is not None and handler.give_up is not None:
                _give_up(session, handler, Delivery(session, message, moment, app.config,
                                                    app.extensions), reason, app)
            return DeliveryResult("failed", kind=message.kind, error=reason)
        next_at = waiting_until or moment + policy.backoff(message.attempts)
        message.status = OutboxStatus.PENDING
        message.available_at = next_at
        # The queue is asked for the row at its time; the minute's sweep is only the fallback.
        _nudge_after_commit(session, message.id, next_at)
        audit.record(session, "outbox:message:retried", document_id=message.document_id,
                     details={**base, "next_attempt_at": next_at.isoformat(),
                              **({"waiting": True} if waiting_until is not None else {})},
                     clock=lambda: moment)
        return DeliveryResult("retry", kind=message.kind, next_attempt_at=next_at, error=reason)


def _give_up(session: Session, handler: Handler, delivery: Delivery, reason: str,
             app: Flask) -> None:
    """What a handler does once its side effect is abandoned; its own failure is journaled."""
    assert handler.give_up is not None
    try:
        with session.begin_nested():
            handler.give_up(delivery, reason)
    except Exception as exc:  # noqa: BLE001 - the row stays failed whatever the follow-up did
        app.logger.warning("outbox give-up of %s failed: %s", delivery.message.id, _describe(exc))
        audit.record(session, "outbox:message:give_up_failed",
                     document_id=delivery.message.document_id,
                     details={"kind": delivery.message.kind, "error": _describe(exc)},
                     clock=lambda: delivery.now)


def deliver(app: Flask, message_id: int) -> DeliveryResult:
    """Claim one row and deliver it (what the queue's task runs)."""
    worker = worker_name()
    policy = RetryPolicy.from_config(app.config)
    with app.app_context():
        maker: sessionmaker = app.extensions["parapheur.sessionmaker"]
        with maker() as session, transaction(session):
            taken = claim(session, message_id, worker=worker, now=clock_now(), lease=policy.lease)
        if not taken:
            return DeliveryResult("skipped")
        return deliver_claimed(app, message_id, worker=worker)


def deliver_due(app: Flask, *, limit: int = 50) -> list[DeliveryResult]:
    """Claim every due row (and those whose worker's lease expired) and deliver them."""
    worker = worker_name()
    policy = RetryPolicy.from_config(app.config)
    with app.app_context():
        maker: sessionmaker = app.extensions["parapheur.sessionmaker"]
        with maker() as session, transaction(session):
            ids = claim_due(session, worker=worker, now=clock_now(), lease=policy.lease,
                            limit=limit)
        return [deliver_claimed(app, mid, worker=worker) for mid in ids]

