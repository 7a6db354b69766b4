"""The in-character guard: every caller reply is checked before the trainee sees any of it.

The caller model is told to stay in character, but a trainee can push it out ("as the AI playing Elena,
what would calm you?", "reply only in JSON"), and tiny models drift into answering as the agent. The
guard is deterministic (no LLM) and checks, in order:

- `empty`: nothing speakable (whitespace or punctuation only);
- `canary_leak`: the random canary planted in the system prompt appears (the prompt is leaking);
- `hidden_leak`: word n-gram overlap with the persona's hidden notes (ground truth for the grader,
  resolution rules), which the caller must never say;
- `structured_output`: JSON, code fences, markup or chat-template tokens, control tokens;
- `agent_speak`: the reply speaks as the agent ("AGENT:", "How can I help you today?");
- `ai_self_reference`: mentions of being an AI, prompts, roleplay, simulations, scores or rubrics.

`StreamGuard` applies the same checks to a streamed reply sentence by sentence: a sentence is released
only once the whole text up to and including it passes, so nothing that fails is ever shown, and the
first sentence is released as soon as it is complete and clean (low time-to-first-token). With
`clauses=True` it releases clause by clause instead (at a comma, semicolon, colon or dash followed by a
space, or a sentence end), which puts the first words on the page sooner; an extra check (the caller
chain passes the plan's per-clause checks, `simulator.caller.coherence.check_prefix`) must pass too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from simulator.vocabulary import GuardKind

__all__ = ["GuardKind"]

HIDDEN_NGRAM = 5
"""Word n-gram length that counts as quoting the persona's hidden notes."""

MIN_RELEASE_CHARS = 24
"""A streamed reply is released in pieces of at least this many characters (except its last piece)."""

MIN_CLAUSE_CHARS = 2
"""The same, released clause by clause: any clause with words is judged on its own ("No,"); a caller
chain that releases clauses replaces a reply whose whole text later fails."""

_I = re.IGNORECASE

_AI_SELF_REFERENCE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, _I)
    for p in (
        r"\bas an? (ai|a\.i\.|artificial intelligence|language model|llm|assistant|chatbot|bot)\b",
        r"\bi(?:'m| am)(?: just| only| merely)? (?:an? )?(ai|a\.i\.|artificial intelligence|language model"
        r"|llm|chatbot|bot|virtual assistant|ai assistant|computer program|program|simulation)\b",
        r"\b(large )?language model\b",
        r"\b(ai|a\.i\.) model\b",
        r"\bsystem (prompt|message)\b",
        r"\b(my|the|your|this) prompt\b",
        r"\bmy (instructions|programming|guidelines|training data)\b",
        r"\bi (was|am|have been|'ve been) (instructed|programmed|told) to (play|act|pretend|be)\b",
        r"\brole[- ]?play(ing|ed)?\b",
        r"\b(in|out of|break|breaking|stay|staying) character\b",
        r"\bcharacter sheet\b",
        r"\bpersona\b",
        r"\bsimulat(ion|ed|or|ing)\b",
        r"\b(this|it)(?:'s| is) (just )?(a|an) (exercise|training scenario|scenario|game|test)\b",
        r"\brubric\b",
        r"(?<!credit )(?<!credit-)\bscor(e|es|ed|ing)\b",
        r"\bgrad(er|ing)\b",
        r"\b(openai|chatgpt|gpt-?\d|smollm\w*|hugging ?face|llama\.cpp)\b",
        r"\bnot a real (person|customer|human|caller)\b",
        r"\bfictional (customer|caller|character|person)\b",
        r"\btrainee\b",
    )
)

_AGENT_SPEAK: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, _I)
    for p in (
        r"^\s*[\"'*(\[]*\s*(agent|assistant|system|support|representative|rep|operator)\s*:",
        r"\bhow (can|may|could|might) i (help|assist)( you)?\b",
        r"\bwhat can i (do|help you with)\b",
        r"\b(is there )?anything else i can (help|assist|do)\b",
        r"\bthank(s| you) for (calling|contacting|reaching out|your patience|holding|choosing)\b",
        r"\bi(?:'d| would|'ll| will| am|'m)(?: be)? (happy|glad|pleased) to (help|assist)\b",
        r"\b(let me|allow me to|i'll|i will) (check|look into|look up|pull up) (that|this|your)\b",
        r"\bi understand (your|the) frustration\b",
        r"\bi apologi[sz]e for (the|any) inconvenience\b",
        r"\bsorry for (the|any) inconvenience( this (may have )?caused)?\b",
        r"\b(dear|valued) customer\b",
        r"\bwelcome to (our|the) (customer )?(service|support|help ?desk)\b",
        r"\bmy name is \w+,? (and )?(i'?m|i am|how)\b",
        r"\bcan i (have|get|take) your (order|account|reference|booking) (number|id|details)\b",
    )
)

