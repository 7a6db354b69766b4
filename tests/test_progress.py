"""Progress and cohort aggregations (`Store.progress`): exact figures on a hand-built cohort, in SQL.

Every test runs on SQLite and on a throwaway PostgreSQL server (a missing server is a failure, not a
skip): the aggregations must give the same numbers on both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PostgresUnavailable, shared_postgres

from simulator.grading.labels import Behaviour, Tactic, TechniqueUse, TurnGrade, TurnVerdict
from simulator.storage import Store, progress_csv
from simulator.storage.progress import IN_PROGRESS

B = Behaviour


def _database_url(backend: str, tmp_path: Path, *, migrated: bool) -> str:
    """A fresh database on `backend`: a SQLite file, or a PostgreSQL database (migrated, or empty)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'cooldown.db'}"
    try:
        server = shared_postgres()
        return server.migrated_database() if migrated else server.create_database()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL parity tests need a local server: {exc}", pytrace=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with Store.open(_database_url(request.param, tmp_path, migrated=True)) as s:
        yield s


def grade(score: int, behaviours: list[Behaviour], *, grader: str = "local:appraiser",
          manipulative: bool = False) -> TurnGrade:  # fmt: skip
    verdict = TurnVerdict(
        perspective_taking=score,
        behaviours=behaviours,
        manipulation_tactics=[Tactic.PRESSURE] if manipulative else [],
    )
    return TurnGrade(status="graded", verdict=verdict, grader=grader)


def call(store: Store, trainee: str, turns: list[TurnGrade | None], *, persona: str = "dana",
         difficulty: str = "hard", outcome: str | None = "resolved") -> str:  # fmt: skip
    """A call: the caller opens, then one trainee turn per entry (graded by it; None = ungraded)."""
    sid = store.create_session(
        trainee=trainee, persona_name=persona, persona_text="name: x", difficulty=difficulty,
        caller_model="fake", grader="local:appraiser",
    )  # fmt: skip
    store.add_turn(sid, "customer", "Where is my parcel?")
    for g in turns:
        t = store.add_turn(sid, "agent", "I hear you.")
        store.add_grade(t.id, g if g is not None else TurnGrade.ungraded("local:appraiser", "timed out"))
        store.add_turn(sid, "customer", "Hm.")
    if outcome is not None:
        store.end_session(sid, outcome)
    return sid


@pytest.fixture
def cohort(store: Store) -> Store:
    # ann: improves from 1 to 3; one manipulative move in her first call
    call(store, "ann", [grade(1, [B.BLAME], manipulative=True), grade(1, [B.INFORMATION])], outcome="hung_up")
    call(store, "ann", [grade(2, [B.VALIDATION]), grade(2, [B.VALIDATION, B.REFLECTION])])
    call(store, "ann", [grade(3, [B.PERSPECTIVE_TAKING, B.REFLECTION])], persona="brian", difficulty="easy",
         outcome=None)  # fmt: skip
    # bob: one call; a caller turn and an ungraded turn count for nothing
    call(store, "bob", [grade(4, [B.PERSPECTIVE_TAKING]), None])
    return store


def test_a_trainees_progress_per_call_outcomes_and_behaviours(cohort: Store) -> None:
    p = cohort.progress("ann")
    assert p.trainee == "ann" and p.call_count == 3
    assert [c.mean_score for c in p.calls] == [1.0, 2.0, 3.0]  # oldest first
    assert [c.manipulative_turns for c in p.calls] == [1, 0, 0]
    assert [c.graded_turns for c in p.calls] == [2, 2, 1]
    assert [c.outcome for c in p.calls] == ["hung_up", "resolved", IN_PROGRESS]
    assert all(c.trainee == "ann" and c.started.tzinfo is not None for c in p.calls)
    assert (p.graded_turns, p.manipulative_turns) == (5, 1)
    assert p.mean_score == pytest.approx(9 / 5)
    assert [(o.persona, o.difficulty, o.outcome, o.calls) for o in p.outcomes] == [
        ("brian", "easy", IN_PROGRESS, 1), ("dana", "hard", "hung_up", 1), ("dana", "hard", "resolved", 1),
    ]  # fmt: skip
    counts = {b.behaviour: b.turns for b in p.behaviours}
    assert counts[B.VALIDATION] == 2 and counts[B.REFLECTION] == 2 and counts[B.PERSPECTIVE_TAKING] == 1
    assert counts[B.BLAME] == 1 and counts[B.INFORMATION] == 1 and counts[B.OPEN_QUESTION] == 0
    assert len(p.behaviours) == len(Behaviour)  # every behaviour, unused ones too (the least used)
    assert [b.turns for b in p.behaviours] == sorted((b.turns for b in p.behaviours), reverse=True)
    assert p.behaviours[0].share == pytest.approx(2 / 5)
    assert p.curve == [] and p.trainees == []


