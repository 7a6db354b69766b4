"""Record when each call was last active, so calls nobody finishes can be closed as abandoned.

`last_activity_at` is set when a session is created and whenever a turn is stored; the idle sweeper
(`Store.abandon_idle`) ends open calls whose last activity is older than the idle timeout. Existing rows
are backfilled with their newest turn's time, else their start time. The column stays nullable (adding
NOT NULL would rebuild `sessions` on SQLite); the store always writes it and reads NULL as `created_at`.

Revision ID: 0004_session_activity
Revises: 0003_grade_confidence
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_session_activity"
down_revision = "0003_grade_confidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE sessions SET last_activity_at = COALESCE("
        "(SELECT MAX(turns.updated_at) FROM turns WHERE turns.session_id = sessions.id), sessions.created_at)"
    )
    op.create_index(op.f("ix_sessions_last_activity_at"), "sessions", ["last_activity_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sessions_last_activity_at"), table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("last_activity_at")