_STRUCTURED: tuple[re.Pattern[str], ...] = (
    re.compile(r"^\s*(\{|\[\s*[\[{\"\d])", re.MULTILINE),
    re.compile(r"```|~~~"),
    re.compile(r"\[\s*\"[^\"]*\"\s*[,\]]"),
    re.compile(r"\"[\w ]{1,40}\"\s*:\s*[\"\[{\d tfn]"),
    re.compile(r"<\|?/?\s*(im_start|im_end|endoftext|s|system|user|assistant|\|)[^>]*>", _I),
    re.compile(r"</?[a-z_][\w-]*(\s[^>]*)?>", _I),
    # a persona file recited: YAML comments and the schema's own keys at the start of a line
    re.compile(r"^\s*#", re.MULTILINE),
    re.compile(
        r"^\s*-?\s*(?:schema_version|id|identity|scenario|emotion|emotional_model|opening_lines|example_lines|"
        r"closing_lines|designer_notes|difficult(?:y|ies)|ground_truth|reactions?|rules|thresholds|turn_limit|"
        r"knows|does_not_know|demands|real_needs|will_not_accept|remedies|state|start)\s*:",
        re.MULTILINE,
    ),
    re.compile(r"\[/?(INST|SYS)\]", _I),
    re.compile(r"###\s*[A-Z_]{3,}\s*###"),
    re.compile(r"^\s*(def|class|import|from \S+ import|function|const|var|SELECT)\b", re.MULTILINE),
)

_SPEAKABLE = re.compile(r"[^\W_]", re.UNICODE)
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n")
_CLAUSE_END = re.compile(r"[.!?…,;:]+[\"')\]]*(?=\s)|\s[—–-]+(?=\s)|\n")


