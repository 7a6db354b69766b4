"""The LLM grading chain: one trainee turn in, one `TurnGrade` out, failing closed.

    grader = LLMGrader(get_model("grader", load_settings()))
    grade = await grader.grade(GradeRequest(trainee_turn="...", context=[...], scenario="..."))

Steps for each turn:

1. Integrity pre-check on the original text (`simulator.grading.integrity.check_integrity`) and a sanitised copy
   for grading (`sanitize_for_grading`); a flagged turn is still graded and carries the flags, and is
   graded a second time without its injection spans: if the two grades disagree, it is `ungraded`.
2. An empty or whitespace-only turn gets perspective-taking 1 without any model call (RELIABILITY A8).
3. The rubric goes in the system message; scenario, persona, earlier turns and the fenced turn go in the
   user message (`simulator.grading.fence`).
4. The score comes only from the structured channel (`ChatModel.structured(messages, GraderOutput)`);
   no text is ever searched for JSON. The output is checked against the turn (evidence quotes are exact
   substrings, fields agree with each other); on `ModelOutputError` or a failed check the model is asked
   once more with the errors, then the turn is `ungraded` with the reason. Never a default score.
5. Model, prompt version and schema version are stored with every grade; `version` also carries the
   parameters, so caches keyed on it change when any of them does.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Callable

from pydantic import ValidationError

from simulator.call.transcript import Utterance
from simulator.errors import ModelError, ModelOutputError
from simulator.grading.base import GradeRequest
from simulator.grading.fence import Fence, build_grader_messages, neutralise, repair_message
from simulator.grading.labels import TurnGrade, TurnVerdict
from simulator.grading.schema import SCHEMA_VERSION, GraderOutput
from simulator.llm.base import ChatModel, Message
from simulator.prompts import load_template

log = logging.getLogger(__name__)

PROMPT_TEMPLATES = ("grader_system", "grader_turn", "grader_repair")
EMPTY_TURN_TIP = "Say something to the caller: silence or an empty message reads as not listening."
_RAW_ECHO_CHARS = 2000


def default_prompt_version() -> str:
    """`v1-` plus a short hash of the grader templates, so an edited prompt is a new version."""
    digest = hashlib.sha256()
    for name in PROMPT_TEMPLATES:
        digest.update(load_template(name).encode("utf-8"))
    return f"v1-{digest.hexdigest()[:10]}"


def _fallback_sanitize(text: str) -> str:
    """Drop invisible format characters (zero-width, bidi, TAG); used when `simulator.grading.integrity` is absent."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def integrity_pass(text: str) -> tuple[list[str], str]:
    """The integrity flags for a turn and the sanitised copy to grade.

    Uses `simulator.grading.integrity` (imported lazily). Without it, invisible characters are still removed and
    flagged. If the check itself fails, the turn is flagged `integrity_check_failed` for human review.
    """
    try:
        from simulator.grading.integrity import check_integrity, sanitize_for_grading
    except ImportError:
        cleaned = _fallback_sanitize(text)
        return (["invisible_characters"] if cleaned != text else []), cleaned
    try:
        return list(check_integrity(text)), sanitize_for_grading(text)
    except Exception:  # a bug there must not stop grading; flag it for review instead
        log.exception("integrity check failed; grading with the fallback sanitiser")
        return ["integrity_check_failed"], _fallback_sanitize(text)


def sanitize(text: str) -> str:
    """The copy of `text` to show the grader (`simulator.grading.integrity.sanitize_for_grading` when present)."""
    try:
        from simulator.grading.integrity import sanitize_for_grading
    except ImportError:
        return _fallback_sanitize(text)
    try:
        return sanitize_for_grading(text)
    except Exception:
        log.exception("sanitize_for_grading failed; using the fallback sanitiser")
        return _fallback_sanitize(text)