def test_the_cohort_curve_table_and_totals(cohort: Store) -> None:
    p = cohort.progress()
    assert p.trainee is None and p.call_count == 4
    assert [(t.trainee, t.calls, t.graded_turns, t.resolved, t.manipulative_turns) for t in p.trainees] == [
        ("ann", 3, 5, 1, 1), ("bob", 1, 1, 1, 0),
    ]  # fmt: skip
    assert p.trainees[0].mean_score == pytest.approx(9 / 5) and p.trainees[1].mean_score == 4.0
    assert p.trainees[0].manipulative_per_call == pytest.approx(1 / 3)
    # call 1: ann 1.0 and bob 4.0; calls 2 and 3: ann only
    assert [(c.call_number, c.trainees, c.mean_score) for c in p.curve] == [(1, 2, 2.5), (2, 1, 2.0), (3, 1, 3.0)]
    assert p.curve[0].manipulative_per_call == 0.5
    assert (p.graded_turns, p.manipulative_turns) == (6, 1) and p.mean_score == pytest.approx(13 / 6)
    assert {b.behaviour: b.turns for b in p.behaviours}[B.PERSPECTIVE_TAKING] == 2
    assert sum(o.calls for o in p.outcomes) == 4


def test_the_grade_that_counts_is_the_one_the_debrief_shows(store: Store) -> None:
    sid = store.create_session(trainee="cy", persona_name="dana", persona_text="x", difficulty="hard",
                               caller_model="fake", grader="local:appraiser")  # fmt: skip
    t1 = store.add_turn(sid, "agent", "one")
    store.add_grade(t1.id, grade(1, [B.BLAME], manipulative=True))
    store.add_grade(t1.id, grade(3, [B.REFLECTION], grader="llm:gpt-4o-mini"))  # the LLM's grade counts
    t2 = store.add_turn(sid, "agent", "two")
    store.add_grade(t2.id, grade(2, [B.APOLOGY]))
    store.add_grade(t2.id, TurnGrade.ungraded("llm:gpt-4o-mini", "parse failure"))  # ungraded: the local one
    t3 = store.add_turn(sid, "agent", "three", status="received")
    store.add_grade(t3.id, grade(0, [B.DISMISSAL]))
    store.set_turn_status(t3.id, "interrupted")  # left out, as the debrief leaves it out
    p = store.progress("cy")
    (last,) = p.calls
    assert (last.graded_turns, last.mean_score, last.manipulative_turns) == (2, 2.5, 0)
    counts = {b.behaviour: b.turns for b in p.behaviours}
    assert counts[B.REFLECTION] == 1 and counts[B.APOLOGY] == 1
    assert counts[B.BLAME] == 0 and counts[B.DISMISSAL] == 0


def test_techniques_used_manipulatively_count_as_manipulative_moves(store: Store) -> None:
    verdict = TurnVerdict(perspective_taking=2, techniques=[
        TechniqueUse(technique="loss_aversion", use="manipulative", evidence="I hear you"),
    ])  # fmt: skip
    call(store, "dee", [TurnGrade(status="graded", verdict=verdict, grader="local:appraiser")])
    assert store.progress("dee").calls[0].manipulative_turns == 1


