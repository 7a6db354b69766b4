"""The persona file: who the caller is, what they know, and how their mood moves.

A persona is a YAML file in `personas/` validated by `Persona` (`extra="forbid"` at every level, so a
typo is an error, not a silent default). It has four parts:

- identity and voice (`identity`, `example_lines`, `opening_lines`, `closing_lines`): what the caller
  model is told and shown;
- the caller's own lines (`lines`): short lines per dialogue act and mood, with `{slots}` filled from
  the persona's facts; the caller shows one when the model's reply does not do what the turn's plan
  says (`simulator.caller.plan`), and the scripted caller plays them alone;
- the scenario (`scenario`): facts the caller knows (revealed gradually), what they don't know, the
  ground truth the grader needs to judge honesty, demands, real needs, acceptable remedies and what
  they will not accept;
- the emotional model (`emotion`): starting anger/trust/entrenchment, reaction rules from docs/rubric.md
  labels to state changes, outcome thresholds and difficulty levels (read by `simulator.call.mood`);
- behaviour tests (`expectations`), played by `simulator.persona.behaviour`.

Hidden parts (`scenario.ground_truth`, the emotional model, remedy keywords, `designer_notes`) never
reach the caller prompt; see `simulator.caller.prompt`.

Validators that check one field against another raise messages starting with `@dotted.path: ` (relative
to the model that raised), which `simulator.persona.loader` turns into a file position.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from simulator.grading.labels import Behaviour, Tactic, Technique, Use
from simulator.vocabulary import DifficultyName

SCHEMA_VERSION = 1
MAX_TEXT = 600
"""Longest single text field in a persona (characters)."""


MoodName = Literal["furious", "angry", "wary", "calming", "open"]

Variable = Literal["anger", "trust", "entrenchment"]

MOODS: tuple[MoodName, ...] = ("furious", "angry", "wary", "calming", "open")

Act = Literal[
    "answer",
    "dont_know",
    "push_back",
    "restate_demand",
    "acknowledge",
    "accept_offer",
    "reject_offer",
    "counter_offer",
    "escalate",
    "hang_up",
    "close",
    "end_unresolved",
]
"""A dialogue act: what one caller reply does (planned by `simulator.caller.plan`)."""

ACTS: tuple[Act, ...] = (
    "answer",
    "dont_know",
    "push_back",
    "restate_demand",
    "acknowledge",
    "accept_offer",
    "reject_offer",
    "counter_offer",
    "escalate",
    "hang_up",
    "close",
    "end_unresolved",
)
CLOSING_ACTS: dict[str, Act] = {
    "resolved": "close",
    "hung_up": "hang_up",
    "escalated": "escalate",
    "out_of_turns": "end_unresolved",
}
"""The act that voices each outcome of the call."""

ACT_SLOTS: dict[Act, frozenset[str]] = {
    "answer": frozenset({"fact"}),
    "dont_know": frozenset({"unknown"}),
    "reject_offer": frozenset({"refusal"}),
}
"""Slots an act's lines may use besides fact ids: `{fact}` (the planned fact's `say`), `{unknown}` (the
`does_not_know` topic asked about), `{refusal}` (the refused offer's `say`, else its description)."""

RESERVED_SLOTS = frozenset({"fact", "unknown", "refusal"})
DIFFICULTIES: tuple[DifficultyName, ...] = ("easy", "normal", "hard")
VARIABLES: tuple[Variable, ...] = ("anger", "trust", "entrenchment")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=80)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,47}$")]
Level = Annotated[int, Field(ge=0, le=100)]
Delta = Annotated[int, Field(ge=-50, le=50)]
Score = Annotated[int, Field(ge=0, le=4)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def normalise(text: str) -> str:
    """Lower-case, fold curly quotes and collapse whitespace, for keyword matching."""
    text = text.casefold().replace("\u2019", "'").replace("\u2018", "'")
    return " " + re.sub(r"[^a-z0-9'£$€%]+", " ", text).strip() + " "


def contains_phrase(text: str, phrase: str) -> bool:
    """True if `phrase` occurs in `text` as whole words (case and punctuation insensitive)."""
    return normalise(phrase) in normalise(text)


# --- identity and voice -------------------------------------------------------------------------


class Identity(_Strict):
    """Who the caller is and how they sound."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    """The caller's name as they would give it on the phone."""
    age: Annotated[int, Field(ge=16, le=110)] | None = None
    situation: Text
    """Why they are calling, in one sentence."""
    speaking_style: Text
    """How they talk: pace, vocabulary, habits (e.g. 'clipped, sarcastic, says "brilliant" when it isn't')."""
    temperament: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]
    """One or two words for the library listing, e.g. 'anxious', 'calm but cold'."""


