"""The caller chain: the persona speaks, one guarded, streamed message at a time.

`Caller.speak` builds the prompt for the model's form (chat messages, or a transcript-completion
prompt ending in "\\nCUSTOMER:" for tiny local models that answer as the agent in chat form), keeps it
under the context budget, streams the reply through a trimmer (role labels, stop sequences) and the
in-character guard, and yields only text that passed. A reply that fails the guard before anything
was shown is regenerated (at most `max_regenerations` times), then replaced by a persona example line
for the current mood; a reply that fails after its first sentences were shown is cut back to the part
already shown. Every guard decision is returned as a `GuardEvent` for the session log.

What the caller says and knows comes from a `CallerScript` (built from a persona with `script_for`,
which uses the persona's prompt templates in `simulator.caller.prompt`). The outcome of the call is
never the caller's decision: the pipeline passes `closing=` once the mood state machine has ended the
call, and the caller only voices it.

With a `planner` (`script_for` gives every persona one, `simulator.caller.voice.PersonaVoice`), every
reply is planned first (`simulator.caller.plan`): the plan goes into the prompt as a stage direction,
and the finished reply is checked against it (`simulator.caller.coherence`). When the plan is
*enforced* (by default for the demo-grade embedded model, whose replies often don't answer what was
asked), the reply is held back until it passes; one that fails (its plan or the guard) is replaced by
the persona's best-fitting own line for the plan (`simulator.caller.lines`), never a line already said
in the call. Otherwise the chain behaves as without a planner (streaming, regenerations, the example
line as fallback) and the check is only recorded. The scripted caller (`simulator.llm.scripted`, provider
`scripted`) never calls a model: it plays the persona's own lines for each plan. The plan and how the
reply was voiced travel with the `CallerReply` (`plan_record`), so the session can store them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from simulator.call.mood import MoodState, mood_label
from simulator.call.transcript import Utterance
from simulator.caller.budget import DEFAULT_MAX_RECENT, LoggedTurn, fit_to_budget
from simulator.caller.guard import CallerGuard, GuardKind, StreamGuard
from simulator.caller.lines import StandIn
from simulator.caller.plan import PlanCheckFailure, PlanRecord, ReplyPlan, Voice
from simulator.errors import ModelStreamInterrupted
from simulator.llm.base import ChatModel, Message
from simulator.persona.schema import MOODS, DifficultyName, Persona
from simulator.vocabulary import Outcome

S = TypeVar("S")
"""The caller's state type (the mood state machine's `MoodState`)."""
S_contra = TypeVar("S_contra", contravariant=True)


class Planner(Protocol[S_contra]):
    """Plans each reply, checks a reply against its plan, and stands in with the persona's own lines."""

    @property
    def has_lines(self) -> bool:
        """True when `stand_in` can offer the persona's own lines."""
        ...

    def plan(self, state: S_contra, turns: Sequence[LoggedTurn], closing: Outcome | None) -> ReplyPlan:
        """The plan for the next reply."""
        ...

    def check(self, plan: ReplyPlan, text: str, turns: Sequence[LoggedTurn]) -> list[PlanCheckFailure]:
        """How `text` misses `plan` (empty when it passes)."""
        ...

    def stand_in(self, plan: ReplyPlan, turns: Sequence[LoggedTurn], seed: int = 0) -> StandIn | None:
        """The persona's best-fitting unused line for `plan`, if any."""
        ...

COMPLETION_STOPS: tuple[str, ...] = ("\nAGENT:", "\nCUSTOMER:", "\n\n")
CHAT_STOPS: tuple[str, ...] = ("\nAGENT:", "\nCUSTOMER:")
MAX_REGENERATIONS = 2
RETRY_REMINDER = (
    "Reminder: you are the customer on this phone call. Reply with one short line the customer says, "
    "in character. Never speak as the agent, never mention AI, prompts, roleplay or scores, no JSON."
)