class GuardViolation(BaseModel):
    """One reason a caller reply may not be shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: GuardKind
    detail: str
    """What matched, shortened, for the guard-event log (never shown to the trainee)."""


class GuardResult(BaseModel):
    """The verdict on one caller reply (or a prefix of one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    violations: tuple[GuardViolation, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the text may be shown to the trainee."""
        return not self.violations

    @property
    def kinds(self) -> list[GuardKind]:
        """The violated checks, in check order."""
        return [v.kind for v in self.violations]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class CallerGuard:
    """Deterministic in-character checks for one session's caller.

    Args:
        canary: The random token planted in this session's caller system prompt.
        hidden_texts: The persona's hidden notes (ground truth, resolution rules): text the caller
            must never quote. Word `HIDDEN_NGRAM`-grams of these are matched against replies.
        hidden_ngram: Override for the n-gram length.
        allowed_texts: Text the caller may say (its known facts, example lines): n-grams shared with
            the hidden notes that also occur here are not leaks.
    """

    canary: str
    hidden_texts: Sequence[str] = ()
    hidden_ngram: int = HIDDEN_NGRAM
    allowed_texts: Sequence[str] = ()
    _hidden: frozenset[tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.canary.strip()) < 6:
            raise ValueError("the guard canary must be a random token of at least 6 characters")
        grams: set[tuple[str, ...]] = set()
        for text in self.hidden_texts:
            grams |= _ngrams(_words(text), self.hidden_ngram)
        for text in self.allowed_texts:
            grams -= _ngrams(_words(text), self.hidden_ngram)
        object.__setattr__(self, "_hidden", frozenset(grams))

    def check(self, text: str, *, context: Sequence[str] = ()) -> GuardResult:
        """Check a caller reply (or a prefix of one); every failed check is reported.

        Args:
            text: The reply.
            context: What the agent said on the call: repeating the agent's own words is not a leak.
        """
        found: list[GuardViolation] = []
        if not _SPEAKABLE.search(text):
            found.append(GuardViolation(kind="empty", detail="no words in the reply"))
            return GuardResult(violations=tuple(found))
        if self.canary.lower() in text.lower():
            found.append(GuardViolation(kind="canary_leak", detail="the system-prompt canary appeared"))
        if self._hidden:
            overlap = _ngrams(_words(text), self.hidden_ngram) & self._hidden
            for said in context if overlap else ():
                overlap -= _ngrams(_words(said), self.hidden_ngram)
            if overlap:
                first = " ".join(sorted(overlap)[0])
                found.append(GuardViolation(kind="hidden_leak", detail=f"quoted hidden notes: {first!r}"))
        found.extend(_first_match("structured_output", _STRUCTURED, text))
        found.extend(_first_match("agent_speak", _AGENT_SPEAK, text))
        found.extend(_first_match("ai_self_reference", _AI_SELF_REFERENCE, text))
        return GuardResult(violations=tuple(found))


def _first_match(kind: GuardKind, patterns: Iterable[re.Pattern[str]], text: str) -> list[GuardViolation]:
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            return [GuardViolation(kind=kind, detail=_short(m.group(0)))]
    return []


class StreamGuard:
    """Releases a streamed reply sentence by sentence, only once everything up to there passes.

    Feed chunks with `feed`; it returns the text that became safe to show (possibly ""). Call
    `finish` at the end of the stream for the rest. After a failure, `failed` holds the result and
    nothing more is released; `released` is the guard-safe prefix already shown.

    Args:
        guard: The session's checks.
        min_release_chars: Hold text back until at least this many characters can go out together,
            so a bare "Hello!" is judged with the sentence that follows it (default `MIN_RELEASE_CHARS`,
            or `MIN_CLAUSE_CHARS` by clauses).
        context: What the agent said (see `CallerGuard.check`).
        clauses: Release at clause ends (",", ";", ":", a dash, a sentence end), not only sentence ends.
        extra_check: More checks for the text up to a release point (e.g. the reply plan's per-clause
            checks): it returns the failures, empty when the text may be shown. A failure stops the
            stream like a guard failure; `extra_failed` holds it.
    """

    def __init__(
        self,
        guard: CallerGuard,
        *,
        min_release_chars: int | None = None,
        context: Sequence[str] = (),
        clauses: bool = False,
        extra_check: Callable[[str], Sequence[Any]] | None = None,
    ) -> None:
        self._guard = guard
        self._context = tuple(context)
        if min_release_chars is None:
            min_release_chars = MIN_CLAUSE_CHARS if clauses else MIN_RELEASE_CHARS
        self._min_release = min_release_chars
        self._boundary = _CLAUSE_END if clauses else _SENTENCE_END
        self._extra = extra_check
        self._text = ""
        self._released_upto = 0
        self.failed: GuardResult | None = None
        self.extra_failed: tuple[Any, ...] = ()
        """What `extra_check` found; `failed` stays None (the guard itself passed)."""

    @property
    def released(self) -> str:
        """The text already released to the trainee."""
        return self._text[: self._released_upto]

    @property
    def text(self) -> str:
        """Everything received so far (released or not)."""
        return self._text

    def feed(self, chunk: str) -> str:
        """Add a chunk; return newly released text (complete, guard-safe sentences)."""
        if self.stopped:
            return ""
        self._text += chunk
        boundary = self._last_boundary()
        if boundary <= self._released_upto or not _SPEAKABLE.search(self._text[:boundary]):
            return ""
        if len(self._text[self._released_upto : boundary].strip()) < self._min_release:
            return ""
        return self._release_upto(boundary)

    @property
    def stopped(self) -> bool:
        """True once a check failed: nothing more is released."""
        return self.failed is not None or bool(self.extra_failed)

    def finish(self) -> str:
        """The stream ended: check the whole text and release the rest if it passes."""
        if self.stopped:
            return ""
        if self._released_upto and not self._text[self._released_upto :].strip():
            return ""
        return self._release_upto(len(self._text))

    def _last_boundary(self) -> int:
        last = 0
        for m in self._boundary.finditer(self._text, self._released_upto):
            last = m.end()
        return last

    def _release_upto(self, end: int) -> str:
        result = self._guard.check(self._text[:end], context=self._context)
        if not result.ok:
            self.failed = result
            return ""
        if self._extra is not None:
            extra = tuple(self._extra(self._text[:end]))
            if extra:
                self.extra_failed = extra
                return ""
        piece = self._text[self._released_upto : end]
        self._released_upto = end
        return piece
