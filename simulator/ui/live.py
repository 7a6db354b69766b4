"""One browser session's running call: `CallSession` events folded into what the page shows.

A `LiveCall` lives in that browser session's `gr.State` (never in a module global), so two trainees
never see each other's turns. `send` validates the text through `CallSession.take_turn` *before* the
turn appears in the chat: rejected text never reaches a model and never shows as said.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from simulator.call.mood import MoodState, initial_state, mood_label
from simulator.call.session import (
    ABANDON_REASON,
    CallEnded,
    CallerDone,
    CallerText,
    CallSession,
    GradeReady,
    MoodUpdate,
    TurnEvent,
    TurnFailed,
)
from simulator.errors import CooldownError, InputRejected
from simulator.grading.labels import TurnGrade
from simulator.ui.panels import exam_notice, feedback_card, mood_panel, outcome_banner
from simulator.vocabulary import Mode


@dataclass
class TurnView:
    """A trainee turn as the page shows it."""

    number: int
    turn_id: str
    text: str
    grades: dict[str, TurnGrade] = field(default_factory=dict)
    """By source: 'local', 'llm'."""


class LiveCall:
    """The page's view of one call in progress (one per browser session)."""

    def __init__(self, session: CallSession, *, trainee: str, mode: Mode, llm_grading: bool) -> None:
        self.session = session
        self.trainee = trainee
        self.mode: Mode = mode
        self.llm_grading = llm_grading
        name = session.persona.identity.name
        self.chat: list[dict[str, str]] = [{"role": "assistant", "content": session.opening}]
        self.caller_name = name
        self.turns: list[TurnView] = []
        self._by_id: dict[str, TurnView] = {}
        self.start_state: MoodState = initial_state(session.persona, session.difficulty)
        self.before: MoodState | None = None
        self.reasons: list[str] = []
        self.outcome: str | None = None
        self.outcome_reason: str | None = None
        self.closed = False
        self.status = ""
        self.taken_over = False
        """The call was continued in another tab or instance (the page offers to take it back)."""

    @classmethod
    def resumed(cls, session: CallSession, *, trainee: str, llm_grading: bool) -> LiveCall:
        """The page's view of a stored call picked up again (`CallSession.resume`): the chat, the turns
        with their stored grades, and the mood where the call left it."""
        record = session.record()
        live = cls(session, trainee=trainee, mode=record.mode, llm_grading=llm_grading)
        live.chat = []
        for turn in record.turns:
            if turn.role == "customer":
                if turn.status == "final":
                    live.chat.append({"role": "assistant", "content": turn.text, "_done": "1"})
                continue
            live.chat.append({"role": "user", "content": turn.text, "_done": "1"})
            view = TurnView(number=len(live.turns) + 1, turn_id=turn.id, text=turn.text)
            for grade in turn.grades:
                view.grades["local" if grade.grader == session.local_grader.name else "llm"] = grade
            live.turns.append(view)
            live._by_id[turn.id] = view
        moods = [t.mood for t in record.turns if t.role == "agent" and t.mood is not None]
        live.reasons = [str(r) for r in moods[-1].fired_rules] if moods and record.mode == "coach" else []
        live.outcome, live.outcome_reason = record.outcome, record.outcome_reason
        return live

    # -- what the page shows ---------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """The call is over (the state machine ended it, or the trainee did)."""
        return self.closed or self.session.ended

    def mood_html(self) -> str:
        """The mood panel now."""
        state = self.session.state
        reasons = self.reasons if self.mode == "coach" else []
        limit = self.session.persona.turn_limit(self.session.difficulty)
        return mood_panel(state, mood_label(state), before=self.before, turn_limit=limit, reasons=reasons)

    def feedback_html(self, *, reveal: bool = False) -> str:
        """Feedback cards, newest first (coach mode or `reveal`); the exam notice otherwise."""
        if self.mode == "exam" and not (reveal or self.ended):
            return exam_notice(sum(1 for t in self.turns if t.grades))
        if not self.turns:
            return '<div class="cd-fb">Feedback on each of your turns appears here.</div>'
        cards = []
        for t in reversed(self.turns):
            pending = self.llm_grading and "llm" not in t.grades and not self.ended
            cards.append(feedback_card(t.number, t.text, list(t.grades.values()), pending=pending))
        return "".join(cards)

    def outcome_html(self) -> str:
        """The outcome banner (empty while the call goes on)."""
        return outcome_banner(self.outcome, self.outcome_reason)

    # -- events ----------------------------------------------------------------------------------

    def apply(self, event: TurnEvent) -> None:
        """Fold one `CallSession` event into the view."""
        if isinstance(event, CallerText):
            last = self.chat[-1]
            if last["role"] != "assistant" or last.get("_done"):
                self.chat.append({"role": "assistant", "content": ""})
            self.chat[-1]["content"] += event.text
        elif isinstance(event, CallerDone):
            self.chat[-1] = {"role": "assistant", "content": event.text, "_done": "1"}
            self.status = (
                "The caller used a scripted line (the model's reply failed the guard)." if event.fallback else ""
            )
        elif isinstance(event, MoodUpdate):
            self.reasons = [*event.fired_rules, *event.notes]
        elif isinstance(event, GradeReady):
            view = self._by_id.get(event.turn_id)
            if view is not None:
                view.grades[event.source] = event.grade
        elif isinstance(event, CallEnded):
            self.outcome, self.outcome_reason = event.outcome, event.reason
        elif isinstance(event, TurnFailed):
            last = self.chat[-1]
            if event.unsaved and last["role"] == "assistant" and not last.get("_done"):
                self.chat.pop()  # the reply shown was not stored: Retry asks for it again
            self.taken_over = self.taken_over or event.taken_over
            carry_on = "" if event.retryable or event.unsaved else " Type your next message to carry on."
            self.status = event.message + carry_on

    def messages(self) -> list[dict[str, str]]:
        """The chat for `gr.Chatbot` (messages format), HTML-escaped so every word shows as typed.

        The chat renders neither Markdown nor HTML, but Gradio's sanitiser would still let harmless-looking
        tags (`<img src=x>`) become elements; escaped, they stay text.
        """
        return [
            {"role": m["role"], "content": html.escape(m["content"], quote=False)} for m in self.chat if m["content"]
        ]

    # -- actions ---------------------------------------------------------------------------------

    async def send(self, text: str) -> AsyncIterator[None]:
        """Play one trainee turn; yields after every change worth redrawing.

        Raises:
            InputRejected: The text was refused (empty, too long, call ended); nothing shown or stored.
        """
        if self.ended:
            raise InputRejected("This call has ended. Start a new call to practise again.")
        events = self.session.take_turn(text)
        try:
            first = await anext(events)
        except StopAsyncIteration:
            return
        before = self.session.state
        self.status = ""
        self.chat.append({"role": "user", "content": text.strip(), "_done": "1"})
        pending: list[TurnEvent] = [first]
        async for event in _chain(pending, events):
            if isinstance(event, GradeReady) and event.turn_id not in self._by_id and event.source == "local":
                view = TurnView(number=len(self.turns) + 1, turn_id=event.turn_id, text=text.strip())
                self.turns.append(view)
                self._by_id[event.turn_id] = view
            if isinstance(event, MoodUpdate):
                self.before = before
                stored = _stored_text(self)
                if stored is not None and event.turn_id in self._by_id:
                    self._by_id[event.turn_id].text = stored
                    user = next(m for m in reversed(self.chat) if m["role"] == "user")
                    user["content"] = stored
            self.apply(event)
            yield None

    async def retry(self) -> AsyncIterator[None]:
        """Ask the caller again after a failed reply."""
        async for event in self.session.retry():
            self.apply(event)
            yield None

    async def poll_grades(self) -> bool:
        """Fold in LLM grades that finished since the last redraw (never waits); True if any did."""
        ready = await self.session.wait_for_grades(timeout=0)
        for event in ready:
            self.apply(event)
        return bool(ready)

    async def finish(self, grade_wait_s: float) -> None:
        """End the call (if the state machine has not), wait a little for LLM grades, release tasks."""
        if not self.closed:
            with contextlib.suppress(CooldownError):
                if self.session.abandon(ABANDON_REASON):
                    self.outcome, self.outcome_reason = "abandoned", ABANDON_REASON
        self.closed = True
        if self.llm_grading:
            for event in await self.session.wait_for_grades(timeout=grade_wait_s):
                self.apply(event)
        await self.session.aclose()


def _stored_text(call: LiveCall) -> str | None:
    """The trainee's turn as stored (after `MoodUpdate`, the last utterance of the transcript)."""
    transcript = call.session.transcript
    return transcript[-1].text if transcript and transcript[-1].role == "agent" else None


async def _chain(first: list[TurnEvent], rest: AsyncIterator[TurnEvent]) -> AsyncIterator[TurnEvent]:
    for event in first:
        yield event
    async for event in rest:
        yield event


CLOSED_PAGE_REASON = "the trainee closed the page before an outcome"


def abandon_on_close(live: LiveCall | None) -> None:
    """Gradio's delete callback for a tab's call state: a call left open when its page closes (or its
    state expires) is recorded as abandoned instead of staying "in progress" forever. Never raises."""
    if live is None or live.closed:
        return
    with contextlib.suppress(Exception):
        live.session.abandon(CLOSED_PAGE_REASON)
    live.closed = True
