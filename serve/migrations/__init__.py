"""Alembic migrations of the quayscan database; run them with ``quayscan.serve.storage.migrate()``."""