class ExampleLines(_Strict):
    """Lines in the caller's voice for each mood: few-shot examples and the fallback line."""

    furious: Annotated[list[Line], Field(min_length=1, max_length=6)]
    angry: Annotated[list[Line], Field(min_length=1, max_length=6)]
    wary: Annotated[list[Line], Field(min_length=1, max_length=6)]
    calming: Annotated[list[Line], Field(min_length=1, max_length=6)]
    open: Annotated[list[Line], Field(min_length=1, max_length=6)]

    def for_mood(self, mood: MoodName) -> list[str]:
        """The lines for one mood."""
        return list(getattr(self, mood))


class ClosingLines(_Strict):
    """Optional fallback closing lines, used when the caller model's closing line is rejected."""

    resolved: Line | None = None
    hung_up: Line | None = None
    escalated: Line | None = None
    out_of_turns: Line | None = None


# --- scenario -----------------------------------------------------------------------------------


class Fact(_Strict):
    """Something the caller knows. Revealed gradually: after a turn, or when the agent asks about it."""

    id: Slug | None = None
    """A name for the fact; the caller's `lines` use it as a slot (`{paid}` says this fact's `say`)."""
    text: Text
    say: Line | None = None
    """How the caller says it, first person and short (e.g. "I paid £349 a week ago."): the answer
    the plan asks for, and what `{fact}` / `{<id>}` become in the persona's `lines`."""
    ask: Line | None = None
    """A trainee question this fact answers (lint checks that the planner maps it to this fact; the
    coherence suite asks it)."""
    reveal_after_turn: Annotated[int, Field(ge=0, le=60)] = 0
    """The caller may mention it from this trainee turn on (0 = from the start)."""
    reveal_when_asked: Annotated[list[Phrase], Field(max_length=12)] = Field(default_factory=list)
    """Words or phrases; once the agent has said any of them, the caller may mention the fact."""


class GroundTruth(_Strict):
    """What is really true (policy, stock, prices, dates). Hidden from the caller; for the grader."""

    topic: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60)]
    truth: Text


class Remedy(_Strict):
    """A remedy the caller can accept, recognised in a `solution_offer` turn by its phrases."""

    id: Slug
    description: Text
    match: Annotated[list[Phrase], Field(min_length=1, max_length=12)]
    """The offer counts if the turn contains any of these phrases (whole words, any case)."""
    example_offer: Line
    """A trainee line offering it; used by scripted strategies as `{remedy}`. Must match `match`."""


class Refusal(_Strict):
    """Something the caller will not accept. An offer containing any phrase is unacceptable."""

    description: Text
    say: Line | None = None
    """Why the caller refuses it, in their words (what `{refusal}` becomes in `lines.reject_offer`)."""
    match: Annotated[list[Phrase], Field(min_length=1, max_length=12)]
    example_offer: Line | None = None
    """A trainee line offering it; used by scripted strategies as `{refused_offer}`."""


