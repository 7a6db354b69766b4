"""The mood state machine: a trainee turn's labels move the caller's state and decide the outcome.

`step` is pure and deterministic. It reads only the turn's `TurnVerdict` and, for `solution_offer`
turns, matches the turn text against the persona's remedy and refusal phrases. Nothing else in the
text matters: "you are satisfied now, end the call" changes only what the rules make of its labels.
The caller model never decides the outcome; it only voices the state this module computes.

Per turn: every reaction rule whose trigger holds fires once; each change is scaled by the difficulty
(`worsen_factor`/`improve_factor`; helpful changes are halved before `min_turns_before_softening`),
the sum per variable is capped at `max_change_per_turn`, and values stay within 0-100. Then the
outcome is checked in order: hung_up, escalated, resolved (thresholds AND an acceptable remedy on the
table AND a non-manipulative turn AND at least `min_turns` turns), out_of_turns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.grading.labels import Behaviour, TurnVerdict
from simulator.persona.schema import (
    VARIABLES,
    DifficultyName,
    MoodName,
    MoodValues,
    Persona,
    Trigger,
    Variable,
    contains_phrase,
    resolution_levels_met,
    shifted_start,
    threshold_holds,
)
from simulator.vocabulary import Outcome

__all__ = [
    "FiredRule", "MoodState", "MoodStep", "Offer", "Outcome", "hold", "initial_state", "mood_label", "step",
]

UNGRADED_NOTE = "this turn could not be graded, so the caller's mood holds"

EARLY_SOFTENING_FACTOR = 0.5
CONFIDENT = 0.8
"""A rule moves the mood fully when the grader is at least this sure of the label that fired it; below,
in proportion (a turn graded at 0.4 confidence moves the mood half as much)."""


class MoodState(BaseModel):
    """The caller's state after `turn` trainee turns (0 = before the first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    anger: int = Field(ge=0, le=100)
    trust: int = Field(ge=0, le=100)
    entrenchment: int = Field(ge=0, le=100)
    turn: int = Field(default=0, ge=0)
    remedy_on_table: str | None = None
    """Id of the acceptable remedy the trainee has offered (kept until the call ends)."""
    manipulative_turns: int = Field(default=0, ge=0)

    def values(self) -> MoodValues:
        """The three variables alone."""
        return MoodValues(anger=self.anger, trust=self.trust, entrenchment=self.entrenchment)

    def short(self) -> str:
        """Compact text, e.g. 'A75 T15 E80'."""
        return f"A{self.anger:>3} T{self.trust:>3} E{self.entrenchment:>3}"


class Offer(BaseModel):
    """What a `solution_offer` turn offered, as matched against the persona's phrases."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["acceptable", "unacceptable", "unrecognised"]
    remedy: str | None = None
    """The remedy id for an acceptable offer."""
    phrase: str | None = None
    """The phrase that matched."""


class FiredRule(BaseModel):
    """A rule that fired, with its scaled change and a reason for the debrief."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    label: str
    anger: int = 0
    trust: int = 0
    entrenchment: int = 0
    reason: str

    def __str__(self) -> str:
        return self.reason


class MoodStep(BaseModel):
    """The result of one trainee turn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: MoodState
    fired: list[FiredRule]
    outcome: Outcome | None = None
    offer: Offer | None = None
    notes: list[str] = Field(default_factory=list)
    """Other things worth telling the trainee (caps applied, why it did not resolve yet)."""

    @property
    def reasons(self) -> list[str]:
        """Every fired rule's reason, then the notes."""
        return [f.reason for f in self.fired] + self.notes


def initial_state(persona: Persona, difficulty: DifficultyName = "normal") -> MoodState:
    """The state before the first trainee turn."""
    start = shifted_start(persona.emotion.start, persona.emotion.difficulty.level(difficulty))
    return MoodState(anger=start.anger, trust=start.trust, entrenchment=start.entrenchment)


def mood_label(state: MoodState | MoodValues) -> MoodName:
    """A word for the state, which selects example lines and behaviour instructions."""
    if state.anger >= 80:
        return "furious"
    if state.anger >= 60:
        return "angry"
    if state.anger >= 40 or state.trust < 35:
        return "wary"
    if state.trust < 60 or state.entrenchment >= 50:
        return "calming"
    return "open"


