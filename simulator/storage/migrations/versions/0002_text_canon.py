"""Record on every turn how its text was canonicalised, and whether that changed it.

Rows written before this revision were canonicalised by the same rules (strip NUL, lone surrogates to
U+FFFD), so they get the scheme name; whether their text was altered is unknown and recorded as false.

Revision ID: 0002_text_canon
Revises: 0001_initial
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_text_canon"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

SCHEME_V1 = "strip-nul+lone-surrogate-fffd/1"


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild) on both backends: SQLite supports it with a constant default.
    op.add_column(
        "turns",
        sa.Column("text_canon", sa.String(64), nullable=False, server_default=sa.text(f"'{SCHEME_V1}'")),
    )
    op.add_column(
        "turns", sa.Column("text_altered", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("text_altered")
        batch.drop_column("text_canon")