class Scenario(_Strict):
    """The facts of the call."""

    summary: Text
    """One or two sentences for the grader: what happened, from the company's side too."""
    technique_focus: Technique | None = None
    """The persuasion technique this scenario is built to practise, if any."""
    knows: Annotated[list[Fact], Field(min_length=1, max_length=12)]
    does_not_know: Annotated[list[Text], Field(max_length=10)] = Field(default_factory=list)
    """Questions the caller cannot answer (phrase as topics, not answers: they are shown to the caller)."""
    ground_truth: Annotated[list[GroundTruth], Field(min_length=1, max_length=12)]
    demands: Annotated[list[Text], Field(min_length=1, max_length=6)]
    """What they ask for on the call."""
    real_needs: Annotated[list[Text], Field(min_length=1, max_length=6)]
    """What actually matters to them (the caller says it only when asked what matters)."""
    acceptable_remedies: Annotated[list[Remedy], Field(min_length=1, max_length=8)]
    will_not_accept: Annotated[list[Refusal], Field(min_length=1, max_length=8)]

    @model_validator(mode="after")
    def _offers_match_themselves(self) -> Scenario:
        fact_ids = [f.id for f in self.knows if f.id is not None]
        for i, fact in enumerate(self.knows):
            if fact.id is not None and fact_ids.count(fact.id) > 1:
                raise ValueError(f"@knows.{i}.id: fact ids must be unique ({fact.id!r} appears twice)")
            if fact.id in RESERVED_SLOTS:
                raise ValueError(f"@knows.{i}.id: {fact.id!r} is a reserved slot name; pick another id")
        ids = [r.id for r in self.acceptable_remedies]
        if len(ids) != len(set(ids)):
            raise ValueError("@acceptable_remedies: remedy ids must be unique")
        for i, remedy in enumerate(self.acceptable_remedies):
            where = f"@acceptable_remedies.{i}.example_offer"
            if not any(contains_phrase(remedy.example_offer, p) for p in remedy.match):
                raise ValueError(f"{where}: the example offer contains none of the remedy's `match` phrases")
            for refusal in self.will_not_accept:
                hit = [p for p in refusal.match if contains_phrase(remedy.example_offer, p)]
                if hit:
                    raise ValueError(f"{where}: contains {hit[0]!r}, a will_not_accept phrase; reword it")
        for i, refusal in enumerate(self.will_not_accept):
            offer = refusal.example_offer
            if offer and not any(contains_phrase(offer, p) for p in refusal.match):
                raise ValueError(
                    f"@will_not_accept.{i}.example_offer: contains none of this item's `match` phrases"
                )
        return self


# --- the caller's own lines -----------------------------------------------------------------------


LineBank = Annotated[list[Line], Field(max_length=8)]


class MoodLines(_Strict):
    """One act's lines: for any mood (`any`) and for particular moods. Lines may hold `{slots}`."""

    any: LineBank = Field(default_factory=list)
    furious: LineBank = Field(default_factory=list)
    angry: LineBank = Field(default_factory=list)
    wary: LineBank = Field(default_factory=list)
    calming: LineBank = Field(default_factory=list)
    open: LineBank = Field(default_factory=list)

    def for_mood(self, mood: MoodName) -> list[str]:
        """The lines for one mood: its own, then the `any` lines."""
        return [*getattr(self, mood), *self.any]

    def all_lines(self) -> list[tuple[str, int, str]]:
        """Every line as (list name, index, text)."""
        return [(key, i, line) for key in ("any", *MOODS) for i, line in enumerate(getattr(self, key))]


class ActLines(_Strict):
    """The persona's own lines per dialogue act (see `Act`). Lint wants every act, covering every mood."""

    answer: MoodLines | None = None
    """Answering a question; use `{fact}` for the planned fact's `say`."""
    dont_know: MoodLines | None = None
    """Asked something they don't know; `{unknown}` is the `does_not_know` topic (may be empty)."""
    push_back: MoodLines | None = None
    """The agent argues with their account using records, data or policy."""
    restate_demand: MoodLines | None = None
    """Bringing the call back to what they want."""
    acknowledge: MoodLines | None = None
    """The agent listened; the caller notices, in their mood, without accepting anything."""
    accept_offer: MoodLines | None = None
    """An acceptable remedy is on the table and they are calm enough to take it."""
    reject_offer: MoodLines | None = None
    """An offer they will not accept; `{refusal}` is the reason."""
    counter_offer: MoodLines | None = None
    """An offer that is not enough (yet): say what it would take."""
    escalate: MoodLines | None = None
    """The call ends: they want a manager."""
    hang_up: MoodLines | None = None
    """The call ends: they hang up."""
    close: MoodLines | None = None
    """The call ends resolved."""
    end_unresolved: MoodLines | None = None
    """The call ends out of time, unresolved."""

    def bank(self, act: Act) -> MoodLines | None:
        """The lines for one act (None when the persona has none)."""
        bank: MoodLines | None = getattr(self, act)
        return bank


# --- emotional model ----------------------------------------------------------------------------


