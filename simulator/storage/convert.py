"""Conversions between ORM rows and the pydantic records callers see (internal to the package)."""

from __future__ import annotations

from typing import Any, cast

from simulator.grading.labels import TurnGrade
from simulator.storage.models import CallSession, Grade, GuardEvent, Mood, Trainee, Turn
from simulator.storage.records import (
    GuardEventRecord,
    Mode,
    MoodRecord,
    SessionId,
    SessionSummary,
    Speaker,
    TraineeRecord,
    TurnRecord,
    TurnStatus,
)
from simulator.storage.text import canonical_json, canonical_optional, canonical_text


def trainee_record(row: Trainee) -> TraineeRecord:
    """A trainee row as a record."""
    return TraineeRecord(id=row.id, name=row.name, created_at=row.created_at)


def mood_record(row: Mood) -> MoodRecord:
    """A mood row as a record."""
    return MoodRecord(
        anger=row.anger,
        trust=row.trust,
        entrenchment=row.entrenchment,
        label=row.label,
        fired_rules=list(row.fired_rules or []),
        created_at=row.created_at,
    )


def grade_from_row(row: Grade) -> TurnGrade:
    """A grade row as the shared `TurnGrade` model (validated again on the way out)."""
    return TurnGrade.model_validate(
        {
            "status": row.status,
            "verdict": row.verdict,
            "tip": row.tip,
            "better_phrasing": row.better_phrasing,
            "integrity_flags": list(row.integrity_flags or []),
            "grader": row.grader,
            "grader_version": row.grader_version,
            "prompt_version": row.prompt_version,
            "schema_version": row.schema_version,
            "reason": row.reason,
            "confidence": row.confidence,
        }
    )


def canonical_grade(grade: TurnGrade) -> TurnGrade:
    """`grade` with every string canonicalised, re-validated (so the stored form is a valid TurnGrade)."""
    return TurnGrade.model_validate(canonical_json(grade.model_dump(mode="json")))


def fill_grade_row(row: Grade, grade: TurnGrade) -> None:
    """Copy a (canonical) grade onto a row."""
    row.status = grade.status
    row.verdict = None if grade.verdict is None else grade.verdict.model_dump(mode="json")
    row.tip = canonical_optional(grade.tip)
    row.better_phrasing = canonical_optional(grade.better_phrasing)
    row.integrity_flags = [canonical_text(f) for f in grade.integrity_flags]
    row.grader_version = grade.grader_version
    row.prompt_version = grade.prompt_version
    row.schema_version = grade.schema_version
    row.reason = grade.reason
    row.confidence = grade.confidence


def guard_event_record(row: GuardEvent) -> GuardEventRecord:
    """A guard-event row as a record."""
    return GuardEventRecord(turn_id=row.turn_id, kind=row.kind, detail=row.detail, created_at=row.created_at)


def turn_record(row: Turn, mood: Mood | None = None, grades: list[Grade] | None = None) -> TurnRecord:
    """A turn row (plus its mood and grades, when loaded) as a record."""
    return TurnRecord(
        id=row.id,
        session_id=SessionId(row.session_id),
        index=row.idx,
        role=cast(Speaker, row.role),
        text=row.text,
        status=cast(TurnStatus, row.status),
        text_canon=row.text_canon,
        text_altered=bool(row.text_altered),
        created_at=row.created_at,
        updated_at=row.updated_at,
        mood=None if mood is None else mood_record(mood),
        grades=[grade_from_row(g) for g in sorted(grades or [], key=lambda g: g.grader)],
    )


def session_fields(row: CallSession, trainee_name: str, turn_count: int, trainee_turns: int = 0) -> dict[str, Any]:
    """The `SessionSummary` fields of a session row."""
    return {
        "id": SessionId(row.id),
        "trainee": trainee_name,
        "persona_name": row.persona_name,
        "persona_hash": row.persona_hash,
        "difficulty": row.difficulty,
        "caller_model": row.caller_model,
        "grader": row.grader,
        "mode": cast(Mode, row.mode),
        "created_at": row.created_at,
        "ended_at": row.ended_at,
        "outcome": row.outcome,
        "outcome_reason": row.outcome_reason,
        "turn_count": turn_count,
        "trainee_turns": trainee_turns,
    }


def session_summary(row: CallSession, trainee_name: str, turn_count: int, trainee_turns: int = 0) -> SessionSummary:
    """A session row as a summary record."""
    return SessionSummary(**session_fields(row, trainee_name, turn_count, trainee_turns))
