"""The grader's vocabulary, exactly as `docs/rubric.md` names it, and the turn verdict.

Every part of Cooldown speaks these names: the LLM grading chain, the local appraiser, the persona
reaction rules, the mood state machine, the gold suites and the reports. Keep them stable.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Behaviour(StrEnum):
    """What a trainee turn does (docs/rubric.md §1), multi-label."""

    OPEN_QUESTION = "open_question"
    REFLECTION = "reflection"
    VALIDATION = "validation"
    PERSPECTIVE_TAKING = "perspective_taking"
    NEEDS_CHECK = "needs_check"
    FACT_CONFRONTATION = "fact_confrontation"
    DISMISSAL = "dismissal"
    BLAME = "blame"
    SOLUTION_OFFER = "solution_offer"
    INFORMATION = "information"
    APOLOGY = "apology"


POSITIVE_BEHAVIOURS: frozenset[Behaviour] = frozenset(
    {
        Behaviour.OPEN_QUESTION,
        Behaviour.REFLECTION,
        Behaviour.VALIDATION,
        Behaviour.PERSPECTIVE_TAKING,
        Behaviour.NEEDS_CHECK,
    }
)
NEGATIVE_BEHAVIOURS: frozenset[Behaviour] = frozenset(
    {Behaviour.FACT_CONFRONTATION, Behaviour.DISMISSAL, Behaviour.BLAME}
)
NEUTRAL_BEHAVIOURS: frozenset[Behaviour] = frozenset(
    {Behaviour.SOLUTION_OFFER, Behaviour.INFORMATION, Behaviour.APOLOGY}
)


class Technique(StrEnum):
    """The five persuasion techniques (docs/rubric.md §2)."""

    ANCHORING = "anchoring"
    HALO = "halo"
    LOSS_AVERSION = "loss_aversion"
    CHOICE_ARCHITECTURE = "choice_architecture"
    RECIPROCITY = "reciprocity"


class Tactic(StrEnum):
    """Manipulation tactics flagged whatever the technique (docs/rubric.md §2)."""

    FALSE_URGENCY = "false_urgency"
    GUILT_TRIPPING = "guilt_tripping"
    INTIMIDATION = "intimidation"
    DECEPTION = "deception"
    PRESSURE = "pressure"


Use = Literal["ethical", "manipulative"]

SCORE_MEANINGS: dict[int, str] = {
    0: "confronts, dismisses or blames, and offers nothing that listens",
    1: "transactional: no listening behaviour (a bare solution, scripted lines)",
    2: "formulaic acknowledgement: apology or generic validation not specific to this caller",
    3: "real listening: a specific reflection, validation or open question about this caller",
    4: "perspective-taking: reflects the caller's situation and takes or invites their perspective",
}


class TechniqueUse(BaseModel):
    """One persuasion technique found in the turn, how it was used, and the words that show it."""

    model_config = ConfigDict(extra="forbid")

    technique: Technique
    use: Use
    evidence: str = Field(description="A verbatim quote from the trainee's turn that shows the technique.")


class TurnVerdict(BaseModel):
    """The labels for one trainee turn (docs/rubric.md §3). The same shape whoever graded it.

    Consistency rules live here, so no grader can produce an inconsistent verdict: `manipulative` is
    true exactly when a technique is used manipulatively or a tactic is present, and labels are
    de-duplicated in a stable order.
    """

    model_config = ConfigDict(extra="forbid")

    perspective_taking: int = Field(ge=0, le=4)
    behaviours: list[Behaviour] = Field(default_factory=list)
    techniques: list[TechniqueUse] = Field(default_factory=list)
    manipulation_tactics: list[Tactic] = Field(default_factory=list)
    manipulative: bool = False

    @field_validator("behaviours")
    @classmethod
    def _dedupe_behaviours(cls, value: list[Behaviour]) -> list[Behaviour]:
        return [b for b in Behaviour if b in set(value)]

    @field_validator("manipulation_tactics")
    @classmethod
    def _dedupe_tactics(cls, value: list[Tactic]) -> list[Tactic]:
        return [t for t in Tactic if t in set(value)]

    @model_validator(mode="after")
    def _derive_manipulative(self) -> TurnVerdict:
        self.manipulative = bool(self.manipulation_tactics) or any(
            t.use == "manipulative" for t in self.techniques
        )
        return self

    def uses(self, technique: Technique) -> Use | None:
        """How the turn used a technique, or None; manipulative wins if it was used both ways."""
        found = [t.use for t in self.techniques if t.technique == technique]
        if not found:
            return None
        return "manipulative" if "manipulative" in found else "ethical"


GradeStatus = Literal["graded", "ungraded"]


class TurnGrade(BaseModel):
    """A stored grade: a verdict when graded, none when the turn could not be graded (fail closed)."""

    model_config = ConfigDict(extra="forbid")

    status: GradeStatus
    verdict: TurnVerdict | None = None
    tip: str | None = None
    better_phrasing: str | None = None
    integrity_flags: list[str] = Field(default_factory=list)
    grader: str = Field(description="Who graded: 'local:appraiser-<version>' or 'llm:<model>'.")
    grader_version: str = ""
    prompt_version: str | None = None
    schema_version: str = "1"
    reason: str | None = Field(default=None, description="Why a turn is ungraded, for people to read.")
    confidence: dict[str, float] | None = Field(
        default=None,
        description="Per head, the calibrated probability that the verdict's decision is right "
        "(`behaviour:<b>`, `technique:<t>`, `use:manipulative`, `tactic:<x>`, `score`, `manipulative`); "
        "None when the grader gives none. The mood scales a rule by it; feedback says 'unsure' when it is low.",
    )

    @model_validator(mode="after")
    def _verdict_iff_graded(self) -> TurnGrade:
        if self.status == "graded" and self.verdict is None:
            raise ValueError("a graded turn needs a verdict")
        if self.status == "ungraded" and self.verdict is not None:
            raise ValueError("an ungraded turn carries no verdict (never a default score)")
        return self

    @classmethod
    def ungraded(cls, grader: str, reason: str, **extra: object) -> TurnGrade:
        """The fail-closed result: no score at all, with the reason."""
        return cls(status="ungraded", grader=grader, reason=reason, **extra)