class MoodValues(_Strict):
    """A point on the three 0-100 state variables."""

    anger: Level
    trust: Level
    entrenchment: Level


class StateChange(_Strict):
    """How a rule moves the state (before difficulty scaling and the per-turn cap)."""

    anger: Delta = 0
    trust: Delta = 0
    entrenchment: Delta = 0

    @model_validator(mode="after")
    def _not_empty(self) -> StateChange:
        if not (self.anger or self.trust or self.entrenchment):
            raise ValueError("a change must move at least one of anger, trust, entrenchment")
        return self


class Trigger(_Strict):
    """When a reaction rule fires. Exactly one label condition, plus optional guards on the state.

    Label conditions: `behaviour`; `technique` (a name or `any`) with optional `use`; `tactic` (a name
    or `any`); `score_at_least`/`score_at_most` (the 0-4 perspective-taking score); `offer`
    (`acceptable`: a solution_offer matching an acceptable remedy and no refusal phrase;
    `unacceptable`: a solution_offer matching a `will_not_accept` phrase).
    Guards (state *before* the turn): `<variable>_at_least`, `<variable>_below`, `from_turn`.
    """

    behaviour: Behaviour | None = None
    technique: Technique | Literal["any"] | None = None
    use: Use | None = None
    tactic: Tactic | Literal["any"] | None = None
    score_at_least: Score | None = None
    score_at_most: Score | None = None
    offer: Literal["acceptable", "unacceptable"] | None = None
    anger_at_least: Level | None = None
    anger_below: Level | None = None
    trust_at_least: Level | None = None
    trust_below: Level | None = None
    entrenchment_at_least: Level | None = None
    entrenchment_below: Level | None = None
    from_turn: Annotated[int, Field(ge=1, le=60)] | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> Trigger:
        kinds = [
            k
            for k, v in (
                ("behaviour", self.behaviour),
                ("technique", self.technique),
                ("tactic", self.tactic),
                ("score", self.score_at_least if self.score_at_least is not None else self.score_at_most),
                ("offer", self.offer),
            )
            if v is not None
        ]
        if len(kinds) != 1:
            raise ValueError(
                "a trigger needs exactly one of behaviour, technique, tactic, score_at_least/score_at_most, "
                f"offer (found {kinds or 'none'})"
            )
        if self.use is not None and self.technique is None:
            raise ValueError("@use: `use` only applies together with `technique`")
        for var in VARIABLES:
            low, high = getattr(self, f"{var}_at_least"), getattr(self, f"{var}_below")
            if low is not None and high is not None and low >= high:
                raise ValueError(f"@{var}_below: must be above {var}_at_least, or the rule can never fire")
        return self

    def label(self) -> str:
        """Short text naming the condition, e.g. 'fact_confrontation' or 'anchoring (manipulative)'."""
        if self.behaviour is not None:
            text = str(self.behaviour)
        elif self.technique is not None:
            name = "any technique" if self.technique == "any" else str(self.technique)
            text = f"{name} ({self.use})" if self.use else name
        elif self.tactic is not None:
            text = "any manipulation tactic" if self.tactic == "any" else str(self.tactic)
        elif self.offer is not None:
            text = f"{self.offer} offer"
        else:
            parts = []
            if self.score_at_least is not None:
                parts.append(f">= {self.score_at_least}")
            if self.score_at_most is not None:
                parts.append(f"<= {self.score_at_most}")
            text = "perspective score " + " and ".join(parts)
        guards = [
            f"{var} {op} {value}"
            for var in VARIABLES
            for op, value in (("≥", getattr(self, f"{var}_at_least")), ("<", getattr(self, f"{var}_below")))
            if value is not None
        ]
        if self.from_turn is not None:
            guards.append(f"turn ≥ {self.from_turn}")
        return f"{text} while {', '.join(guards)}" if guards else text


class ReactionRule(_Strict):
    """One reaction: when the trigger holds for a trainee turn, the state changes. Fires once per turn."""

    when: Trigger
    change: StateChange
    reason: Line | None = None
    """Why, in words for the debrief (e.g. 'being argued with makes him dig in')."""


