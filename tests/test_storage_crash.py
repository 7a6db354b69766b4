"""E1: SIGKILL a process that is writing turns, moods and grades; nothing it reported committed is lost.

A child process runs the per-turn write order from RELIABILITY.md §6.1 in a loop (trainee turn
`received` → caller reply → turn `final` → mood → grade) and prints each id right after the commit
that stored it. The test kills it with SIGKILL at a random moment, reopens the store (which sweeps),
and checks: `PRAGMA integrity_check` is ok, every reported row is there, no grade is half-written and
no turn is left `received`. A few kills run in the normal suite; the reliability variant does 25 per
backend and prints the figures.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pg_server import PostgresUnavailable, shared_postgres
from sqlalchemy import text

from simulator.storage import Store

CHILD = r"""
import sys
from simulator.grading.labels import TurnGrade, TurnVerdict
from simulator.storage import Store

store = Store.open(sys.argv[1], sweep_stale_after=None)
sid = sys.argv[2]
print("READY", flush=True)
i = 0
while True:
    i += 1
    turn = store.add_turn(sid, "agent", f"trainee turn {i} " + "x" * (i % 7) * 300, status="received")
    print("T", turn.id, flush=True)
    reply = store.add_turn(sid, "customer", f"caller reply {i}")
    print("R", reply.id, flush=True)
    store.set_turn_status(turn.id, "final")
    print("F", turn.id, flush=True)
    store.add_mood(turn.id, anger=0.5, trust=0.5, entrenchment=0.5, label="guarded", fired_rules=[i])
    print("M", turn.id, flush=True)
    verdict = TurnVerdict(perspective_taking=i % 5, behaviours=["open_question"])
    store.add_grade(turn.id, TurnGrade(status="graded", verdict=verdict, grader="local:appraiser"))
    print("G", turn.id, flush=True)
"""

LINE = re.compile(r"^([TRFMG]) ([0-9a-f-]{36})$")


def _url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'cooldown.db'}"
    try:
        return shared_postgres().migrated_database()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL parity tests need a local server: {exc}", pytrace=False)


def _kill_once(script: Path, url: str, sid: str, rng: random.Random) -> dict[str, set[str]]:
    """Start the writer, SIGKILL it at a random moment, return the ids it reported committed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, str(script), url, sid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("READY"):
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if not ready.wait(60):
        child.kill()
        raise AssertionError(f"writer did not start: {child.stderr.read() if child.stderr else ''}")
    time.sleep(rng.uniform(0.0, 1.0))
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    reader.join(10)
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stderr and child.stderr.read())
    reported: dict[str, set[str]] = {k: set() for k in "TRFMG"}
    for line in lines:
        if match := LINE.match(line):
            reported[match.group(1)].add(match.group(2))
    return reported


def _run_kills(backend: str, tmp_path: Path, kills: int, seed: int) -> None:
    url = _url(backend, tmp_path)
    with Store.open(url) as store:
        sid = store.create_session(
            trainee="ann", persona_name="dana", persona_text="name: dana", difficulty="hard",
            caller_model="fake", grader="local:appraiser",
        )  # fmt: skip
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    rng = random.Random(seed)
    all_reported: dict[str, set[str]] = {k: set() for k in "TRFMG"}
    integrity_ok = 0
    for _ in range(kills):
        reported = _kill_once(script, url, sid, rng)
        for key, ids in reported.items():
            all_reported[key] |= ids
        with Store.open(url) as store:  # restart: upgrade check + sweep
            if store.integrity_check() == "ok":
                integrity_ok += 1
            record = store.load_session(sid)  # every grade re-validates as a TurnGrade on load
            with store._engine.connect() as conn:
                half = conn.execute(
                    text("SELECT count(*) FROM grades WHERE status = 'graded' AND verdict IS NULL")
                ).scalar()
        turns = {t.id: t for t in record.turns}
        assert all_reported["T"] <= turns.keys(), "a committed trainee turn was lost"
        assert all_reported["R"] <= turns.keys(), "a committed caller reply was lost"
        assert all(turns[t].status == "final" for t in all_reported["F"])
        assert all(turns[t].mood is not None for t in all_reported["M"])
        assert all(turns[t].grades and turns[t].grades[0].status == "graded" for t in all_reported["G"])
        assert half == 0
        assert not [t for t in record.turns if t.status == "received"], "sweeper left a turn received"
        assert sorted(t.index for t in record.turns) == list(range(len(record.turns)))
    interrupted = sum(t.status == "interrupted" for t in record.turns)
    print(
        f"\nE1 {backend}: kills={kills} integrity_ok={integrity_ok}/{kills} "
        f"turns_verified={len(all_reported['T']) + len(all_reported['R'])} "
        f"grades_verified={len(all_reported['G'])} stored_turns={len(record.turns)} "
        f"swept_interrupted={interrupted} lost=0 half_written_grades=0"
    )
    assert integrity_ok == kills


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_loses_no_committed_write(backend: str, tmp_path: Path) -> None:
    _run_kills(backend, tmp_path, kills=3, seed=1)


@pytest.mark.reliability
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_loop_reliability(backend: str, tmp_path: Path) -> None:
    _run_kills(backend, tmp_path, kills=25, seed=2)