_LEADING_LABEL = re.compile(r"^\s*(customer|caller|you)\s*:\s*", re.IGNORECASE)
_CUT_COMPLETION = re.compile(r"\n\s*\n|\n\s*(agent|customer|user|assistant|system)\s*:", re.IGNORECASE)
_CUT_CHAT = re.compile(r"\n\s*(agent|customer|user|assistant|system)\s*:", re.IGNORECASE)
_HOLD_TAIL = 16


@dataclass(frozen=True)
class CallerScript(Generic[S]):
    """Everything persona-specific the caller chain needs, as functions of the current state.

    Attributes:
        render_chat: `(state, window, earlier_summary, closing) -> messages` for chat-form models; with a
            planner it is also passed `plan=` (the stage direction to render).
        render_completion: `(state, window, earlier_summary, closing) -> prompt` for completion form
            (also passed `plan=` with a planner).
        fallback_line: `(state, n, closing) -> line`: an in-character example line for the current
            mood, or a closing line for the outcome (the n-th choice, so fallbacks vary deterministically).
        guard: The session's guard (its canary is the one planted by the render functions).
        mood_label: `(state) -> label` for logs and fallbacks.
        speaker_name: The persona's name; a reply starting with "<name>:" has the label stripped.
        planner: Plans, checks and stands in for replies (None: no plans, as before).
    """

    render_chat: Callable[..., list[Message]]
    render_completion: Callable[..., str]
    fallback_line: Callable[[S, int, Outcome | None], str]
    guard: CallerGuard
    mood_label: Callable[[S], str] = lambda _state: "angry"
    speaker_name: str | None = None
    planner: Planner[S] | None = None


@dataclass(frozen=True)
class GuardEvent:
    """One guard decision during a reply, for the session's guard-event log."""

    kind: GuardKind | Literal["fallback", "truncated", "plan"]
    """A guard check, `plan` (the reply passed the guard but not its enforced plan), or what was
    done about it."""
    detail: str
    attempt: int


@dataclass(frozen=True)
class CallerChunk:
    """Caller text that passed the guard and may be shown now."""

    text: str


@dataclass
class CallerReply:
    """The finished caller reply (always in character)."""

    text: str
    attempts: int
    fallback: bool = False
    truncated: bool = False
    guard_events: list[GuardEvent] = field(default_factory=list)
    prompt_tokens: int = 0
    summarised: int = 0
    """Utterances folded into the earlier-call summary for this prompt."""
    plan: ReplyPlan | None = None
    """What the reply was meant to do (None without a planner)."""
    voice: Voice = "model"
    """Who produced the text: the model, the persona's own lines, or an example-line fallback."""
    failures: list[PlanCheckFailure] = field(default_factory=list)
    """How the text shown misses its plan (empty when it passes, or without a plan)."""
    model_failures: list[PlanCheckFailure] = field(default_factory=list)
    """Why the model's reply was replaced (when `voice` is not `model` after a plan failure)."""

    def plan_record(self) -> PlanRecord | None:
        """The plan and how it was voiced, for storage (None without a plan)."""
        if self.plan is None:
            return None
        return PlanRecord(plan=self.plan, voice=self.voice, model_failures=self.model_failures, failures=self.failures)


class _Trimmer:
    """Strips a leading speaker label and cuts the reply where the model starts another turn."""

    def __init__(self, cut: re.Pattern[str], speaker_name: str | None) -> None:
        self._cut = cut
        names = ["customer", "caller"] + ([re.escape(speaker_name)] if speaker_name else [])
        self._label = re.compile(rf"^\s*({'|'.join(names)})\s*:\s*", re.IGNORECASE)
        self._buf = ""
        self._started = False
        self.done = False

    def feed(self, chunk: str) -> str:
        if self.done:
            return ""
        self._buf += chunk
        if not self._started:
            stripped = self._buf.lstrip()
            if len(stripped) < _HOLD_TAIL and ":" not in stripped and "\n" not in stripped:
                return ""
            self._buf = self._label.sub("", stripped, count=1)
            self._started = True
        m = self._cut.search(self._buf)
        if m:
            out, self._buf, self.done = self._buf[: m.start()], "", True
            return out
        nl = self._buf.rfind("\n")
        if nl >= 0 and len(self._buf) - nl <= _HOLD_TAIL:
            out, self._buf = self._buf[:nl], self._buf[nl:]
            return out
        out, self._buf = self._buf, ""
        return out

    def finish(self) -> str:
        if self.done:
            return ""
        self.done = True
        rest = self._buf if self._started else self._label.sub("", self._buf.lstrip(), count=1)
        m = self._cut.search(rest)
        return (rest[: m.start()] if m else rest).rstrip()


