"""Does the grader agree with what a persona file says about its own offers?

A persona's `acceptable_remedies` carry example offers the designer means as honest, good turns; its
`will_not_accept` items carry offers the caller must refuse (walls, pressure, moves he did not choose).
If the grader calls an honest example offer manipulative, a trainee who makes it is punished in a call
and can never resolve it; if it calls a wall a good turn, the call rewards it. These checks grade each
example offer with the grader the call uses and report every disagreement, with the verdict.

Also checked: technique evidence is never a trivial quote ("Sure."), and a tip never carries numbers or
prices (a canned tip's example must not quote another scenario's facts).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from simulator.call.transcript import Utterance
from simulator.grading.base import GradeRequest, TurnGrader
from simulator.grading.labels import NEGATIVE_BEHAVIOURS, TurnGrade, TurnVerdict
from simulator.persona.schema import Persona

_TRIVIAL = re.compile(r"^\W*(?:\w+\W*){0,2}$")
_FACTS = re.compile(r"[£$€]\s?\d|\d")


class OfferCheck(BaseModel):
    """One example offer, its grade and whether it agrees with what the persona file intends."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="'acceptable_remedies.<id>' or 'will_not_accept.<n>'.")
    offer: str
    summary: str
    problems: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _summary(grade: TurnGrade) -> str:
    v = grade.verdict
    if v is None:
        return f"ungraded ({grade.reason})"
    parts = [f"score {v.perspective_taking}"]
    if v.behaviours:
        parts.append(", ".join(b.value for b in v.behaviours))
    parts += [f"{t.technique.value} {t.use} ({t.evidence!r})" for t in v.techniques]
    parts += [t.value for t in v.manipulation_tactics]
    return "; ".join(parts)


def graded_as_good_turn(verdict: TurnVerdict) -> bool:
    """No negative move, not manipulative and a score above 1: what an offer the caller refuses must not get."""
    v = verdict
    return not (v.manipulative or set(v.behaviours) & NEGATIVE_BEHAVIOURS or v.perspective_taking <= 1)


def _common_problems(grade: TurnGrade) -> list[str]:
    problems = []
    if grade.verdict is None:
        return [f"the grader could not grade it: {grade.reason}"]
    for use in grade.verdict.techniques:
        if _TRIVIAL.match(use.evidence):
            problems.append(f"{use.technique.value} is claimed on trivial evidence {use.evidence!r}")
    if grade.tip and _FACTS.search(grade.tip):
        problems.append(f"the tip quotes numbers that may belong to another scenario: {grade.tip!r}")
    return problems


def example_offers(persona: Persona) -> list[tuple[str, str]]:
    """`(kind, offer)` for every example offer in the persona file: 'acceptable_remedies.<id>' for a good
    remedy, 'will_not_accept.<n>' for an offer the caller refuses (the kinds `check_offer` judges by)."""
    offers = [(f"acceptable_remedies.{r.id}", r.example_offer) for r in persona.scenario.acceptable_remedies]
    offers += [
        (f"will_not_accept.{n}", r.example_offer)
        for n, r in enumerate(persona.scenario.will_not_accept)
        if r.example_offer is not None
    ]
    return offers


async def check_offers(persona: Persona, grader: TurnGrader) -> list[OfferCheck]:
    """Grade every example offer in the persona file; one `OfferCheck` per offer."""
    return [await check_offer(persona, kind, offer, grader) for kind, offer in example_offers(persona)]


async def check_offer(persona: Persona, kind: str, offer: str, grader: TurnGrader) -> OfferCheck:
    """Grade one offer as the persona file means it (`kind` is 'acceptable_remedies.<id>' or
    'will_not_accept.<n>'), in answer to the persona's opening line: the example offer itself, or another
    wording of the same move (`scripts/persona_paraphrases.py`)."""
    context = [Utterance(role="customer", text=persona.opening_lines[0])]
    grade = await grader.grade(
        GradeRequest(trainee_turn=offer, context=context, scenario=persona.grader_brief(), persona=persona.id)
    )
    problems = _common_problems(grade)
    v = grade.verdict
    if kind.startswith("acceptable_remedies.") and v is not None and v.manipulative:
        problems.append("an acceptable remedy's example offer is graded manipulative")
    if kind.startswith("will_not_accept.") and v is not None and graded_as_good_turn(v):
        problems.append(
            "an offer the caller will not accept is graded as a good turn (no negative move, not "
            f"manipulative, score {v.perspective_taking})"
        )
    return OfferCheck(kind=kind, offer=offer, summary=_summary(grade), problems=problems)


def failures(checks: Sequence[OfferCheck]) -> list[str]:
    """One line per problem, for reports."""
    return [f"{c.kind}: {p} [{c.summary}] — {c.offer!r}" for c in checks for p in c.problems]
