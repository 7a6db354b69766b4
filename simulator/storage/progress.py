"""How trainees are doing across calls: the progress and cohort aggregations, computed in SQL.

Every figure is a SQL aggregate that runs the same on SQLite and PostgreSQL (SQLAlchemy's portable JSON
accessors, window functions and CASE sums; no dialect-specific SQL). Python only reshapes the rows.

Two levels. `call_rollups` holds one row per call with its graded trainee turns summed (count, score sum,
manipulative turns, one count per behaviour); the store rewrites a call's row (`refresh_rollups`) in the
same transaction as every write that changes it. The views aggregate those rows (one per call, not one
per turn and grade), so at 100k stored turns a view reads ~8k call rows instead of ~55k grades joined to
their turns, and parses no JSON (docs/performance.md §7).

Which grade counts. A trainee turn may carry several grades (the local appraiser always, an LLM grader
when it is on). The one that counts is the one the debrief shows: an LLM grader's, else the local
appraiser's; ungraded grades and interrupted turns are left out, as the debrief leaves them out.

What is measured:

* per call: the mean perspective-taking score (0-4) of its graded trainee turns, and its manipulative
  moves (trainee turns graded manipulative: a technique used manipulatively, or a tactic);
* outcomes (resolved, hung up, ...; "in progress" for open calls) by persona and difficulty;
* the behaviours used (trainee turns showing each rubric behaviour), most to least;
* for a cohort: the learning curve (the mean over trainees of their 1st, 2nd, ... call) and a table with
  one row per trainee.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Float,
    Select,
    Subquery,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.schema import Table

from simulator.grading.labels import Behaviour
from simulator.storage.models import CallRollup, CallSession, Grade, Trainee, Turn

IN_PROGRESS = "in progress"
"""The outcome shown for a call that has not ended."""
MAX_CALLS = 500
"""A trainee's progress shows at most their newest this many calls (the plots stay readable)."""
MAX_CURVE = 100
"""The cohort's learning curve stops at the 100th call."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallProgress(_Record):
    """One call of a trainee, aggregated over its graded trainee turns."""

    session_id: str
    trainee: str
    started: datetime
    persona: str
    difficulty: str
    outcome: str = Field(description="How the call ended, or 'in progress'.")
    graded_turns: int
    mean_score: float | None = Field(description="Mean perspective-taking (0-4); None when no turn was graded.")
    manipulative_turns: int


class OutcomeCount(_Record):
    """How many calls with one persona at one difficulty ended one way."""

    persona: str
    difficulty: str
    outcome: str
    calls: int


class BehaviourCount(_Record):
    """How many graded trainee turns showed one rubric behaviour."""

    behaviour: Behaviour
    turns: int
    share: float = Field(description="turns / all graded turns (0 when none).")


class CurvePoint(_Record):
    """The cohort at its trainees' n-th call."""

    call_number: int = Field(description="1 = each trainee's first call.")
    trainees: int = Field(description="Trainees who have made this many calls.")
    mean_score: float | None
    manipulative_per_call: float


class TraineeSummary(_Record):
    """One row of the cohort table."""

    trainee: str
    calls: int
    graded_turns: int
    mean_score: float | None
    manipulative_turns: int
    manipulative_per_call: float
    resolved: int = Field(description="Calls that ended resolved.")
    first_call: datetime
    last_call: datetime


class Progress(_Record):
    """One trainee's progress (`trainee` set) or the whole cohort's (`trainee` None)."""

    trainee: str | None
    calls: list[CallProgress] = Field(default_factory=list, description="Oldest first; a trainee's view only.")
    curve: list[CurvePoint] = Field(default_factory=list, description="The cohort's view only.")
    outcomes: list[OutcomeCount] = Field(default_factory=list)
    behaviours: list[BehaviourCount] = Field(default_factory=list, description="Every behaviour, most used first.")
    trainees: list[TraineeSummary] = Field(default_factory=list, description="The cohort's view only.")
    graded_turns: int = 0
    mean_score: float | None = None
    manipulative_turns: int = 0
    call_count: int = 0

    @property
    def is_empty(self) -> bool:
        """True when there is no call to show."""
        return self.call_count == 0


# -- keeping the rollups current (inside the store's write transactions) -------------------------------

_SCORE = Grade.verdict["perspective_taking"].as_integer()
_MANIPULATIVE = case((Grade.verdict["manipulative"].as_boolean(), 1), else_=0)
_BEHAVIOURS = Grade.verdict["behaviours"].as_string()
"""The behaviours array as JSON text; `"name"` (quotes included) is in it exactly when the turn shows it."""
_B_COLUMNS = [f"b_{b.value}" for b in Behaviour]


