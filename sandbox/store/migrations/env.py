"""Alembic's environment: run the revisions on the connection ``sandbox.store.schema`` hands over.

``schema.upgrade`` opens the connection, begins the transaction (and on PostgreSQL takes the
advisory lock in it), so the revisions run inside it and it commits them all at once.
"""

from __future__ import annotations

from alembic import context

from sandbox.store.schema import same_default
from sandbox.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    compare_type=True,
    compare_server_default=same_default,
)
with context.begin_transaction():
    context.run_migrations()
