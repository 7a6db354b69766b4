"""Record which running copy of a call holds it, so a call continued elsewhere has one voice.

A call survives its instance: when the tab that held it is gone (its app instance died, the page was
reloaded), any instance can pick the call up again from the database (`CallSession.resume`). Each copy
of a running call writes a fresh random `holder` token when it starts or picks the call up; the store
refuses new turns and the ending from any other copy (`CallTakenOver`), so an old tab that comes back
cannot interleave turns with the one that continued the call. NULL (calls stored before this revision,
and tools) holds nothing: any copy may write.

Revision ID: 0005_call_holder
Revises: 0004_session_activity
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_call_holder"
down_revision = "0004_session_activity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("holder", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("holder")
