"""Capacity (issue 16 item 3): how many simulated trainees one and two `cooldown app` instances hold.

Everything runs on this machine, on loopback:

* one PostgreSQL server: a throwaway cluster (`tests/pg_server.py`, needs Debian's `postgresql`
  package), or the database at `database_url`;
* the scripted caller and grader server (`benchmarks.model_server`) in its own process, with a fixed
  latency and token rate, so the figures measure Cooldown and not a model. Each role has its own base
  URL, so each keeps its own concurrency slots in Cooldown;
* two `cooldown app` processes on the same database (`COOLDOWN_DATABASE_URL`, each tagged with its own
  `application_name` so `pg_stat_activity` tells their connections apart);
* K simulated trainees, each a `gradio_client.Client` (its own Gradio session) in a thread: start a
  call, play `turns_per_call` turns through the page's `/send` endpoint, end the call (`/end_call`,
  which writes the debrief), start again. Trainee i uses instance i mod n (round robin, sticky: what a
  reverse proxy with sticky sessions does). The trainees of each instance live in their own
  load-generator process (`LoadWorker`), so one GIL does not cap the load of two instances.

The sweep alternates 1 and 2 instances at each load (K per instance = 1, 2, 4, ...; 2 instances get
twice the trainees), so load drift on the shared machine hits both sides alike. Per step it records
turns per second, time to first caller text (from submitting the turn to the first streamed update that
holds caller text), turn and end-call times, errors, CPU (cores used) and RSS per instance, the CPU of
PostgreSQL, the model server and each load-generator process, the whole machine's CPU use, and the peak number
of database connections per instance.

Figures: capacity at a p95 budget (the most turns per second of any step whose p95 time to first caller
text is within 2x the unloaded p95, from the lightest steps of both instance counts pooled) for 1 and 2
instances, their ratio (target >= 1.8x), the same ratio at the heaviest load where both ran at about
the same p95, and the K at which p95 reaches twice the unloaded p95. No figure is a timed assertion; the
load average is beside them.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchmarks.common import Dist, Figure, check, loadavg, measured, percentile, wait_served

ROOT = Path(__file__).resolve().parent.parent
PERSONA_ID = "backfire_brian"
TRAINEE_LINES: tuple[str, ...] = (
    "I'm sorry, that sounds like a really frustrating day. What happened when you got home?",
    "So you took the whole day off and nobody came to the door. That's a wasted day.",
    "What would make this right for you today?",
    "I'll open a courier investigation now and call you back by five with an answer.",
    "Just to check I've got it: the bench matters because it's for your mum's birthday on Saturday?",
    "Thanks for bearing with me. Which would suit you better, a refund or a new bench on Thursday?",
)
INSTANCE_NAMES = ("a", "b")
MAX_TRAINEES = 64
MAX_STEP_S = 60.0
START_TIMEOUT_S = 90.0
JOB_TIMEOUT_S = 60.0
POLL_S = 0.01
"""How often a trainee looks for new streamed updates of its turn."""
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CapacityConfig(BaseModel):
    """What the capacity run does; the defaults take about 4 minutes on a loaded 2-core machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_instance: tuple[int, ...] = (1, 2, 4, 8, 16)
    """Simulated trainees per instance at each load step (2 instances get twice as many in all)."""
    step_s: float = Field(default=8.0, gt=0, le=MAX_STEP_S)
    """Measured seconds per step (after a ramp of `ramp_s`)."""
    ramp_s: float = Field(default=1.5, ge=0, le=30)
    turns_per_call: int = Field(default=6, ge=1, le=14)
    think_s: float = Field(default=0.2, ge=0, le=30)
    """Pause between a caller's reply and the trainee's next turn."""
    latency_s: float = Field(default=0.3, ge=0, le=10)
    """Scripted model: seconds to the first token (both roles)."""
    tokens_per_s: float = Field(default=50.0, gt=0)
    """Scripted model: output tokens per second after the first."""
    model_concurrency: int = Field(default=64, ge=1, le=1024)
    """COOLDOWN_CALLER__MAX_CONCURRENCY and COOLDOWN_GRADER__MAX_CONCURRENCY of each instance."""
    database_url: str | None = None
    """A PostgreSQL URL to use instead of a throwaway server (its server CPU is then not measured)."""
    budget_s: float = Field(default=150.0, gt=0, le=900)
    """No new step starts this many seconds after the first (start-up and warm-up come before)."""


