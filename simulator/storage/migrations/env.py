"""Alembic environment: always run programmatically with a connection in `config.attributes`.

`simulator.storage.migrate.upgrade` opens a write transaction and passes its connection here, so every
migration runs inside that one transaction (which, on PostgreSQL, already holds the advisory lock that
serialises concurrent upgrades).
"""

from __future__ import annotations

from alembic import context

from simulator.storage.models import Base

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
with context.begin_transaction():
    context.run_migrations()
