"""Store the grader's confidence with each grade (per head, the calibrated probability it is right).

Grades written before this revision have no confidence (NULL): the mood treats them as fully confident,
which is how they were used when they were written.

Revision ID: 0003_grade_confidence
Revises: 0002_text_canon
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_grade_confidence"
down_revision = "0002_text_canon"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("grades", sa.Column("confidence", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grades") as batch:
        batch.drop_column("confidence")
