"""The turn pipeline: one practice call, durable and guarded, turn by turn.

    session = CallSession.start(store, persona_path, caller=caller, local_grader=LocalAppraiser(), ...)
    print(session.opening)
    async for event in session.take_turn("I'm sorry, what happened?"):
        ...  # CallerText chunks, MoodUpdate, GradeReady (local, then LLM when ready), CallEnded, TurnFailed

Per trainee turn, in this order (writes commit in this order, so a crash leaves a consistent
prefix; RELIABILITY §6.1):

1. validate the text (control characters stripped except newline and tab; not empty; character and
   token caps) — `InputRejected` with a message for the trainee, nothing stored;
2. store the trainee turn (`received`) — committed before any model is called;
3. start the LLM grade (if configured) as a background task: it never delays the caller;
4. grade locally (fast, no LLM) and step the mood state machine on the local verdict;
5. store the local grade, the new mood and the turn's `final` status in ONE transaction
   (`Store.record_appraisal`), committed in a worker thread while the caller's stream starts;
6. stream the caller's reply through the guard and, once the appraisal is committed, store it
   (`final`; a cut stream stores the part shown as `interrupted`, never as final, and `retry()`
   regenerates it). Nothing after the trainee turn is stored before its appraisal;
7. when the state machine ended the call, the caller voices a closing line, the outcome is stored and
   later turns are refused.

The state machine decides the outcome; the caller's words never do. `CallSession.resume` rebuilds a
stored session (replaying the deterministic state machine over the stored local verdicts).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import threading
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from simulator.call.engine import next_step
from simulator.call.events import (
    CallEnded,
    CallerDone,
    CallerText,
    GradeReady,
    MoodUpdate,
    TurnEvent,
    TurnFailed,
)
from simulator.call.mood import MoodState, MoodStep, initial_state, mood_label
from simulator.call.storage import CallStorage, CallStore
from simulator.call.transcript import Utterance
from simulator.caller.budget import LoggedTurn
from simulator.caller.chain import Caller, CallerChunk, CallerReply, CallerScript, new_canary, script_for
from simulator.caller.plan import PLAN_EVENT
from simulator.config import Settings, load_settings
from simulator.errors import (
    CallTakenOver,
    CooldownError,
    InputRejected,
    ModelError,
    ModelStreamInterrupted,
    StorageError,
)
from simulator.grading.base import GradeRequest, TurnGrader
from simulator.grading.labels import TurnGrade
from simulator.llm.base import ChatModel
from simulator.persona.loader import load_persona, load_persona_text
from simulator.persona.schema import DifficultyName, Persona
from simulator.storage import SessionId, SessionRecord
from simulator.vocabulary import CallOutcome

__all__ = [
    "CallEnded",
    "CallSession",
    "CallerDone",
    "CallerText",
    "GradeReady",
    "MoodUpdate",
    "TurnEvent",
    "TurnFailed",
    "clean_turn_text",
]

GRADER_CONTEXT_UTTERANCES = 16
"""Earlier utterances sent with each grade request."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
log = logging.getLogger("cooldown.call")

TURN_UNSAVED = (
    "Your message was not saved: the database did not answer. Nothing was sent to the caller; send it again "
    "in a moment. ({detail})"
)
"""A trainee turn the database refused: nothing of it is stored, nothing is shown as said."""
REPLY_UNSAVED = (
    "The call could not be saved just now: the database did not answer. Your message is kept; the caller's "
    "reply was not. Press Retry the caller once the database is back, and the call goes on."
)
"""The trainee turn is stored but its appraisal or the caller's reply is not (yet)."""


# --- input validation -----------------------------------------------------------------------------