class Caller(Generic[S]):
    """Plays the persona with one model, guarded and within the context budget.

    Args:
        model: The caller-role model; `model.info.prompt_form` picks chat or completion prompts.
        script: The persona's prompts, fallback lines and guard.
        budget_tokens: The most tokens any caller prompt may have.
        count_tokens: Counts prompt tokens for this model (defaults to `simulator.tokens`).
        max_tokens: Reply length cap passed to the model.
        temperature: Sampling temperature for the first attempt (regenerations go up a little).
        max_regenerations: Attempts after the first before the fallback line is used.
        max_recent: Utterances kept verbatim in the prompt at most.
        enforce_plan: Hold each reply back until it passes its plan, standing in with the persona's own
            line when it does not. None (default): enforce for the demo-grade embedded model and the
            scripted caller, only record the check for other models.
        plan_attempts: Model attempts per reply while enforcing before the persona's line stands in
            (each attempt on a small CPU model costs seconds).
    """

    def __init__(
        self,
        model: ChatModel,
        script: CallerScript[S],
        *,
        budget_tokens: int,
        count_tokens: Callable[[str], int] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        max_regenerations: int = MAX_REGENERATIONS,
        max_recent: int = DEFAULT_MAX_RECENT,
        enforce_plan: bool | None = None,
        plan_attempts: int = 1,
    ) -> None:
        self.model = model
        self.script = script
        self.scripted = model.info.provider == "scripted"
        if enforce_plan is None:
            enforce_plan = model.info.demo_grade or self.scripted
        self.enforce_plan = enforce_plan and script.planner is not None
        self.plan_attempts = max(1, min(plan_attempts, MAX_REGENERATIONS + 1))
        self.budget_tokens = budget_tokens
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_regenerations = max(0, min(max_regenerations, MAX_REGENERATIONS))
        self.max_recent = max_recent
        if count_tokens is None:
            from simulator.tokens import count_tokens as _count

            info = model.info
            self._count: Callable[[str], int] = lambda text: _count(text, info)
        else:
            self._count = count_tokens

    @property
    def prompt_form(self) -> str:
        """'chat' or 'completion', from the model's info."""
        return self.model.info.prompt_form

    def _count_messages(self, messages: list[Message]) -> int:
        from simulator.tokens import MESSAGE_OVERHEAD

        return sum(self._count(m.content) + MESSAGE_OVERHEAD for m in messages) + 3

    async def speak(
        self,
        turns: Sequence[LoggedTurn],
        state: S,
        *,
        closing: Outcome | None = None,
        fallback_seed: int = 0,
    ) -> AsyncIterator[CallerChunk | CallerReply]:
        """Stream the caller's next message; the last item is the `CallerReply`.

        Args:
            turns: The call so far (final utterances only), oldest first; usually ends with the agent.
            state: The caller's current state (after the trainee's latest turn).
            closing: The outcome the state machine decided, to voice in one closing line; None mid-call.
            fallback_seed: Varies the fallback line deterministically (e.g. the turn index).

        Raises:
            ModelStreamInterrupted: The stream was cut; `.partial` is the text already shown.
            ModelError: Any other provider failure (nothing is stored as the reply).
        """
        events: list[GuardEvent] = []
        prompt_tokens = summarised = 0
        agent_said = [t.utterance.text for t in turns if t.utterance.role == "agent"]
        planner = self.script.planner
        plan = planner.plan(state, turns, closing) if planner is not None else None

        def check(text: str) -> list[PlanCheckFailure]:
            return planner.check(plan, text, turns) if planner is not None and plan is not None else []

        hold = self.enforce_plan  # nothing is shown before the whole reply passes its plan
        model_failures: list[PlanCheckFailure] = []
        attempt = 0
        attempts = 0 if self.scripted else (self.plan_attempts if hold else self.max_regenerations + 1)
        for attempt in range(1, attempts + 1):
            guard = StreamGuard(self.script.guard, context=agent_said)
            trimmer = _Trimmer(
                _CUT_CHAT if self.prompt_form == "chat" else _CUT_COMPLETION, self.script.speaker_name
            )
            stream, prompt_tokens, summarised = self._open_stream(turns, state, closing, attempt, plan)
            try:
                async for raw in stream:
                    piece = guard.feed(trimmer.feed(raw))
                    if piece and not hold:
                        yield CallerChunk(piece)
                    if trimmer.done or guard.failed is not None:
                        break
                if guard.failed is None:
                    piece = guard.feed(trimmer.finish()) + guard.finish()
                    if piece and not hold:
                        yield CallerChunk(piece)
            except ModelStreamInterrupted as exc:
                raise ModelStreamInterrupted(str(exc), partial="" if hold else guard.released) from exc
            finally:
                await _aclose(stream)
            if guard.failed is None:
                text = guard.released.strip()
                failures = check(text)
                if not (hold and failures):
                    if hold:
                        yield CallerChunk(text)
                    yield CallerReply(
                        text, attempt, False, False, events, prompt_tokens, summarised, plan, "model", failures
                    )
                    return
                model_failures = failures
                events.append(GuardEvent("plan", "; ".join(f.detail for f in failures), attempt))
                continue
            for v in guard.failed.violations:
                events.append(GuardEvent(v.kind, v.detail, attempt))
            if guard.released.strip() and not hold:
                events.append(GuardEvent("truncated", "kept the part already shown", attempt))
                text = guard.released.strip()
                yield CallerReply(
                    text, attempt, False, True, events, prompt_tokens, summarised, plan, "model", check(text)
                )
                return
        standing = None
        if hold and planner is not None and plan is not None:
            standing = planner.stand_in(plan, turns, self._seed(fallback_seed))
        if standing is not None and plan is not None:
            where = "the scripted caller" if self.scripted else "the model's reply failed"
            events.append(GuardEvent("fallback", f"persona line for {plan.act} ({plan.mood}): {where}", attempt))
            yield CallerChunk(standing.text)
            yield CallerReply(
                standing.text,
                attempt,
                not self.scripted,  # a fallback when it replaced the model; the scripted caller's own line
                False,
                events,
                prompt_tokens,
                summarised,
                plan,
                "authored",
                standing.failures,
                model_failures,
            )
            return
        line = self.script.fallback_line(state, fallback_seed, closing)
        events.append(
            GuardEvent("fallback", f"example line for mood {self.script.mood_label(state)}", attempt)
        )
        yield CallerChunk(line)
        yield CallerReply(
            line,
            attempt,
            not self.scripted,
            False,
            events,
            prompt_tokens,
            summarised,
            plan,
            "example",
            check(line),
            model_failures,
        )

    def _seed(self, fallback_seed: int) -> int:
        return int(getattr(self.model, "seed", 0)) * 1_000_003 + fallback_seed

    def _open_stream(
        self, turns: Sequence[LoggedTurn], state: S, closing: Outcome | None, attempt: int, plan: ReplyPlan | None
    ) -> tuple[AsyncIterator[str], int, int]:
        planned = {"plan": plan} if self.script.planner is not None else {}
        temperature = self.temperature
        if attempt > 1:
            temperature = min(1.2, (temperature or 0.7) + 0.2 * (attempt - 1))
        if self.prompt_form == "completion":
            ctx_text = fit_to_budget(
                turns,
                lambda w, s: self.script.render_completion(state, w, s, closing, **planned),
                self.budget_tokens,
                self._count,
                max_recent=self.max_recent,
            )
            stream = self.model.stream_completion(
                ctx_text.prompt, max_tokens=self.max_tokens, temperature=temperature, stop=COMPLETION_STOPS
            )
            return stream, ctx_text.tokens, ctx_text.summarised
        reminder = self._count(RETRY_REMINDER) + 8 if attempt > 1 else 0
        ctx_chat = fit_to_budget(
            turns,
            lambda w, s: self.script.render_chat(state, w, s, closing, **planned),
            self.budget_tokens - reminder,
            self._count_messages,
            max_recent=self.max_recent,
        )
        messages = list(ctx_chat.prompt)
        if attempt > 1:
            messages.append(Message(role="system", content=RETRY_REMINDER))
        stream = self.model.stream(
            messages, max_tokens=self.max_tokens, temperature=temperature, stop=CHAT_STOPS
        )
        return stream, ctx_chat.tokens + reminder, ctx_chat.summarised


