"""Schema migrations: data written at the first revision survives the upgrade to head; models match head.

Runs on SQLite and on a throwaway PostgreSQL server (a missing server is a failure, not a skip).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg_server import PostgresUnavailable, shared_postgres
from sqlalchemy import text

from simulator.storage import TEXT_CANON, Store, migrate
from simulator.storage.engine import build_engine
from simulator.storage.migrate import current_revision, head_revision, upgrade
from simulator.storage.models import Base

FIRST = "0001_initial"
SID = "6f1c2b9e-0a51-4c1e-8d7e-3f1e2d4c5b6a"
TURN = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cooldown.db'}"
    try:
        return shared_postgres().create_database()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL parity tests need a local server: {exc}", pytrace=False)


def test_upgrade_from_first_revision_keeps_data(empty_url: str) -> None:
    engine = build_engine(empty_url)
    upgrade(engine, FIRST)
    assert current_revision(engine) == FIRST
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    stamp = now.replace(tzinfo=None) if engine.dialect.name == "sqlite" else now
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO trainees (id, name, created_at) VALUES ('t1', 'ann', :now)"), {"now": stamp})
        conn.execute(
            text(
                "INSERT INTO sessions (id, trainee_id, persona_name, persona_text, persona_hash, difficulty, "
                "caller_model, grader, mode, created_at) VALUES (:sid, 't1', 'dana', 'name: dana', 'sha256:x', "
                "'hard', 'fake', 'local:appraiser', 'exam', :now)"
            ),
            {"sid": SID, "now": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO turns (id, session_id, idx, role, text, status, created_at, updated_at) "
                "VALUES (:tid, :sid, 0, 'agent', 'Old turn 😀', 'received', :now, :now)"
            ),
            {"tid": TURN, "sid": SID, "now": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO grades (turn_id, grader, status, verdict, integrity_flags, grader_version, "
                "schema_version, created_at) VALUES (:tid, 'local:appraiser', 'graded', "
                "'{\"perspective_taking\": 2}', '[]', '1', '1', :now)"
            ),
            {"tid": TURN, "now": stamp},
        )
    engine.dispose()

    with Store.open(empty_url) as store:  # upgrades to head, then sweeps the stuck turn
        assert current_revision(store._engine) == head_revision() != FIRST
        record = store.load_session(SID)
        assert store.last_sweep is not None and store.last_sweep.interrupted == 1
    assert (record.trainee, record.mode, record.created_at) == ("ann", "exam", now)
    (turn,) = record.turns
    assert (turn.id, turn.text, turn.status) == (TURN, "Old turn 😀", "interrupted")
    assert (turn.text_canon, turn.text_altered) == (TEXT_CANON, False)
    assert turn.grades[0].verdict is not None and turn.grades[0].verdict.perspective_taking == 2


def test_models_match_the_migrated_schema(empty_url: str) -> None:
    with Store.open(empty_url) as store, store._engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], "models.py and the migrations disagree: add a migration for " + repr(diff)


def test_head_constant_matches_the_scripts() -> None:
    assert migrate.HEAD == head_revision(), "update simulator.storage.migrate.HEAD to the newest revision"


def test_reopening_an_upgraded_database_is_a_no_op(empty_url: str) -> None:
    Store.open(empty_url).close()
    with Store.open(empty_url) as store:
        assert current_revision(store._engine) == head_revision()
        assert store.integrity_check() == "ok"


REBUILD = """
from alembic import op

revision = "9999_rebuild"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("turns", recreate="always"):
        pass
"""


def test_sqlite_table_rebuild_does_not_cascade_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A future migration that rebuilds `turns` (copy, DROP, rename) must not cascade-delete grades."""
    import shutil

    from simulator.grading.labels import TurnGrade

    url = f"sqlite:///{tmp_path / 'cooldown.db'}"
    with Store.open(url) as store:
        sid = store.create_session(
            trainee="ann", persona_name="d", persona_text="x", difficulty="hard", caller_model="f", grader="g"
        )
        turn = store.add_turn(sid, "agent", "hello")
        store.add_grade(turn.id, TurnGrade.ungraded("g", "test"))
        store.add_mood(turn.id, anger=1, trust=0, entrenchment=0, label="x")
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_rebuild.py").write_text(REBUILD.replace("{head}", migrate.HEAD))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    monkeypatch.setattr(migrate, "HEAD", "9999_rebuild")
    with Store.open(url) as store:
        assert current_revision(store._engine) == "9999_rebuild"
        (loaded,) = store.load_session(sid).turns
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert [g.reason for g in loaded.grades] == ["test"] and loaded.mood is not None
