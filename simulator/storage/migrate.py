"""Schema migrations, run from code (no alembic.ini): `upgrade(engine)` brings a database to head.

The scripts live in `simulator/storage/migrations/versions/`. Each upgrade runs in one write transaction,
so a crash mid-upgrade leaves the previous revision intact (SQLite and PostgreSQL both have
transactional DDL).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from simulator.errors import StorageError
from simulator.storage.engine import WRITE_OPTION

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest) inside one write transaction.

    On SQLite, foreign-key enforcement is switched off for the upgrade and the keys are checked before
    commit (SQLite's documented table-rebuild procedure): otherwise a migration that rebuilds a table
    (Alembic batch mode: copy, DROP, rename) would cascade-delete every row that references it.

    Raises:
        StorageError: The upgrade would leave rows whose foreign keys point nowhere (rolled back).
    """
    config = _config()
    with engine.execution_options(**{WRITE_OPTION: True}).connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # must happen outside a transaction, so on the raw connection before BEGIN
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
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
