"""The reply plan: what the caller's next line must do, decided before any model speaks.

The mood state machine decides how the call goes; this module decides what the next reply *does*, as
data (`ReplyPlan`), from the trainee's move and the caller's new state:

1. the call has ended -> `close` / `hang_up` / `escalate` / `end_unresolved` (the outcome's act);
2. an offer (a `solution_offer` turn, matched by `simulator.call.mood.match_offer`): a refused one ->
   `reject_offer` with the reason from `will_not_accept`; an acceptable one -> `accept_offer` once the
   caller is calming or open, else `counter_offer`; one that matches nothing -> `counter_offer`;
3. the agent argues with their account (`fact_confrontation`) -> `push_back`;
4. a question: matched to the persona's facts by their `reveal_when_asked` phrases and shared content
   words (a fact not revealed yet, by `reveal_after_turn`, is not given) -> `answer` with that fact;
   matched to a `does_not_know` topic, or asking for a detail the persona does not hold (an order
   number, an address) -> `dont_know`; "what happened?" -> `answer` with the next fact not said yet;
   "what would make this right?" -> `restate_demand`; "does that work for you?" weighs the offer on
   the table (as an offer does); small talk -> `restate_demand`;
5. the agent listened (reflection, validation, perspective-taking, an apology) -> `acknowledge` once
   the caller is wary or calmer, else `restate_demand`;
6. anything else -> `restate_demand`.

Pure and deterministic: the same call gives the same plans, on replay too. The model voices the plan
(`stage_direction`, spliced into every prompt form); `simulator.caller.coherence` checks the reply
against it; the persona's own `lines` stand in where the model can't (`simulator.caller.lines`).
Each reply's plan is stored with it as a `caller_plan` guard event (`PlanRecord`), so the debrief and
the persona designer can show what the caller meant to do (`plans_in_record`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from simulator.call.mood import MoodState, match_offer, mood_label
from simulator.caller.budget import LoggedTurn
from simulator.caller.words import quantities, stems
from simulator.grading.labels import Behaviour
from simulator.persona.schema import (
    CLOSING_ACTS,
    Act,
    Fact,
    MoodName,
    Persona,
    Refusal,
    contains_phrase,
)
from simulator.vocabulary import Outcome

PLAN_EVENT = "caller_plan"
"""The guard-event kind a reply's `PlanRecord` is stored under (its turn id is the caller reply's)."""

Voice = Literal["model", "authored", "example"]
"""Who produced the reply: the caller model; the persona's own `lines` (standing in, or the scripted
caller); or an `example_lines`/`closing_lines` fallback (a persona without `lines`)."""

_ACKNOWLEDGED = frozenset(
    {
        Behaviour.REFLECTION,
        Behaviour.VALIDATION,
        Behaviour.PERSPECTIVE_TAKING,
        Behaviour.APOLOGY,
        Behaviour.INFORMATION,
        Behaviour.NEEDS_CHECK,
    }
)
_SETTLING: frozenset[MoodName] = frozenset({"calming", "open"})
_LISTENING: frozenset[MoodName] = frozenset({"wary", "calming", "open"})

_I = re.IGNORECASE
_OPENER = r"^(?:(?:so|and|but|okay|ok|right|well|also|then|now|sorry|please|just|alright|look|great)[,\s]+)*"
_ASKING = re.compile(
    _OPENER + r"(what|what's|whats|when|where|why|who|which|how|is|are|was|were|do|does|did|can|could|would|"
    r"will|have|has|had|may|shall|should|tell me|walk me through|talk me through|explain|describe|"
    r"help me understand|let me know)\b",
    _I,
)
_NEEDS = re.compile(
    r"\bwhat (would|will|could|can|might) (make|put|set) (this|it|things) right\b|\bwhat (would|could|will|might) "
    r"help\b|\bwhat matters\b|\bwhat('s| is) (most )?important\b|\bwhat (do|would) you (want|like|expect)\b|"
    r"\bwhat (can|could|should) (i|we) do\b|\bwhat outcome\b|\bhow (can|could|should) (i|we) (fix|sort|put|make)\b|"
    r"\bwhat are you (hoping|looking) for\b|\bsomething else that matters\b|\bwhat would work\b",
    _I,
)
_CONFIRM = re.compile(
    r"\b(does|would|will|could) (that|this|it) (work|help|suit|do|be (ok|okay|alright|acceptable)|sort)\b|"
    r"\bhow does (that|this) sound\b|\bis (that|this) (ok|okay|alright|acceptable|fair|all right)\b|"
    r"\bare you happy with\b|\bcan you live with\b|\bshall i go ahead\b",
    _I,
)
_NARRATIVE = re.compile(
    r"\bwhat happened\b|\btell me (more|about|what|everything)\b|\bwalk me through\b|\btalk me through\b|"
    r"\bexplain\b|\bfrom your side\b|\bin your own words\b|\bwhat('s| is| has been) going on\b|"
    r"\bwhat went wrong\b|\bhow (is|has) (this|that|it) (been )?(affect|affecting|impact)\w*\b|"
    r"\bhow (are|do) you feel\b|\bhow are you (doing|coping|holding)\b|\bhow (does|did) (this|that|it) "
    r"(make|leave) you\b",
    _I,
)
_DETAIL = re.compile(
    r"\b(order|account|reference|ref|booking|tracking|membership|customer|case|ticket|phone|mobile|card|"
    r"serial|invoice) (number|no|id|code)\b|\bpost ?code\b|\bzip code\b|\bdate of birth\b|"
    r"\b(e-?mail|home|delivery|postal) address\b|\bsecurity (question|answer)\b|\bpassword\b",
    _I,
)
_MONEY = re.compile(r"\bhow much\b|\bcost|\bprice|\bpa(y|id)\b|\bcharge|\bspen[dt]\b|\bamount\b|\bfee\b", _I)
_TIME = re.compile(r"\bwhen\b|\bhow long\b|\bwhat (time|day|date)\b|\bwhich day\b|\bsince\b|\bby when\b", _I)
_WH = re.compile(r"\b(when|where|why|what|whether|which|how|who)\b", _I)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


class ReplyPlan(BaseModel):
    """What one caller reply must do. Everything a person needs to judge the reply is here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    act: Act
    mood: MoodName
    """The caller's mood after the trainee's turn (selects the persona's lines)."""
    turn: int = 0
    """The trainee turn this reply answers (0 before the first)."""
    fact: str | None = None
    """For `answer`: the fact's id (or `knows.N` when it has none)."""
    fact_text: str | None = None
    """The fact as the persona states it (third person), for the check."""
    fact_say: str | None = None
    """What to say: the fact's first-person `say`, else its text."""
    unknown: str | None = None
    """For `dont_know`: the `does_not_know` topic asked about ("" when no topic matched)."""
    refusal: str | None = None
    """For `reject_offer`: what they will not accept (its description)."""
    refusal_say: str | None = None
    """The reason, in the caller's words (the refusal's `say`, else its description)."""
    demand: str | None = None
    """For `restate_demand` / `counter_offer`: the demand to come back to."""
    need: str | None = None
    """When the agent asked what matters: the real need behind the demand."""
    remedy: str | None = None
    """For `accept_offer` / `counter_offer`: the acceptable remedy's id on the table."""
    outcome: Outcome | None = None
    """For the closing acts: the outcome the state machine decided."""
    question: str | None = None
    """The trainee's question this reply answers, if any."""
    why: str = ""
    """One line for the debrief: why this act (e.g. "asked about 'dough': fact dough_hook")."""

    @property
    def closing(self) -> bool:
        """True for the acts that end the call."""
        return self.outcome is not None

    def summary(self) -> str:
        """One line for a debrief or the designer, e.g. "answer with fact paid (angry): asked about it"."""
        what = self.act.replace("_", " ")
        if self.fact:
            what += f" with fact {self.fact}"
        elif self.unknown:
            what += f" ({self.unknown})"
        elif self.refusal:
            what += f" ({self.refusal})"
        return f"{what} ({self.mood}): {self.why}" if self.why else f"{what} ({self.mood})"