def test_an_unknown_or_new_trainee_has_an_empty_progress(store: Store) -> None:
    p = store.progress("nobody")
    assert p.is_empty and p.calls == [] and p.graded_turns == 0 and p.mean_score is None
    assert all(b.turns == 0 and b.share == 0 for b in p.behaviours)
    empty = store.progress()
    assert empty.is_empty and empty.trainees == [] and empty.curve == []
    call(store, "eve", [])  # a call with no graded turn
    p = store.progress("eve")
    assert p.call_count == 1 and p.calls[0].mean_score is None and p.calls[0].graded_turns == 0


def test_csv_exports_one_row_per_trainee_or_call_and_disarms_formulas(cohort: Store) -> None:
    call(cohort, "=HYPERLINK(1)", [grade(2, [])])
    rows = list(csv.DictReader(io.StringIO(progress_csv(cohort.progress()))))
    assert [r["trainee"] for r in rows] == ["'=HYPERLINK(1)", "ann", "bob"]
    assert rows[1]["calls"] == "3" and rows[1]["mean_perspective_taking"] == "1.800"
    calls = list(csv.DictReader(io.StringIO(progress_csv(cohort.progress("ann")))))
    assert [r["outcome"] for r in calls] == ["hung_up", "resolved", IN_PROGRESS]
    assert calls[0]["manipulative_turns"] == "1" and calls[2]["session_id"]


def test_trainee_names_are_listed_sorted(cohort: Store) -> None:
    assert cohort.trainee_names() == ["ann", "bob"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_upgrade_rolls_up_calls_stored_before_it(backend: str, tmp_path: Path) -> None:
    from sqlalchemy import text

    from simulator.storage.engine import build_engine

    url = _database_url(backend, tmp_path, migrated=False)
    with Store.open(url) as old:  # calls stored, then the database put back to before 0005
        call(old, "ann", [grade(1, [B.BLAME], manipulative=True), grade(3, [B.REFLECTION])])
        call(old, "ann", [grade(2, [B.REFLECTION]), grade(4, [B.PERSPECTIVE_TAKING], grader="llm:x")])
    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE call_rollups"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0005_call_holder'"))
    engine.dispose()
    with Store.open(url) as store:
        p = store.progress("ann")
    assert [c.mean_score for c in p.calls] == [2.0, 3.0] and [c.manipulative_turns for c in p.calls] == [1, 0]
    assert {b.behaviour: b.turns for b in p.behaviours}[B.REFLECTION] == 2


def test_rollups_follow_sweeps_deletes_and_imports(store: Store) -> None:
    sid = store.create_session(trainee="fay", persona_name="dana", persona_text="x", difficulty="hard",
                               caller_model="fake", grader="local:appraiser")  # fmt: skip
    done = store.add_turn(sid, "agent", "answered")
    store.add_grade(done.id, grade(4, [B.REFLECTION]))
    store.add_turn(sid, "customer", "ok")
    stuck = store.add_turn(sid, "agent", "the app died here", status="received")
    store.add_grade(stuck.id, grade(0, [B.BLAME], manipulative=True))
    assert store.progress("fay").calls[0].graded_turns == 2
    store.sweep()  # the last turn had no reply: interrupted, so it leaves the call's progress
    (swept,) = store.progress("fay").calls
    assert (swept.graded_turns, swept.mean_score, swept.manipulative_turns) == (1, 4.0, 0)

    exported = store.export_session(sid, "json")
    assert store.delete_session(sid)
    assert store.progress("fay").is_empty and store.progress().graded_turns == 0
    store.import_session(exported)
    (back,) = store.progress("fay").calls
    assert (back.graded_turns, back.mean_score) == (1, 4.0)


def test_rebuilding_the_rollups_gives_what_the_store_kept(cohort: Store) -> None:
    before = cohort.progress()
    assert cohort.rebuild_rollups() == 4  # calls with a graded turn
    assert cohort.progress() == before
