"""Counting attempts (logins, signing codes) atomically, so concurrency never buys extra tries.

An attempt is *reserved* before the password or code is checked, by one conditional UPDATE that
only succeeds while the key has tries left in its window: on PostgreSQL the row lock makes
concurrent reservations queue and re-check the condition, on SQLite writes are serialised. A key
therefore gets at most `limit` checks per window whatever the number of simultaneous requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from parapheur.accounts.models import Throttle
from parapheur.db import UTCDateTime
from parapheur.errors import ParapheurError


@dataclass(frozen=True)
class Policy:
    """At most `limit` attempts per `window` for keys starting with `prefix`."""

    prefix: str
    limit: int
    window: timedelta

    def key(self, subject: str) -> str:
        """The throttle key of a subject (a username, a user id)."""
        return f"{self.prefix}:{subject}"[:120]


LOGIN = Policy("login", 5, timedelta(minutes=15))
SIGNING_CODE = Policy("code", 5, timedelta(minutes=15))


class TooManyAttempts(ParapheurError):
    """No attempt left for this key in its window; `retry_after` says in how many seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int, **params: Any) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


def reserve(session: Session, policy: Policy, subject: str, *, now: datetime,
            message: str) -> None:
    """Take one attempt for `subject`, or raise TooManyAttempts; commits at once.

    The commit makes the reservation visible to concurrent requests before the (slow) password
    or code check starts; a success then calls `clear`.
    """
    key = policy.key(subject)
    table = Throttle.__table__
    insert = postgresql_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    try:
        session.execute(insert(table).values(key=key, window_started_at=now, attempts=0)
                        .on_conflict_do_nothing(index_elements=["key"]))
        expired = table.c.window_started_at <= now - policy.window
        taken = session.execute(
            update(table)
            .where(table.c.key == key, or_(table.c.attempts < policy.limit, expired))
            .values(attempts=case((expired, 1), else_=table.c.attempts + 1),
                    window_started_at=case((expired, literal(now, UTCDateTime())),
                                           else_=table.c.window_started_at))
        ).rowcount
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if taken != 1:
        raise TooManyAttempts(message, retry_after(session, policy, subject, now=now))


def retry_after(session: Session, policy: Policy, subject: str, *, now: datetime) -> int:
    """Seconds until `subject` has attempts again (0 when it has some now)."""
    started = session.execute(select(Throttle.window_started_at)
                              .where(Throttle.key == policy.key(subject))).scalar_one_or_none()
    if started is None:
        return 0
    return max(0, math.ceil((started + policy.window - now).total_seconds()))


def attempts(session: Session, policy: Policy, subject: str, *, now: datetime) -> int:
    """Attempts `subject` has used in its current window."""
    row = session.execute(select(Throttle.window_started_at, Throttle.attempts)
                          .where(Throttle.key == policy.key(subject))).first()
    if row is None or row.window_started_at <= now - policy.window:
        return 0
    return row.attempts


def clear(session: Session, policy: Policy, subject: str) -> None:
    """Forget the attempts of `subject` (after a success, or an administrator's unlock).

    The row is reset rather than deleted, so that a reservation waiting on its lock meanwhile
    finds it again (and succeeds) instead of finding nothing.
    """
    session.execute(update(Throttle).where(Throttle.key == policy.key(subject))
                    .values(attempts=0))