class PlanCheckFailure(BaseModel):
    """One way a reply missed its plan (see `simulator.caller.coherence`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["act", "fact", "offers_remedy", "unheld_quantity", "agent_voice", "repeated", "not_speech", "empty"]
    detail: str


class PlanRecord(BaseModel):
    """A reply's plan and how it was voiced, as stored with the reply (guard event `caller_plan`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan: ReplyPlan
    voice: Voice
    model_failures: list[PlanCheckFailure] = Field(default_factory=list)
    """Why the model's own reply was not shown (empty when it was, or when no model spoke)."""
    failures: list[PlanCheckFailure] = Field(default_factory=list)
    """What the shown reply still misses (empty when it passes its plan)."""
    guard_failures: list[str] = Field(default_factory=list)
    """The in-character guard's checks the model's replies failed (`simulator.vocabulary.GuardKind`)."""

    @property
    def act(self) -> str:
        """The planned act, readable ("answer", "reject offer")."""
        return self.plan.act.replace("_", " ")

    def carried(self, ids: bool = True) -> str:
        """What the reply was to carry, in a few words: the fact, the refusal, the demand ("" for none).

        Args:
            ids: Name the persona's fact and remedy ids ("fact paid: …", for designers); False for the
                trainee's debrief, where an id reads as jargon ("fact: …", "remedy: check then replace").
        """
        p = self.plan
        if p.fact:
            name = f"fact {p.fact}" if ids else "fact"
            return f"{name}: “{_clip(p.fact_say or p.fact_text or '')}”"
        if p.unknown is not None:
            return f"doesn't know {p.unknown}" if p.unknown else "a detail the caller doesn't hold"
        if p.refusal:
            return f"won't accept: “{_clip(p.refusal_say or p.refusal)}”"
        if p.remedy:
            return f"remedy {p.remedy}" if ids else f"remedy: {p.remedy.replace('_', ' ')}"
        if p.need:
            return f"need: “{_clip(p.need)}”"
        if p.demand:
            return f"demand: “{_clip(p.demand)}”"
        if p.outcome:
            return f"outcome {p.outcome.replace('_', ' ')}"
        return ""

    def stand_in_reason(self) -> str:
        """Why the model's reply was not shown, e.g. "did not carry the fact" ("" when it was)."""
        why = [_reasons(self.model_failures)] if self.model_failures else []
        why += [GUARD_TEXT.get(kind, kind.replace("_", " ")) for kind in self.guard_failures]
        return "; ".join(w for w in why if w)

    def voiced_by(self) -> str:
        """Who spoke the reply and, when the persona's line stood in, why."""
        if self.voice == "model":
            return "the model" + (f" (still misses: {_reasons(self.failures)})" if self.failures else "")
        line = "the persona's own line" if self.voice == "authored" else "a persona example line"
        why = self.stand_in_reason()
        if why:
            return f"{line} (the model's reply {why})"
        return "the scripted caller (the persona's own line)" if self.voice == "authored" else f"{line} (no model)"

    def detail(self) -> str:
        """The stored form (compact JSON).

        Dumped through `json` rather than pydantic's encoder: a plan can quote the trainee's text, which may
        hold a lone surrogate that pydantic refuses to encode. The store canonicalises it (U+FFFD).
        """
        data = self.model_dump(mode="json", exclude_defaults=True)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


