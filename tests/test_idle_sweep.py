"""Calls nobody finishes end as `abandoned` (issue #16 item 1): last activity, idle sweeper, CLI, processes.

A closed tab, a lost connection or a dead app process never gives a call an outcome; the idle sweeper
ends it once nothing was stored for the idle timeout. Runs on SQLite and on a throwaway PostgreSQL
server; the process tests start real `python` children that open the store and sweep.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pg_server import PostgresUnavailable, shared_postgres
from sqlalchemy import select, text, update

from simulator.config import load_settings
from simulator.errors import ConfigError, StorageError
from simulator.grading.labels import TurnGrade
from simulator.storage import Store
from simulator.storage.engine import build_engine
from simulator.storage.idle import IdleSweeper
from simulator.storage.migrate import upgrade
from simulator.storage.models import CallSession, Turn, utcnow

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 1800.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cooldown.db'}"
    try:
        return shared_postgres().migrated_database()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL parity tests need a local server: {exc}", pytrace=False)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as s:
        yield s


def new_session(store: Store, trainee: str = "ann") -> str:
    return store.create_session(
        trainee=trainee, persona_name="dana", persona_text="name: Dana\n", difficulty="hard",
        caller_model="fake:caller", grader="local:appraiser",
    )  # fmt: skip


def last_activity(store: Store, sid: str) -> datetime:
    with store._engine.connect() as conn:
        value = conn.execute(select(CallSession.last_activity_at).where(CallSession.id == sid)).scalar_one()
    assert value is not None
    return value


def backdate(url: str, sid: str, seconds: float) -> None:
    """Make a call look idle for `seconds` (as if its last turn was stored that long ago)."""
    engine = build_engine(url)
    try:
        with engine.begin() as conn:
            when = utcnow() - timedelta(seconds=seconds)
            conn.execute(update(CallSession).where(CallSession.id == sid).values(last_activity_at=when))
    finally:
        engine.dispose()


def child_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COOLDOWN_RAISE_ERRORS"}
    return {**env, "PYTHONPATH": str(ROOT), "COOLDOWN_DATABASE_URL": url}


# -- the store -------------------------------------------------------------------------------------


def test_last_activity_moves_with_every_stored_turn(store: Store) -> None:
    sid = new_session(store)
    started = last_activity(store, sid)
    time.sleep(0.01)
    turn = store.add_turn(sid, "customer", "Where is my parcel?")
    assert last_activity(store, sid) == turn.created_at > started
    again = store.add_turn(sid, "customer", "Where is my parcel?", turn_id=turn.id)  # a retried write
    assert again == turn and last_activity(store, sid) == turn.created_at


def test_idle_calls_end_as_abandoned_and_only_those(store: Store) -> None:
    idle = new_session(store, "ann")
    store.add_turn(idle, "customer", "Where is my parcel?")
    stuck = store.add_turn(idle, "agent", "Let me check", status="received")
    busy = new_session(store, "bob")
    done = new_session(store, "cat")
    store.end_session(done, "resolved", "the caller is happy")

    assert store.abandon_idle(TIMEOUT).abandoned == []  # nothing is idle yet
    later = utcnow() + timedelta(seconds=TIMEOUT + 1)
    store.add_turn(busy, "customer", "Hello?")  # activity: busy stays open, measured from `later`
    backdate_to = later - timedelta(seconds=10)
    with store._engine.begin() as conn:
        conn.execute(update(CallSession).where(CallSession.id == busy).values(last_activity_at=backdate_to))

    report = store.abandon_idle(TIMEOUT, now=later)
    assert report.abandoned == [idle]
    assert (report.turns.interrupted, report.turns.finalised) == (1, 0)
    record = store.load_session(idle)
    assert record.outcome == "abandoned" and record.ended_at == later
    assert record.outcome_reason is not None and record.outcome_reason.startswith("timed out")
    assert "30 minutes" in record.outcome_reason
    assert [t.status for t in record.turns if t.id == stuck.id] == ["interrupted"]
    assert store.load_session(busy).ended_at is None
    assert store.load_session(done).outcome == "resolved"
    summaries = {s.id: s.outcome for s in store.list_sessions()}
    assert summaries[idle] == "abandoned"

    assert store.abandon_idle(TIMEOUT, now=later).abandoned == []  # idempotent
    with pytest.raises(StorageError, match="has ended"):
        store.add_turn(idle, "agent", "Sorry, I'm back")


def test_idle_timeout_must_be_positive(store: Store) -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(StorageError, match="positive"):
            store.abandon_idle(bad)


def test_open_can_sweep_idle_calls(store_url: str) -> None:
    with Store.open(store_url) as store:
        sid = new_session(store)
    backdate(store_url, sid, TIMEOUT + 5)
    with Store.open(store_url) as store:
        assert store.last_idle_sweep is None  # only when asked
        assert store.load_session(sid).ended_at is None
    with Store.open(store_url, idle_timeout_s=TIMEOUT) as store:
        assert store.last_idle_sweep is not None and store.last_idle_sweep.abandoned == [sid]


def test_upgrade_backfills_last_activity(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = build_engine(url)
    upgrade(engine, "0003_grade_confidence")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO trainees (id, name, created_at) VALUES ('t1', 'ann', '2025-01-01 10:00:00')"))
        for sid in ("s1", "s2"):
            conn.execute(
                text(
                    "INSERT INTO sessions (id, trainee_id, persona_name, persona_text, persona_hash, difficulty, "
                    "caller_model, grader, mode, created_at) VALUES (:sid, 't1', 'd', 'x', 'sha256:x', 'hard', "
                    "'f', 'g', 'coach', '2025-01-01 10:00:00')"
                ),
                {"sid": sid},
            )
        conn.execute(
            text(
                "INSERT INTO turns (id, session_id, idx, role, text, status, created_at, updated_at) "
                "VALUES ('u1', 's1', 0, 'agent', 'hi', 'final', '2025-01-01 10:05:00', '2025-01-01 10:07:00')"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        rows = dict(conn.execute(select(CallSession.id, CallSession.last_activity_at)).all())
    engine.dispose()
    assert rows["s1"] is not None and rows["s1"].isoformat() == "2025-01-01T10:07:00+00:00"
    assert rows["s2"] is not None and rows["s2"].isoformat() == "2025-01-01T10:00:00+00:00"


# -- the periodic sweeper and settings ------------------------------------------------------------


def test_sweeper_sweeps_at_start_and_then_periodically(store_url: str) -> None:
    with Store.open(store_url) as store:
        first = new_session(store, "ann")
        second = new_session(store, "bob")
        backdate(store_url, first, TIMEOUT + 5)
        sweeper = IdleSweeper(store, TIMEOUT, interval_s=0.05)
        try:
            assert sweeper.start().abandoned == [first]
            backdate(store_url, second, TIMEOUT + 5)
            deadline = time.monotonic() + 10
            while store.load_session(second).ended_at is None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            sweeper.stop()
        assert store.load_session(second).outcome == "abandoned"
        assert sweeper.runs >= 2


def test_a_failing_periodic_sweep_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'c.db'}")
    sweeper = IdleSweeper(store, TIMEOUT, interval_s=60)
    store.abandon_idle = lambda *a, **k: (_ for _ in ()).throw(StorageError("disk on fire"))  # type: ignore[method-assign]
    assert sweeper.sweep_once() is None
    assert "idle sweep failed" in caplog.text and "disk on fire" in caplog.text
    store.close()


def test_idle_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().idle_timeout_s == 1800
    monkeypatch.setenv("COOLDOWN_IDLE_TIMEOUT_S", "600")
    monkeypatch.setenv("COOLDOWN_IDLE_SWEEP_INTERVAL_S", "15")
    settings = load_settings()
    assert (settings.idle_timeout_s, settings.idle_sweep_interval_s) == (600, 15)
    monkeypatch.setenv("COOLDOWN_IDLE_TIMEOUT_S", "5")
    with pytest.raises(ConfigError, match="idle_timeout_s"):
        load_settings()


# -- real processes --------------------------------------------------------------------------------


def test_cli_sweep_in_a_subprocess_ends_idle_calls(store_url: str) -> None:
    with Store.open(store_url) as store:
        idle, fresh = new_session(store, "ann"), new_session(store, "bob")
    backdate(store_url, idle, TIMEOUT + 5)
    cmd = [sys.executable, "-m", "simulator.cli.main", "sessions", "sweep"]
    done = subprocess.run(cmd, env=child_env(store_url), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert idle in done.stdout and fresh not in done.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", "sessions", "list"],
        env=child_env(store_url), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    rows = {line[:8]: line for line in listed.stdout.splitlines()}
    assert rows[idle[:8]].endswith("abandoned") and rows[fresh[:8]].endswith("in progress")


SWEEPING_APP = r"""
import sys, time
from simulator.config import load_settings
from simulator.runtime import open_store, start_idle_sweeper