class StepResult(BaseModel):
    """One load step: n instances, K trainees, measured over `window_s`."""

    model_config = ConfigDict(extra="forbid")

    instances: int
    trainees: int
    window_s: float
    turns: int
    turns_per_s: float
    first_text_s: Dist
    """Time to first caller text: submit of the trainee's turn to the first update holding caller text."""
    first_text_samples: list[float] = Field(default_factory=list)
    turn_s: Dist
    end_call_s: Dist
    calls_started: int
    errors: int
    error_samples: list[str] = Field(default_factory=list)
    cpu_cores: dict[str, float]
    """CPU used over the window, in cores (1.0 = one core busy): each instance, postgres, the model server,
    each load generator, `machine` (every process on the machine) and `others` (machine less all those:
    other users' work)."""
    rss_mb: dict[str, float]
    db_connections_peak: dict[str, int]
    """Peak open connections in `pg_stat_activity`, per instance (by application_name) and `total`."""
    load: tuple[float, float, float]

    def cpu_ms_per_turn(self, prefix: str) -> float | None:
        """CPU milliseconds per turn of the processes named `prefix*` (e.g. 'instance_', 'loadgen_')."""
        if not self.turns_per_s:
            return None
        return round(1000 * sum(v for k, v in self.cpu_cores.items() if k.startswith(prefix)) / self.turns_per_s, 1)


# -- processes ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_served(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = START_TIMEOUT_S) -> None:
    if not wait_served(url, proc, timeout_s):
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"`cooldown app` at {url} did not start:\n{tail}")


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLDOWN_") and k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env.update(GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **extra)
    return env