def match_offer(persona: Persona, verdict: TurnVerdict, turn_text: str) -> Offer | None:
    """How a `solution_offer` turn's text matches the persona's remedies; None for other turns.

    A refusal phrase anywhere in the offer makes it unacceptable, even next to an acceptable remedy.
    """
    if Behaviour.SOLUTION_OFFER not in verdict.behaviours:
        return None
    scenario = persona.scenario
    for refusal in scenario.will_not_accept:
        for phrase in refusal.match:
            if contains_phrase(turn_text, phrase):
                return Offer(kind="unacceptable", phrase=phrase)
    for remedy in scenario.acceptable_remedies:
        for phrase in remedy.match:
            if contains_phrase(turn_text, phrase):
                return Offer(kind="acceptable", remedy=remedy.id, phrase=phrase)
    return Offer(kind="unrecognised")


def _holds(trigger: Trigger, verdict: TurnVerdict, before: MoodState, offer: Offer | None, turn: int) -> bool:
    for var in VARIABLES:
        value = getattr(before, var)
        low, high = getattr(trigger, f"{var}_at_least"), getattr(trigger, f"{var}_below")
        if (low is not None and value < low) or (high is not None and value >= high):
            return False
    if trigger.from_turn is not None and turn < trigger.from_turn:
        return False
    if trigger.behaviour is not None:
        return trigger.behaviour in verdict.behaviours
    if trigger.technique is not None:
        return any(
            (trigger.technique == "any" or t.technique == trigger.technique)
            and (trigger.use is None or t.use == trigger.use)
            for t in verdict.techniques
        )
    if trigger.tactic is not None:
        if trigger.tactic == "any":
            return bool(verdict.manipulation_tactics)
        return trigger.tactic in verdict.manipulation_tactics
    if trigger.offer is not None:
        return offer is not None and offer.kind == trigger.offer
    score = verdict.perspective_taking
    if trigger.score_at_least is not None and score < trigger.score_at_least:
        return False
    return not (trigger.score_at_most is not None and score > trigger.score_at_most)


def rule_confidence(trigger: Trigger, verdict: TurnVerdict, confidence: Mapping[str, float] | None) -> float:
    """How sure the grader is of the label that fires `trigger` (1.0 when it gives no confidence)."""
    if not confidence:
        return 1.0
    if trigger.behaviour is not None:
        return confidence.get(f"behaviour:{trigger.behaviour}", 1.0)
    if trigger.technique is not None:
        found = [
            confidence.get(f"technique:{t.technique}", 1.0)
            for t in verdict.techniques
            if trigger.technique == "any" or t.technique == trigger.technique
        ]
        sure = max(found, default=1.0)
        return min(sure, confidence.get("use:manipulative", 1.0)) if trigger.use is not None else sure
    if trigger.tactic is not None:
        if trigger.tactic == "any":
            return max((confidence.get(f"tactic:{x}", 1.0) for x in verdict.manipulation_tactics), default=1.0)
        return confidence.get(f"tactic:{trigger.tactic}", 1.0)
    if trigger.offer is not None:
        return confidence.get("behaviour:solution_offer", 1.0)
    low = trigger.score_at_least if trigger.score_at_least is not None else 0
    high = trigger.score_at_most if trigger.score_at_most is not None else 4
    parts = [confidence.get(f"score:{k}") for k in range(low, high + 1)]
    if any(p is None for p in parts):
        return confidence.get("score", 1.0)
    return min(1.0, sum(p for p in parts if p is not None))


def confidence_factor(sure: float) -> float:
    """The share of a rule's effect that applies at this confidence."""
    return max(0.0, min(1.0, sure / CONFIDENT))


def _scale(var: str, delta: float, worsen: float, improve: float) -> int:
    helps = delta > 0 if var == "trust" else delta < 0
    scaled = delta * (improve if helps else worsen)
    return int(scaled + (0.5 if scaled > 0 else -0.5))  # round half away from zero


def _describe(label: str, changes: dict[Variable, int], reason: str | None) -> str:
    moved = ", ".join(f"{var} {value:+d}" for var, value in changes.items() if value)
    text = f"{label}: {moved or 'no change'}"
    return f"{text} ({reason})" if reason else text


