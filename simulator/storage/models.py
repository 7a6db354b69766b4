"""The database tables (SQLAlchemy 2 ORM). Private to `simulator.storage`: callers get pydantic records.

Schema changes go through an Alembic migration in `migrations/versions/` *and* this file; the test
`test_storage_migrations.py` checks that the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from simulator.storage.text import TEXT_CANON

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON columns store SQL NULL for Python None, so "no verdict" is NULL and the CHECK below can see it.
JsonColumn = JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints predictably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Trainee(Base):
    """A person practising calls."""

    __tablename__ = "trainees"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallSession(Base):
    """One practice call. The persona text is snapshotted so an edited file never changes it."""

    __tablename__ = "sessions"
    __table_args__ = (CheckConstraint("mode IN ('coach', 'exam')", name="mode"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trainee_id: Mapped[str] = mapped_column(ForeignKey("trainees.id", ondelete="RESTRICT"), index=True)
    persona_name: Mapped[str] = mapped_column(String(200))
    persona_text: Mapped[str] = mapped_column(Text)
    persona_hash: Mapped[str] = mapped_column(String(80))
    difficulty: Mapped[str] = mapped_column(String(50))
    caller_model: Mapped[str] = mapped_column(String(200))
    grader: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(50))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """Set at creation and whenever a turn is stored; NULL (never written by the store) reads as created_at."""
    holder: Mapped[str | None] = mapped_column(String(64))
    """The token of the running copy of the call that may add turns and end it (a call continued on another
    instance or tab takes it over); NULL: any."""


class Turn(Base):
    """One utterance. Written `received` before any LLM call; `final` or `interrupted` later."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("session_id", "idx", name="uq_turns_session_idx"),
        CheckConstraint("role IN ('agent', 'customer')", name="role"),
        CheckConstraint("status IN ('received', 'final', 'interrupted')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    text_canon: Mapped[str] = mapped_column(String(64), server_default=sql_text(f"'{TEXT_CANON}'"))
    text_altered: Mapped[bool] = mapped_column(Boolean, server_default=sql_text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mood(Base):
    """The caller's mood state after a turn (one row per turn)."""

    __tablename__ = "moods"

    turn_id: Mapped[str] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True)
    anger: Mapped[float] = mapped_column(Float)
    trust: Mapped[float] = mapped_column(Float)
    entrenchment: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(50))
    fired_rules: Mapped[Any] = mapped_column(JsonColumn, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Grade(Base):
    """A grade for one turn by one grader. A graded row always has a verdict; an ungraded one never."""

    __tablename__ = "grades"
    __table_args__ = (
        UniqueConstraint("turn_id", "grader", name="uq_grades_turn_grader"),
        CheckConstraint(
            "(status = 'graded' AND verdict IS NOT NULL) OR (status = 'ungraded' AND verdict IS NULL)",
            name="verdict_iff_graded",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    turn_id: Mapped[str] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    grader: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[Any] = mapped_column(JsonColumn, nullable=True)
    tip: Mapped[str | None] = mapped_column(Text)
    better_phrasing: Mapped[str | None] = mapped_column(Text)
    integrity_flags: Mapped[Any] = mapped_column(JsonColumn, nullable=False)
    grader_version: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str | None] = mapped_column(String(200))
    schema_version: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[Any] = mapped_column(JsonColumn, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GuardEvent(Base):
    """Something a guard noticed or did (an input rejected, a reply regenerated, an integrity flag)."""

    __tablename__ = "guard_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    turn_id: Mapped[str | None] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallRollup(Base):
    """One call's graded trainee turns rolled up, for the progress views (`simulator.storage.progress`).

    The store rewrites a call's row in the same transaction as every write that changes what it sums (a
    grade stored, a turn's status changed, a call imported), so it is never stale; a call with no graded
    turn has no row. The progress views then read one row per call instead of every turn and grade.
    """

    __tablename__ = "call_rollups"

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    graded_turns: Mapped[int] = mapped_column(Integer)
    score_sum: Mapped[int] = mapped_column(Integer)
    """The sum of the perspective-taking scores (0-4) of the graded turns."""
    manipulative_turns: Mapped[int] = mapped_column(Integer)
    b_open_question: Mapped[int] = mapped_column(Integer)
    """Graded turns showing the behaviour (one column per `Behaviour`, named b_<behaviour>)."""
    b_reflection: Mapped[int] = mapped_column(Integer)
    b_validation: Mapped[int] = mapped_column(Integer)
    b_perspective_taking: Mapped[int] = mapped_column(Integer)
    b_needs_check: Mapped[int] = mapped_column(Integer)
    b_fact_confrontation: Mapped[int] = mapped_column(Integer)
    b_dismissal: Mapped[int] = mapped_column(Integer)
    b_blame: Mapped[int] = mapped_column(Integer)
    b_solution_offer: Mapped[int] = mapped_column(Integer)
    b_information: Mapped[int] = mapped_column(Integer)
    b_apology: Mapped[int] = mapped_column(Integer)