def script_for(persona: Persona, difficulty: DifficultyName, canary: str) -> CallerScript[MoodState]:
    """The caller script for a persona: its prompts (with `canary` planted), lines and guard.

    Args:
        persona: The persona on the line.
        difficulty: The session's difficulty.
        canary: A fresh random token for this session (see `new_canary`).
    """
    from simulator.caller.prompt import render_caller_chat, render_caller_completion
    from simulator.caller.voice import PersonaVoice

    def chat(
        state: MoodState,
        window: list[Utterance],
        summary: str | None,
        closing: Outcome | None,
        plan: ReplyPlan | None = None,
    ) -> list[Message]:
        return render_caller_chat(
            persona, difficulty, state, window, canary=canary, earlier_summary=summary, closing=closing, plan=plan
        )

    def completion(
        state: MoodState,
        window: list[Utterance],
        summary: str | None,
        closing: Outcome | None,
        plan: ReplyPlan | None = None,
    ) -> str:
        return render_caller_completion(
            persona, difficulty, state, window, canary=canary, earlier_summary=summary, closing=closing, plan=plan
        )

    def fallback(state: MoodState, n: int, closing: Outcome | None) -> str:
        if closing is not None:
            line = getattr(persona.closing_lines, closing, None)
            if line:
                return str(line)
        lines = persona.example_lines.for_mood(mood_label(state))
        return lines[n % len(lines)]

    s = persona.scenario
    visible = [
        persona.identity.situation,
        persona.identity.speaking_style,
        *persona.opening_lines,
        *(line for mood in MOODS for line in persona.example_lines.for_mood(mood)),
        *(f.text for f in s.knows),
        *(f.say for f in s.knows if f.say),
        *(r.say for r in s.will_not_accept if r.say),
        *s.does_not_know,
        *s.demands,
        *s.real_needs,
    ]
    guard = CallerGuard(
        canary=canary, hidden_texts=[*persona.hidden_texts(), *_prompt_scaffolding()], allowed_texts=visible
    )
    return CallerScript(
        render_chat=chat,
        render_completion=completion,
        fallback_line=fallback,
        guard=guard,
        mood_label=mood_label,
        speaker_name=persona.identity.name.split()[0],
        planner=PersonaVoice(persona),
    )


def new_canary() -> str:
    """A fresh random canary token for one session's caller prompt."""
    return "ZQX-" + secrets.token_hex(8)


async def _aclose(stream: Any) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


def _prompt_scaffolding() -> list[str]:
    """The fixed text of the caller prompts (rules layer, section headings): a caller that recites it is
    leaking its prompt, so the guard treats it like hidden notes."""
    from simulator.prompts import load_template, placeholders

    texts = []
    for name in ("caller_guidelines", "caller_system", "caller_completion", "caller_acts"):
        template = load_template(name)
        for var in placeholders(template):
            template = re.sub(r"\{\{\s*" + var + r"\s*\}\}", "\n", template)
        texts.append(template)
    return texts
