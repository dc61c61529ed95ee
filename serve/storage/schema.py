"""Create or upgrade the database schema with Alembic, from code (no alembic.ini at runtime).

``quayscan serve``, ``quayscan keys create`` and ``quayscan users add`` call :func:`migrate` before they
touch the database, so a fresh URL gets every table and an old one is brought to the current schema::

    from quayscan.serve.storage import migrate
    migrate("sqlite:///var/quayscan.db")

Developers make a new revision after changing ``models.py`` with::

    python -c "from quayscan.serve.storage.schema import revision; revision('sqlite:///var/dev.db', 'add x')"
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from quayscan.serve.storage.db import describe_url, make_engine

# Alembic is imported inside the functions: only the processes that migrate pay for loading it.
if TYPE_CHECKING:
    from alembic.config import Config

_log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
# Alembic keeps the running migration's context in module globals, so two threads must not run it at once.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic configuration for the package's migrations, to run on ``engine`` if given.

    The engine travels in ``config.attributes`` rather than as a URL string, so the connection hooks of
    :func:`make_engine` (WAL, foreign keys, busy timeout) apply to migrations too.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of quayscan."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(url_or_engine: str | Engine, revision: str = "head") -> str:
    """Bring the database to ``revision`` (default: the newest); a no-op if it is already there.

    Safe to call from several processes (and threads) at once: on SQLite the first takes the write lock
    and the others then find the schema current; on PostgreSQL the migration holds an advisory lock.

    Args:
        url_or_engine: a database URL or an engine made by :func:`make_engine`.
        revision: the Alembic revision to upgrade to.

    Returns:
        The revision the database is at afterwards.
    """
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with _ALEMBIC_LOCK:
            before = current_revision(engine)
            command.upgrade(alembic_config(engine), revision)
            after = current_revision(engine)
        if before != after:
            _log.info("database %s migrated from %s to %s", describe_url(str(engine.url)), before, after)
        return after or ""
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def schema_differences(engine: Engine) -> list[tuple]:
    """What Alembic's autogenerate sees between the models and the database (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from quayscan.serve.storage.models import Base

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def revision(url: str, message: str) -> None:
    """Autogenerate a new revision from the difference between the models and a migrated database."""
    from alembic import command

    engine = make_engine(url)
    try:
        migrate(engine)
        command.revision(alembic_config(engine), message=message, autogenerate=True)
    finally:
        engine.dispose()