class LLMGrader:
    """Grades trainee turns with a chat model through the structured-output seam (`TurnGrader`).

    Args:
        model: the grader model (`simulator.llm.get_model("grader", settings)`; a fake in tests).
        prompt_version: stored with every grade; defaults to a hash of the grader templates.
        max_tokens: output budget for each structured call.
        max_repairs: re-asks after an invalid answer before giving up (the design says one).
        max_context_turns: how many earlier utterances the grader sees at most.
        max_context_chars: how many characters of earlier utterances the grader sees at most.
        max_turn_chars: longer turns are not sent to the model; they come back `ungraded`.
        persona_summary: turns `GradeRequest.persona` (a name) into a short description for the
            prompt; by default the name itself is shown.
        cross_check_flagged: grade an integrity-flagged turn a second time with its injection spans
            removed (`simulator.grading.integrity.strip_injection_spans`); if perspective-taking moves by more
            than 1 or `manipulative` flips, the turn is `ungraded` for human review.
    """

    def __init__(
        self,
        model: ChatModel,
        *,
        prompt_version: str | None = None,
        max_tokens: int | None = 1500,
        max_repairs: int = 1,
        max_context_turns: int = 12,
        max_context_chars: int = 8000,
        max_turn_chars: int = 8000,
        persona_summary: Callable[[str], str | None] | None = None,
        cross_check_flagged: bool = True,
    ) -> None:
        if max_repairs < 0:
            raise ValueError("max_repairs must be 0 or more")
        self._model = model
        self.prompt_version = prompt_version or default_prompt_version()
        self.max_tokens = max_tokens
        self.max_repairs = max_repairs
        self.max_context_turns = max_context_turns
        self.max_context_chars = max_context_chars
        self.max_turn_chars = max_turn_chars
        self._persona_summary = persona_summary
        self.cross_check_flagged = cross_check_flagged

    @property
    def name(self) -> str:
        """`llm:<model name>`, stored with every grade."""
        return f"llm:{self._model.info.model}"

    @property
    def version(self) -> str:
        """Model, prompt version, schema version and parameters: the suites' cache key."""
        info = self._model.info
        return (
            f"{info.provider}/{info.model}|method={info.structured_method}|prompt={self.prompt_version}"
            f"|schema={SCHEMA_VERSION}|max_tokens={self.max_tokens}|repairs={self.max_repairs}"
            f"|context={self.max_context_turns}/{self.max_context_chars}|turn_cap={self.max_turn_chars}"
            f"|cross_check={int(self.cross_check_flagged)}"
        )

    async def aclose(self) -> None:
        """Close the grader model's connections (idempotent)."""
        await self._model.aclose()

    def _stamp(self) -> dict[str, str]:
        return {
            "grader_version": self.version,
            "prompt_version": self.prompt_version,
            "schema_version": SCHEMA_VERSION,
        }

    def _ungraded(self, reason: str, flags: list[str]) -> TurnGrade:
        log.warning("turn left ungraded by %s: %s", self.name, reason.encode("unicode_escape").decode())
        return TurnGrade.ungraded(self.name, reason, integrity_flags=flags, **self._stamp())

    def _persona_text(self, persona: str | None) -> str | None:
        if persona is None or self._persona_summary is None:
            return persona
        return self._persona_summary(persona) or persona

    async def grade(self, request: GradeRequest) -> TurnGrade:
        """Grade one turn; returns `TurnGrade.ungraded(...)` instead of raising on model trouble."""
        flags, cleaned = integrity_pass(request.trainee_turn)
        turn = neutralise(cleaned)
        if not turn.strip():
            verdict = TurnVerdict(perspective_taking=1)
            return TurnGrade(
                status="graded", verdict=verdict, tip=EMPTY_TURN_TIP, integrity_flags=flags,
                grader=self.name, **self._stamp(),
            )  # fmt: skip
        if len(turn) > self.max_turn_chars:
            return self._ungraded(
                f"the turn is {len(turn)} characters, over the grader's cap of {self.max_turn_chars}", flags
            )
        context = [Utterance(role=u.role, text=sanitize(u.text)) for u in request.context]
        result = await self._grade_text(turn, context, request, flags)
        stripped = _without_payload(request.trainee_turn) if flags and self.cross_check_flagged else None
        if result.verdict is None or stripped is None or not stripped.strip() or stripped == turn:
            return result
        check = await self._grade_text(stripped, context, request, flags)
        if check.verdict is None:
            return self._ungraded(f"flagged turn: the cross-check grade failed ({check.reason})", flags)
        delta = abs(result.verdict.perspective_taking - check.verdict.perspective_taking)
        if delta > 1 or result.verdict.manipulative != check.verdict.manipulative:
            return self._ungraded(
                "flagged turn: the grade moved with the injection spans removed (perspective-taking "
                f"{result.verdict.perspective_taking} vs {check.verdict.perspective_taking}, manipulative "
                f"{result.verdict.manipulative} vs {check.verdict.manipulative}); needs human review",
                flags,
            )
        return result

    async def _grade_text(
        self, turn: str, context: list[Utterance], request: GradeRequest, flags: list[str]
    ) -> TurnGrade:
        """One fenced structured call with one repair; graded or `ungraded`, never a default."""
        fence = Fence.new()
        messages = build_grader_messages(
            turn,
            fence,
            context=context,
            scenario=request.scenario,
            persona=self._persona_text(request.persona),
            max_context_turns=self.max_context_turns,
            max_context_chars=self.max_context_chars,
        )
        errors: list[str] = []
        for attempt in range(1 + self.max_repairs):
            try:
                output = await self._model.structured(messages, GraderOutput, max_tokens=self.max_tokens)
            except (ModelOutputError, ValidationError) as exc:
                raw = exc.raw if isinstance(exc, ModelOutputError) else ""
                problems = [_short_error(exc)]
                previous = raw
            except ModelError as exc:
                return self._ungraded(f"grader model failed: {exc}", flags)
            else:
                problems = output.problems(turn)
                if not problems:
                    return TurnGrade(
                        status="graded",
                        verdict=output.to_verdict(),
                        tip=output.tip,
                        better_phrasing=output.better_phrasing,
                        integrity_flags=flags,
                        grader=self.name,
                        **self._stamp(),
                    )
                previous = output.model_dump_json()
            errors.append(f"attempt {attempt + 1}: " + "; ".join(problems))
            log.info("grader_turn attempt %d invalid: %s | raw=%r", attempt + 1, problems, previous[:2000])
            messages = [
                *messages[:2],
                Message(role="assistant", content=neutralise(previous[:_RAW_ECHO_CHARS]) or "(empty answer)"),
                repair_message(fence, problems),
            ]
        return self._ungraded("invalid grader output after one repair: " + " | ".join(errors)[:2000], flags)


def _without_payload(text: str) -> str | None:
    """The turn with injection spans removed (None when `simulator.grading.integrity` is not there)."""
    try:
        from simulator.grading.integrity import strip_injection_spans
    except ImportError:
        return None
    try:
        return neutralise(strip_injection_spans(text))
    except Exception:
        log.exception("strip_injection_spans failed; no cross-check for this turn")
        return None


def _short_error(exc: Exception) -> str:
    """A validation error as a few readable lines (pydantic's text names the fields and the problems)."""
    text = str(exc)
    marker = "structured output failed validation: "
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line for line in text.splitlines() if line.strip() and "errors.pydantic.dev" not in line]
    return " / ".join(lines)[:800] or type(exc).__name__
