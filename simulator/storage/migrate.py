"""Schema migrations, run from code (no alembic.ini): `upgrade(engine)` brings a database to head.

The scripts live in `simulator/storage/migrations/versions/`. Each upgrade runs in one write transaction,
so a crash mid-upgrade leaves the previous revision intact (SQLite and PostgreSQL both have
transactional DDL). On PostgreSQL the upgrade first takes a transaction-scoped advisory lock, so app
instances starting together on an empty database queue up: the first migrates, the rest find the schema
at head and do nothing. SQLite serialises upgrades with its write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from simulator.errors import StorageError
from simulator.resources import package_path
from simulator.storage.engine import WRITE_OPTION

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = package_path("simulator.storage", "migrations")
PG_MIGRATION_LOCK = 0x0C001D0
"""The PostgreSQL advisory lock key held (per database) while the schema is upgraded."""
HEAD = "0006_call_rollups"
"""The newest revision; update it with every new migration (a test checks it against the scripts).
Knowing it lets `Store.open` skip importing Alembic when the database is already current."""


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration's revision id, read from the scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    """True when the database is already at `HEAD` (one cheap query, no Alembic import)."""
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        return False
    return versions == [HEAD]


def upgrade(engine: Engine, revision: str = "head") -> bool:
    """Upgrade the database to `revision` (default: the newest) inside one write transaction.

    Returns True when this call changed the revision, False when the database was already there (for
    instance because a concurrent instance upgraded it while this one waited for the lock).

    On SQLite, foreign-key enforcement is switched off for the upgrade and the keys are checked before
    commit (SQLite's documented table-rebuild procedure): otherwise a migration that rebuilds a table
    (Alembic batch mode: copy, DROP, rename) would cascade-delete every row that references it.

    Raises:
        StorageError: The upgrade would leave rows whose foreign keys point nowhere (rolled back).
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = _config()
    with engine.execution_options(**{WRITE_OPTION: True}).connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # must happen outside a transaction, so on the raw connection before BEGIN
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":  # released at commit or rollback
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
                before = MigrationContext.configure(conn).get_current_revision()
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                after = MigrationContext.configure(conn).get_current_revision()
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise StorageError(
                            f"Schema upgrade to {revision} would break {len(broken)} foreign keys "
                            f"(first: {tuple(broken[0])}); it was rolled back. Report this as a bug."
                        )
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    return before != after
