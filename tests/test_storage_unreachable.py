"""An unreachable database at start-up (issue #16 item 2): a clear error naming host and port, never the
password, and a non-zero exit from `cooldown sessions list` and `cooldown app` (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pg_server import _free_port
from sqlalchemy.engine import make_url

from simulator.errors import StorageError
from simulator.storage import Store
from simulator.storage.engine import redact, where

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "s3cret-Pa55word"


@pytest.fixture
def closed_url() -> tuple[str, int]:
    """A PostgreSQL URL with a password, on a loopback port nothing listens on."""
    port = _free_port()
    return f"postgresql://ann:{PASSWORD}@127.0.0.1:{port}/cooldown", port


def test_open_names_host_and_port_but_not_the_password(closed_url: tuple[str, int]) -> None:
    url, port = closed_url
    with pytest.raises(StorageError) as caught:
        Store.open(url)
    message = str(caught.value)
    assert f"server at 127.0.0.1:{port}" in message and "database 'cooldown', user 'ann'" in message
    assert "refused" in message.lower() and "COOLDOWN_DATABASE_URL" in message
    assert PASSWORD not in message and "***" in message
    assert caught.value.__suppress_context__  # a traceback shows our message, not the driver's chain


def test_an_unopenable_sqlite_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "c.db"
    with pytest.raises(StorageError, match=r"Cannot open the SQLite database file .*c\.db"):
        Store.open(f"sqlite:///{missing}")


def test_where_and_redact() -> None:
    url = make_url(f"postgresql+psycopg://ann:{PASSWORD}@db.example:6543/x")
    assert where(url) == "db.example:6543"
    assert where(make_url("postgresql+psycopg://ann@db.example/x")) == "db.example:5432"
    assert where(make_url("sqlite:////tmp/c.db")) == "/tmp/c.db"
    assert redact(url, f"login {PASSWORD} failed") == "login *** failed"


@pytest.mark.parametrize("command", [["sessions", "list"], ["app"]])
def test_cli_exits_non_zero_with_a_clear_line(command: list[str], closed_url: tuple[str, int]) -> None:
    url, port = closed_url
    env = {k: v for k, v in os.environ.items() if k != "COOLDOWN_RAISE_ERRORS"}
    env.update({"PYTHONPATH": str(ROOT), "COOLDOWN_DATABASE_URL": url})
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", *command],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"127.0.0.1:{port}" in done.stderr
    assert PASSWORD not in output
    assert "Traceback" not in output
    assert done.stderr.startswith("Error: Cannot connect to the postgresql server")
