"""Database engine and sessions, the declarative base, and Alembic migrations."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, g
from sqlalchemy import BigInteger, DateTime, Engine, Enum, MetaData, Numeric, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model, with named constraints for portable migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def value_enum(enum_class: type[enum.Enum]) -> Enum:
    """A column type storing an enum's values (not names) as a plain string, on every backend."""
    return Enum(enum_class, native_enum=False, length=20,
                values_callable=lambda members: [m.value for m in members])


def secure_sqlite_file(url: str) -> None:
    """Create a SQLite database file readable by its owner only (its WAL files inherit the mode)."""
    import os

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10,
                pool_timeout: float = 5.0) -> Engine:
    """Create an engine; SQLite gets a private file, foreign keys, WAL and a busy timeout.

    A request that waits `pool_timeout` seconds for a connection gets sqlalchemy's TimeoutError,
    answered 503 with Retry-After by the web layer.
    """
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        secure_sqlite_file(url)
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(url, connect_args={"timeout": 30}, **({} if memory else pool))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


# Key of the application's settings in `Session.info` (see parapheur.create_app).
SETTINGS_KEY = "parapheur.settings"


def init_app(app: Flask) -> None:
    """Attach an engine and a session factory to the app; close the request session on teardown."""
    engine = make_engine(app.config["DATABASE_URL"],
                         pool_size=app.config.get("DATABASE_POOL_SIZE", 5),
                         max_overflow=app.config.get("DATABASE_MAX_OVERFLOW", 10),
                         pool_timeout=app.config.get("DATABASE_POOL_TIMEOUT", 5.0))
    app.extensions["parapheur.engine"] = engine
    app.extensions["parapheur.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


# Key in `Session.info` of the values read once per unit of work (`memoized`).
MEMO_KEY = "parapheur.memo"


def memoized(session: Session, key: tuple, compute: Callable[[], T]) -> T:
    """`compute()` once per session for `key`, until the session's next flush, commit or rollback.

    For reads that several helpers repeat within one request (the user's delegations, her
    memberships); any write through the session forgets them, and while changes wait to be
    flushed the value is read again, so nothing stale is served.
    """
    if session.new or session.dirty or session.deleted:
        return compute()  # unflushed changes: read through them (the query flushes first)
    memo = session.info.setdefault(MEMO_KEY, {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_memo(session: Session, *_args) -> None:
    session.info.pop(MEMO_KEY, None)


def get_session() -> Session:
    """The session of the current request or CLI command."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["parapheur.sessionmaker"]()
    return g.db_session


# Key in `Session.info`: the current transaction wrote (a flush, or a statement not a SELECT).
WROTE_KEY = "parapheur.wrote"


@event.listens_for(Session, "after_flush")
def _wrote_by_flush(session: Session, _context) -> None:
    session.info[WROTE_KEY] = True


@event.listens_for(Session, "do_orm_execute")
def _wrote_by_statement(state) -> None:
    if not state.is_select:
        state.session.info[WROTE_KEY] = True


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction) -> None:
    if transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(WROTE_KEY, None)


def _close_session(exc: BaseException | None) -> None:
    """End the request's session. A transaction that only read ends with COMMIT rather than
    ROLLBACK: psycopg forgets its prepared statements at every rollback, and PostgreSQL would
    plan each query of each request again (2 of its 4.5 ms of CPU per page on the inbox bench).
    Anything else — an error, a write, a change not flushed — is rolled back, as before."""
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        if (exc is None and session.in_transaction() and not session.info.get(WROTE_KEY)
                and not (session.new or session.dirty or session.deleted)):
            session.commit()
    except Exception as error:  # noqa: BLE001 - a read that cannot commit is rolled back
        logging.getLogger(__name__).warning("a read-only request's transaction did not commit "
                                            "(rolled back): %s", type(error).__name__)
    finally:
        session.close()


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def alembic_config(url: str):
    """An Alembic configuration pointing at our migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations up to `revision`."""
    from alembic import command

    secure_sqlite_file(url)
    command.upgrade(alembic_config(url), revision)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal with a fixed scale: NUMERIC where there is one, scaled integers on SQLite.

    SQLite has no decimal type (its NUMERIC is a float); storing amounts as integers of the
    smallest unit keeps them exact and still lets the database compare, sort and sum them.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 2) -> None:
        super().__init__(precision=precision, scale=scale)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect) -> Any:
        if value is None:
            return None
        exact = Decimal(value).quantize(Decimal(1).scaleb(-self.scale), rounding=ROUND_HALF_UP)
        if dialect.name == "sqlite":
            return int(exact.scaleb(self.scale))
        return exact

    def process_result_value(self, value: Any, dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))
