"""Storage: CRUD, exports, idempotent turns, atomic grades, canonical text, concurrency (E2-E4, E8).

Every test that takes `store` runs twice: on SQLite (WAL) and on a throwaway PostgreSQL server on
loopback. Missing PostgreSQL binaries fail the PostgreSQL half with the install command; never a skip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pg_server import PostgresUnavailable, shared_postgres
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from storage_faults import InjectedFault, fail_after_write

from simulator.errors import StorageError
from simulator.grading.labels import Behaviour, Tactic, TechniqueUse, TurnGrade, TurnVerdict
from simulator.storage import (
    TEXT_CANON,
    SessionRecord,
    Store,
    canonical_text,
    persona_content_hash,
    write_export_file,
)

PERSONA = "name: Dana\ngrievance: parcel never came\n"


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


def new_session(store: Store, trainee: str = "ann", persona_text: str = PERSONA) -> str:
    return store.create_session(
        trainee=trainee,
        persona_name="dana",
        persona_text=persona_text,
        difficulty="hard",
        caller_model="fake:caller",
        grader="local:appraiser",
        mode="coach",
    )


def graded(grader: str = "local:appraiser", score: int = 3, **extra: object) -> TurnGrade:
    verdict = TurnVerdict(
        perspective_taking=score,
        behaviours=[Behaviour.REFLECTION, Behaviour.OPEN_QUESTION],
        techniques=[TechniqueUse(technique="reciprocity", use="ethical", evidence="free shipping")],
    )
    return TurnGrade(status="graded", verdict=verdict, grader=grader, grader_version="1", **extra)


def test_default_location_and_sqlite_pragmas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOLDOWN_DATA_DIR", str(tmp_path / "data"))
    with Store.open() as store:
        assert store.url == f"sqlite:///{tmp_path / 'data' / 'cooldown.db'}"
        assert (tmp_path / "data" / "cooldown.db").exists()
        with store._engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    assert pragma == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 5000, "foreign_keys": 1}
    with Store.open(data_dir=tmp_path / "other") as store:
        assert store.url.endswith("/other/cooldown.db")


def test_crud_round_trip(store: Store) -> None:
    sid = new_session(store)
    agent = store.add_turn(sid, "agent", "What happened with the courier?", status="received")
    assert (agent.index, agent.status, agent.text_canon, agent.text_altered) == (0, "received", TEXT_CANON, False)
    reply = store.add_turn(sid, "customer", "Nobody came. Again.")
    assert reply.index == 1
    assert store.set_turn_status(agent.id, "final").status == "final"
    mood = store.add_mood(agent.id, anger=0.7, trust=0.2, entrenchment=0.4, label="guarded", fired_rules=["ask"])
    assert mood.fired_rules == ["ask"]
    store.add_mood(agent.id, anger=0.6, trust=0.3, entrenchment=0.4, label="guarded", fired_rules=[{"r": 1}])
    store.add_grade(agent.id, graded(tip="Name the wasted day.", integrity_flags=["zero_width"]))
    store.add_grade(agent.id, TurnGrade.ungraded("llm:gpt", "grader output failed validation twice"))
    store.add_guard_event(sid, "input_rejected", "too long", turn_id=agent.id)
    store.add_guard_event(sid, "reply_regenerated")
    summary = store.end_session(sid, "resolved", "refund agreed")
    assert (summary.outcome, summary.turn_count) == ("resolved", 2)
    assert store.end_session(sid, "resolved", "refund agreed").ended_at == summary.ended_at
    with pytest.raises(StorageError, match="cannot end twice"):
        store.end_session(sid, "hung_up")

    record = store.load_session(sid)
    assert (record.trainee, record.persona_name, record.difficulty, record.mode) == ("ann", "dana", "hard", "coach")
    assert record.persona_text == PERSONA and record.persona_hash == persona_content_hash(PERSONA)
    assert [t.text for t in record.turns] == ["What happened with the courier?", "Nobody came. Again."]
    first = record.turns[0]
    assert first.mood is not None and first.mood.anger == 0.6 and first.mood.fired_rules == [{"r": 1}]
    assert [g.grader for g in first.grades] == ["llm:gpt", "local:appraiser"]
    ungraded, good = first.grades
    assert ungraded.status == "ungraded" and ungraded.verdict is None and "twice" in (ungraded.reason or "")
    assert good.verdict == graded().verdict and good.tip == "Name the wasted day."
    assert good.integrity_flags == ["zero_width"]
    assert [(e.kind, e.turn_id) for e in record.guard_events] == [
        ("input_rejected", agent.id),
        ("reply_regenerated", None),
    ]
    assert all(t.created_at.tzinfo is UTC for t in record.turns)
    assert [u.role for u in record.transcript()] == ["agent", "customer"]

    other = new_session(store, trainee="bob")
    assert [s.id for s in store.list_sessions()] == [other, sid]
    assert [s.id for s in store.list_sessions("ann")] == [sid]
    assert store.list_sessions("nobody") == []
    assert store.get_or_create_trainee("ann").id == store.get_or_create_trainee("ann").id


def test_persona_snapshot_is_frozen_per_session(store: Store) -> None:
    first = new_session(store, persona_text=PERSONA)
    edited = PERSONA + "anger_level: 5\n"
    second = new_session(store, persona_text=edited)
    assert store.load_session(first).persona_text == PERSONA
    assert store.load_session(second).persona_hash == persona_content_hash(edited)
    assert store.load_session(first).persona_hash != store.load_session(second).persona_hash


def test_add_turn_is_idempotent_by_id(store: Store) -> None:
    sid = new_session(store)
    turn_id = "0f4a3c1e-4a52-4d5e-9a43-9a9c2b1d7e01"
    first = store.add_turn(sid, "agent", "Sorry about that.", turn_id=turn_id, status="received")
    again = store.add_turn(sid, "agent", "Sorry about that.", turn_id=turn_id.upper(), status="final")
    assert again == first and again.status == "received"
    assert store.load_session(sid).turn_count == 1
    with pytest.raises(StorageError, match="already used"):
        store.add_turn(sid, "agent", "Something else.", turn_id=turn_id)
    store.end_session(sid, "resolved")
    assert store.add_turn(sid, "agent", "Sorry about that.", turn_id=turn_id) == first
    with pytest.raises(StorageError, match="has ended"):
        store.add_turn(sid, "agent", "New words after the end.")


def test_status_never_goes_back_to_received(store: Store) -> None:
    turn = store.add_turn(new_session(store), "agent", "Hi", status="received")
    store.set_turn_status(turn.id, "interrupted")
    with pytest.raises(StorageError, match="back to 'received'"):
        store.set_turn_status(turn.id, "received")


def test_grade_upserts_per_turn_and_grader(store: Store) -> None:
    sid = new_session(store)
    turn = store.add_turn(sid, "agent", "I see why that hurts.")
    store.add_grade(turn.id, TurnGrade.ungraded("local:appraiser", "model not loaded"))
    store.add_grade(turn.id, graded(score=4))
    store.add_grade(turn.id, graded(grader="llm:x", score=1))
    grades = store.load_session(sid).turns[0].grades
    assert [(g.grader, g.status, g.verdict and g.verdict.perspective_taking) for g in grades] == [
        ("llm:x", "graded", 1),
        ("local:appraiser", "graded", 4),
    ]
    reply = store.add_turn(sid, "customer", "Whatever.")
    with pytest.raises(StorageError, match="only trainee"):
        store.add_grade(reply.id, graded())


@pytest.mark.parametrize("point", [1, 2], ids=["grade-row-written", "turn-updated"])
def test_grade_write_is_atomic_under_faults(store: Store, point: int) -> None:
    """E2: a fault between the grade insert and the turn update leaves both or neither (100%)."""
    sid = new_session(store)
    trials = both = neither = 0
    for i in range(10):
        turn = store.add_turn(sid, "agent", f"turn {i}")
        if i % 2:  # half the trials replace an existing grade
            store.add_grade(turn.id, TurnGrade.ungraded("local:appraiser", "first try"))
        before = {t.id: t for t in store.load_session(sid).turns}[turn.id]

        with fail_after_write(store, point), pytest.raises(InjectedFault):
            store.add_grade(turn.id, graded(score=4))
        after = {t.id: t for t in store.load_session(sid).turns}[turn.id]
        trials += 1
        if after == before:
            neither += 1
        elif after.grades and after.grades[0].status == "graded" and after.updated_at != before.updated_at:
            both += 1
        store.add_grade(turn.id, graded(score=4))
        assert store.load_session(sid).turns[i].grades[0].verdict == graded(score=4).verdict
    print(f"\nE2 {point}: {trials} faults, both-or-neither {both + neither}/{trials} (neither={neither})")
    assert neither == trials


def test_database_refuses_a_graded_row_without_verdict(store: Store) -> None:
    turn = store.add_turn(new_session(store), "agent", "Hi")
    with store._engine.connect() as conn, pytest.raises(IntegrityError):
        conn.execute(
            text(
                "INSERT INTO grades (turn_id, grader, status, verdict, integrity_flags, grader_version, "
                "schema_version, created_at) VALUES (:t, 'x', 'graded', NULL, '[]', '1', '1', :now)"
            ),
            {"t": turn.id, "now": datetime.now(UTC).replace(tzinfo=None)},
        )


NASTY = {
    "nul": ("Refund\x00 now\x00", "Refund now"),
    "lone_high_surrogate": ("bad \ud83d end", "bad \ufffd end"),
    "lone_low_surrogate": ("\udc00x", "\ufffdx"),
    "reversed_pair": ("\ude00\ud83d", "\ufffd\ufffd"),
    "split_pair_joined": ("\ud83d\ude00", "😀"),
    "emoji_4_byte": ("😡 → 🙂 👩🏽‍💻 𝕏", "😡 → 🙂 👩🏽‍💻 𝕏"),
    "rtl": ("\u202eשלום עולם، مرحبا بالعالم\u202c", "\u202eשלום עולם، مرحبا بالعالم\u202c"),
    "long_50k": ("ab😀\n" * 12_500, "ab😀\n" * 12_500),
}


@pytest.mark.parametrize("case", sorted(NASTY))
def test_canonical_text_round_trips_identically(store: Store, case: str) -> None:
    """E4: the same canonical text is stored and read back on every backend, with no crash."""
    raw, expected = NASTY[case]
    assert canonical_text(raw) == expected
    sid = new_session(store, persona_text=f"name: {raw}")
    turn = store.add_turn(sid, "agent", raw)
    assert (turn.text, turn.text_altered) == (expected, raw != expected)
    grade = graded(tip=raw, better_phrasing=raw)
    store.add_grade(turn.id, grade)
    store.add_mood(turn.id, anger=1, trust=0, entrenchment=0, label="x", fired_rules=[raw])
    store.add_guard_event(sid, "integrity_flag", raw, turn_id=turn.id)
    record = store.load_session(sid)
    stored = record.turns[0]
    assert stored.text == expected and len(stored.text) == len(expected)
    assert stored.grades[0].tip == expected and stored.grades[0].better_phrasing == expected
    assert stored.mood is not None and stored.mood.fired_rules == [expected]
    assert record.guard_events[0].detail == expected
    assert record.persona_text == f"name: {expected}"
    assert SessionRecord.model_validate_json(store.export_session(sid, "json")) == record


@pytest.mark.slow
def test_concurrent_writers_never_surface_locks(store: Store) -> None:
    """E3: 8 threads x 100 turns into one session: 0 errors, 800 turns with indices 0..799."""
    sid = new_session(store)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        for i in range(100):
            try:
                store.add_turn(sid, "agent" if i % 2 else "customer", f"thread {n} turn {i}")
            except BaseException as exc:
                errors.append(exc)

    began = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    record = store.load_session(sid)
    locked = sum("locked" in str(e) for e in errors)
    print(f"\nE3 {store.backend}: 800 writes in {elapsed:.2f}s, errors={len(errors)}, locked={locked}")
    assert errors == []
    assert sorted(t.index for t in record.turns) == list(range(800))
    assert len({t.text for t in record.turns}) == 800


def test_sweeper_settles_turns_a_crash_left_received(store_url: str) -> None:
    with Store.open(store_url) as store:
        sid = new_session(store)
        answered = store.add_turn(sid, "agent", "Tell me more?", status="received")
        store.add_turn(sid, "customer", "Fine, it was Tuesday.")
        stuck = store.add_turn(sid, "agent", "And then?", status="received")
    with Store.open(store_url, sweep_stale_after=None) as store:  # a read-only tool: no sweep
        assert store.last_sweep is None
        assert store.load_session(sid).turns[2].status == "received"
    with Store.open(store_url, sweep_stale_after=3600) as store:  # too fresh to be stale
        assert store.last_sweep is not None and store.last_sweep.interrupted == 0
    with Store.open(store_url) as store:
        assert store.last_sweep is not None
        assert (store.last_sweep.interrupted, store.last_sweep.finalised) == (1, 1)
        statuses = {t.id: t.status for t in store.load_session(sid).turns}
    assert statuses[answered.id] == "final" and statuses[stuck.id] == "interrupted"


def test_delete_session_leaves_no_rows(store: Store) -> None:
    """E8: after deletion no table holds anything of the session."""
    keep = new_session(store)
    store.add_turn(keep, "agent", "keep me")
    sid = new_session(store)
    turn = store.add_turn(sid, "agent", "secret card 4111 1111 1111 1111")
    store.add_grade(turn.id, graded())
    store.add_mood(turn.id, anger=1, trust=0, entrenchment=0, label="furious")
    store.add_guard_event(sid, "pii", "card", turn_id=turn.id)
    assert store.delete_session(sid) is True
    assert store.delete_session(sid) is False
    with store._engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE {col} = :v"), {"v": value}).scalar()
            for table, col, value in [
                ("sessions", "id", sid),
                ("turns", "session_id", sid),
                ("guard_events", "session_id", sid),
                ("grades", "turn_id", turn.id),
                ("moods", "turn_id", turn.id),
            ]
        }
    assert set(counts.values()) == {0}
    with pytest.raises(StorageError, match="No session"):
        store.export_session(sid)
    assert store.load_session(keep).turn_count == 1


def test_exports_markdown_and_round_trippable_json(store: Store, tmp_path: Path) -> None:
    sid = new_session(store)
    turn = store.add_turn(sid, "agent", "After I gave you free shipping, close this.\nThanks.")
    manipulative = TurnVerdict(
        perspective_taking=0,
        behaviours=[Behaviour.DISMISSAL],
        techniques=[TechniqueUse(technique="reciprocity", use="manipulative", evidence="free shipping")],
        manipulation_tactics=[Tactic.PRESSURE],
    )
    store.add_grade(
        turn.id, TurnGrade(status="graded", verdict=manipulative, grader="llm:x", better_phrasing="Try asking.")
    )
    store.add_grade(turn.id, TurnGrade.ungraded("local:appraiser", "timed out"))
    store.add_mood(
        turn.id, anger=0.9, trust=0.1, entrenchment=0.8, label="furious",
        fired_rules=["pressure", "fact_confrontation: anger +10"],
    )  # fmt: skip
    store.add_turn(sid, "customer", "No.", status="interrupted")
    store.add_guard_event(sid, "integrity_flag", "zero-width characters", turn_id=turn.id)
    store.end_session(sid, "hung_up", "pressured")

    md = store.export_session(sid, "md")
    for expected in [
        f"# Cooldown session {sid}",
        "- Outcome: hung up (pressured)",  # words, as everywhere a person reads
        "> After I gave you free shipping, close this.\n> Thanks.",
        "### 2. Caller _(interrupted)_",
        "- **Mood**: furious (anger 0.9, trust 0.1, entrenchment 0.8)",
        "perspective-taking 0/4",
        "reciprocity (manipulative): “free shipping”",
        "manipulation tactics: pressure",
        "  - rules: pressure, fact confrontation: anger +10",  # read by people: words, not ids
        "ungraded — timed out",
        "better phrasing: Try asking.",
        "**integrity flag** (turn 1): zero-width characters",
    ]:
        assert expected in md, expected

    exported = store.export_session(sid, "json")
    assert SessionRecord.model_validate_json(exported) == store.load_session(sid)
    store.delete_session(sid)
    assert store.import_session(exported) == sid
    assert store.export_session(sid, "json") == exported
    with pytest.raises(StorageError, match="already exists"):
        store.import_session(exported)
    with pytest.raises(StorageError, match="edited"):
        store.import_session(exported.replace("grievance", "grudge"))
    with pytest.raises(ValueError, match="unknown export format"):
        store.export_session(sid, "pdf")  # type: ignore[arg-type]

    target = tmp_path / "exports" / "session.md"
    target.parent.mkdir()
    write_export_file(target, md)
    assert target.read_text(encoding="utf-8") == md
    assert [p.name for p in target.parent.iterdir()] == ["session.md"]


def test_turns_missing_grade_feed_the_regrade_job(store: Store) -> None:
    sid = new_session(store)
    done = store.add_turn(sid, "agent", "one")
    todo = store.add_turn(sid, "agent", "two", status="received")
    store.add_turn(sid, "customer", "reply")
    store.add_grade(done.id, graded())
    assert [t.id for t in store.turns_missing_grade("local:appraiser")] == [todo.id]
    assert [t.id for t in store.turns_missing_grade("llm:x", session_id=sid)] == [done.id, todo.id]


def test_bad_input_is_refused_with_a_fix(store: Store) -> None:
    sid = new_session(store)
    turn = store.add_turn(sid, "agent", "Hi")
    with pytest.raises(StorageError, match="not a valid id"):
        store.load_session("nope")
    with pytest.raises(StorageError, match="No session"):
        store.add_turn("3b8c9a56-2b53-4d2a-8a8f-0d3c8c0b9a11", "agent", "Hi")
    with pytest.raises(StorageError, match="Role"):
        store.add_turn(sid, "system", "Hi")  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="finite"):
        store.add_mood(turn.id, anger=float("nan"), trust=0, entrenchment=0, label="x")
    with pytest.raises(StorageError, match="must not be empty"):
        store.get_or_create_trainee("  ")
    with pytest.raises(StorageError, match="limit is 200"):
        store.get_or_create_trainee("x" * 201)
    with pytest.raises(StorageError, match="Mode"):
        store.create_session(
            trainee="a",
            persona_name="p",
            persona_text="",
            difficulty="d",
            caller_model="c",
            grader="g",
            mode="test",  # type: ignore[arg-type]
        )


def test_unreachable_database_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"Cannot connect to the postgresql server at 127\.0\.0\.1:1 "):
        Store.open("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StorageError, match="not valid"):
        Store.open("not a url")


def test_record_appraisal_stores_grade_mood_and_status_in_one_commit(store: Store) -> None:
    sid = new_session(store)
    turn = store.add_turn(sid, "agent", "I see why that hurts.", status="received")
    saved = store.record_appraisal(
        turn.id, graded(score=4), anger=0.4, trust=0.6, entrenchment=0.2, label="warming", fired_rules=["r1", {"k": 1}]
    )
    assert saved.grade == Store.prepare_grade(graded(score=4)) and saved.turn.status == "final"
    assert (saved.mood.anger, saved.mood.trust, saved.mood.label, saved.mood.fired_rules) == (
        0.4, 0.6, "warming", ["r1", {"k": 1}],
    )  # fmt: skip
    stored = store.load_session(sid).turns[0]
    assert stored.status == "final" and stored.mood == saved.mood
    assert [g.verdict for g in stored.grades] == [graded(score=4).verdict]
    # the same rows the three separate writes produce (a second call replaces, like add_grade/add_mood)
    store.record_appraisal(turn.id, graded(score=2), anger=0.5, trust=0.5, entrenchment=0.5, label="guarded")
    again = store.load_session(sid).turns[0]
    assert [g.verdict.perspective_taking for g in again.grades if g.verdict] == [2]
    assert again.mood is not None and again.mood.label == "guarded" and again.mood.fired_rules == []


@pytest.mark.parametrize(
    "point", [1, 2, 3, 4], ids=["grade-row-written", "turn-updated", "mood-written", "status-written"]
)
def test_record_appraisal_is_all_or_nothing_under_faults(store: Store, point: int) -> None:
    sid = new_session(store)
    for i in range(4):
        turn = store.add_turn(sid, "agent", f"turn {i}", status="received")
        if i % 2:  # half the trials replace an existing grade and mood
            store.add_grade(turn.id, TurnGrade.ungraded("local:appraiser", "first try"))
            store.add_mood(turn.id, anger=0.9, trust=0.1, entrenchment=0.9, label="furious")
        before = store.load_session(sid).turns[i]

        with fail_after_write(store, point), pytest.raises(InjectedFault):
            store.record_appraisal(turn.id, graded(score=4), anger=0.1, trust=0.9, entrenchment=0.1, label="open")
        assert store.load_session(sid).turns[i] == before  # neither grade, mood nor status changed
        store.record_appraisal(turn.id, graded(score=4), anger=0.1, trust=0.9, entrenchment=0.1, label="open")
        after = store.load_session(sid).turns[i]
        assert after.status == "final" and after.mood is not None and after.mood.label == "open"


def test_record_appraisal_refuses_bad_input_and_writes_nothing(store: Store) -> None:
    sid = new_session(store)
    turn = store.add_turn(sid, "agent", "Hello", status="received")
    with pytest.raises(StorageError, match="finite"):
        store.record_appraisal(turn.id, graded(), anger=float("nan"), trust=0.5, entrenchment=0.5, label="x")
    with pytest.raises(StorageError, match="Turn status"):
        store.record_appraisal(turn.id, graded(), anger=0.5, trust=0.5, entrenchment=0.5, label="x", status="done")  # type: ignore[arg-type]
    reply = store.add_turn(sid, "customer", "Whatever.")
    with pytest.raises(StorageError, match="only trainee"):
        store.record_appraisal(reply.id, graded(), anger=0.5, trust=0.5, entrenchment=0.5, label="x")
    record = store.load_session(sid)
    assert record.turns[0].status == "received" and record.turns[0].mood is None and not record.turns[0].grades
    assert record.turns[1].mood is None
