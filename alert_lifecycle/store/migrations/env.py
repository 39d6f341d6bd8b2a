"""Alembic environment: run by engine.migrate() with a live connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from cachewatch.alert_lifecycle.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