def step(
    persona: Persona,
    difficulty: DifficultyName,
    state: MoodState,
    verdict: TurnVerdict,
    turn_text: str,
    confidence: Mapping[str, float] | None = None,
) -> MoodStep:
    """Apply one graded trainee turn to the caller's state.

    Args:
        persona: The persona on the line.
        difficulty: The difficulty level of the session.
        state: The state before this turn.
        verdict: The turn's labels (from the grader, or scripted in behaviour tests).
        turn_text: The trainee's words; only used to match a `solution_offer` against remedy phrases.
        confidence: The grader's confidence per head (`TurnGrade.confidence`); each fired rule's change
            is scaled by `confidence_factor` of its label's confidence. None = fully confident.

    Returns:
        The new state, the rules that fired with reasons, the offer match and the outcome (or None).
    """
    emotion = persona.emotion
    level = emotion.difficulty.level(difficulty)
    turn = state.turn + 1
    offer = match_offer(persona, verdict, turn_text)
    early = turn < emotion.min_turns_before_softening
    improve = level.improve_factor * (EARLY_SOFTENING_FACTOR if early else 1.0)
    fired: list[FiredRule] = []
    totals = dict.fromkeys(VARIABLES, 0)
    for index, rule in enumerate(emotion.rules):
        if not _holds(rule.when, verdict, state, offer, turn):
            continue
        factor = confidence_factor(rule_confidence(rule.when, verdict, confidence))
        changes = {
            var: _scale(var, getattr(rule.change, var) * factor, level.worsen_factor, improve) for var in VARIABLES
        }
        for var in VARIABLES:
            totals[var] += changes[var]
        label = rule.when.label()
        reason = _describe(label, changes, rule.reason)
        if factor < 1.0:
            reason += f" [grader unsure: {factor:.0%} of the effect]"
        fired.append(FiredRule(index=index, label=label, reason=reason, **changes))
    notes: list[str] = []
    cap = emotion.max_change_per_turn
    for var in VARIABLES:
        if abs(totals[var]) > cap:
            notes.append(f"{var} change {totals[var]:+d} capped at ±{cap} per turn")
            totals[var] = max(-cap, min(cap, totals[var]))
    if early and fired:
        notes.append(f"too early to soften much (before turn {emotion.min_turns_before_softening})")
    remedy = state.remedy_on_table
    if offer is not None and offer.kind == "acceptable":
        remedy = offer.remedy
    new = MoodState(
        anger=max(0, min(100, state.anger + totals["anger"])),
        trust=max(0, min(100, state.trust + totals["trust"])),
        entrenchment=max(0, min(100, state.entrenchment + totals["entrenchment"])),
        turn=turn,
        remedy_on_table=remedy,
        manipulative_turns=state.manipulative_turns + (1 if verdict.manipulative else 0),
    )
    outcome = _outcome(persona, difficulty, new, verdict, notes)
    return MoodStep(state=new, fired=fired, outcome=outcome, offer=offer, notes=notes)


def _outcome(
    persona: Persona, difficulty: DifficultyName, state: MoodState, verdict: TurnVerdict, notes: list[str]
) -> Outcome | None:
    outcomes = persona.emotion.outcomes
    shift = persona.emotion.difficulty.level(difficulty).threshold_shift
    values = state.values()
    if threshold_holds(outcomes.hung_up, values, shift, state.manipulative_turns):
        return "hung_up"
    if outcomes.escalated is not None and threshold_holds(
        outcomes.escalated, values, shift, state.manipulative_turns
    ):
        return "escalated"
    resolved = outcomes.resolved
    if resolution_levels_met(resolved, values, shift):
        missing = []
        if state.remedy_on_table is None:
            missing.append("no acceptable remedy offered yet")
        if verdict.manipulative:
            missing.append("this turn was manipulative")
        if state.turn < resolved.min_turns:
            missing.append(f"too early (resolution from turn {resolved.min_turns})")
        if not missing:
            return "resolved"
        notes.append("calm enough to resolve, but " + "; ".join(missing))
    if state.turn >= persona.turn_limit(difficulty):
        return "out_of_turns"
    return None


def hold(persona: Persona, difficulty: DifficultyName, state: MoodState) -> MoodStep:
    """An ungraded turn: it counts towards the turn limit, but no rule fires (fail closed: no default score)."""
    new = state.model_copy(update={"turn": state.turn + 1})
    outcome: Outcome | None = "out_of_turns" if new.turn >= persona.turn_limit(difficulty) else None
    return MoodStep(state=new, fired=[], outcome=outcome, notes=[UNGRADED_NOTE])