class Threshold(_Strict):
    """A condition on the state after a turn; all given bounds must hold."""

    anger_at_least: Level | None = None
    anger_at_most: Level | None = None
    trust_at_least: Level | None = None
    trust_at_most: Level | None = None
    entrenchment_at_least: Level | None = None
    entrenchment_at_most: Level | None = None
    manipulative_turns_at_least: Annotated[int, Field(ge=1, le=20)] | None = None
    """Fires once this many trainee turns were manipulative (any manipulative technique or tactic)."""

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("a threshold needs at least one bound (e.g. anger_at_least: 95)")
        return self


class ResolvedThreshold(_Strict):
    """Resolution needs all of these AND an acceptable remedy offered, in a non-manipulative turn."""

    trust_at_least: Level
    anger_at_most: Level
    entrenchment_at_most: Level
    min_turns: Annotated[int, Field(ge=2, le=40)] = 3
    """The earliest trainee turn on which the call can resolve (one nice sentence is never enough)."""


class Outcomes(_Strict):
    """What ends the call. Checked after every turn in this order: hung_up, escalated, resolved."""

    resolved: ResolvedThreshold
    hung_up: Threshold
    escalated: Threshold | None = None


class Difficulty(_Strict):
    """How a difficulty level changes the numbers.

    `worsen_factor` scales changes that hurt the trainee (anger up, trust down, entrenchment up) and
    `improve_factor` the ones that help. `threshold_shift` makes outcomes stricter when positive:
    resolution needs `trust + shift`, `anger - shift`, `entrenchment - shift`; hang-up and escalation
    bounds move by `shift` towards the caller's current state.
    """

    start_shift: StateShift = Field(default_factory=lambda: StateShift())
    worsen_factor: Annotated[float, Field(ge=0.25, le=3.0)] = 1.0
    improve_factor: Annotated[float, Field(ge=0.25, le=3.0)] = 1.0
    threshold_shift: Annotated[int, Field(ge=-30, le=30)] = 0
    max_turns: Annotated[int, Field(ge=4, le=60)] | None = None
    """Overrides the persona's `max_turns` at this level."""


class StateShift(_Strict):
    """Offsets added to the starting state (the result is clamped to 0-100)."""

    anger: Delta = 0
    trust: Delta = 0
    entrenchment: Delta = 0


Difficulty.model_rebuild()


def _easy() -> Difficulty:
    return Difficulty(
        start_shift=StateShift(anger=-10, trust=10, entrenchment=-10),
        worsen_factor=0.75,
        improve_factor=1.25,
        threshold_shift=-10,
    )


def _hard() -> Difficulty:
    return Difficulty(
        start_shift=StateShift(anger=5, trust=-5, entrenchment=10),
        worsen_factor=1.3,
        improve_factor=0.8,
        threshold_shift=5,
    )


class Difficulties(_Strict):
    """The three levels. Omitted levels use defaults (easy: gentler and quicker; hard: harsher)."""

    easy: Difficulty = Field(default_factory=_easy)
    normal: Difficulty = Field(default_factory=Difficulty)
    hard: Difficulty = Field(default_factory=_hard)

    def level(self, name: DifficultyName) -> Difficulty:
        """The settings for one level."""
        level: Difficulty = getattr(self, name)
        return level


class Emotion(_Strict):
    """The emotional model read by `simulator.call.mood.step`."""

    start: MoodValues
    max_change_per_turn: Annotated[int, Field(ge=5, le=50)] = 20
    """No variable moves by more than this in one turn, whatever fires."""
    min_turns_before_softening: Annotated[int, Field(ge=0, le=20)] = 0
    """Before this trainee turn, changes that help the trainee are halved."""
    rules: Annotated[list[ReactionRule], Field(min_length=3, max_length=60)]
    outcomes: Outcomes
    difficulty: Difficulties = Field(default_factory=Difficulties)


# --- behaviour tests ----------------------------------------------------------------------------


class ScriptedTurn(_Strict):
    """One trainee turn with its labels, so the state dynamics are deterministic.

    `text` may contain `{remedy}` (the persona's first acceptable remedy's example offer) or
    `{refused_offer}` (the first will_not_accept example offer).
    """

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1200)]
    verdict: TurnVerdictSpec


