"""`Store`: the one way Cooldown reads and writes sessions, turns, moods, grades and guard events.

Every write is its own short transaction that is committed before the method returns, so the caller
can rely on "returned ⇒ durable" (SQLite WAL + synchronous=FULL). Writes that hit lock contention are
retried a few times with backoff; "database is locked" is never surfaced under normal load. Every
string is canonicalised (`simulator.storage.text`) before it is stored, identically on every backend.

The store is thread-safe: one engine (connection pool) per store and a new ORM session per call, with
no per-call state on the instance. From async code call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

from pydantic import JsonValue, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, Engine, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from simulator.errors import CallTakenOver, StorageError
from simulator.grading.labels import TurnGrade
from simulator.storage import convert
from simulator.storage.engine import (
    WRITE_OPTION,
    PoolSettings,
    build_engine,
    check_connection,
    is_retryable,
    redact,
    resolve_url,
)
from simulator.storage.export import ExportFormat, render
from simulator.storage.migrate import is_current, upgrade
from simulator.storage.models import CallRollup, CallSession, Grade, GuardEvent, Mood, Trainee, Turn, utcnow
from simulator.storage.progress import Progress, cohort_progress, rebuild_rollups, refresh_rollups, trainee_progress
from simulator.storage.records import (
    GuardEventRecord,
    IdleSweepReport,
    Mode,
    MoodRecord,
    SessionId,
    SessionRecord,
    SessionSummary,
    Speaker,
    SweepReport,
    TraineeRecord,
    TurnRecord,
    TurnStatus,
)
from simulator.storage.text import TEXT_CANON, canonical_json, canonical_text, persona_content_hash

T = TypeVar("T")

WRITE_ATTEMPTS = 6
_ROLES = ("agent", "customer")
_STATUSES = ("received", "final", "interrupted")
_MODES = ("coach", "exam")
_FIRED_RULES = TypeAdapter(list[JsonValue])
IDLE_REASON = "timed out: no activity for {minutes} minutes (idle timeout {seconds} s)"
"""`outcome_reason` of a call the idle sweeper ended."""
_LAST_ACTIVITY = func.coalesce(CallSession.last_activity_at, CallSession.created_at)
_AGENT_TURNS = func.sum(case((Turn.role == "agent", 1), else_=0))
"""In a query over turns: how many are the trainee's (the rest are the caller's)."""


def _uuid(value: str | uuid.UUID, what: str) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise StorageError(f"{what} {value!r} is not a valid id (expected a UUID).") from None


def _bounded(value: str, what: str, limit: int) -> str:
    value = canonical_text(value)
    if not value.strip():
        raise StorageError(f"{what} must not be empty.")
    if len(value) > limit:
        raise StorageError(f"{what} is {len(value)} characters long; the limit is {limit}.")
    return value


def _choice(value: str, what: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise StorageError(f"{what} {value!r} is not one of {', '.join(allowed)}.")
    return value


class _MoodValues(NamedTuple):
    anger: float
    trust: float
    entrenchment: float
    label: str
    fired_rules: str


def _mood_values(
    anger: float, trust: float, entrenchment: float, label: str, fired_rules: Sequence[JsonValue]
) -> _MoodValues:
    for what, value in (("anger", anger), ("trust", trust), ("entrenchment", entrenchment)):
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise StorageError(f"Mood {what} must be a finite number, got {value!r}.")
    label = _bounded(label, "Mood label", 50)
    try:
        rules = canonical_json(_FIRED_RULES.validate_python(list(fired_rules)))
    except ValidationError as exc:
        raise StorageError(f"fired_rules must be JSON values: {exc}") from exc
    return _MoodValues(float(anger), float(trust), float(entrenchment), label, rules)


def _check_holder(row: CallSession, holder: str | None) -> None:
    if holder is not None and row.holder is not None and row.holder != holder:
        raise CallTakenOver(
            "This call was continued in another window or on another server, so this page can no longer add to "
            "it. Carry on there, or press Continue your call here to pick it up on this page."
        )


class Appraisal(NamedTuple):
    """What `Store.record_appraisal` stored: the grade, the mood and the turn, as records."""

    grade: TurnGrade
    mood: MoodRecord
    turn: TurnRecord


class Store:
    """Durable storage for practice calls. Create with `Store.open(...)`; close with `close()` or `with`.

    Attributes:
        url: The database URL (password hidden).
        backend: 'sqlite' or 'postgresql'.
        last_sweep: What the sweeper did when the store was opened (None if it did not run).
        last_idle_sweep: What the idle sweeper did when the store was opened (None if it did not run).
        upgraded: True when opening this store upgraded the schema (False if it was current, or another
            instance upgraded it first).
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine built by `simulator.storage.engine.build_engine`. Prefer `Store.open`."""
        self._engine = engine
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(bind=engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)
        self.url = engine.url.render_as_string(hide_password=True)
        self.backend = engine.dialect.name
        self.last_sweep: SweepReport | None = None
        self.last_idle_sweep: IdleSweepReport | None = None
        self.upgraded = False

    @classmethod
    def open(
        cls,
        url: str | None = None,
        data_dir: Path | None = None,
        *,
        migrate: bool = True,
        sweep_stale_after: float | None = 0.0,
        idle_timeout_s: float | None = None,
        pool: PoolSettings | None = None,
    ) -> Store:
        """Open (creating and upgrading if needed) the database.

        Args:
            url: Any SQLAlchemy URL. Default `sqlite:///<data_dir>/cooldown.db`.
            data_dir: Where the default SQLite file lives. Default `$COOLDOWN_DATA_DIR`, else the
                platform user data directory for "cooldown".
            migrate: Upgrade the schema to the newest revision (Alembic) before use.
            sweep_stale_after: Run the sweeper (`sweep`) on turns left `received` in calls quiet for at
                least this many seconds (0 = all of them: the only instance restarting after a crash).
                The app passes COOLDOWN_STALE_TURN_S, so a starting instance leaves alone the turns
                other live instances are working on. None skips the sweep.
            idle_timeout_s: Also end open calls idle this long as abandoned (`abandon_idle`); None skips it.
            pool: Connection pool sizes and wait for PostgreSQL (default `PoolSettings()`).

        Raises:
            StorageError: The database cannot be reached, created or upgraded.
        """
        engine = build_engine(resolve_url(url, data_dir), pool)
        store = cls(engine)
        try:
            check_connection(engine)
            if migrate and not is_current(engine):
                store.upgraded = upgrade(engine)
            if sweep_stale_after is not None:
                store.last_sweep = store.sweep(stale_after=sweep_stale_after)
            if idle_timeout_s is not None:
                store.last_idle_sweep = store.abandon_idle(idle_timeout_s)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StorageError(
                f"Cannot open the database at {store.url}: {redact(engine.url, str(exc))}. Check that the "
                "server is running, the path is writable and the URL is right (setting COOLDOWN_DATABASE_URL)."
            ) from exc
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Release all pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------

    def _write_tx(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in one write transaction, committed before returning; retry on lock contention."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self._write() as session, session.begin():
                    return fn(session)
            except PoolTimeout as exc:
                raise self._busy(exc) from exc
            except IntegrityError as exc:
                # Usually a concurrent writer won a unique race (same trainee name, same id): one retry
                # re-reads the state. A second refusal is a real constraint violation.
                if attempt >= 2:
                    raise StorageError(
                        f"The database refused the write: {exc.orig}. This is a bug in the caller or "
                        "in Cooldown's storage; please report it with the message above."
                    ) from exc
            except SQLAlchemyError as exc:
                if not is_retryable(exc) or attempt == WRITE_ATTEMPTS:
                    raise StorageError(
                        f"Could not write to {self.url}: {exc}. Check disk space and permissions, and "
                        "that no other program holds a long write lock on the database."
                    ) from exc
            time.sleep(min(1.0, 0.02 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def _busy(self, exc: PoolTimeout) -> StorageError:
        pool = self._engine.pool
        busy = f"all {pool.checkedout()} connections" if isinstance(pool, QueuePool) else "every connection"
        waited = f" within {pool.timeout():g} s" if isinstance(pool, QueuePool) else ""
        return StorageError(
            f"The database at {self.url} is busy: {busy} of this app are in use and none came free{waited}. "
            "Please try again in a moment. If this keeps happening, raise COOLDOWN_DB_POOL_SIZE / "
            "COOLDOWN_DB_MAX_OVERFLOW (within the server's max_connections) or COOLDOWN_DB_POOL_TIMEOUT_S."
        )

    def _read_tx(self, fn: Callable[[Session], T]) -> T:
        try:
            with self._read() as session, session.begin():
                return fn(session)
        except PoolTimeout as exc:
            raise self._busy(exc) from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"Could not read from {self.url}: {exc}") from exc

    @staticmethod
    def _session_row(session: Session, session_id: str, *, lock: bool = False) -> CallSession:
        query = select(CallSession).where(CallSession.id == session_id)
        row = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
        if row is None:
            raise StorageError(f"No session {session_id}; list sessions with `cooldown sessions list`.")
        return row

    @staticmethod
    def _turn_row(session: Session, turn_id: str, *, lock: bool = False) -> Turn:
        query = select(Turn).where(Turn.id == turn_id)
        row = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
        if row is None:
            raise StorageError(f"No turn {turn_id}: store the turn with add_turn first.")
        return row

    @staticmethod
    def _trainee_row(session: Session, name: str) -> Trainee:
        row = session.execute(select(Trainee).where(Trainee.name == name)).scalar_one_or_none()
        if row is None:
            row = Trainee(id=str(uuid.uuid4()), name=name, created_at=utcnow())
            session.add(row)
            session.flush()
        return row

    # -- trainees and sessions --------------------------------------------------------------------

    def get_or_create_trainee(self, name: str) -> TraineeRecord:
        """The trainee called `name`, created if new (names are unique, canonicalised, ≤ 200 chars)."""
        name = _bounded(name, "Trainee name", 200)
        return self._write_tx(lambda s: convert.trainee_record(self._trainee_row(s, name)))

    def create_session(
        self,
        *,
        trainee: str,
        persona_name: str,
        persona_text: str,
        difficulty: str,
        caller_model: str,
        grader: str,
        mode: Mode = "coach",
        session_id: str | None = None,
        holder: str | None = None,
    ) -> SessionId:
        """Start a session, snapshotting the persona file text and its content hash.

        Args:
            trainee: The trainee's name (created if new).
            persona_name: The persona's name in the library.
            persona_text: The persona file's full text, stored as the session's snapshot.
            difficulty: The difficulty the call runs at.
            caller_model: A label for the model playing the caller (e.g. 'local:qwen2.5-3b').
            grader: The grader's name (e.g. 'local:appraiser').
            mode: 'coach' (feedback after each turn) or 'exam' (feedback at the end).
            session_id: Use this id instead of a new random UUID.
            holder: The token of the running copy of the call that holds it (see `claim_session`).
        """
        values = {
            "persona_name": _bounded(persona_name, "Persona name", 200),
            "persona_text": canonical_text(persona_text),
            "difficulty": _bounded(difficulty, "Difficulty", 50),
            "caller_model": _bounded(caller_model, "Caller model label", 200),
            "grader": _bounded(grader, "Grader name", 200),
            "mode": _choice(mode, "Mode", _MODES),
        }
        values["persona_hash"] = persona_content_hash(values["persona_text"])
        name = _bounded(trainee, "Trainee name", 200)
        sid = _uuid(session_id, "Session id") if session_id else str(uuid.uuid4())

        def write(s: Session) -> SessionId:
            if s.get(CallSession, sid) is not None:
                raise StorageError(f"Session {sid} already exists.")
            trainee_row = self._trainee_row(s, name)
            now = utcnow()
            s.add(
                CallSession(
                    id=sid, trainee_id=trainee_row.id, created_at=now, last_activity_at=now, holder=holder, **values
                )
            )
            return SessionId(sid)

        return self._write_tx(write)

    def end_session(
        self, session_id: str, outcome: str, reason: str | None = None, *, holder: str | None = None
    ) -> SessionSummary:
        """Record how the call ended. Repeating the same call is a no-op; a different outcome is an error.

        With `holder`, only the copy of the call holding it may end it (`CallTakenOver` otherwise).
        """
        sid = _uuid(session_id, "Session id")
        outcome = _bounded(outcome, "Outcome", 50)
        reason = None if reason is None else canonical_text(reason)

        def write(s: Session) -> SessionSummary:
            row = self._session_row(s, sid, lock=True)
            if row.ended_at is not None:
                if (row.outcome, row.outcome_reason) != (outcome, reason):
                    raise StorageError(
                        f"Session {sid} already ended with outcome {row.outcome!r}; it cannot end twice."
                    )
            else:
                _check_holder(row, holder)
                row.ended_at, row.outcome, row.outcome_reason = utcnow(), outcome, reason
                s.flush()
            return self._summary(s, row)

        return self._write_tx(write)

    @staticmethod
    def _summary(s: Session, row: CallSession) -> SessionSummary:
        name = s.execute(select(Trainee.name).where(Trainee.id == row.trainee_id)).scalar_one()
        count, agent = s.execute(
            select(func.count(), _AGENT_TURNS).select_from(Turn).where(Turn.session_id == row.id)
        ).one()
        return convert.session_summary(row, name, count, agent or 0)

    def list_sessions(
        self, trainee: str | None = None, *, limit: int | None = None, open_only: bool = False
    ) -> list[SessionSummary]:
        """Sessions, newest first, optionally only one trainee's, optionally only calls still open."""
        counts = (
            select(Turn.session_id, func.count().label("n"), _AGENT_TURNS.label("agent"))
            .group_by(Turn.session_id)
            .subquery()
        )
        query = (
            select(CallSession, Trainee.name, func.coalesce(counts.c.n, 0), func.coalesce(counts.c.agent, 0))
            .join(Trainee, Trainee.id == CallSession.trainee_id)
            .outerjoin(counts, counts.c.session_id == CallSession.id)
            .order_by(CallSession.created_at.desc(), CallSession.id)
        )
        if trainee is not None:
            query = query.where(Trainee.name == canonical_text(trainee))
        if open_only:
            query = query.where(CallSession.ended_at.is_(None))
        if limit is not None:
            query = query.limit(limit)
        return self._read_tx(
            lambda s: [convert.session_summary(r, n, c, a) for r, n, c, a in s.execute(query).all()]
        )

    def claim_session(self, session_id: str, holder: str) -> None:
        """Make `holder` (a running copy of the call, picking it up) the only one that may add turns and end it.

        The copy that held the call before (a tab whose instance died, or one left open elsewhere) is
        refused from then on (`CallTakenOver`), so one call never has two voices.

        Raises:
            StorageError: No such session, or it has ended.
        """
        sid = _uuid(session_id, "Session id")
        holder = _bounded(holder, "Holder", 64)

        def write(s: Session) -> None:
            row = self._session_row(s, sid, lock=True)
            if row.ended_at is not None:
                raise StorageError(f"Session {sid} has ended ({row.outcome}); start a new call.")
            row.holder = holder

        self._write_tx(write)

    def open_call(self, trainee: str) -> SessionSummary | None:
        """The trainee's newest call that has not ended (to offer "continue your call"), or None."""
        found = self.list_sessions(trainee, limit=1, open_only=True)
        return found[0] if found else None

    def progress(self, trainee: str | None = None) -> Progress:
        """One trainee's progress across calls, or (None) the whole cohort's; aggregated in SQL.

        See `simulator.storage.progress` for what is measured and which grade counts.
        """
        if trainee is None:
            return self._read_tx(cohort_progress)
        name = canonical_text(trainee)
        return self._read_tx(lambda s: trainee_progress(s, name))

    def rebuild_rollups(self) -> int:
        """Recompute every call's progress rollup; returns the calls with graded turns.

        The store keeps the rollups current by itself; this is for rows written around it (a bulk load).
        """
        return self._write_tx(rebuild_rollups)

    def trainee_names(self) -> list[str]:
        """Every trainee's name, sorted."""
        return self._read_tx(lambda s: list(s.execute(select(Trainee.name).order_by(Trainee.name)).scalars()))

    def load_session(self, session_id: str) -> SessionRecord:
        """Everything about a session: persona snapshot, turns with moods and grades, guard events."""
        sid = _uuid(session_id, "Session id")

        def read(s: Session) -> SessionRecord:
            row = self._session_row(s, sid)
            name = s.execute(select(Trainee.name).where(Trainee.id == row.trainee_id)).scalar_one()
            turns = list(s.execute(select(Turn).where(Turn.session_id == sid).order_by(Turn.idx)).scalars())
            mood_rows = s.execute(select(Mood).join(Turn, Turn.id == Mood.turn_id).where(Turn.session_id == sid))
            moods = {m.turn_id: m for m in mood_rows.scalars()}
            grades: dict[str, list[Grade]] = {}
            grade_rows = s.execute(select(Grade).join(Turn, Turn.id == Grade.turn_id).where(Turn.session_id == sid))
            for g in grade_rows.scalars():
                grades.setdefault(g.turn_id, []).append(g)
            events = s.execute(select(GuardEvent).where(GuardEvent.session_id == sid).order_by(GuardEvent.id)).scalars()
            return SessionRecord(
                **convert.session_fields(row, name, len(turns), sum(t.role == "agent" for t in turns)),
                persona_text=row.persona_text,
                turns=[convert.turn_record(t, moods.get(t.id), grades.get(t.id)) for t in turns],
                guard_events=[convert.guard_event_record(e) for e in events],
            )

        return self._read_tx(read)

    def delete_session(self, session_id: str) -> bool:
        """Delete a session and everything in it (turns, moods, grades, guard events). False if absent."""
        sid = _uuid(session_id, "Session id")

        def write(s: Session) -> bool:
            turn_ids = select(Turn.id).where(Turn.session_id == sid)
            # Explicit deletes as well as ON DELETE CASCADE, so deletion never depends on FK enforcement.
            s.execute(delete(GuardEvent).where(GuardEvent.session_id == sid))
            s.execute(delete(CallRollup).where(CallRollup.session_id == sid))
            s.execute(delete(Grade).where(Grade.turn_id.in_(turn_ids)))
            s.execute(delete(Mood).where(Mood.turn_id.in_(turn_ids)))
            s.execute(delete(Turn).where(Turn.session_id == sid))
            return bool(s.execute(delete(CallSession).where(CallSession.id == sid)).rowcount)  # type: ignore[attr-defined]

        return self._write_tx(write)

    def export_session(self, session_id: str, fmt: ExportFormat = "md", *, redact: bool = False) -> str:
        """The session as Markdown ('md') or round-trippable JSON ('json'); `redact` removes PII first."""
        return render(self.load_session(session_id), fmt, redact=redact)

    def import_session(self, exported: str | SessionRecord) -> SessionId:
        """Store a session from its JSON export (ids and timestamps kept). The id must not exist yet.

        Raises:
            StorageError: The JSON is not a valid export, its persona hash does not match its persona
                text, or the session already exists.
        """
        try:
            record = exported if isinstance(exported, SessionRecord) else SessionRecord.model_validate_json(exported)
        except ValidationError as exc:
            raise StorageError(f"Not a Cooldown session export: {exc}") from exc
        if persona_content_hash(record.persona_text) != record.persona_hash:
            raise StorageError("The export's persona_hash does not match its persona_text; it was edited.")
        name = _bounded(record.trainee, "Trainee name", 200)

        def write(s: Session) -> SessionId:
            if s.get(CallSession, record.id) is not None:
                raise StorageError(f"Session {record.id} already exists; delete it first to re-import.")
            s.add(
                CallSession(
                    id=record.id,
                    trainee_id=self._trainee_row(s, name).id,
                    persona_name=record.persona_name,
                    persona_text=canonical_text(record.persona_text),
                    persona_hash=record.persona_hash,
                    difficulty=record.difficulty,
                    caller_model=record.caller_model,
                    grader=record.grader,
                    mode=record.mode,
                    created_at=record.created_at,
                    ended_at=record.ended_at,
                    outcome=record.outcome,
                    outcome_reason=record.outcome_reason,
                    last_activity_at=max([record.created_at, *(t.updated_at for t in record.turns)]),
                )
            )
            s.flush()
            for t in record.turns:
                s.add(
                    Turn(
                        id=t.id,
                        session_id=record.id,
                        idx=t.index,
                        role=t.role,
                        text=canonical_text(t.text),
                        status=t.status,
                        text_canon=t.text_canon,
                        text_altered=t.text_altered,
                        created_at=t.created_at,
                        updated_at=t.updated_at,
                    )
                )
            s.flush()
            for t in record.turns:
                if t.mood is not None:
                    m = t.mood
                    s.add(
                        Mood(
                            turn_id=t.id,
                            anger=m.anger,
                            trust=m.trust,
                            entrenchment=m.entrenchment,
                            label=m.label,
                            fired_rules=canonical_json(m.fired_rules),
                            created_at=m.created_at,
                        )
                    )
                for g in t.grades:
                    row = Grade(turn_id=t.id, grader=g.grader, created_at=t.updated_at)
                    convert.fill_grade_row(row, convert.canonical_grade(g))
                    s.add(row)
            for e in record.guard_events:
                s.add(
                    GuardEvent(
                        session_id=record.id,
                        turn_id=e.turn_id,
                        kind=e.kind,
                        detail=e.detail,
                        created_at=e.created_at,
                    )
                )
            s.flush()
            refresh_rollups(s, [record.id])
            return SessionId(record.id)

        return self._write_tx(write)

    # -- turns ------------------------------------------------------------------------------------

    def add_turn(
        self,
        session_id: str,
        role: Speaker,
        text: str,
        *,
        turn_id: str | None = None,
        status: TurnStatus = "final",
        holder: str | None = None,
    ) -> TurnRecord:
        """Append a turn and commit it before returning.

        Idempotent by `turn_id`: if a turn with that id exists (a retried handler), the stored turn is
        returned unchanged and nothing is added; it must be the same session, role and canonical text.

        Args:
            session_id: The session to add to (must not have ended, unless the turn already exists).
            role: 'agent' (the trainee) or 'customer' (the caller persona).
            text: The text; stored canonicalised (`text_altered` says whether that changed it).
            turn_id: A UUID chosen by the caller (recommended, so retries are idempotent); new if None.
            status: 'received' for a trainee turn about to be processed, 'final' or 'interrupted'.
            holder: The running copy of the call adding it: refused (`CallTakenOver`) unless it holds the call.
        """
        sid = _uuid(session_id, "Session id")
        tid = _uuid(turn_id, "Turn id") if turn_id else str(uuid.uuid4())
        role = _choice(role, "Role", _ROLES)  # type: ignore[assignment]
        status = _choice(status, "Turn status", _STATUSES)  # type: ignore[assignment]
        canon = canonical_text(text)

        def write(s: Session) -> TurnRecord:
            session_row = self._session_row(s, sid, lock=True)  # serialises index allocation
            existing = s.get(Turn, tid)
            if existing is not None:
                if (existing.session_id, existing.role, existing.text) != (sid, role, canon):
                    raise StorageError(f"Turn id {tid} is already used by a different turn; use a new id for new text.")
                return convert.turn_record(existing)
            if session_row.ended_at is not None:
                raise StorageError(f"Session {sid} has ended ({session_row.outcome}); start a new session.")
            _check_holder(session_row, holder)
            index = s.execute(
                select(func.coalesce(func.max(Turn.idx) + 1, 0)).where(Turn.session_id == sid)
            ).scalar_one()
            now = utcnow()
            row = Turn(
                id=tid,
                session_id=sid,
                idx=index,
                role=role,
                text=canon,
                status=status,
                text_canon=TEXT_CANON,
                text_altered=canon != text,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            session_row.last_activity_at = now
            s.flush()
            return convert.turn_record(row)

        return self._write_tx(write)

    def set_turn_status(self, turn_id: str, status: TurnStatus) -> TurnRecord:
        """Move a turn to `final` or `interrupted` (a turn never goes back to `received`)."""
        tid = _uuid(turn_id, "Turn id")
        status = _choice(status, "Turn status", _STATUSES)  # type: ignore[assignment]
        return self._write_tx(lambda s: self._write_status(s, tid, status))

    @staticmethod
    def _write_status(s: Session, tid: str, status: str, *, rollup: bool = True) -> TurnRecord:
        row = Store._turn_row(s, tid, lock=True)
        if status == "received" and row.status != "received":
            raise StorageError(f"Turn {tid} is {row.status!r}; it cannot go back to 'received'.")
        if row.status != status:
            row.status, row.updated_at = status, utcnow()
            s.flush()
            if rollup and row.role == "agent":
                refresh_rollups(s, [row.session_id])  # an interrupted turn leaves the call's progress
        return convert.turn_record(row)

    def add_mood(
        self,
        turn_id: str,
        *,
        anger: float,
        trust: float,
        entrenchment: float,
        label: str,
        fired_rules: Sequence[JsonValue] = (),
    ) -> MoodRecord:
        """Store the mood state after a turn (replacing any earlier one for that turn)."""
        tid = _uuid(turn_id, "Turn id")
        values = _mood_values(anger, trust, entrenchment, label, fired_rules)
        return self._write_tx(lambda s: self._write_mood(s, tid, values))

    @staticmethod
    def _write_mood(s: Session, tid: str, values: _MoodValues) -> MoodRecord:
        Store._turn_row(s, tid, lock=True)
        row = s.get(Mood, tid)
        if row is None:
            row = Mood(turn_id=tid)
            s.add(row)
        row.anger, row.trust, row.entrenchment = values.anger, values.trust, values.entrenchment
        row.label, row.fired_rules, row.created_at = values.label, values.fired_rules, utcnow()
        s.flush()
        return convert.mood_record(row)

    @staticmethod
    def prepare_grade(grade: TurnGrade) -> TurnGrade:
        """The grade exactly as `add_grade` would store it (validated, canonicalised); no I/O.

        Raises:
            StorageError: The grade is invalid and would be refused.
        """
        try:
            stored = convert.canonical_grade(TurnGrade.model_validate(grade.model_dump()))
        except ValidationError as exc:
            raise StorageError(f"Refusing to store an invalid grade: {exc}") from exc
        _bounded(stored.grader, "Grader name", 200)
        return stored

    def add_grade(self, turn_id: str, grade: TurnGrade) -> TurnGrade:
        """Store a trainee turn's grade, replacing that grader's earlier grade for the turn.

        Atomic: the grade row and the turn's `updated_at` change in one transaction, and the database
        refuses a `graded` row without a verdict, so a half-written grade never appears. Returns the
        grade as stored (canonicalised).
        """
        tid = _uuid(turn_id, "Turn id")
        stored = self.prepare_grade(grade)
        return self._write_tx(lambda s: self._write_grade(s, tid, stored))

    def _write_grade(self, s: Session, tid: str, stored: TurnGrade, *, rollup: bool = True) -> TurnGrade:
        grader = canonical_text(stored.grader)
        turn = self._turn_row(s, tid, lock=True)
        if turn.role != "agent":
            raise StorageError(f"Turn {tid} is the caller's; only trainee ('agent') turns are graded.")
        row = s.execute(select(Grade).where(Grade.turn_id == tid, Grade.grader == grader)).scalar_one_or_none()
        if row is None:
            row = Grade(turn_id=tid, grader=grader)
            s.add(row)
        convert.fill_grade_row(row, stored)
        row.created_at = utcnow()
        s.flush()
        turn.updated_at = row.created_at
        s.flush()
        if rollup:
            refresh_rollups(s, [turn.session_id])
        return convert.grade_from_row(row)

    def record_appraisal(
        self,
        turn_id: str,
        grade: TurnGrade,
        *,
        anger: float,
        trust: float,
        entrenchment: float,
        label: str,
        fired_rules: Sequence[JsonValue] = (),
        status: TurnStatus = "final",
    ) -> Appraisal:
        """Store a trainee turn's local grade, the mood after it and its new status in ONE transaction.

        The same rows as `add_grade` + `add_mood` + `set_turn_status`, but one commit (one fsync)
        instead of three: all of it is stored, or (on any error) none of it.

        Raises:
            StorageError: Invalid values (nothing is written), an unknown or caller turn, or the write
                failed (nothing is written).
        """
        tid = _uuid(turn_id, "Turn id")
        stored = self.prepare_grade(grade)
        values = _mood_values(anger, trust, entrenchment, label, fired_rules)
        status = _choice(status, "Turn status", _STATUSES)  # type: ignore[assignment]

        def write(s: Session) -> Appraisal:
            saved = self._write_grade(s, tid, stored, rollup=False)
            mood = self._write_mood(s, tid, values)
            turn = self._write_status(s, tid, status, rollup=False)
            refresh_rollups(s, [turn.session_id])  # once for the grade and the status
            return Appraisal(grade=saved, mood=mood, turn=turn)

        return self._write_tx(write)

    def turns_missing_grade(self, grader: str, *, session_id: str | None = None) -> list[TurnRecord]:
        """Trainee turns with no grade from `grader` (for the re-grade job), oldest first."""
        graded = select(Grade.turn_id).where(Grade.grader == grader)
        query = select(Turn).where(Turn.role == "agent", Turn.id.not_in(graded))
        if session_id is not None:
            query = query.where(Turn.session_id == _uuid(session_id, "Session id"))
        query = query.order_by(Turn.created_at, Turn.session_id, Turn.idx)
        return self._read_tx(lambda s: [convert.turn_record(t) for t in s.execute(query).scalars()])

    def add_guard_event(
        self, session_id: str, kind: str, detail: str = "", *, turn_id: str | None = None
    ) -> GuardEventRecord:
        """Record something a guard noticed or did (kind e.g. 'input_rejected', 'reply_regenerated')."""
        sid = _uuid(session_id, "Session id")
        tid = _uuid(turn_id, "Turn id") if turn_id else None
        kind = _bounded(kind, "Guard event kind", 100)
        detail = canonical_text(detail)

        def write(s: Session) -> GuardEventRecord:
            self._session_row(s, sid)
            if tid is not None and self._turn_row(s, tid).session_id != sid:
                raise StorageError(f"Turn {tid} does not belong to session {sid}.")
            row = GuardEvent(session_id=sid, turn_id=tid, kind=kind, detail=detail, created_at=utcnow())
            s.add(row)
            s.flush()
            return convert.guard_event_record(row)

        return self._write_tx(write)

    # -- maintenance ------------------------------------------------------------------------------

    def sweep(self, *, stale_after: float = 0.0) -> SweepReport:
        """Settle turns left `received` by a crash: `interrupted` if nothing followed, else `final`.

        With several instances on one database, a turn another instance is working on is `received`
        too, for the moment between storing it and committing its appraisal. So only calls with no
        activity (no stored turn) for `stale_after` seconds are touched: a live instance settles its
        own turn within seconds, so a call quiet for longer than that has no live turn in flight.

        Args:
            stale_after: Only touch turns of calls whose last activity, and the turn itself, are at
                least this many seconds old (0 = every `received` turn: one instance restarting alone).
        """
        cutoff = utcnow() - timedelta(seconds=stale_after)
        quiet = select(CallSession.id).where(_LAST_ACTIVITY <= cutoff)
        return self._write_tx(
            lambda s: self._settle_received(s, (Turn.created_at <= cutoff) & Turn.session_id.in_(quiet))
        )

    @staticmethod
    def _settle_received(s: Session, condition: ColumnElement[bool]) -> SweepReport:
        stuck = list(
            s.execute(select(Turn.id, Turn.session_id, Turn.idx).where(Turn.status == "received", condition)).all()
        )
        interrupted = finalised = 0
        now = utcnow()
        for tid, sid, idx in stuck:
            replied = s.execute(
                select(func.count()).select_from(Turn).where(Turn.session_id == sid, Turn.idx > idx)
            ).scalar_one()
            new_status = "final" if replied else "interrupted"
            s.execute(update(Turn).where(Turn.id == tid).values(status=new_status, updated_at=now))
            if replied:
                finalised += 1
            else:
                interrupted += 1
        if stuck:
            refresh_rollups(s, [sid for _, sid, _ in stuck])
        return SweepReport(interrupted=interrupted, finalised=finalised)

    def abandon_idle(self, idle_timeout_s: float, *, now: datetime | None = None) -> IdleSweepReport:
        """End every open call with no activity for `idle_timeout_s` as `abandoned` (reason: timed out).

        Safe to run from several processes at once and while calls are running: each call is ended by
        one conditional UPDATE, so a call that stored a turn in the meantime, or that another sweeper
        already ended, is left alone; a turn stored after the sweep is refused (the call has ended).
        The abandoned calls' turns left `received` are settled as `sweep` would.

        Args:
            idle_timeout_s: Seconds since the last stored turn (or the start) after which a call is idle.
            now: The time to measure from (default: the current time; tests pass a later one).
        """
        if not math.isfinite(idle_timeout_s) or idle_timeout_s <= 0:
            raise StorageError(f"The idle timeout must be a positive number of seconds, got {idle_timeout_s!r}.")
        now = now or utcnow()
        cutoff = now - timedelta(seconds=idle_timeout_s)
        reason = IDLE_REASON.format(minutes=f"{idle_timeout_s / 60:g}", seconds=f"{idle_timeout_s:g}")

        def write(s: Session) -> IdleSweepReport:
            ended = s.execute(
                update(CallSession)
                .where(CallSession.ended_at.is_(None), _LAST_ACTIVITY <= cutoff)
                .values(ended_at=now, outcome="abandoned", outcome_reason=reason)
                .returning(CallSession.id)
            )
            ids = sorted(SessionId(i) for i in ended.scalars())
            turns = self._settle_received(s, Turn.session_id.in_(ids)) if ids else SweepReport()
            return IdleSweepReport(abandoned=ids, turns=turns)

        return self._write_tx(write)

    def integrity_check(self) -> str:
        """'ok' when the database is intact (SQLite `PRAGMA integrity_check`; PostgreSQL: a round trip)."""
        with self._engine.connect() as conn:
            if self.backend == "sqlite":
                rows = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
                return "\n".join(str(r) for r in rows)
            conn.exec_driver_sql("SELECT 1")
            return "ok"