GUARD_TEXT: dict[str, str] = {
    "empty": "said nothing",
    "canary_leak": "leaked its prompt",
    "hidden_leak": "quoted the persona's hidden notes",
    "structured_output": "was markup, not speech",
    "agent_speak": "spoke as the agent",
    "ai_self_reference": "talked about being an AI",
}
"""The guard's checks as the debrief says them ("the model's reply spoke as the agent")."""

_FAILURE_TEXT: dict[str, str] = {
    "act": "did not do what it was meant to",
    "fact": "did not carry the fact",
    "offers_remedy": "offered a fix itself",
    "unheld_quantity": "said a number the persona does not hold",
    "agent_voice": "spoke as the company",
    "repeated": "repeated an earlier line",
    "not_speech": "was not speech on a call",
    "empty": "said nothing",
}


def _reasons(failures: Sequence[PlanCheckFailure]) -> str:
    kinds = dict.fromkeys(f.kind for f in failures)
    return ", ".join(_FAILURE_TEXT.get(k, k) for k in kinds)


def _clip(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _StoredEvent(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def turn_id(self) -> str | None: ...


class _WithEvents(Protocol):
    @property
    def guard_events(self) -> Sequence[_StoredEvent]: ...


def plans_in_record(record: _WithEvents) -> dict[str, PlanRecord]:
    """The stored plan of every caller reply in a session, by the reply's turn id (for debriefs).

    `record` is a `simulator.storage.SessionRecord` (anything with its `guard_events`).

    Events that do not parse (written by another version) are skipped.
    """
    plans: dict[str, PlanRecord] = {}
    for event in record.guard_events:
        if event.kind != PLAN_EVENT or event.turn_id is None:
            continue
        try:
            plans[event.turn_id] = PlanRecord.model_validate_json(event.detail)
        except ValueError:
            continue
    return plans


# --- facts ----------------------------------------------------------------------------------------


def fact_key(persona: Persona, fact: Fact) -> str:
    """The fact's id, or `knows.N`."""
    return fact.id or f"knows.{persona.scenario.knows.index(fact)}"


def fact_available(fact: Fact, turn: int, agent_said: str) -> bool:
    """Whether the caller may mention `fact` now (progressive disclosure).

    A fact with `reveal_when_asked` phrases is revealed once the agent said one of them, or from
    `reveal_after_turn` if that is set; one without is revealed from `reveal_after_turn`.
    """
    if any(contains_phrase(agent_said, phrase) for phrase in fact.reveal_when_asked):
        return True
    if fact.reveal_when_asked:
        return fact.reveal_after_turn > 0 and turn >= fact.reveal_after_turn
    return turn >= fact.reveal_after_turn


def fact_said(fact: Fact, caller_lines: Sequence[str]) -> bool:
    """Whether the caller already said this fact (most of its content words in one line)."""
    wanted = stems(fact.say or fact.text) | stems(fact.text)
    core = stems(fact.text)
    for line in caller_lines:
        got = stems(line)
        if core and len(core & got) >= max(1, (2 * len(core) + 2) // 3):
            return True
        if wanted and len(wanted & got) >= max(2, (2 * len(wanted) + 2) // 3):
            return True
    return False


def _fact_score(fact: Fact, question: str) -> tuple[float, str | None]:
    hits = [p for p in fact.reveal_when_asked if contains_phrase(question, p)]
    score = 0.0
    if hits:
        score += 3 + 0.1 * max(len(p) for p in hits)
    words = stems(fact.text) | stems(fact.say or "")
    score += len(stems(question) & words)
    body = f"{fact.text} {fact.say or ''}"
    if _MONEY.search(question) and re.search(r"[£$€]\s?\d|\b(pay|paid|cost|charg)", body, _I):
        score += 2
    if _TIME.search(question) and quantities(body):
        score += 1
    return score, (hits[0] if hits else None)


def _topic_score(topic: str, question: str) -> float:
    words = stems(topic)
    overlap = words & stems(question)
    if not words or not overlap:
        return 0.0
    if len(overlap) < 2 and len(overlap) / len(words) < 0.5:
        return 0.0
    score = float(len(overlap))
    topic_wh = _WH.search(topic)
    question_wh = _WH.search(question)
    if topic_wh and question_wh and topic_wh.group(1).lower() == question_wh.group(1).lower():
        score += 1
    return score


def questions_in(text: str) -> list[str]:
    """The sentences of a trainee turn that ask something (ending in '?', or starting like a question)."""
    found = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        if sentence and (sentence.endswith("?") or _ASKING.match(sentence)):
            found.append(sentence)
    return found


# --- planning -------------------------------------------------------------------------------------


def plan_reply(
    persona: Persona, state: MoodState, turns: Sequence[LoggedTurn], closing: Outcome | None = None
) -> ReplyPlan:
    """The plan for the caller's next reply (see the module docstring).

    Args:
        persona: The persona on the line.
        state: The caller's state after the trainee's latest turn.
        turns: The call so far, oldest first; the latest agent turn carries its verdict.
        closing: The outcome the state machine decided, when the call is ending.
    """
    mood = mood_label(state)
    scenario = persona.scenario
    demand = scenario.demands[state.turn % len(scenario.demands)]
    if closing is not None:
        return _make(CLOSING_ACTS[closing], state, outcome=closing, why=f"the call ends: {closing}")
    last = next((t for t in reversed(turns) if t.utterance.role == "agent"), None)
    if last is None:
        return _make("restate_demand", state, demand=demand, why="nothing asked yet")
    text, verdict = last.utterance.text, last.verdict
    offer = match_offer(persona, verdict, text) if verdict is not None else None
    if offer is not None and offer.kind == "unacceptable":
        refusal = _refusal(persona, offer.phrase)
        return _make(
            "reject_offer",
            state,
            refusal=refusal.description,
            refusal_say=refusal.say or refusal.description,
            why=f"offered {offer.phrase!r}, which they will not accept",
        )
    if offer is not None:
        return _weigh(persona, state, demand, offer.remedy, f"offered {offer.phrase!r}" if offer.phrase else "")
    behaviours = set(verdict.behaviours) if verdict is not None else set()
    if Behaviour.FACT_CONFRONTATION in behaviours:
        return _make("push_back", state, demand=demand, why="the agent argued with their account")
    asked = _plan_question(persona, state, turns, text, demand)
    if asked is not None:
        return asked
    if behaviours & _ACKNOWLEDGED and mood in _LISTENING:
        return _make("acknowledge", state, why="the agent listened")
    why = "the agent listened, but they are still too angry" if behaviours & _ACKNOWLEDGED else "no question"
    return _make("restate_demand", state, demand=demand, why=why)


def _make(act: Act, state: MoodState, **fields: Any) -> ReplyPlan:
    return ReplyPlan(act=act, mood=mood_label(state), turn=state.turn, **fields)


def _refusal(persona: Persona, phrase: str | None) -> Refusal:
    for refusal in persona.scenario.will_not_accept:
        if phrase is not None and phrase in refusal.match:
            return refusal
    return persona.scenario.will_not_accept[0]


def _weigh(persona: Persona, state: MoodState, demand: str, remedy: str | None, why: str) -> ReplyPlan:
    if remedy is not None and mood_label(state) in _SETTLING:
        return _make("accept_offer", state, remedy=remedy, why=f"{why}; calm enough to take it".lstrip("; "))
    reason = "not calm enough to take it yet" if remedy is not None else "not what they asked for"
    return _make("counter_offer", state, remedy=remedy, demand=demand, why=f"{why}; {reason}".lstrip("; "))


def _plan_question(
    persona: Persona, state: MoodState, turns: Sequence[LoggedTurn], text: str, demand: str
) -> ReplyPlan | None:
    asked = questions_in(text)
    if not asked:
        return None
    scenario = persona.scenario
    agent_said = " ".join(t.utterance.text for t in turns if t.utterance.role == "agent")
    caller_said = [t.utterance.text for t in turns if t.utterance.role == "customer"]
    if any(_CONFIRM.search(q) for q in asked):  # "does that work for you?" weighs the offer on the table
        return _weigh(persona, state, demand, state.remedy_on_table, "asked if the offer works")
    best: tuple[float, str, Fact | None, str | None, str] | None = None  # score, kind, fact, topic, q
    for question in asked:
        for fact in scenario.knows:
            score, hit = _fact_score(fact, question)
            if score >= 1 and (best is None or score > best[0]):
                best = (score + (0.5 if hit else 0), "fact", fact, hit, question)
        for topic in scenario.does_not_know:
            score = _topic_score(topic, question)
            if score and (best is None or score > best[0]):
                best = (score, "unknown", None, topic, question)
    if best is not None and best[1] == "fact" and best[2] is not None:
        fact, hit, question = best[2], best[3], best[4]
        key = fact_key(persona, fact)
        if fact_available(fact, state.turn, agent_said):
            about = f"asked about {hit!r}" if hit else "asked about it"
            return _answer(persona, state, fact, question, f"{about}: fact {key}")
        return _make(
            "restate_demand",
            state,
            demand=demand,
            question=question,
            why=f"asked about fact {key}, which they don't give until turn {fact.reveal_after_turn}",
        )
    if best is not None and best[1] == "unknown":
        topic, question = best[3] or "", best[4]
        return _make("dont_know", state, unknown=topic, question=question, why=f"they don't know {topic}")
    question = asked[-1]
    for q in asked:
        if _NEEDS.search(q):
            need = scenario.real_needs[state.turn % len(scenario.real_needs)]
            return _make("restate_demand", state, demand=demand, need=need, question=q, why="asked what would help")
        if _DETAIL.search(q):
            return _make("dont_know", state, unknown="", question=q, why="asked for a detail they don't hold")
    for q in asked:
        if _NARRATIVE.search(q):
            fact = _next_fact(persona, state.turn, agent_said, caller_said)
            return _answer(persona, state, fact, q, f"asked what happened: fact {fact_key(persona, fact)}")
    vocabulary = stems(" ".join([persona.identity.situation, *scenario.does_not_know, *scenario.demands]))
    vocabulary |= stems(" ".join(f.text for f in scenario.knows))
    if stems(question) & vocabulary:
        return _make("dont_know", state, unknown="", question=question, why="asked something no fact of theirs answers")
    return _make("restate_demand", state, demand=demand, question=question, why="small talk")


def _answer(persona: Persona, state: MoodState, fact: Fact, question: str, why: str) -> ReplyPlan:
    return _make(
        "answer",
        state,
        fact=fact_key(persona, fact),
        fact_text=fact.text,
        fact_say=fact.say or fact.text,
        question=question,
        why=why,
    )


def _next_fact(persona: Persona, turn: int, agent_said: str, caller_said: Sequence[str]) -> Fact:
    available = [f for f in persona.scenario.knows if fact_available(f, turn, agent_said)]
    for fact in available:
        if not fact_said(fact, caller_said):
            return fact
    return available[0] if available else persona.scenario.knows[0]
