"""Alembic environment: runs the migrations on the engine that ``storage.schema.migrate`` passes in.

Without an engine in ``config.attributes`` (plain ``alembic`` command line), the URL comes from the
``sqlalchemy.url`` option or the ``QUAYSCAN_DB`` environment variable.
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy import text

from quayscan.serve.storage.db import DEFAULT_DB_URL, UTCDateTime, make_engine, write_options
from quayscan.serve.storage.models import Base

#: key of the PostgreSQL advisory lock that keeps concurrent replicas from migrating at the same time
ADVISORY_LOCK_KEY = 0x71756179  # "quay"

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, obj: Any, _autogen_context: Any) -> str | bool:
    # New revisions spell timestamps as plain SQLAlchemy types; a revision must not import app code.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ.get("QUAYSCAN_DB", DEFAULT_DB_URL)


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    owned = engine is None
    if owned:
        engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(**write_options())
            sqlite = connection.dialect.name == "sqlite"
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                compare_type=True,
                render_item=_render_item,
                # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
                render_as_batch=sqlite,
                # One transaction for the whole upgrade: SQLite does support transactional DDL, and a
                # writer's BEGIN IMMEDIATE makes a second process wait, then find the schema current.
                transactional_ddl=True,
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