def _graded_turns(scope: ColumnElement[bool] | None) -> Subquery:
    """One row per graded trainee turn in scope: its session, score, manipulative flag and behaviours.

    The grade that counts is the first in the debrief's order: LLM graders before the local appraiser, then
    by name. It is picked with NOT EXISTS (no better graded grade for the same turn), an anti-join on the
    `grades.turn_id` index.
    """
    better = aliased(Grade)
    is_llm, better_llm = Grade.grader.like("llm:%"), better.grader.like("llm:%")
    outranked = exists().where(
        better.turn_id == Grade.turn_id,
        better.status == "graded",
        better.id != Grade.id,
        or_(and_(better_llm, not_(is_llm)), and_(better_llm == is_llm, better.grader < Grade.grader)),
    )
    query = (
        select(
            Turn.session_id.label("session_id"),
            _SCORE.label("score"),
            _MANIPULATIVE.label("manipulative"),
            _BEHAVIOURS.label("behaviours"),
        )
        .join(Grade, Grade.turn_id == Turn.id)
        .where(Turn.role == "agent", Turn.status != "interrupted", Grade.status == "graded", ~outranked)
    )
    if scope is not None:
        query = query.where(scope)
    # OFFSET 0 keeps the subquery from being flattened into the aggregates over it: flattened, SQLite
    # would parse the verdict JSON again for every reference (a dozen times per row, not three).
    return query.offset(0).subquery("graded")


def _rollup_rows(scope: ColumnElement[bool] | None) -> Select[Any]:
    graded = _graded_turns(scope)
    return select(
        graded.c.session_id, func.count(), func.coalesce(func.sum(graded.c.score), 0), func.sum(graded.c.manipulative),
        *(func.sum(case((graded.c.behaviours.like(f'%"{b.value}"%'), 1), else_=0)) for b in Behaviour),
    ).group_by(graded.c.session_id)  # fmt: skip


_ROLLUP_COLUMNS = ["session_id", "graded_turns", "score_sum", "manipulative_turns", *_B_COLUMNS]
_ROLLUPS: Table = CallRollup.__table__  # type: ignore[assignment]
_DELETE_ROLLUP = delete(_ROLLUPS).where(_ROLLUPS.c.session_id == bindparam("sid"))
_INSERT_ROLLUP = insert(_ROLLUPS).from_select(_ROLLUP_COLUMNS, _rollup_rows(Turn.session_id == bindparam("sid")))
"""Built once, on the table (Core: with parameters, an ORM insert would be a bulk insert): this runs in
every grade's write transaction, where building the statement cost more than running it."""


def refresh_rollups(s: Session, session_ids: Iterable[str]) -> None:
    """Recompute the `call_rollups` rows of these calls (call inside the write that changed them)."""
    for sid in sorted(set(session_ids)):
        s.execute(_DELETE_ROLLUP, {"sid": sid})
        s.execute(_INSERT_ROLLUP, {"sid": sid})


def rebuild_rollups(s: Session) -> int:
    """Recompute every call's rollup (after rows were written around the store, e.g. a bulk load)."""
    s.execute(delete(CallRollup))
    s.execute(insert(CallRollup).from_select(_ROLLUP_COLUMNS, _rollup_rows(None)))
    return int(s.execute(select(func.count()).select_from(CallRollup)).scalar_one())


# -- reading the progress --------------------------------------------------------------------------------


def _per_call(scope: ColumnElement[bool] | None, *, behaviours: bool = False) -> Select[Any]:
    """One row per call in scope with its rollup (zeros for a call with no graded turn).

    With `behaviours`, also one `b_<behaviour>` column per behaviour: its graded turns showing it.
    """
    graded = func.coalesce(CallRollup.graded_turns, 0)
    mean = case((graded > 0, cast(CallRollup.score_sum, Float) / graded), else_=None)
    extra = [func.coalesce(getattr(CallRollup, c), 0).label(c) for c in _B_COLUMNS] if behaviours else []
    query = (
        select(
            CallSession.id.label("session_id"),
            CallSession.trainee_id.label("trainee_id"),
            Trainee.name.label("trainee"),
            CallSession.created_at.label("started"),
            CallSession.persona_name.label("persona"),
            CallSession.difficulty.label("difficulty"),
            func.coalesce(CallSession.outcome, literal(IN_PROGRESS)).label("outcome"),
            graded.label("graded_turns"),
            mean.label("mean_score"),
            func.coalesce(CallRollup.score_sum, 0).label("score_sum"),
            func.coalesce(CallRollup.manipulative_turns, 0).label("manipulative_turns"),
            *extra,
        )
        .join(Trainee, Trainee.id == CallSession.trainee_id)
        .outerjoin(CallRollup, CallRollup.session_id == CallSession.id)
    )
    return query.where(scope) if scope is not None else query


