"""Engines and sessions from a database URL: SQLite (WAL) by default, PostgreSQL at scale.

Nothing here runs at import time; the service, the CLI and the tests each build their own engine::

    engine = make_engine("sqlite:///var/quayscan.db")
    Session = make_session_factory(engine)
    with Session() as session:
        ...
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, Select, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from quayscan.serve.storage.errors import ConflictError, InvalidValueError

SelectT = TypeVar("SelectT", bound=Select)
T = TypeVar("T")

DEFAULT_DB_URL = "sqlite:///var/quayscan.db"
#: how long a SQLite connection waits for another writer before giving up
DEFAULT_BUSY_TIMEOUT_S = 30.0

_WRITE_OPTION = "quayscan_write"
_LOCK_HELD = "quayscan_write_lock_held"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A new ULID: 26 characters, sortable by creation time (ms), 80 random bits.

    Sortable ids keep related rows (and blob keys) in time order and make a stable tie-break for paging.
    """
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))


def require_aware(value: datetime | None, name: str) -> datetime | None:
    """``value`` unchanged if it is None or timezone-aware; raises :class:`InvalidValueError` if naive."""
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise InvalidValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zone type, so values are stored there as naive UTC; PostgreSQL gets
    ``timestamp with time zone``. Naive datetimes are refused: their zone is a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise InvalidValueError(f"expected a datetime, got {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidValueError(f"timestamp {value.isoformat()} has no time zone; pass an aware datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return Path(database)


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    """Install the connection hooks that make SQLite safe for a multi-threaded service."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of the sqlite3 module's legacy handling,
        # which starts no transaction for SELECT and so breaks read-then-write transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # First, so that switching to WAL below also waits for a process holding the lock.
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            # WAL: readers never block the writer and a crash mid-commit leaves the database intact.
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL syncs the WAL at every commit: an acknowledged scan survives a power cut, not only
            # a process crash (NORMAL would only guarantee the latter).
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    # Writers of this process queue on a lock before asking SQLite for its write lock: a thread waiting
    # here wakes the moment the writer before it is done, whereas SQLite's busy handler polls with sleeps
    # of up to 100 ms, which under a burst of scans leaves the cores idle while requests wait.
    writers = threading.Lock()

    def _release(info: dict) -> None:
        if info.pop(_LOCK_HELD, False):
            writers.release()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers begin IMMEDIATE (see begin_write): taking the write lock up front makes a waiting writer
        # honour busy_timeout, whereas a deferred transaction that reads and then writes fails at once
        # with SQLITE_BUSY if another writer committed in between. Readers begin deferred and, in WAL
        # mode, never wait for anyone.
        if not conn.get_execution_options().get(_WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN")
            return
        if not writers.acquire(timeout=busy_timeout_s):
            raise OperationalError("BEGIN IMMEDIATE", None, Exception(
                f"database is locked: no write lock within {busy_timeout_s} s"))
        conn.info[_LOCK_HELD] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # A connection goes back to the pool once its transaction has committed or rolled back.
        if record is not None:
            _release(record.info)


def make_engine(url: str = DEFAULT_DB_URL, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S, **kwargs: Any) -> Engine:
    """Create an engine for a database URL.

    For a SQLite file the parent folder is created, and every connection gets WAL journaling, foreign
    keys, full sync and a busy timeout. Other databases (``postgresql+psycopg://...``) get a pool that
    checks connections before use, so a restarted database server costs no failed request.

    Args:
        url: SQLAlchemy database URL (default: ``sqlite:///var/quayscan.db``).
        busy_timeout_s: how long a SQLite writer waits for the lock before failing.
        **kwargs: passed on to :func:`sqlalchemy.create_engine`.

    Returns:
        The engine; nothing is connected yet.
    """
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, busy_timeout_s)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``.

    Objects stay readable after commit (``expire_on_commit=False``): the repository functions commit
    and hand their rows back to callers that have closed the session.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def begin_write(session: Session) -> None:
    """Start a write transaction on ``session``; on SQLite it holds the write lock from its first statement.

    Every repository function that writes calls this first. A transaction the caller left open is
    committed first (the repository functions commit their own work anyway).
    """
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={_WRITE_OPTION: True})


def fresh(query: SelectT) -> SelectT:
    """``query`` set to overwrite rows the session already holds with what the database has now.

    Sessions keep objects after commit (``expire_on_commit=False``); without this, a long-lived session
    (a dispatcher loop, a test) would be handed its old copy of a row another process has changed.
    """
    return query.execution_options(populate_existing=True)


def done(session: Session, value: T) -> T:
    """End the session's read transaction and hand back ``value`` (objects stay usable).

    Every repository reader ends with this. On SQLite an open read transaction pins a snapshot: a
    long-lived session would never see later writes (a revoked key would keep working) and the WAL could
    not be checkpointed. Committing a read-only transaction costs next to nothing.
    """
    session.commit()
    return value


def write_options() -> dict[str, Any]:
    """Execution options that make a Core connection begin its transactions as a writer."""
    return {_WRITE_OPTION: True}


def describe_url(url: str) -> str:
    """The URL with any password hidden, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


def insert_unique(session: Session, row: T, conflict: str) -> T:
    """Insert ``row`` in its own write transaction; a unique-constraint clash raises
    :class:`ConflictError` with the message ``conflict``."""
    begin_write(session)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(conflict) from None
    return row