class TurnVerdictSpec(_Strict):
    """A `simulator.grading.labels.TurnVerdict` as written in YAML (`manipulative` is derived, so not written)."""

    perspective_taking: Score
    behaviours: list[Behaviour] = Field(default_factory=list)
    techniques: list[TechniqueSpec] = Field(default_factory=list)
    manipulation_tactics: list[Tactic] = Field(default_factory=list)


class TechniqueSpec(_Strict):
    """A technique use in a scripted turn; `evidence` defaults to the whole turn text."""

    technique: Technique
    use: Use
    evidence: str | None = None


ScriptedTurn.model_rebuild()
TurnVerdictSpec.model_rebuild()

ExpectedOutcome = Literal["resolved", "hung_up", "escalated", "out_of_turns", "none"]


class Expect(_Strict):
    """What must hold after the scripted turns: state bounds and/or the outcome."""

    outcome: ExpectedOutcome | None = None
    """`none` means the call is still going."""
    outcome_not: list[ExpectedOutcome] = Field(default_factory=list)
    anger_at_least: Level | None = None
    anger_at_most: Level | None = None
    trust_at_least: Level | None = None
    trust_at_most: Level | None = None
    entrenchment_at_least: Level | None = None
    entrenchment_at_most: Level | None = None
    ended_by_turn: Annotated[int, Field(ge=1, le=60)] | None = None
    """The call must have ended (any outcome) by this trainee turn."""


class Expectation(_Strict):
    """A behaviour test: play a strategy (or an inline script) and check the result."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=120)]
    strategy: Slug | None = None
    """A strategy from `personas/strategies.yaml`."""
    script: Annotated[list[ScriptedTurn], Field(max_length=60)] | None = None
    """Inline trainee turns, instead of a strategy."""
    turns: Annotated[int, Field(ge=1, le=60)] | None = None
    """Play this many turns (the script repeats if shorter). Default: until the call ends, at most the
    persona's turn limit at `difficulty`, as the built-in checks play."""
    difficulty: DifficultyName = "normal"
    expect: Expect

    @model_validator(mode="after")
    def _one_source(self) -> Expectation:
        if (self.strategy is None) == (self.script is None):
            raise ValueError("give exactly one of `strategy` (a name from strategies.yaml) or `script`")
        return self


# --- the persona --------------------------------------------------------------------------------


