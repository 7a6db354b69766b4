"""Initial schema: trainees, sessions, turns, moods, grades, guard events.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trainees",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trainees")),
        sa.UniqueConstraint("name", name=op.f("uq_trainees_name")),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("trainee_id", sa.String(36), nullable=False),
        sa.Column("persona_name", sa.String(200), nullable=False),
        sa.Column("persona_text", sa.Text(), nullable=False),
        sa.Column("persona_hash", sa.String(80), nullable=False),
        sa.Column("difficulty", sa.String(50), nullable=False),
        sa.Column("caller_model", sa.String(200), nullable=False),
        sa.Column("grader", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("outcome", sa.String(50), nullable=True),
        sa.Column("outcome_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.ForeignKeyConstraint(
            ["trainee_id"], ["trainees.id"], name=op.f("fk_sessions_trainee_id_trainees"), ondelete="RESTRICT"
        ),
        sa.CheckConstraint("mode IN ('coach', 'exam')", name=op.f("ck_sessions_mode")),
    )
    op.create_index(op.f("ix_sessions_trainee_id"), "sessions", ["trainee_id"])
    op.create_index(op.f("ix_sessions_created_at"), "sessions", ["created_at"])
    op.create_table(
        "turns",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turns")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_turns_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("session_id", "idx", name=op.f("uq_turns_session_idx")),
        sa.CheckConstraint("role IN ('agent', 'customer')", name=op.f("ck_turns_role")),
        sa.CheckConstraint("status IN ('received', 'final', 'interrupted')", name=op.f("ck_turns_status")),
    )
    op.create_index(op.f("ix_turns_session_id"), "turns", ["session_id"])
    op.create_table(
        "moods",
        sa.Column("turn_id", sa.String(36), nullable=False),
        sa.Column("anger", sa.Float(), nullable=False),
        sa.Column("trust", sa.Float(), nullable=False),
        sa.Column("entrenchment", sa.Float(), nullable=False),
        sa.Column("label", sa.String(50), nullable=False),
        sa.Column("fired_rules", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("turn_id", name=op.f("pk_moods")),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["turns.id"], name=op.f("fk_moods_turn_id_turns"), ondelete="CASCADE"
        ),
    )
    op.create_table(
        "grades",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("turn_id", sa.String(36), nullable=False),
        sa.Column("grader", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=True),
        sa.Column("tip", sa.Text(), nullable=True),
        sa.Column("better_phrasing", sa.Text(), nullable=True),
        sa.Column("integrity_flags", sa.JSON(), nullable=False),
        sa.Column("grader_version", sa.String(200), nullable=False),
        sa.Column("prompt_version", sa.String(200), nullable=True),
        sa.Column("schema_version", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grades")),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["turns.id"], name=op.f("fk_grades_turn_id_turns"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("turn_id", "grader", name=op.f("uq_grades_turn_grader")),
        sa.CheckConstraint(
            "(status = 'graded' AND verdict IS NOT NULL) OR (status = 'ungraded' AND verdict IS NULL)",
            name=op.f("ck_grades_verdict_iff_graded"),
        ),
    )
    op.create_index(op.f("ix_grades_turn_id"), "grades", ["turn_id"])
    op.create_table(
        "guard_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("turn_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guard_events")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_guard_events_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["turns.id"], name=op.f("fk_guard_events_turn_id_turns"), ondelete="CASCADE"
        ),
    )
    op.create_index(op.f("ix_guard_events_session_id"), "guard_events", ["session_id"])
    op.create_index(op.f("ix_guard_events_turn_id"), "guard_events", ["turn_id"])


def downgrade() -> None:
    for table in ("guard_events", "grades", "moods", "turns", "sessions", "trainees"):
        op.drop_table(table)
