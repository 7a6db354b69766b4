"""Where the database lives and how connections are set up (SQLite pragmas, PostgreSQL driver).

SQLite connections get `journal_mode=WAL`, `synchronous=FULL`, `busy_timeout=5000` and `foreign_keys=ON`
on every connection. The sqlite3 module's own transaction handling is switched off and SQLAlchemy emits
`BEGIN` itself: `BEGIN IMMEDIATE` for writes (takes the write lock up front, so a writer never fails on
a lock upgrade) and a plain deferred `BEGIN` for reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from simulator.errors import StorageError

DATA_DIR_ENV = "COOLDOWN_DATA_DIR"
DB_FILENAME = "cooldown.db"
BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 10
"""How long a PostgreSQL connection attempt may take before it fails (a dead host answers nothing)."""
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
WRITE_OPTION = "cooldown_write"
"""Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE."""


@dataclass(frozen=True)
class PoolSettings:
    """The connection pool of a server database (PostgreSQL); SQLite keeps SQLAlchemy's defaults.

    Attributes:
        size: Connections kept open (COOLDOWN_DB_POOL_SIZE).
        max_overflow: Extra connections opened under load and closed after (COOLDOWN_DB_MAX_OVERFLOW).
        timeout_s: How long a request waits for a free connection before failing (COOLDOWN_DB_POOL_TIMEOUT_S).
    """

    size: int = 5
    max_overflow: int = 10
    timeout_s: float = 30.0


def default_data_dir() -> Path:
    """`$COOLDOWN_DATA_DIR` if set, else the platform's user data directory for "cooldown"."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("cooldown"))


def resolve_url(url: str | None, data_dir: Path | None) -> str:
    """The database URL to use: `url` if given, else `sqlite:///<data_dir>/cooldown.db`.

    The data directory is created (mode 0700: transcripts are personal data) when the default is used.
    A bare `postgresql://` URL is pointed at the psycopg 3 driver.
    """
    if url:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StorageError(
                f"Database URL {url!r} is not valid: {exc}. Use e.g. sqlite:////path/cooldown.db "
                "or postgresql+psycopg://user:password@127.0.0.1:5432/cooldown."
            ) from exc
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    directory = (data_dir or default_data_dir()).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StorageError(
            f"Cannot create the data directory {directory}: {exc}. Set {DATA_DIR_ENV} to a writable "
            "directory or pass a database URL."
        ) from exc
    return f"sqlite:///{directory / DB_FILENAME}"


def build_engine(url: str, pool: PoolSettings | None = None) -> Engine:
    """Create the one engine a `Store` uses, with the connection setup described in the module docstring.

    Args:
        url: The database URL.
        pool: Pool sizes and wait for a server database (default `PoolSettings()`); unused for SQLite.
    """
    parsed = make_url(url)
    pool = pool or PoolSettings()
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
        kwargs.update(pool_size=pool.size, max_overflow=pool.max_overflow, pool_timeout=pool.timeout_s)
        if parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:  # missing driver, bad options
        raise StorageError(
            f"Cannot create a database engine for {parsed.render_as_string()}: {exc}. "
            "For PostgreSQL install psycopg 3 (`pip install 'psycopg[binary]'`)."
        ) from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA secure_delete=ON")  # deleted transcripts are overwritten, not left behind
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_retryable(exc: BaseException) -> bool:
    """True for transient contention errors worth retrying (SQLite busy/locked, PG serialization/deadlock)."""
    orig = getattr(exc, "orig", None)
    message = str(orig or exc).lower()
    if "database is locked" in message or "database is busy" in message:
        return True
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate in {"40001", "40P01"}


def redact(url: URL, text: str) -> str:
    """`text` with the URL's password (if any) replaced by `***`, wherever a driver may have echoed it."""
    password = url.password
    return text.replace(str(password), "***") if password else text


def where(url: URL) -> str:
    """Where a database lives, for messages: `host:port` for a server, the file path for SQLite."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    port = url.port or DEFAULT_PORTS.get(url.get_backend_name())
    return f"{url.host or 'localhost'}:{port}" if port else (url.host or "localhost")


def check_connection(engine: Engine) -> None:
    """Open (and return) one connection, so an unreachable database fails here with a clear message.

    Raises:
        StorageError: Naming the host and port (or the file), the driver's reason and what to check;
            never the password.
    """
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        url = engine.url
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        detail = redact(url, reason[0] if reason else type(exc).__name__).rstrip(".")
        shown = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite":
            raise StorageError(
                f"Cannot open the SQLite database file {where(url)}: {detail}. Check that its directory "
                f"exists and is writable, or set COOLDOWN_DATA_DIR / COOLDOWN_DATABASE_URL ({shown})."
            ) from None
        raise StorageError(
            f"Cannot connect to the {url.get_backend_name()} server at {where(url)} (database "
            f"{url.database!r}, user {url.username!r}): {detail}. Check that the server is running and "
            f"reachable from this machine, and that COOLDOWN_DATABASE_URL is right ({shown})."
        ) from None