def clean_turn_text(text: str, *, max_chars: int, max_tokens: int, count: Callable[[str], int]) -> str:
    """The trainee's text made safe to store, or `InputRejected` saying what to change.

    Control characters are removed (newline and tab are kept; CR/CRLF become newlines), surrounding
    whitespace is trimmed. Invisible format characters are kept: the integrity check flags them.
    """
    if not isinstance(text, str):
        raise InputRejected("Type your reply to the caller as text.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).strip()
    if not text or not any(unicodedata.category(c)[0] in "LNS" for c in text):
        raise InputRejected("Your message is empty. Type what you want to say to the caller.")
    if len(text) > max_chars:
        raise InputRejected(
            f"Your message is {len(text):,} characters; the limit is {max_chars:,}. Say it more briefly."
        )
    tokens = count(text)
    if tokens > max_tokens:
        raise InputRejected(f"Your message is too long ({tokens:,} tokens; the limit is {max_tokens:,}). Shorten it.")
    return text


# --- the session ----------------------------------------------------------------------------------


@dataclass
class _Limits:
    max_chars: int
    max_tokens: int


ABANDON_REASON = "the trainee ended the call before an outcome"


@dataclass
class _LastTurn:
    """What the mood needs to redo the last trainee turn with a better grade."""

    turn_id: str
    text: str
    before: MoodState
    regraded: bool = False


@dataclass
class _Memory:
    last: _LastTurn | None = None
    history: list[LoggedTurn] = field(default_factory=list)
    state: MoodState | None = None
    outcome: CallOutcome | None = None
    ended: bool = False
    pending_reply: bool = False
    agent_turns: int = 0


class CallSession:
    """One practice call. Build with `start` or `resume`; one turn at a time (`take_turn`, `retry`).

    Attributes:
        id: The stored session's id.
        persona: The persona on the line (the session's snapshot).
        difficulty: The difficulty the call runs at.
        opening: The caller's first line.
    """

    def __init__(
        self,
        *,
        store: CallStore,
        session_id: SessionId,
        holder: str,
        persona: Persona,
        difficulty: DifficultyName,
        caller: Caller[MoodState],
        local_grader: TurnGrader,
        llm_grader: TurnGrader | None,
        limits: _Limits,
        memory: _Memory,
        opening: str,
    ) -> None:
        self.store = store
        self.db = CallStorage(store)
        """The store as the turn pipeline uses it: awaitable, off the event loop."""
        self.id = session_id
        self.holder = holder
        """This copy of the call's token: the store refuses its turns once another copy picks the call up."""
        self.persona = persona
        self.difficulty: DifficultyName = difficulty
        self.caller = caller
        self.local_grader = local_grader
        self.llm_grader = llm_grader
        self.opening = opening
        self._limits = limits
        self._mem = memory
        self._lock = asyncio.Lock()
        self._grade_tasks: set[asyncio.Task[GradeReady]] = set()
        self._grades_ready: list[GradeReady] = []
        self._llm_done: list[GradeReady] = []
        """LLM grades that have arrived (for `_regrade_last_turn`)."""
        self._appraisal_write: Callable[[], object] | None = None
        self._appraisal_task: asyncio.Future[object] | None = None
        self._pending_end: tuple[CallOutcome, str] | None = None
        """An outcome the state machine reached whose write failed (tried again by `aclose`)."""

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        store: CallStore,
        persona_file: Path | str,
        *,
        caller_model: ChatModel,
        local_grader: TurnGrader,
        llm_grader: TurnGrader | None = None,
        difficulty: DifficultyName = "normal",
        trainee: str = "trainee",
        mode: Literal["coach", "exam"] = "coach",
        settings: Settings | None = None,
        script: CallerScript[MoodState] | None = None,
        opening_index: int | None = None,
    ) -> CallSession:
        """Open a new call: snapshot the persona, store the caller's opening line.

        Args:
            store: Where the call is recorded.
            persona_file: The persona YAML file (its text is snapshotted with the session).
            caller_model: The model playing the caller.
            local_grader: The fast local appraiser (grades every turn; drives the state machine).
            llm_grader: The LLM grading chain, or None to grade locally only.
            difficulty: easy, normal or hard.
            trainee: The trainee's name.
            mode: coach or exam (stored with the session).
            settings: Limits and budgets (default `load_settings()`).
            script: Override the persona's caller script (tests).
            opening_index: Which opening line to use (default: chosen at random).
        """
        settings = settings or load_settings()
        path = Path(persona_file)
        persona = load_persona(path)
        if difficulty not in ("easy", "normal", "hard"):
            raise InputRejected(f"unknown difficulty {difficulty!r}: use easy, normal or hard")
        graders = local_grader.name + (f" + {llm_grader.name}" if llm_grader else "")
        holder = _new_holder()
        sid = store.create_session(
            trainee=trainee,
            persona_name=persona.id,
            persona_text=path.read_text(encoding="utf-8"),
            difficulty=difficulty,
            caller_model=caller_model.info.label,
            grader=graders,
            mode=mode,
            holder=holder,
        )
        if opening_index is None:
            import secrets

            opening_index = secrets.randbelow(len(persona.opening_lines))
        opening = persona.opening_lines[opening_index % len(persona.opening_lines)]
        store.add_turn(sid, "customer", opening, holder=holder)
        memory = _Memory(
            history=[LoggedTurn(utterance=Utterance(role="customer", text=opening))],
            state=initial_state(persona, difficulty),
        )
        return cls._build(
            store,
            sid,
            holder,
            persona,
            difficulty,
            caller_model,
            local_grader,
            llm_grader,
            settings,
            script,
            memory,
            opening,
        )

    @classmethod
    def _build(
        cls,
        store: CallStore,
        sid: SessionId,
        holder: str,
        persona: Persona,
        difficulty: DifficultyName,
        caller_model: ChatModel,
        local_grader: TurnGrader,
        llm_grader: TurnGrader | None,
        settings: Settings,
        script: CallerScript[MoodState] | None,
        memory: _Memory,
        opening: str,
    ) -> CallSession:
        caller = Caller(
            caller_model,
            script or script_for(persona, difficulty, new_canary()),
            budget_tokens=settings.context_budget_tokens,
            max_tokens=settings.caller.max_tokens,
            temperature=settings.caller.temperature,
            early_text=settings.caller_early_text,
        )
        limits = _Limits(settings.max_turn_chars, settings.max_turn_tokens)
        _prepare_in_background(local_grader, persona.grader_brief())
        return cls(
            store=store,
            session_id=sid,
            holder=holder,
            persona=persona,
            difficulty=difficulty,
            caller=caller,
            local_grader=local_grader,
            llm_grader=llm_grader,
            limits=limits,
            memory=memory,
            opening=opening,
        )

    @classmethod
    async def resume(
        cls,
        store: CallStore,
        session_id: str,
        *,
        caller_model: ChatModel,
        local_grader: TurnGrader,
        llm_grader: TurnGrader | None = None,
        settings: Settings | None = None,
        script: CallerScript[MoodState] | None = None,
    ) -> CallSession:
        """Rebuild a stored call (after a restart, or to look at it again).

        The persona comes from the session's snapshot; the caller's state is replayed through the
        state machine from the stored local verdicts (turns a crash left ungraded are graded again, and
        their appraisal stored). An outcome reached but not recorded before a crash is recorded now. An
        open call is claimed: from now on only this copy of it adds turns (`Store.claim_session`).
        """
        settings = settings or load_settings()
        holder = _new_holder()
        ended = (await CallStorage(store).load_session(session_id)).ended_at is not None
        if not ended:  # from now on only this copy of the call adds turns: the one it was taken from is refused
            await CallStorage(store).claim_session(session_id, holder)
        record = await CallStorage(store).load_session(session_id)
        persona = _persona_from_snapshot(record)
        difficulty: DifficultyName = record.difficulty
        memory = _Memory(state=initial_state(persona, difficulty), ended=record.ended_at is not None)
        outcome_step: MoodStep | None = None
        last_agent: str | None = None
        regraded = {e.turn_id for e in record.guard_events if e.kind == "mood_regraded"}
        for turn in record.turns:
            if turn.role == "customer":
                if turn.status == "final":
                    memory.history.append(LoggedTurn(utterance=turn.utterance()))
                    last_agent = None
                continue
            grade = await _stored_or_new_grade(store, local_grader, turn.id, turn.text, turn.grades, memory)
            verdict = grade.verdict
            assert memory.state is not None
            before = memory.state
            mood = next_step(persona, difficulty, before, turn.text, verdict, grade.confidence)
            memory.state, memory.agent_turns, last_agent = mood.state, memory.agent_turns + 1, turn.id
            if turn.id in regraded:  # the live call replaced this turn's mood with the LLM grade's
                better = next((g for g in turn.grades if g.grader != local_grader.name and g.verdict), None)
                if better is not None:
                    memory.state = next_step(
                        persona, difficulty, before, turn.text, better.verdict, better.confidence
                    ).state
            if not memory.ended and (turn.status == "received" or turn.mood is None):
                # The appraisal never got stored (the instance died, or the database dropped, in between):
                # store it now, whole, as the live turn would have (grade, mood and `final` in one commit).
                await asyncio.to_thread(
                    store.record_appraisal, turn.id, grade, anger=mood.state.anger, trust=mood.state.trust,
                    entrenchment=mood.state.entrenchment, label=mood_label(mood.state),
                    fired_rules=[*mood.reasons, *([f"outcome: {mood.outcome}"] if mood.outcome else [])],
                    status="final",
                )  # fmt: skip
            memory.last = _LastTurn(turn_id=turn.id, text=turn.text, before=before, regraded=True)
            if mood.outcome is not None and outcome_step is None:
                outcome_step = mood
            memory.history.append(
                LoggedTurn(utterance=turn.utterance(), verdict=verdict, mood_label=mood_label(mood.state))
            )
        if outcome_step is not None:
            memory.outcome = outcome_step.outcome
            if not memory.ended:
                reason = _outcome_reason(outcome_step)
                await CallStorage(store).end_session(record.id, str(outcome_step.outcome), reason, holder=holder)
                memory.ended = True
        if record.outcome is not None:
            memory.outcome = record.outcome
        memory.pending_reply = last_agent is not None and not memory.ended
        opening = record.turns[0].text if record.turns else ""
        return cls._build(
            store,
            record.id,
            holder,
            persona,
            difficulty,
            caller_model,
            local_grader,
            llm_grader,
            settings,
            script,
            memory,
            opening,
        )

    # -- state -----------------------------------------------------------------------------------

    @property
    def state(self) -> MoodState:
        """The caller's current state."""
        assert self._mem.state is not None
        return self._mem.state

    @property
    def outcome(self) -> CallOutcome | None:
        """How the call ended, or None while it is going."""
        return self._mem.outcome

    @property
    def ended(self) -> bool:
        """True once the call has ended; further turns are refused."""
        return self._mem.ended

    @property
    def pending_reply(self) -> bool:
        """True when the last trainee turn has no caller reply yet (`retry()` asks again)."""
        return self._mem.pending_reply

    @property
    def transcript(self) -> list[Utterance]:
        """The call so far (final utterances), oldest first."""
        return [t.utterance for t in self._mem.history]

    def abandon(self, reason: str = ABANDON_REASON) -> bool:
        """The trainee ends the call before the state machine did: record it, refuse further turns.

        Returns False (and changes nothing) when the call had already ended.
        """
        if self._mem.ended:
            return False
        self.store.end_session(self.id, "abandoned", reason, holder=self.holder)
        self._mem.ended, self._mem.outcome = True, "abandoned"
        return True

    def record(self) -> SessionRecord:
        """Everything stored about this call."""
        return self.store.load_session(self.id)

    # -- turns -----------------------------------------------------------------------------------

    def _clean(self, text: str) -> str:
        if self._mem.ended:
            raise InputRejected(
                f"This call has ended ({self._mem.outcome or 'closed'}). Start a new call to practise again."
            )
        if self._lock.locked():
            raise InputRejected("The caller is still answering your last message; wait for the reply.")
        from simulator.tokens import count_tokens

        info = self.caller.model.info
        try:
            return clean_turn_text(
                text,
                max_chars=self._limits.max_chars,
                max_tokens=self._limits.max_tokens,
                count=lambda t: count_tokens(t, info),
            )
        except InputRejected as exc:
            with contextlib.suppress(CooldownError):
                self.store.add_guard_event(self.id, "input_rejected", str(exc))
            raise

    async def take_turn(self, text: str) -> AsyncIterator[TurnEvent]:
        """Play one trainee turn; yields events as they happen (see the module docstring).

        Raises:
            InputRejected: The text was refused (empty, too long) or the call has ended; nothing stored.
            StorageError: The turn could not be stored (nothing was sent to any model).
        """
        clean = self._clean(text)
        async with self._lock:
            try:
                await self._settle_appraisal()
            except StorageError as exc:
                raise StorageError(TURN_UNSAVED.format(detail=_first_line(exc))) from exc
            regraded = await self._regrade_last_turn()
            if regraded is not None:
                yield regraded
            context = self.transcript[-GRADER_CONTEXT_UTTERANCES:]
            try:
                turn = await self.db.add_turn(self.id, "agent", clean, status="received", holder=self.holder)
            except CallTakenOver:
                raise
            except StorageError as exc:
                raise StorageError(TURN_UNSAVED.format(detail=_first_line(exc))) from exc
            request = GradeRequest(
                trainee_turn=clean,
                context=context,
                scenario=self.persona.grader_brief(),
                persona=self.persona.id,
            )
            if self.llm_grader is not None:
                self._start_llm_grade(turn.id, request)
            local = self.store.prepare_grade(await _safe_grade(self.local_grader, request))
            verdict = local.verdict
            mood = next_step(self.persona, self.difficulty, self.state, clean, verdict, local.confidence)
            self._start_appraisal_write(
                functools.partial(
                    self.store.record_appraisal,
                    turn.id,
                    local,
                    anger=mood.state.anger,
                    trust=mood.state.trust,
                    entrenchment=mood.state.entrenchment,
                    label=mood_label(mood.state),
                    fired_rules=[*mood.reasons, *([f"outcome: {mood.outcome}"] if mood.outcome else [])],
                    status="final",
                )
            )
            yield GradeReady(turn.id, local, "local")
            self._mem.last = _LastTurn(turn_id=turn.id, text=clean, before=self.state)
            self._mem.state = mood.state
            self._mem.agent_turns += 1
            self._mem.history.append(
                LoggedTurn(
                    utterance=Utterance(role="agent", text=clean),
                    verdict=verdict,
                    mood_label=mood_label(mood.state),
                )
            )
            self._mem.pending_reply = True
            yield MoodUpdate(turn.id, mood.state, mood_label(mood.state), [f.reason for f in mood.fired], mood.notes)
            async for event in self._reply(turn.id, mood):
                yield event
            for ready in self._take_ready_grades():
                yield ready

    async def retry(self) -> AsyncIterator[TurnEvent]:
        """Ask the caller again for the reply to the last trainee turn (after `TurnFailed`)."""
        if not self._mem.pending_reply or self._mem.ended:
            raise InputRejected("There is no caller reply to retry; type your next message.")
        if self._lock.locked():
            raise InputRejected("The caller is still answering; wait for the reply.")
        async with self._lock:
            await self._settle_appraisal()
            async for event in self._reply(None, None):
                yield event
            for ready in self._take_ready_grades():
                yield ready

    async def _reply(self, turn_id: str | None, mood: MoodStep | None) -> AsyncIterator[TurnEvent]:
        closing = mood.outcome if mood is not None else None
        reply: CallerReply | None = None
        problem: ModelError | None = None
        try:
            async for item in self.caller.speak(
                self._mem.history, self.state, closing=closing, fallback_seed=self._mem.agent_turns
            ):
                if isinstance(item, CallerChunk):
                    yield CallerText(item.text, item.replace)
                    for ready in self._take_ready_grades():
                        yield ready
                else:
                    reply = item
        except ModelError as exc:  # ModelStreamInterrupted included
            problem = exc
        try:
            await self._settle_appraisal()  # the trainee turn's appraisal is durable before the reply
            if problem is not None:
                failed = await self._record_reply_problem(problem)
                if closing is None:
                    yield failed
                    return
            if reply is None:  # only when closing: voice the outcome with a persona line instead
                assert closing is not None
                line = self.caller.script.fallback_line(self.state, self._mem.agent_turns, closing)
                yield CallerText(line)
                reply = CallerReply(line, 0, fallback=True)
            stored = await self.db.add_turn(self.id, "customer", reply.text, holder=self.holder)
        except CallTakenOver as exc:
            yield TurnFailed(str(exc), False, unsaved=True, taken_over=True)
            return
        except StorageError as exc:
            # Nothing after the trainee turn is half-written: its appraisal is one transaction (retried
            # before the next reply), and the reply is stored whole or not at all. The mood and the
            # pending reply stay in memory, so `retry()` carries on once the database answers again.
            log.warning("call %s: the reply could not be stored: %s", self.id, exc)
            yield TurnFailed(REPLY_UNSAVED, True, unsaved=True)
            return
        for ev in reply.guard_events:
            with contextlib.suppress(CooldownError):  # diagnostics: never fail a stored reply over them
                await self.db.add_guard_event(
                    self.id, f"guard_{ev.kind}", f"attempt {ev.attempt}: {ev.detail}", turn_id=stored.id
                )
        planned = reply.plan_record()  # what the reply meant to do (simulator.caller.plan.plans_in_record)
        if planned is not None:
            with contextlib.suppress(CooldownError):
                await self.db.add_guard_event(self.id, PLAN_EVENT, planned.detail(), turn_id=stored.id)
        self._mem.history.append(LoggedTurn(utterance=Utterance(role="customer", text=reply.text)))
        self._mem.pending_reply = False
        yield CallerDone(stored.id, reply.text, reply.fallback, closing is not None, reply.stand_in_note())
        if closing is not None and mood is not None:
            reason = _outcome_reason(mood)
            self._mem.outcome, self._mem.ended = closing, True
            try:
                await self.db.end_session(self.id, closing, reason, holder=self.holder)
            except StorageError as exc:  # `aclose` tries again; a resumed call records it from the replay
                log.warning("call %s: the outcome could not be stored yet: %s", self.id, exc)
                self._pending_end = (closing, reason)
            yield CallEnded(closing, reason)

    async def _record_reply_problem(self, problem: ModelError) -> TurnFailed:
        """Store what a failed reply left (the part shown of a cut stream, a guard event); the failure to show."""
        if isinstance(problem, ModelStreamInterrupted):
            partial = problem.partial.strip()
            if partial:
                row = await self.db.add_turn(self.id, "customer", partial, status="interrupted", holder=self.holder)
                await self.db.add_guard_event(self.id, "reply_interrupted", str(problem), turn_id=row.id)
            return TurnFailed("The caller's line dropped mid-sentence. Press Retry to hear the reply.", True, True)
        with contextlib.suppress(CooldownError):
            await self.db.add_guard_event(self.id, "reply_failed", f"{type(problem).__name__}: {problem}")
        return TurnFailed(f"The caller could not reply: {problem}", problem.retryable)

    # -- the appraisal write ----------------------------------------------------------------------

    def _start_appraisal_write(self, write: Callable[[], object]) -> None:
        """Commit the turn's appraisal in a worker thread, so its fsync overlaps the caller's stream."""
        self._appraisal_write = write
        self._appraisal_task = asyncio.ensure_future(asyncio.to_thread(write))

    async def _settle_appraisal(self) -> None:
        """Wait until the last turn's appraisal is committed; a failed write is tried once more here.

        Raises:
            StorageError: The appraisal could not be stored. It stays pending (the next `retry()` or
                turn tries it again first); the turn stays `received` meanwhile, and resuming the
                session grades it again.
        """
        write, task = self._appraisal_write, self._appraisal_task
        if write is None:
            return
        if task is not None:
            try:
                await asyncio.shield(task)  # a cancelled turn leaves the write running, to be awaited later
                failed = False
            except asyncio.CancelledError:
                raise
            except Exception:
                failed = True
            self._appraisal_task = None
            if failed:
                await asyncio.to_thread(write)  # idempotent: the same rows again
        else:
            await asyncio.to_thread(write)
        self._appraisal_write = None

    # -- LLM grades ------------------------------------------------------------------------------

    def _start_llm_grade(self, turn_id: str, request: GradeRequest) -> None:
        assert self.llm_grader is not None
        grader = self.llm_grader

        async def run() -> GradeReady:
            grade = await _safe_grade(grader, request)
            stored = await self.db.add_grade(turn_id, grade)
            ready = GradeReady(turn_id, stored, "llm")
            self._grades_ready.append(ready)
            self._llm_done.append(ready)
            return ready

        task = asyncio.create_task(run(), name=f"llm-grade-{turn_id}")
        self._grade_tasks.add(task)
        task.add_done_callback(self._grade_tasks.discard)

    async def _regrade_last_turn(self) -> MoodUpdate | None:
        """The better grade wins: when the LLM grade of the last turn arrived before this turn, the mood
        is recomputed from it (from the state before that turn), so the next step starts from there.

        A grade that is still running, ungraded, or the same as the appraiser's changes nothing; a grade
        that arrives later is only stored. The recomputed mood is stored on the last turn, with a
        `mood_regraded` guard event saying so (a resumed call replays it the same way).
        """
        last = self._mem.last
        if last is None or last.regraded or self._mem.ended or self.llm_grader is None:
            return None
        grade = next((r.grade for r in self._llm_done if r.turn_id == last.turn_id), None)
        if grade is None or grade.verdict is None:
            return None
        last.regraded = True
        redo = next_step(self.persona, self.difficulty, last.before, last.text, grade.verdict, grade.confidence)
        if redo.state == self._mem.state:
            return None
        self._mem.state = redo.state
        label = mood_label(redo.state)
        detail = f"mood recomputed from {grade.grader}'s grade (it arrived before the next turn)"
        with contextlib.suppress(CooldownError):
            await asyncio.to_thread(self.store.add_mood,
                last.turn_id, anger=redo.state.anger, trust=redo.state.trust,
                entrenchment=redo.state.entrenchment, label=label, fired_rules=[*redo.reasons, detail],
            )  # fmt: skip
            await self.db.add_guard_event(self.id, "mood_regraded", detail, turn_id=last.turn_id)
        return MoodUpdate(last.turn_id, redo.state, label, [f.reason for f in redo.fired], [*redo.notes, detail])

    def _take_ready_grades(self) -> list[GradeReady]:
        ready, self._grades_ready = self._grades_ready, []
        return ready

    async def wait_for_grades(self, timeout: float | None = None) -> list[GradeReady]:
        """Wait (up to `timeout` seconds) for LLM grades still running; returns the ones not yet yielded."""
        tasks = list(self._grade_tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return self._take_ready_grades()

    async def aclose(self) -> None:
        """Cancel grading still running (missing grades can be re-graded later from the store).

        A turn's appraisal still being committed is waited for (it is already on its way to disk).
        """
        if self._appraisal_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._appraisal_task)
        if self._pending_end is not None:
            with contextlib.suppress(CooldownError):
                await self.db.end_session(self.id, *self._pending_end, holder=self.holder)
                self._pending_end = None
        for task in list(self._grade_tasks):
            task.cancel()
        if self._grade_tasks:
            await asyncio.gather(*self._grade_tasks, return_exceptions=True)


