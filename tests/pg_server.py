"""A throwaway PostgreSQL server for tests: a private cluster in a temp dir, on loopback, torn down after.

Used by the storage tests to run the same checks on SQLite and PostgreSQL. Needs Debian's `postgresql`
package (`apt-get install -y postgresql`); when the binaries are missing, `PostgresUnavailable` says so
(the tests turn that into a failure, never a skip). Run as root, the server runs as the `postgres` user
via `runuser`. The cluster trades durability for speed (fsync off): it tests our SQL, not the disk.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

from simulator.errors import StorageError

MIGRATED_TEMPLATE = "cooldown_migrated_template"


class PostgresUnavailable(StorageError):
    """PostgreSQL server binaries are not installed, or the throwaway server did not start."""


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name.split(".")[0]))
    for directory in reversed(candidates):
        if Path(directory, "initdb").exists() and Path(directory, "pg_ctl").exists():
            return Path(directory)
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found in /usr/lib/postgresql/*/bin or on PATH. "
        "Install them with `apt-get update && apt-get install -y postgresql` (CI does this in its setup)."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TempPostgres:
    """A private PostgreSQL cluster listening on 127.0.0.1:<free port> and a unix socket in its temp dir."""

    def __init__(self, *, crash_safe: bool = False) -> None:
        """Prepare (not start) the server; call `start()`.

        Args:
            crash_safe: Commit synchronously, so `crash()` loses no committed transaction (by default
                commits are acknowledged before their WAL is written, which a crash would lose).
        """
        self.crash_safe = crash_safe
        self.bin = _bin_dir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cooldown-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0
        self.started = False
        self._template_lock = threading.Lock()
        self._template_ready = False

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"`{' '.join(cmd)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}\n{log}"
            )

    def start(self) -> TempPostgres:
        """initdb + pg_ctl start; waits until the server accepts connections."""
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
        self._start_server()
        return self

    def _start_server(self) -> None:
        commit = "on" if self.crash_safe else "off"
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit={commit} -c full_page_writes=off -c max_connections=60"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")
        self.started = True

    def crash(self) -> None:
        """Stop the server at once (`immediate`: every connection is cut), keeping its data for `restart`.

        Start the server `crash_safe` to keep every acknowledged commit across this.
        """
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.started = False

    def restart(self) -> None:
        """Start the server again after `crash`, on the same port and data; waits until it accepts connections."""
        self._start_server()

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self.started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except PostgresUnavailable:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL for a database on this server (psycopg 3 over TCP loopback)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a database (empty, or a copy of `template`) and return its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def migrated_database(self) -> str:
        """A new database already at the newest schema revision (cloned from a template made once)."""
        with self._template_lock:
            if not self._template_ready:
                from simulator.storage.store import Store

                Store.open(self.create_database(MIGRATED_TEMPLATE), sweep_stale_after=None).close()
                self._template_ready = True
            return self.create_database(template=MIGRATED_TEMPLATE)


_shared: TempPostgres | None = None
_shared_lock = threading.Lock()


def shared_postgres() -> TempPostgres:
    """One throwaway server per test process, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            server = TempPostgres()
            try:
                server.start()
            except BaseException:
                server.stop()
                raise
            atexit.register(server.stop)
            _shared = server
        return _shared