@dataclass
class Instance:
    """One `cooldown app` process."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Rig:
    """Everything a run starts: database, model server, instances; stopped by `close()`."""

    root: Path
    database_url: str
    model_url: str = ""
    pg: Any = None
    model_proc: subprocess.Popen[str] | None = None
    instances: list[Instance] = field(default_factory=list)

    @property
    def postgres_pid(self) -> int | None:
        """The postmaster's pid (throwaway server only)."""
        if self.pg is None:
            return None
        try:
            return int((Path(self.pg.data) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        for inst in self.instances:
            if inst.proc.poll() is None:
                inst.proc.terminate()
        for inst in self.instances:
            try:
                inst.proc.wait(20)
            except subprocess.TimeoutExpired:
                inst.proc.kill()
                inst.proc.wait(10)
        if self.model_proc is not None and self.model_proc.poll() is None:
            self.model_proc.terminate()
            try:
                self.model_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.model_proc.kill()
        if self.pg is not None:
            self.pg.stop()


def _start_postgres() -> tuple[Any, str]:
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    try:
        from pg_server import TempPostgres
    except ImportError as exc:
        raise RuntimeError(
            "the capacity benchmark starts a throwaway PostgreSQL with tests/pg_server.py, which is missing "
            "here; pass a database URL instead"
        ) from exc
    pg = TempPostgres().start()
    return pg, pg.create_database("cooldown_capacity")


def _start_model_server(cfg: CapacityConfig, log: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "benchmarks.model_server", "--latency", str(cfg.latency_s),
           "--tokens-per-s", str(cfg.tokens_per_s)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_child_env({}), stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "READY":
        proc.kill()
        raise RuntimeError(f"the scripted model server did not start: {log.read_text(errors='replace')[-1000:]}")
    return proc, line[1]


def _start_instance(name: str, cfg: CapacityConfig, rig: Rig) -> Instance:
    port = _free_port()
    data, gradio_tmp = rig.root / f"data-{name}", rig.root / f"gradio-{name}"
    data.mkdir()
    gradio_tmp.mkdir()
    sep = "&" if "?" in rig.database_url else "?"
    env = _child_env({
        "COOLDOWN_DATABASE_URL": f"{rig.database_url}{sep}application_name=cooldown-{name}",
        "COOLDOWN_DATA_DIR": str(data),
        "GRADIO_TEMP_DIR": str(gradio_tmp),
        "COOLDOWN_CALLER__BASE_URL": f"{rig.model_url}/caller/v1",
        "COOLDOWN_CALLER__MODEL": "scripted",
        "COOLDOWN_CALLER__MAX_CONCURRENCY": str(cfg.model_concurrency),
        "COOLDOWN_GRADER__BASE_URL": f"{rig.model_url}/grader/v1",
        "COOLDOWN_GRADER__MODEL": "scripted",
        "COOLDOWN_GRADER__MAX_CONCURRENCY": str(cfg.model_concurrency),
        "COOLDOWN_LLM_GRADING": "on",
    })  # fmt: skip
    log = rig.root / f"app-{name}.log"
    cmd = [sys.executable, "-m", "simulator.cli.main", "app", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Instance(name, f"http://127.0.0.1:{port}/", proc, log)


@contextlib.contextmanager
def rig_up(cfg: CapacityConfig, echo: Callable[[str], None]) -> Iterator[Rig]:
    """Start the database (unless given), the model server and two instances; stop them all after."""
    root = Path(tempfile.mkdtemp(prefix="cooldown-capacity-"))
    rig = Rig(root=root, database_url=cfg.database_url or "")
    try:
        if not cfg.database_url:
            rig.pg, rig.database_url = _start_postgres()
        rig.model_proc, rig.model_url = _start_model_server(cfg, root / "model-server.log")
        rig.instances = [_start_instance(name, cfg, rig) for name in INSTANCE_NAMES]
        for inst in rig.instances:
            _wait_served(inst.url, inst.proc, inst.log)
        echo(f"  rig: PostgreSQL {'(throwaway)' if rig.pg else '(given)'}, model server {rig.model_url}, "
             f"instances {', '.join(i.url for i in rig.instances)}")  # fmt: skip
        yield rig
    finally:
        rig.close()
        import shutil

        shutil.rmtree(root, ignore_errors=True)


# -- CPU, memory, connections -------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()  # fields from `state` on (field 3)


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                kids.setdefault(int(stat[1]), []).append(int(entry.name))
    return kids


def tree_cpu_s(pid: int, kids: dict[int, list[int]] | None = None) -> float:
    """CPU seconds (user + system) of a process, its reaped children and its live descendants."""
    kids = kids if kids is not None else _children()
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        stat = _proc_stat(p)
        if stat is None:
            continue
        total += sum(int(x) for x in stat[11:15]) / TICK  # utime stime cutime cstime
        todo.extend(kids.get(p, []))
    return total


def tree_rss_mb(pid: int, kids: dict[int, list[int]] | None = None) -> float:
    """Resident memory of a process and its descendants in MiB (shared pages counted once per process)."""
    from benchmarks.common import rss_mb

    kids = kids if kids is not None else _children()
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += rss_mb(p) or 0.0
        todo.extend(kids.get(p, []))
    return total


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle) / TICK, total / TICK


class CpuMeter:
    """CPU seconds of named processes between `start()` and `stop()`, as cores used."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {k: v for k, v in pids.items() if v is not None}
        self._t0 = 0.0
        self._before: dict[str, float] = {}
        self._machine0 = (0.0, 0.0)

    def _sample(self) -> dict[str, float]:
        kids = _children()
        return {name: tree_cpu_s(pid, kids) for name, pid in self.pids.items()}

    def start(self) -> None:
        self._t0, self._before, self._machine0 = time.monotonic(), self._sample(), machine_busy_s()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self._t0, 1e-6)
        after, (busy1, total1) = self._sample(), machine_busy_s()
        cores = {k: round((after[k] - self._before.get(k, after[k])) / wall, 3) for k in after}
        busy0, total0 = self._machine0
        ncpu = os.cpu_count() or 1
        cores["machine"] = round((busy1 - busy0) / max(total1 - total0, 1e-6) * ncpu, 3)
        return cores


class ConnectionWatch:
    """Peak database connections per application_name, sampled from `pg_stat_activity` twice a second."""

    def __init__(self, sqlalchemy_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(sqlalchemy_url)
        self._kwargs: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username,
                                        "dbname": url.database, "autocommit": True,
                                        "application_name": "cooldown-capacity-watch"}  # fmt: skip
        if url.password:
            self._kwargs["password"] = url.password
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def _run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(**self._kwargs) as conn:
                while not self._stop.is_set():
                    rows = conn.execute(
                        "SELECT application_name, count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name LIKE 'cooldown-%%' "
                        "AND application_name <> 'cooldown-capacity-watch' GROUP BY 1"
                    ).fetchall()
                    now = {str(name).removeprefix("cooldown-"): int(n) for name, n in rows}
                    now["total"] = sum(now.values())
                    for key, n in now.items():
                        self.peak[key] = max(self.peak.get(key, 0), n)
                    self._stop.wait(0.5)
        except Exception as exc:  # a figure, not the run: say why it is missing
            self.error = f"{type(exc).__name__}: {exc}"

    def start(self) -> None:
        self.peak, self._stop = {}, threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-connections", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, int]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        return dict(self.peak)


# -- simulated trainees -------------------------------------------------------------------------------


@dataclass
class TurnSample:
    """One trainee turn as the trainee saw it (perf_counter times)."""

    started: float
    first_text: float | None
    ended: float
    ok: bool


@dataclass
class Tally:
    """What the trainees of one step saw (appended from their threads; list.append is atomic)."""

    turns: list[TurnSample] = field(default_factory=list)
    end_calls: list[tuple[float, float]] = field(default_factory=list)
    calls_started: int = 0
    errors: list[str] = field(default_factory=list)


def _chat_of(output: Any) -> list[dict[str, Any]]:
    chat = output[0] if isinstance(output, (list, tuple)) and output else None
    return chat if isinstance(chat, list) else []


def _has_caller_text(chat: list[dict[str, Any]]) -> bool:
    """True when the chat ends with the caller's (assistant's) message and it holds text."""
    if not chat or not isinstance(chat[-1], dict) or chat[-1].get("role") != "assistant":
        return False
    content = chat[-1].get("content")
    if isinstance(content, list):
        return any(isinstance(c, dict) and str(c.get("text") or "").strip() for c in content)
    return bool(str(content or "").strip())


class Trainee:
    """One simulated trainee on one instance: calls of `turns_per_call` turns until told to stop."""

    def __init__(self, number: int, url: str, cfg: CapacityConfig) -> None:
        from gradio_client import Client

        self.number, self.cfg = number, cfg
        self.name = f"bench{number}"
        # no analytics (loopback only); the debrief's download files stay on the server, as for a trainee
        # who reads the debrief without downloading it
        self.client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        self.in_call = False
        self.turns_in_call = 0

    def _status_error(self, output: Any) -> str | None:
        status = output[3] if isinstance(output, (list, tuple)) and len(output) > 3 else None
        return str(status) if isinstance(status, str) and status.startswith("⚠") else None

    def start_call(self, tally: Tally) -> bool:
        out = self.client.predict(self.name, PERSONA_ID, "normal", "coach", api_name="/start_call")
        problem = self._status_error(out)
        if problem:
            tally.errors.append(f"start_call: {problem}")
            return False
        tally.calls_started += 1
        self.in_call, self.turns_in_call = True, 0
        return True

    def end_call(self, tally: Tally) -> None:
        t0 = time.perf_counter()
        out = self.client.predict(api_name="/end_call")
        tally.end_calls.append((t0, time.perf_counter()))
        self.in_call = False
        problem = out[-3] if isinstance(out, (list, tuple)) and len(out) >= 3 else None
        if isinstance(problem, str) and problem.startswith("⚠"):
            tally.errors.append(f"end_call: {problem}")

    def turn(self, tally: Tally) -> None:
        text = TRAINEE_LINES[(self.number + self.turns_in_call) % len(TRAINEE_LINES)]
        t0 = time.perf_counter()
        first: float | None = None
        last: Any = None
        job = self.client.submit(text, api_name="/send")
        seen = 0
        while True:  # not `for output in job`: gradio_client's iterator polls every 1 ms, costing more CPU
            done = job.done()  # than the instance it measures; POLL_S adds at most that to first-text times
            outputs = job.outputs()
            for output in outputs[seen:]:
                last = output
                if first is None and _has_caller_text(_chat_of(output)):
                    first = time.perf_counter()
            seen = len(outputs)
            if done or time.perf_counter() - t0 > JOB_TIMEOUT_S:
                break
            time.sleep(POLL_S)
        job.result(timeout=JOB_TIMEOUT_S)  # raises what the job raised
        end = time.perf_counter()
        problem = self._status_error(last) if last is not None else "no update from /send"
        tally.turns.append(TurnSample(t0, first, end, ok=problem is None and first is not None))
        if problem or first is None:
            tally.errors.append(f"send: {problem or 'no caller text'}")
        self.turns_in_call += 1
        outcome = last[4] if isinstance(last, (list, tuple)) and len(last) > 4 else ""
        if problem or outcome or self.turns_in_call >= self.cfg.turns_per_call:
            self.end_call(tally)

    def run(self, tally: Tally, stop_at: float) -> None:
        """Play until `stop_at` (perf_counter): the current action finishes, no new one starts after."""
        while time.perf_counter() < stop_at:
            try:
                if not self.in_call:
                    if not self.start_call(tally):
                        time.sleep(0.5)
                    continue
                self.turn(tally)
                if self.cfg.think_s:
                    time.sleep(self.cfg.think_s)
            except Exception as exc:  # an error is a figure: count it and go on with a new call
                tally.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                self.in_call = False
                time.sleep(0.2)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


class LoadWorker:
    """A load-generator process for one instance: its trainees (threads) live there, clients and all.

    One process per instance keeps the trainees of two instances from sharing one GIL, which would make
    the load generator, not Cooldown, the limit. Commands go over a pipe; `perf_counter` is the system's
    monotonic clock, so deadlines and samples compare across processes.
    """

    def __init__(self, url: str, cfg: CapacityConfig, first_number: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.url = url
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, url, cfg.model_dump_json(), first_number),
                                name="capacity-loadgen", daemon=True)  # fmt: skip
        self.proc.start()

    def ask(self, *command: Any, timeout_s: float = 120.0) -> Any:
        """Send a command and wait for its answer; an exception in the worker is raised here."""
        self._conn.send(command)
        if not self._conn.poll(timeout_s):
            raise RuntimeError(f"the load generator for {self.url} did not answer {command[0]!r} in {timeout_s:.0f} s")
        kind, value = self._conn.recv()
        if kind == "error":
            raise RuntimeError(f"the load generator for {self.url} failed: {value}")
        return value

    def start_run(self, per_instance: int, stop_at: float) -> None:
        """Let `per_instance` trainees play until `stop_at`; `tally()` collects what they saw."""
        self._conn.send(("run", per_instance, stop_at))

    def tally(self) -> Tally:
        """The tally of the run started by `start_run` (waits for its trainees to finish)."""
        if not self._conn.poll(JOB_TIMEOUT_S + 30):
            raise RuntimeError(f"the load generator for {self.url} did not finish its step")
        kind, value = self._conn.recv()
        if kind == "error":
            raise RuntimeError(f"the load generator for {self.url} failed: {value}")
        assert isinstance(value, Tally)
        return value

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask("stop", timeout_s=30)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


def _worker_main(conn: Any, url: str, cfg_json: str, first_number: int) -> None:
    cfg = CapacityConfig.model_validate_json(cfg_json)
    trainees: list[Trainee] = []
    while True:
        command = conn.recv()
        try:
            if command[0] == "stop":
                for t in trainees:
                    t.close()
                conn.send(("ok", None))
                return
            if command[0] == "warm":  # first imports, first call, first turn on the instance
                warm = Trainee(first_number - 1, url, cfg.model_copy(update={"turns_per_call": 1}))
                warm.start_call(Tally())
                warm.turn(Tally())
                warm.close()
                conn.send(("ok", None))
            elif command[0] == "prepare":  # ("prepare", k): k trainees with no call open
                while len(trainees) < command[1]:
                    trainees.append(Trainee(first_number + len(trainees), url, cfg))
                for t in trainees:
                    if t.in_call:
                        with contextlib.suppress(Exception):
                            t.end_call(Tally())
                conn.send(("ok", None))
            elif command[0] == "run":  # ("run", k, stop_at): play until stop_at, return the tally
                tally = Tally()
                threads = [threading.Thread(target=t.run, args=(tally, command[2]), daemon=True)
                           for t in trainees[: command[1]]]  # fmt: skip
                for th in threads:
                    th.start()
                for th in threads:
                    th.join(command[2] - time.perf_counter() + JOB_TIMEOUT_S)
                conn.send(("ok", tally))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def run_step(
    rig: Rig, workers: list[LoadWorker], per_instance: int, cfg: CapacityConfig, watch: ConnectionWatch | None
) -> StepResult:
    """`per_instance` trainees on each of `workers`' instances for one ramp + window."""
    n = len(workers)
    for w in workers:
        w.ask("prepare", per_instance)
    t0 = time.perf_counter()
    w0, w1 = t0 + cfg.ramp_s, t0 + cfg.ramp_s + cfg.step_s
    meter = CpuMeter({
        **{f"instance_{i.name}": i.proc.pid for i in rig.instances[:n]},
        "postgres": rig.postgres_pid,
        "model_server": rig.model_proc.pid if rig.model_proc else None,
        **{f"loadgen_{i.name}": w.proc.pid for i, w in zip(rig.instances, workers, strict=False)},
        **{f"idle_{i.name}": i.proc.pid for i in rig.instances[n:]},  # started, given no trainees
    })  # fmt: skip
    for w in workers:
        w.start_run(per_instance, w1)
    time.sleep(max(0.0, w0 - time.perf_counter()))
    meter.start()
    if watch is not None:
        watch.start()
    time.sleep(max(0.0, w1 - time.perf_counter()))
    cpu = meter.stop()
    cpu["others"] = round(max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine")), 3)
    conns = watch.stop() if watch is not None else {}
    kids = _children()
    rss = {f"instance_{i.name}": round(tree_rss_mb(i.proc.pid, kids), 1) for i in rig.instances[:n]}
    tally = Tally()
    for w in workers:
        part = w.tally()
        tally.turns += part.turns
        tally.end_calls += part.end_calls
        tally.calls_started += part.calls_started
        tally.errors += part.errors
    window = [s for s in tally.turns if w0 <= s.ended <= w1]
    started = [s for s in tally.turns if s.started >= w0]
    good = [s for s in started if s.ok and s.first_text is not None]
    firsts = [s.first_text - s.started for s in good if s.first_text is not None]
    return StepResult(
        instances=n,
        trainees=per_instance * n,
        window_s=round(w1 - w0, 2),
        turns=len([s for s in window if s.ok]),
        turns_per_s=round(len([s for s in window if s.ok]) / (w1 - w0), 3),
        first_text_s=Dist.of(firsts),
        first_text_samples=[round(v, 4) for v in firsts],
        turn_s=Dist.of([s.ended - s.started for s in good]),
        end_call_s=Dist.of([b - a for a, b in tally.end_calls if a >= w0]),
        calls_started=tally.calls_started,
        errors=len(tally.errors),
        error_samples=sorted(set(tally.errors))[:5],
        cpu_cores=cpu,
        rss_mb=rss,
        db_connections_peak=conns,
        load=loadavg(),
    )


# -- the figure ---------------------------------------------------------------------------------------


def capacity_at(steps: list[StepResult], budget_s: float) -> float:
    """The most turns per second among steps whose p95 time to first caller text is within `budget_s`."""
    ok = [s.turns_per_s for s in steps if s.errors == 0 and not math.isnan(s.first_text_s.p95)
          and s.first_text_s.p95 <= budget_s]  # fmt: skip
    return max(ok, default=0.0)


def matched_pair(
    one: list[StepResult], two: list[StepResult], budget_s: float = math.inf
) -> tuple[StepResult, StepResult] | None:
    """The heaviest per-instance load at which 1 and 2 instances ran at about the same p95, within `budget_s`.

    "About the same": within 25% or 0.25 s, whichever is wider (a step's p95 rests on a few dozen turns).
    Both saturated (p95 over the budget) is not a match: equal queues say nothing about capacity.
    """
    pairs = [(a, b) for a in one for b in two if b.trainees == 2 * a.trainees and a.errors == b.errors == 0
             and not math.isnan(a.first_text_s.p95) and not math.isnan(b.first_text_s.p95)
             and max(a.first_text_s.p95, b.first_text_s.p95) <= budget_s
             and abs(b.first_text_s.p95 - a.first_text_s.p95) <= max(0.25 * a.first_text_s.p95, 0.25)]  # fmt: skip
    return max(pairs, key=lambda ab: ab[0].trainees, default=None)


def doubling_point(steps: list[StepResult], base_p95: float) -> int | None:
    """The fewest trainees at which p95 time to first caller text is at least twice `base_p95`."""
    if math.isnan(base_p95):
        return None
    ordered = sorted(steps, key=lambda s: s.trainees)
    return next((s.trainees for s in ordered if s.first_text_s.p95 >= 2 * base_p95), None)


def step_line(s: StepResult) -> str:
    """One step as a line of the summary."""
    cpu = " ".join(f"{k.removeprefix('instance_')}={v:.2f}" for k, v in s.cpu_cores.items())
    rss = " ".join(f"{k.removeprefix('instance_')}={v:.0f}MB" for k, v in s.rss_mb.items())
    conns = " ".join(f"{k}={v}" for k, v in sorted(s.db_connections_peak.items()))
    return (f"  {s.instances} inst K={s.trainees:>3}: {s.turns_per_s:6.2f} turns/s, first text p50 "
            f"{s.first_text_s.median:.3f}s p95 {s.first_text_s.p95:.3f}s, errors {s.errors}; cpu cores {cpu}; "
            f"cpu ms/turn instances {s.cpu_ms_per_turn('instance_')} loadgen {s.cpu_ms_per_turn('loadgen_')}; "
            f"rss {rss}; db conns {conns or '-'}; load {s.load[0]:.2f}")  # fmt: skip


def run(cfg: CapacityConfig | None = None, echo: Callable[[str], None] = print) -> Figure:
    """Run the sweep and return the `capacity` figure (see the module docstring)."""
    cfg = cfg or CapacityConfig()
    if max(cfg.per_instance, default=0) * len(INSTANCE_NAMES) > MAX_TRAINEES or min(cfg.per_instance, default=0) < 1:
        raise ValueError(f"trainees per instance must be 1..{MAX_TRAINEES // len(INSTANCE_NAMES)}")
    fig = Figure(key="capacity", title="Simulated trainees on 1 and 2 instances, one PostgreSQL")
    steps: list[StepResult] = []
    with measured(fig), rig_up(cfg, echo) as rig:
        watch = ConnectionWatch(rig.database_url)
        workers = [LoadWorker(inst.url, cfg, first_number=1000 * (n + 1)) for n, inst in enumerate(rig.instances)]
        try:
            for w in workers:
                w.ask("warm")
            deadline = time.monotonic() + cfg.budget_s
            for k, n in [(k, n) for k in sorted(cfg.per_instance) for n in (1, 2)]:
                if time.monotonic() > deadline:
                    fig.notes.append(f"stopped at the {cfg.budget_s:.0f} s budget before K={k}/instance")
                    break
                step = run_step(rig, workers[:n], k, cfg, watch)  # trainee i -> instance i mod n, sticky
                steps.append(step)
                echo(step_line(step))
        finally:
            for w in workers:
                w.close()
        if watch.error:
            fig.notes.append(f"database connections not measured: {watch.error}")
    _summarise(fig, steps, cfg)
    return fig


def _summarise(fig: Figure, steps: list[StepResult], cfg: CapacityConfig) -> None:
    one = [s for s in steps if s.instances == 1]
    two = [s for s in steps if s.instances == 2]
    fig.numbers["config"] = cfg.model_dump()
    fig.numbers["steps"] = [s.model_dump() for s in steps]
    fig.numbers["cpus"] = os.cpu_count()
    if not one:
        fig.error = "no 1-instance step ran"
        return
    # the unloaded p95: one trainee per instance, both instance counts pooled (one step alone has few turns)
    least = min(s.trainees // s.instances for s in steps)
    unloaded = [v for s in steps if s.trainees // s.instances == least for v in s.first_text_samples]
    budget = 2 * percentile(unloaded, 95)
    cap1, cap2 = capacity_at(one, budget), capacity_at(two, budget)
    ratio = cap2 / cap1 if cap1 > 0 and two else None
    fig.numbers.update({
        "p95_budget_s": round(budget, 3), "capacity_1": cap1, "capacity_2": cap2,
        "ratio": None if ratio is None else round(ratio, 3),
        "p95_doubles_at_1": doubling_point(one, budget / 2), "p95_doubles_at_2": doubling_point(two, budget / 2),
        "pairs": [{"per_instance": a.trainees, "turns_per_s_ratio": round(b.turns_per_s / a.turns_per_s, 3)
                   if a.turns_per_s else None, "p95_1": a.first_text_s.p95, "p95_2": b.first_text_s.p95}
                  for a, b in zip(one, two, strict=False)],
        "errors": sum(s.errors for s in steps),
    })  # fmt: skip
    matched = matched_pair(one, two, budget)
    fig.numbers["matched_pair"] = None if matched is None else {
        "per_instance": matched[0].trainees, "turns_per_s_1": matched[0].turns_per_s,
        "turns_per_s_2": matched[1].turns_per_s, "p95_1": matched[0].first_text_s.p95,
        "p95_2": matched[1].first_text_s.p95}  # fmt: skip
    pair_ratio = matched[1].turns_per_s / matched[0].turns_per_s if matched and matched[0].turns_per_s else None
    pair_note = "" if matched is None else (
        f"{matched[0].trainees} vs {matched[1].trainees} trainees, p95 {matched[0].first_text_s.p95:.3f}s vs "
        f"{matched[1].first_text_s.p95:.3f}s")  # fmt: skip
    fig.targets.append(check("2 instances / 1, turns/s at the same p95 (heaviest load within the p95 budget "
                             "whose p95s are within 25% or 0.25 s)", pair_ratio, ge=1.8, unit="x", goal=">= 1.8x",
                             note=pair_note))  # fmt: skip
    note = f"budget {budget:.3f}s = 2x the unloaded p95 ({least} trainee(s) per instance, {len(unloaded)} turns)"
    fig.targets.append(check("2 instances / 1, most turns/s within a p95 budget", ratio, ge=1.8, unit="x",
                             goal=">= 1.8x", note=note))  # fmt: skip
    per_turn = [s.cpu_ms_per_turn("instance_") for s in steps]
    loadgen = [s.cpu_ms_per_turn("loadgen_") for s in steps]
    fig.numbers["instance_cpu_ms_per_turn"] = Dist.of([v for v in per_turn if v is not None]).model_dump()
    fig.numbers["loadgen_cpu_ms_per_turn"] = Dist.of([v for v in loadgen if v is not None]).model_dump()
    heaviest = max(steps, key=lambda s: (s.instances, s.trainees))
    cpus = os.cpu_count() or 1
    fig.notes.append(
        f"heaviest step ({heaviest.instances} inst, K={heaviest.trainees}): the machine's CPU was "
        f"{heaviest.cpu_cores.get('machine', 0):.2f} of {cpus} cores busy, of which other users' processes "
        f"{heaviest.cpu_cores.get('others', 0):.2f}; each turn cost the instances "
        f"{heaviest.cpu_ms_per_turn('instance_')} ms of CPU and the load generator "
        f"{heaviest.cpu_ms_per_turn('loadgen_')} ms"
    )
    fig.targets.append(check("errors", float(fig.numbers["errors"]), le=0, goal="0"))
    for s in steps:
        fig.series.setdefault(f"turns_per_s_{s.instances}", []).append(s.turns_per_s)
        fig.series.setdefault(f"p95_first_text_{s.instances}", []).append(s.first_text_s.p95)
        fig.series.setdefault(f"trainees_{s.instances}", []).append(float(s.trainees))


def summary(fig: Figure) -> str:
    """The capacity figure on one screen: every step, then capacities, ratio, doubling points, load."""
    lines = [f"[capacity] {fig.title}  (load {fig.load_before[0]:.2f}->{fig.load_after[0]:.2f}, "
             f"{fig.elapsed_s:.0f} s, {os.cpu_count()} CPUs)"]  # fmt: skip
    if fig.error:
        lines.append(f"  ERROR {fig.error}")
    for raw in fig.numbers.get("steps", []):
        lines.append(step_line(StepResult.model_validate(raw)))
    n = fig.numbers
    if "capacity_1" in n:
        lines.append(f"  capacity within p95 {n['p95_budget_s']:.3f}s: 1 instance {n['capacity_1']:.2f} turns/s, "
                     f"2 instances {n['capacity_2']:.2f} turns/s")  # fmt: skip
        for pair in n["pairs"]:
            lines.append(f"  K={pair['per_instance']}/instance: 2 inst / 1 inst turns/s = {pair['turns_per_s_ratio']}, "
                         f"p95 {pair['p95_1']:.3f}s vs {pair['p95_2']:.3f}s")  # fmt: skip
        lines.append(f"  p95 doubles (>= {n['p95_budget_s']:.3f}s) at K = {n['p95_doubles_at_1'] or 'not reached'} "
                     f"(1 instance), {n['p95_doubles_at_2'] or 'not reached'} (2 instances)")  # fmt: skip
    mark = {"met": "ok  ", "missed": "MISS", "info": "info", "skipped": "skip"}
    for t in fig.targets:
        value = "—" if t.value is None else f"{t.value:,.3g}{t.unit}"
        lines.append(f"  {mark[t.verdict]} {t.name}: {value} (target {t.goal})  [{t.note}]")
    lines.extend(f"  note: {note}" for note in fig.notes)
    return "\n".join(lines)