def _behaviours(s: Session, scope: ColumnElement[bool] | None) -> tuple[list[BehaviourCount], int, float | None, int]:
    """Behaviour counts, most used first, and the graded turns, mean score and manipulative turns in scope."""
    query = select(
        func.coalesce(func.sum(CallRollup.graded_turns), 0), func.sum(CallRollup.score_sum),
        func.coalesce(func.sum(CallRollup.manipulative_turns), 0),
        *(func.sum(getattr(CallRollup, c)) for c in _B_COLUMNS),
    ).join(CallSession, CallSession.id == CallRollup.session_id)  # fmt: skip
    row = s.execute(query.where(scope) if scope is not None else query).one()
    total, score_sum, manipulative = int(row[0]), row[1], int(row[2])
    mean = float(score_sum) / total if total else None
    return _behaviour_counts(row[3:], total), total, mean, manipulative


def _behaviour_counts(counts: Any, total: int) -> list[BehaviourCount]:
    """`BehaviourCount`s from sums in `Behaviour` order, most used first (ties in rubric order)."""
    found = [
        BehaviourCount(behaviour=b, turns=int(n or 0), share=(int(n or 0) / total) if total else 0.0)
        for b, n in zip(Behaviour, counts, strict=True)
    ]
    found.sort(key=lambda c: (-c.turns, list(Behaviour).index(c.behaviour)))
    return found


def _outcomes(s: Session, scope: ColumnElement[bool] | None) -> list[OutcomeCount]:
    outcome = func.coalesce(CallSession.outcome, literal(IN_PROGRESS))
    query = select(CallSession.persona_name, CallSession.difficulty, outcome, func.count())
    if scope is not None:
        query = query.where(scope)
    query = query.group_by(CallSession.persona_name, CallSession.difficulty, outcome).order_by(
        CallSession.persona_name, CallSession.difficulty, outcome
    )
    return [OutcomeCount(persona=p, difficulty=d, outcome=o, calls=n) for p, d, o, n in s.execute(query).all()]


def trainee_progress(s: Session, trainee: str) -> Progress:
    """One trainee's progress: their calls (newest `MAX_CALLS`, oldest first), outcomes, behaviours."""
    scope = CallSession.trainee_id == select(Trainee.id).where(Trainee.name == trainee).scalar_subquery()
    calls = _per_call(scope).subquery("calls")
    newest = select(calls).order_by(calls.c.started.desc(), calls.c.session_id).limit(MAX_CALLS)
    rows = list(s.execute(newest).mappings())
    rows.reverse()
    call_count = s.execute(select(func.count()).select_from(CallSession).where(scope)).scalar_one()
    behaviours, graded, mean, manipulative = _behaviours(s, scope)
    return Progress(
        trainee=trainee,
        calls=[_call(r) for r in rows],
        outcomes=_outcomes(s, scope),
        behaviours=behaviours,
        graded_turns=graded,
        mean_score=mean,
        manipulative_turns=manipulative,
        call_count=call_count,
    )


