"""Roll each call's graded trainee turns up into one row, so the progress views stay fast.

The progress and trainer views (issue 15 item 4) aggregated every turn and grade on each view: at 100k
stored turns that took seconds. `call_rollups` holds, per call, its graded turns, the sum of their
perspective-taking scores, its manipulative turns and one count per rubric behaviour; the store keeps
it current in the same transaction as every write that changes it. The upgrade fills it for the calls
already stored, with the rule the store uses (`simulator.storage.progress`): per trainee turn that is not
interrupted, the graded grade the debrief shows (an LLM grader's first, then by grader name).

Revision ID: 0006_call_rollups
Revises: 0005_call_holder
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_call_rollups"
down_revision = "0005_call_holder"
branch_labels = None
depends_on = None

BEHAVIOURS = ("open_question", "reflection", "validation", "perspective_taking", "needs_check",
              "fact_confrontation", "dismissal", "blame", "solution_offer", "information", "apology")  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "call_rollups",
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("graded_turns", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Integer(), nullable=False),
        sa.Column("manipulative_turns", sa.Integer(), nullable=False),
        *(sa.Column(f"b_{b}", sa.Integer(), nullable=False) for b in BEHAVIOURS),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_call_rollups_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_call_rollups")),
    )
    turns = sa.table("turns", sa.column("id"), sa.column("session_id"), sa.column("role"), sa.column("status"))
    grades = sa.table("grades", sa.column("id"), sa.column("turn_id"), sa.column("grader"), sa.column("status"),
                      sa.column("verdict", sa.JSON()))  # fmt: skip
    better = grades.alias("better")
    is_llm, better_llm = grades.c.grader.like("llm:%"), better.c.grader.like("llm:%")
    outranked = sa.exists().where(
        better.c.turn_id == grades.c.turn_id, better.c.status == "graded", better.c.id != grades.c.id,
        sa.or_(sa.and_(better_llm, sa.not_(is_llm)), sa.and_(better_llm == is_llm, better.c.grader < grades.c.grader)),
    )  # fmt: skip
    graded = (
        sa.select(
            turns.c.session_id,
            grades.c.verdict["perspective_taking"].as_integer().label("score"),
            sa.case((grades.c.verdict["manipulative"].as_boolean(), 1), else_=0).label("manipulative"),
            grades.c.verdict["behaviours"].as_string().label("behaviours"),
        )
        .join(grades, grades.c.turn_id == turns.c.id)
        .where(turns.c.role == "agent", turns.c.status != "interrupted", grades.c.status == "graded", ~outranked)
        .offset(0)
        .subquery("graded")
    )
    rollup = sa.select(
        graded.c.session_id, sa.func.count(), sa.func.coalesce(sa.func.sum(graded.c.score), 0),
        sa.func.sum(graded.c.manipulative),
        *(sa.func.sum(sa.case((graded.c.behaviours.like(f'%"{b}"%'), 1), else_=0)) for b in BEHAVIOURS),
    ).group_by(graded.c.session_id)  # fmt: skip
    target = sa.table("call_rollups", *(sa.column(c) for c in
                      ("session_id", "graded_turns", "score_sum", "manipulative_turns", *(f"b_{b}" for b in BEHAVIOURS))))  # fmt: skip
    op.execute(target.insert().from_select(list(target.c.keys()), rollup))


def downgrade() -> None:
    op.drop_table("call_rollups")
