"""The Alembic environment: migrate the connection that ``Database.upgrade`` passes in.

``Database`` opens the transaction (and, on PostgreSQL, takes the upgrade's advisory lock)
before Alembic runs, so every revision of one upgrade commits together or not at all.
``target_metadata`` is the current schema, which the migrations test compares the migrated
database with. SQLite alters tables by copying them (``render_as_batch``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from faceverdict.adapters.sql_schema import metadata

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError(
        "faceverdict migrations run on a connection from Database.upgrade "
        "(`faceverdict db upgrade`), not from the alembic command line"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
