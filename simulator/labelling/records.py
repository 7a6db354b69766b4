"""What a rater submits, how it is checked, and what is stored.

`LabelDraft` is the raw submission of the terminal or the page: label names as strings, so that an
unknown name gets a plain-words error listing the valid ones rather than a pydantic enum message.
`check_draft` checks it against the turn and returns the `TurnVerdict` to store, or raises `LabelError`
holding every problem at once. `LabelRecord` is one stored version of one rater's label of one turn.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from simulator.errors import CooldownError
from simulator.grading.labels import Behaviour, Tactic, Technique, TechniqueUse, TurnVerdict

USES = ("ethical", "manipulative")
_RATER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class LabelError(CooldownError):
    """A label, rater name or turns file was refused; `problems` says each thing to fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems) if len(problems) > 1 else problems[0])


class TechniqueMark(BaseModel):
    """A technique the rater found, how it was used, and the words of the turn that show it."""

    model_config = ConfigDict(extra="forbid")

    technique: str
    use: str = ""
    evidence: str = ""


class LabelDraft(BaseModel):
    """A rater's submission for one turn, before it is checked."""

    model_config = ConfigDict(extra="forbid")

    behaviours: list[str] = Field(default_factory=list)
    score: int | None = None
    techniques: list[TechniqueMark] = Field(default_factory=list)
    tactics: list[str] = Field(default_factory=list)
    note: str = Field(default="", max_length=2000)

    @classmethod
    def of(cls, verdict: TurnVerdict, note: str = "") -> LabelDraft:
        """The draft that gives back `verdict` (to edit a saved label)."""
        return cls(
            behaviours=[b.value for b in verdict.behaviours], score=verdict.perspective_taking,
            techniques=[TechniqueMark(technique=t.technique.value, use=t.use, evidence=t.evidence)
                        for t in verdict.techniques],
            tactics=[t.value for t in verdict.manipulation_tactics], note=note,
        )  # fmt: skip


class LabelRecord(BaseModel):
    """One saved version of one rater's label of one turn (a line of `<rater>.jsonl`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: str
    rater: str
    version: int = Field(ge=1)
    """1 for the first save of this turn by this rater, +1 for each edit; the highest wins."""
    saved_at: datetime
    item_digest: str
    """`LabelItem.digest()` of the turn as the rater saw it."""
    verdict: TurnVerdict
    note: str = ""


def _names(kind: str, given: list[str], valid: list[str]) -> tuple[list[str], list[str]]:
    ok, problems = [], []
    for name in given:
        clean = name.strip()
        if clean in valid:
            ok.append(clean)
        elif clean:
            problems.append(f"unknown {kind} {clean!r}; use one of: {', '.join(valid)}")
    return ok, problems


def check_rater(name: object) -> str:
    """A rater name, which also names the rater's file; `LabelError` saying what to change."""
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise LabelError(["give a rater name (e.g. --rater ann), so your labels are kept under it"])
    if not _RATER.fullmatch(text):
        raise LabelError([f"rater name {text!r}: use 1-40 letters, digits, '_', '-' or '.', starting with a "
                          "letter or digit (it names your labels file)"])
    return text


def check_draft(draft: LabelDraft, turn: str) -> TurnVerdict:
    """The verdict a draft gives `turn`, checked against the rubric.

    Raises:
        LabelError: Every problem at once: a score missing or outside 0-4, an unknown behaviour,
            technique, use or tactic, a technique without its use or evidence, evidence that is not
            word for word in the turn, a technique given twice.
    """
    problems: list[str] = []
    if draft.score is None:
        problems.append("choose a score from 0 to 4 (docs/rubric.md §1)")
    elif not 0 <= draft.score <= 4:
        problems.append(f"score {draft.score} is out of range; the score is 0 to 4 (docs/rubric.md §1)")
    behaviours, found = _names("behaviour", draft.behaviours, [b.value for b in Behaviour])
    problems += found
    tactics, found = _names("tactic", draft.tactics, [t.value for t in Tactic])
    problems += found
    techniques: list[TechniqueUse] = []
    seen: set[str] = set()
    valid = [t.value for t in Technique]
    for mark in draft.techniques:
        name = mark.technique.strip()
        if not name:
            if mark.use.strip() or mark.evidence.strip():
                problems.append("a technique use or evidence is given without its technique; choose the technique")
            continue
        if name not in valid:
            problems.append(f"unknown technique {name!r}; use one of: {', '.join(valid)}")
            continue
        if name in seen:
            problems.append(f"{name}: given twice; keep one use per technique")
            continue
        seen.add(name)
        use, evidence = mark.use.strip(), mark.evidence.strip()
        if use not in USES:
            problems.append(f"{name}: choose how it is used, ethical or manipulative"
                            + (f" (not {use!r})" if use else ""))
        if not evidence:
            problems.append(f"{name}: mark the words of the turn that show it (evidence)")
        elif evidence not in turn:
            problems.append(f"{name}: evidence {evidence!r} is not in the turn word for word; select it in the "
                            "turn or copy it exactly")
        if use in USES and evidence and evidence in turn:
            techniques.append(TechniqueUse(technique=Technique(name), use=use, evidence=evidence))
    if problems:
        raise LabelError(problems)
    assert draft.score is not None
    return TurnVerdict(
        perspective_taking=draft.score, behaviours=[Behaviour(b) for b in behaviours], techniques=techniques,
        manipulation_tactics=[Tactic(t) for t in tactics],
    )  # fmt: skip


def verbatim(turn: str, selected: str) -> str:
    """The exact words of `turn` that a browser selection means: the selection itself when it is in the
    turn, else the span that matches it up to runs of white space (a selection across a line break reads
    back with other spacing); `selected` stripped when nothing matches (the check then says so)."""
    text = selected.strip()
    if not text or text in turn:
        return text
    pattern = r"\s+".join(re.escape(word) for word in text.split())
    found = re.search(pattern, turn)
    return found.group(0) if found else text
