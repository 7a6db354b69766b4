"""Alembic environment: always run programmatically with a connection in `config.attributes`.

`simulator.storage.migrate.upgrade` opens a write transaction and passes its connection here, so every
migration runs inside that one transaction. On PostgreSQL an advisory lock serialises concurrent upgrades.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from simulator.storage.models import Base

PG_MIGRATION_LOCK = 0x0C001D0

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic command line
    raise RuntimeError(
        "Cooldown migrations run from code: use simulator.storage.migrate.upgrade(engine) "
        "or just Store.open(), not the alembic command line."
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
if connection.dialect.name == "postgresql":
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
with context.begin_transaction():
    context.run_migrations()
