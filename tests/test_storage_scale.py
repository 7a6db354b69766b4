"""Several instances on one PostgreSQL database (issue #16 item 3): migrations run exactly once when
instances start together, and the connection pool is configurable, waits, then fails politely.

The migration test starts real processes on a fresh, empty database of a throwaway PostgreSQL server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pg_server import PostgresUnavailable, TempPostgres, shared_postgres
from sqlalchemy import text

from simulator.config import load_settings
from simulator.errors import StorageError
from simulator.runtime import db_pool
from simulator.storage import Store
from simulator.storage.engine import PoolSettings, build_engine
from simulator.storage.migrate import HEAD, current_revision

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server() -> TempPostgres:
    try:
        return shared_postgres()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL tests need a local server: {exc}", pytrace=False)


INSTANCE = r"""
import sys
from simulator.storage import Store
from simulator.storage import migrate, store  # everything Store.open needs is imported before the start

print("READY", flush=True)
sys.stdin.readline()  # the start line: every instance opens the store at the same moment
store = Store.open(sys.argv[1])
print("UPGRADED" if store.upgraded else "CURRENT", flush=True)
store.close()
"""


def test_instances_starting_together_migrate_exactly_once(server: TempPostgres, tmp_path: Path) -> None:
    url = server.create_database()  # empty: no tables, no alembic_version
    script = tmp_path / "instance.py"
    script.write_text(INSTANCE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    children = [subprocess.Popen([sys.executable, str(script), url], env=env, text=True, **pipes) for _ in range(3)]
    for child in children:  # a barrier: all are imported and waiting
        assert child.stdout is not None and child.stdout.readline().strip() == "READY"
    for child in children:  # the start line goes to all before any is waited for
        assert child.stdin is not None
        child.stdin.write("GO\n")
        child.stdin.flush()
    results = [child.communicate(timeout=120) for child in children]
    for child, (_out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    reported = sorted(out.strip() for out, _ in results)
    assert reported == ["CURRENT", "CURRENT", "UPGRADED"], reported

    engine = build_engine(url)
    try:
        assert current_revision(engine) == HEAD
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM sessions")).scalar_one() == 0
    finally:
        engine.dispose()


def test_pool_settings_reach_postgresql_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    assert db_pool(load_settings()) == PoolSettings(size=5, max_overflow=10, timeout_s=30.0)
    monkeypatch.setenv("COOLDOWN_DB_POOL_SIZE", "3")
    monkeypatch.setenv("COOLDOWN_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("COOLDOWN_DB_POOL_TIMEOUT_S", "2.5")
    pool = db_pool(load_settings())
    assert pool == PoolSettings(size=3, max_overflow=0, timeout_s=2.5)
    engine = build_engine("postgresql://ann@127.0.0.1:1/x", pool)  # nothing connects until used
    assert (engine.pool.size(), engine.pool.timeout(), engine.pool._max_overflow) == (3, 2.5, 0)  # type: ignore[attr-defined]
    engine.dispose()


def test_an_exhausted_pool_waits_then_fails_politely(server: TempPostgres) -> None:
    url = server.migrated_database()
    with Store.open(url, pool=PoolSettings(size=1, max_overflow=0, timeout_s=0.5)) as store:
        held = store._engine.connect()  # another request holds the only connection
        try:
            started = time.monotonic()
            with pytest.raises(StorageError) as caught:
                store.list_sessions()
            waited = time.monotonic() - started
            with pytest.raises(StorageError, match="busy"):
                store.get_or_create_trainee("ann")  # writes fail the same way, without retrying
        finally:
            held.close()
        assert 0.4 <= waited < 5
        message = str(caught.value)
        assert "is busy: all 1 connections" in message and "within 0.5 s" in message
        assert "try again" in message and "COOLDOWN_DB_POOL_SIZE" in message
        assert store.list_sessions() == []  # the connection came back: all is well again


def test_a_request_waits_for_a_connection_within_the_timeout(server: TempPostgres) -> None:
    url = server.migrated_database()
    with Store.open(url, pool=PoolSettings(size=1, max_overflow=0, timeout_s=10)) as store:
        held = store._engine.connect()
        releaser = threading.Timer(0.5, held.close)
        releaser.start()
        started = time.monotonic()
        assert store.get_or_create_trainee("ann").name == "ann"
        assert time.monotonic() - started >= 0.4
        releaser.join()