settings = load_settings()
store = open_store(settings)
sweeper = start_idle_sweeper(settings, store)
print("STARTED", ",".join(sweeper.last.abandoned), flush=True)
time.sleep(120)
"""


def test_a_running_instance_sweeps_at_start_and_periodically(store_url: str, tmp_path: Path) -> None:
    """The app's start-up path in a real process: a call left open by a dead instance is ended at start,
    and a call that goes idle while the instance runs is ended by its periodic sweep."""
    with Store.open(store_url) as store:
        left_open, goes_idle = new_session(store, "ann"), new_session(store, "bob")
    backdate(store_url, left_open, TIMEOUT + 5)
    script = tmp_path / "instance.py"
    script.write_text(SWEEPING_APP)
    env = {**child_env(store_url), "COOLDOWN_IDLE_SWEEP_INTERVAL_S": "1"}
    child = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["STARTED", left_open]
        backdate(store_url, goes_idle, TIMEOUT + 5)
        deadline = time.monotonic() + 30
        with Store.open(store_url, sweep_stale_after=None) as store:
            while store.load_session(goes_idle).ended_at is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert store.load_session(goes_idle).outcome == "abandoned"
            assert store.load_session(left_open).outcome == "abandoned"
    finally:
        child.kill()
        child.wait(30)


# -- the turn sweep with several instances ----------------------------------------------------------


def backdate_turn(url: str, turn_id: str, seconds: float) -> None:
    """Make a turn look stored `seconds` ago."""
    engine = build_engine(url)
    try:
        with engine.begin() as conn:
            when = utcnow() - timedelta(seconds=seconds)
            conn.execute(update(Turn).where(Turn.id == turn_id).values(created_at=when, updated_at=when))
    finally:
        engine.dispose()


def test_an_instance_starting_leaves_another_live_instances_turn_alone(store_url: str, tmp_path: Path) -> None:
    """A turn is `received` between being stored and its appraisal committing. An instance starting up
    (with the app's COOLDOWN_STALE_TURN_S) must not call that turn interrupted while another instance is
    working on it; a turn in a call quiet for that long was left by a dead instance, and is settled."""
    with Store.open(store_url) as store:
        live, dead = new_session(store, "ann"), new_session(store, "bob")
        in_flight = store.add_turn(live, "agent", "Let me check that for you", status="received")
        left = store.add_turn(dead, "agent", "Hold on a moment", status="received")
    backdate(store_url, dead, 600)
    backdate_turn(url=store_url, turn_id=left.id, seconds=600)

    env = {**child_env(store_url), "COOLDOWN_STALE_TURN_S": "120", "COOLDOWN_DATA_DIR": str(tmp_path)}
    code = "from simulator.config import load_settings\nfrom simulator.runtime import open_store\n"
    code += "s = open_store(load_settings())\nprint(s.last_sweep.interrupted, s.last_sweep.finalised)\n"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0"]  # the dead instance's turn only
    with Store.open(store_url, sweep_stale_after=None) as store:
        assert store.load_session(live).turns[0].status == "received"  # still the live instance's to settle
        assert store.load_session(dead).turns[0].status == "interrupted"
        store.record_appraisal(
            in_flight.id, TurnGrade.ungraded("local:appraiser", "test"), anger=50, trust=20, entrenchment=40,
            label="guarded",
        )  # fmt: skip
        assert store.load_session(live).turns[0].status == "final"


def test_the_periodic_sweep_settles_turns_of_quiet_calls(store_url: str) -> None:
    with Store.open(store_url) as store:
        quiet = new_session(store, "ann")
        left = store.add_turn(quiet, "agent", "Hold on a moment", status="received")
        backdate(store_url, quiet, 600)
        backdate_turn(store_url, left.id, 600)
        sweeper = IdleSweeper(store, TIMEOUT, interval_s=60, stale_turn_s=120)
        assert sweeper.sweep_once() is not None
        assert store.load_session(quiet).turns[0].status == "interrupted"
        assert store.load_session(quiet).ended_at is None  # quiet, not yet idle: the trainee may continue it


def test_stale_turn_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().stale_turn_s == 120
    monkeypatch.setenv("COOLDOWN_STALE_TURN_S", "1")
    with pytest.raises(ConfigError, match="stale_turn_s"):
        load_settings()