# --- helpers --------------------------------------------------------------------------------------


async def _safe_grade(grader: TurnGrader, request: GradeRequest) -> TurnGrade:
    """A grader's result; a grader that raises despite the protocol yields an ungraded result."""
    try:
        return await grader.grade(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # fail closed: never a default score
        return TurnGrade.ungraded(grader.name, f"grader failed: {type(exc).__name__}: {exc}")


def _prepare_in_background(grader: TurnGrader, scenario: str) -> None:
    """Let a grader that can read the scenario ahead (`LocalAppraiser.prepare`) do so off the call's path."""
    prepare = getattr(grader, "prepare", None)
    if not callable(prepare):
        return

    def run() -> None:
        try:
            prepare(scenario)
        except Exception:  # the first turn's grade does the work again, and fails closed there
            log.warning("the grader could not read the scenario ahead", exc_info=True)

    threading.Thread(target=run, name="grader-prepare", daemon=True).start()


def _new_holder() -> str:
    return uuid.uuid4().hex


def _first_line(exc: BaseException) -> str:
    """The first line of an error, for a trainee-facing message (driver errors run to many lines)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _outcome_reason(mood: MoodStep) -> str:
    reasons = "; ".join(mood.reasons[:4])
    base = f"{mood.outcome} at trainee turn {mood.state.turn}"
    return f"{base}: {reasons}" if reasons else base


async def _stored_or_new_grade(
    store: CallStore,
    local_grader: TurnGrader,
    turn_id: str,
    text: str,
    grades: list[TurnGrade],
    memory: _Memory,
) -> TurnGrade:
    for grade in grades:
        if grade.grader == local_grader.name and grade.verdict is not None:
            return grade
    context = [t.utterance for t in memory.history][-GRADER_CONTEXT_UTTERANCES:]
    grade = await _safe_grade(local_grader, GradeRequest(trainee_turn=text, context=context))
    if not memory.ended:
        with contextlib.suppress(CooldownError):
            await CallStorage(store).add_grade(turn_id, grade)
    return grade


def _persona_from_snapshot(record: SessionRecord) -> Persona:
    return load_persona_text(record.persona_text, f"{record.persona_name}.yaml (stored snapshot)")
