"""The embedded default: a llama.cpp server that Cooldown starts itself on a free loopback port.

It serves the same OpenAI-compatible API as every other provider, so the rest of Cooldown reaches it
through the one langchain-openai code path. Each role gets its own server process, so a grading call
never queues in front of the caller's reply. Servers start on first use, are health-checked, and stop
with their parent (atexit here; a watchdog in the child covers `kill -9`).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import httpx

from simulator.errors import ModelUnavailable

log = logging.getLogger(__name__)

MODEL_ALIAS = "smollm2"


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedServer:
    """One llama.cpp server process serving one GGUF file."""

    def __init__(
        self,
        gguf: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        alias: str = MODEL_ALIAS,
        log_path: Path | None = None,
    ) -> None:
        self.gguf = gguf
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.host = host
        self.port = port
        self.alias = alias
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=30)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (valid once started)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        cmd = [
            sys.executable, "-m", "simulator.llm.embedded_child", "--parent-pid", str(os.getpid()), "--",
            "--model", str(self.gguf), "--model_alias", self.alias,
            "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx),
        ]  # fmt: skip
        if self.n_threads:
            cmd += ["--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads)]
        return cmd

    def start(self, timeout_s: float = 90.0) -> str:
        """Start (if not running) and wait until it answers; returns the base URL."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return self.base_url
            if not self.gguf.is_file():
                raise ModelUnavailable(f"embedded model file {self.gguf} does not exist")
            self.port = self.port or free_port(self.host)
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self._proc = subprocess.Popen(
                self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )  # fmt: skip
            threading.Thread(target=self._pump, args=(self._proc,), daemon=True).start()
            atexit.register(self.stop)
            self._wait_healthy(timeout_s)
            log.info("embedded model server for %s ready at %s (pid %s)", self.gguf.name, self.base_url, self.pid)
            return self.base_url

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        sink = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            sink = self.log_path.open("a", encoding="utf-8")
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self._tail.append(line)
            if sink:
                sink.write(line + "\n")
                sink.flush()
        if sink:
            sink.close()

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        url = f"http://{self.host}:{self.port}/v1/models"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = "\n".join(self._tail)
                raise ModelUnavailable(
                    f"the embedded model server exited with code {self._proc.returncode} while starting.\n"
                    f"Last output:\n{tail}\nRe-run `scripts/setup.sh` (llama-cpp-python must be built with "
                    "portable CPU flags), or point the role at another server with COOLDOWN_CALLER__BASE_URL."
                )
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ModelUnavailable(
            f"the embedded model server did not answer within {timeout_s:.0f} s; "
            "raise COOLDOWN_EMBEDDED_START_TIMEOUT_S on a slow machine."
        )

    def healthy(self) -> bool:
        """True if the server process runs and answers /v1/models."""
        if self.pid is None:
            return False
        try:
            return httpx.get(f"http://{self.host}:{self.port}/v1/models", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def memory_rss_mb(self) -> float | None:
        """Resident memory of the server process in MiB (Linux), for doctor and benchmarks."""
        pid = self.pid
        if pid is None:
            return None
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


class EmbeddedPool:
    """The embedded servers of this process, one per (GGUF, role). Thread-safe.

    Server processes are a process-wide resource (like a connection pool), not per-session state.
    """

    def __init__(self) -> None:
        self._servers: dict[tuple[str, str], EmbeddedServer] = {}
        self._lock = threading.Lock()

    def get(self, gguf: Path, role: str, *, n_ctx: int, n_threads: int | None, log_dir: Path | None) -> EmbeddedServer:
        """The server for this GGUF and role, created (not started) on first request."""
        key = (str(gguf.resolve()), role)
        with self._lock:
            server = self._servers.get(key)
            if server is None:
                log_path = log_dir / f"embedded-{role}.log" if log_dir else None
                server = EmbeddedServer(gguf, n_ctx=n_ctx, n_threads=n_threads, log_path=log_path)
                self._servers[key] = server
            return server

    def servers(self) -> list[EmbeddedServer]:
        """All servers created so far."""
        with self._lock:
            return list(self._servers.values())

    def stop_all(self) -> None:
        """Stop every server."""
        for server in self.servers():
            server.stop()


POOL = EmbeddedPool()