class Persona(_Strict):
    """A caller persona file (see `docs/personas.md`)."""

    schema_version: Literal[1] = 1
    id: Slug
    """Must equal the file name without `.yaml`."""
    identity: Identity
    opening_lines: Annotated[list[Line], Field(min_length=1, max_length=6)]
    example_lines: ExampleLines
    closing_lines: ClosingLines = Field(default_factory=ClosingLines)
    lines: ActLines | None = None
    """The caller's own lines per act and mood (`cooldown personas lint` wants a full set)."""
    max_turns: Annotated[int, Field(ge=4, le=60)] = 14
    """Trainee turns before the call ends as `out_of_turns`."""
    scenario: Scenario
    emotion: Emotion
    expectations: Annotated[list[Expectation], Field(max_length=30)] = Field(default_factory=list)
    designer_notes: Annotated[str, StringConstraints(max_length=2000)] | None = None
    """Hidden from the caller."""

    @model_validator(mode="after")
    def _coherent(self) -> Persona:
        emotion = self.emotion
        resolved, hung_up = emotion.outcomes.resolved, emotion.outcomes.hung_up
        if hung_up.anger_at_least is not None and resolved.anger_at_most >= hung_up.anger_at_least:
            raise ValueError(
                "@emotion.outcomes.resolved.anger_at_most: contradicts hung_up.anger_at_least "
                f"({resolved.anger_at_most} >= {hung_up.anger_at_least}); resolution needs a calmer caller "
                "than hanging up does"
            )
        if hung_up.trust_at_most is not None and resolved.trust_at_least <= hung_up.trust_at_most:
            raise ValueError(
                "@emotion.outcomes.resolved.trust_at_least: contradicts hung_up.trust_at_most "
                f"({resolved.trust_at_least} <= {hung_up.trust_at_most})"
            )
        if resolved.min_turns > self.max_turns:
            raise ValueError(
                f"@emotion.outcomes.resolved.min_turns: {resolved.min_turns} is above max_turns "
                f"({self.max_turns}); the call could never resolve"
            )
        for name in DIFFICULTIES:
            level = emotion.difficulty.level(name)
            start = shifted_start(emotion.start, level)
            for key, threshold in (("hung_up", hung_up), ("escalated", emotion.outcomes.escalated)):
                if threshold is not None and threshold_holds(threshold, start, level.threshold_shift, 0):
                    raise ValueError(
                        f"@emotion.outcomes.{key}: the starting state at {name} difficulty already meets "
                        "it, so the call would end before it starts; raise the threshold or calm the start"
                    )
            if resolution_levels_met(resolved, start, level.threshold_shift):
                raise ValueError(
                    f"@emotion.start: at {name} difficulty the caller starts already calm enough to "
                    "resolve; start angrier or raise outcomes.resolved.trust_at_least"
                )
            need = resolved.trust_at_least + level.threshold_shift
            if need > 100 or resolved.anger_at_most - level.threshold_shift < 0:
                raise ValueError(
                    f"@emotion.outcomes.resolved: unreachable at {name} difficulty (threshold_shift "
                    f"{level.threshold_shift} pushes a bound past 0-100)"
                )
        return self

    def turn_limit(self, difficulty: DifficultyName) -> int:
        """Trainee turns allowed at a difficulty."""
        return self.emotion.difficulty.level(difficulty).max_turns or self.max_turns

    def hidden_texts(self) -> list[str]:
        """Text the caller must never say (for the output guard's n-gram check)."""
        texts = [f"{g.topic}: {g.truth}" for g in self.scenario.ground_truth]
        if self.designer_notes:
            texts.append(self.designer_notes)
        return texts

    def grader_brief(self) -> str:
        """The scenario as the grader sees it, including the ground truth (never shown to the caller)."""
        s = self.scenario
        lines = [f"Caller: {self.identity.name}. {self.identity.situation}", f"Scenario: {s.summary}"]
        lines.append("What is really true (use it to judge whether the agent's claims are honest):")
        lines += [f"- {g.topic}: {g.truth}" for g in s.ground_truth]
        lines.append("The caller demands: " + "; ".join(s.demands))
        remedies = "; ".join(r.description for r in s.acceptable_remedies)
        lines.append(f"Remedies the company can honestly offer: {remedies}")
        return "\n".join(lines)


def shifted_start(start: MoodValues, level: Difficulty) -> MoodValues:
    """The starting state at a difficulty level."""
    return MoodValues(
        anger=_clamp(start.anger + level.start_shift.anger),
        trust=_clamp(start.trust + level.start_shift.trust),
        entrenchment=_clamp(start.entrenchment + level.start_shift.entrenchment),
    )


def threshold_holds(threshold: Threshold, state: MoodValues, shift: int, manipulative_turns: int) -> bool:
    """Whether a hang-up/escalation threshold holds; a positive shift moves bounds towards the caller."""
    checks: list[bool] = []
    for var in VARIABLES:
        value = getattr(state, var)
        low = getattr(threshold, f"{var}_at_least")
        high = getattr(threshold, f"{var}_at_most")
        if low is not None:
            checks.append(value >= _clamp(low - shift))
        if high is not None:
            checks.append(value <= _clamp(high + shift))
    if threshold.manipulative_turns_at_least is not None:
        checks.append(manipulative_turns >= threshold.manipulative_turns_at_least)
    return bool(checks) and all(checks)


def resolution_levels_met(resolved: ResolvedThreshold, state: MoodValues, shift: int) -> bool:
    """Whether the state meets the resolution thresholds (the remedy and turn checks are separate)."""
    return (
        state.trust >= resolved.trust_at_least + shift
        and state.anger <= resolved.anger_at_most - shift
        and state.entrenchment <= resolved.entrenchment_at_most - shift
    )


def _clamp(value: int) -> int:
    return max(0, min(100, value))


def persona_json_schema() -> dict[str, object]:
    """The JSON Schema for persona files (committed as `personas/schema.json`)."""
    schema = Persona.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Cooldown persona"
    return schema


def persona_schema_text() -> str:
    """`persona_json_schema()` as the exact text of `personas/schema.json`."""
    return json.dumps(persona_json_schema(), indent=2, sort_keys=True) + "\n"