def cohort_progress(s: Session) -> Progress:
    """Every trainee together: the learning curve, outcomes, behaviours and one summary row per trainee.

    The per-trainee table also carries each trainee's behaviour counts; the cohort's totals are the sums
    of its rows.
    """
    # The curve numbers every call of every trainee (a window over all calls): only the columns it needs,
    # not `_per_call`'s, which the window carried along: ~25 % less time at 8k calls.
    rolled = func.coalesce(CallRollup.graded_turns, 0)
    number = func.row_number().over(
        partition_by=CallSession.trainee_id, order_by=(CallSession.created_at, CallSession.id)
    ).label("call_number")
    numbered = (
        select(
            number,
            case((rolled > 0, cast(CallRollup.score_sum, Float) / rolled), else_=None).label("mean_score"),
            func.coalesce(CallRollup.manipulative_turns, 0).label("manipulative_turns"),
        )
        .outerjoin(CallRollup, CallRollup.session_id == CallSession.id)
        .subquery("numbered")
    )
    curve_rows = s.execute(
        select(
            numbered.c.call_number,
            func.count(),
            func.avg(numbered.c.mean_score),
            func.avg(cast(numbered.c.manipulative_turns, Float)),
        )
        .where(numbered.c.call_number <= MAX_CURVE)
        .group_by(numbered.c.call_number)
        .order_by(numbered.c.call_number)
    ).all()
    full = _per_call(None, behaviours=True).subquery("full")
    table_rows = s.execute(
        select(
            full.c.trainee,
            func.count(),
            func.sum(full.c.graded_turns),
            func.sum(full.c.score_sum),
            func.sum(full.c.manipulative_turns),
            func.sum(case((full.c.outcome == "resolved", 1), else_=0)),
            func.min(full.c.started),
            func.max(full.c.started),
            *(func.sum(full.c[c]) for c in _B_COLUMNS),
        )
        .group_by(full.c.trainee_id, full.c.trainee)
        .order_by(full.c.trainee)
    ).all()
    trainees = [_summary(*row[:8]) for row in table_rows]
    graded = sum(t.graded_turns for t in trainees)
    score_sum = sum(int(row[3] or 0) for row in table_rows)
    behaviour_sums = [sum(int(row[8 + i] or 0) for row in table_rows) for i in range(len(Behaviour))]
    return Progress(
        trainee=None,
        curve=[_point(*row) for row in curve_rows],
        outcomes=_outcomes(s, None),
        behaviours=_behaviour_counts(behaviour_sums, graded),
        trainees=trainees,
        graded_turns=graded,
        mean_score=score_sum / graded if graded else None,
        manipulative_turns=sum(t.manipulative_turns for t in trainees),
        call_count=sum(t.calls for t in trainees),
    )


def _point(number: int, trainees: int, mean: Any, manipulative: Any) -> CurvePoint:
    return CurvePoint(
        call_number=int(number), trainees=int(trainees), mean_score=None if mean is None else float(mean),
        manipulative_per_call=float(manipulative or 0.0),
    )  # fmt: skip


def _call(row: Any) -> CallProgress:
    mean = row["mean_score"]
    return CallProgress(
        session_id=row["session_id"], trainee=row["trainee"], started=_aware(row["started"]), persona=row["persona"],
        difficulty=row["difficulty"], outcome=row["outcome"], graded_turns=int(row["graded_turns"]),
        mean_score=None if mean is None else float(mean), manipulative_turns=int(row["manipulative_turns"]),
    )  # fmt: skip


def _summary(
    trainee: str, calls: int, graded: Any, score_sum: Any, manipulative: Any, resolved: Any, first: Any, last: Any
) -> TraineeSummary:
    graded_turns = int(graded or 0)
    manipulative_turns = int(manipulative or 0)
    return TraineeSummary(
        trainee=trainee, calls=int(calls), graded_turns=graded_turns,
        mean_score=float(score_sum) / graded_turns if graded_turns else None,
        manipulative_turns=manipulative_turns, manipulative_per_call=manipulative_turns / calls if calls else 0.0,
        resolved=int(resolved or 0), first_call=_aware(first), last_call=_aware(last),
    )  # fmt: skip


def _aware(value: Any) -> datetime:
    """Aggregates and subqueries bypass the column type: SQLite hands back naive UTC (or text), PG aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- CSV ----------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (leading = + - @ quoted away)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(header: list[str], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue()


def progress_csv(progress: Progress) -> str:
    """The cohort's table (one row per trainee) or a trainee's calls (one row per call), as CSV."""
    if progress.trainee is None:
        header = ["trainee", "calls", "graded_turns", "mean_perspective_taking", "manipulative_turns",
                  "manipulative_per_call", "resolved_calls", "first_call", "last_call"]  # fmt: skip
        return _csv(header, [
            [t.trainee, t.calls, t.graded_turns, t.mean_score, t.manipulative_turns, t.manipulative_per_call,
             t.resolved, t.first_call, t.last_call]
            for t in progress.trainees
        ])  # fmt: skip
    header = ["trainee", "started", "persona", "difficulty", "outcome", "graded_turns", "mean_perspective_taking",
              "manipulative_turns", "session_id"]  # fmt: skip
    return _csv(header, [
        [c.trainee, c.started, c.persona, c.difficulty, c.outcome, c.graded_turns, c.mean_score,
         c.manipulative_turns, c.session_id]
        for c in progress.calls
    ])  # fmt: skip
