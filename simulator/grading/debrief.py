"""The end-of-call debrief: outcome and why, mood trajectory, per-turn scores, strengths, three changes.

    debrief = build_debrief(CallRecord.from_session(store.load_session(session_id)))
    print(debrief.to_markdown())

Deterministic and offline: no model is called. Each trainee turn is shown with its primary grade (an LLM
grade when one is graded, else the local appraiser's); better phrasings come from the LLM grades of this
call when present, else the local appraiser's tips are shown. `CallRecord` is a small input model of its
own, so the debrief does not depend on storage internals; `CallRecord.from_session` adapts anything
shaped like the store's `SessionRecord`.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulator.call.transcript import Speaker
from simulator.grading.labels import (
    NEGATIVE_BEHAVIOURS,
    POSITIVE_BEHAVIOURS,
    SCORE_MEANINGS,
    Behaviour,
    Tactic,
    Technique,
    TechniqueUse,
    TurnGrade,
)
from simulator.vocabulary import readable_reason as words

TOP_CHANGES = 3
UNSURE_BELOW = 0.6
"""A decision whose calibrated confidence is below this is shown as 'unsure', not as a firm verdict."""
_PROBLEMS: dict[Behaviour, str] = {
    Behaviour.FACT_CONFRONTATION: (
        "You argued with their account using records, data or policy; an angry caller confronted with "
        "data digs in."
    ),
    Behaviour.DISMISSAL: "You minimised or hurried the caller instead of hearing them out.",
    Behaviour.BLAME: "You put the fault on the caller.",
}


class MoodPoint(BaseModel):
    """The caller's mood after a turn (or at the start), with the persona rules that fired."""

    model_config = ConfigDict(extra="forbid")

    anger: float
    trust: float
    entrenchment: float
    label: str = ""
    fired_rules: list[str] = Field(
        default_factory=list, description="Readable reasons, e.g. 'blame: anger +10'."
    )


class CallerPlanNote(BaseModel):
    """Why the caller said a line: its planned act, what it was to carry, and who voiced it."""

    model_config = ConfigDict(extra="forbid")

    act: str = Field(description="The planned act, e.g. 'answer', 'reject offer'.")
    carried: str = Field(default="", description="The fact, refusal or demand it was to carry ('' for none).")
    voiced_by: str = Field(description="'the model', or the persona's own line and why it stood in.")
    why: str = Field(default="", description="Why this act: what the trainee's turn asked or did.")


class CallTurn(BaseModel):
    """One utterance of the call with its grades (trainee turns) and the mood after it."""

    model_config = ConfigDict(extra="forbid")

    role: Speaker
    text: str
    grades: list[TurnGrade] = Field(default_factory=list)
    mood: MoodPoint | None = None
    plan: CallerPlanNote | None = None
    """For caller lines: what the reply was planned to do (None before plans, or for the opening)."""


class CallRecord(BaseModel):
    """What the debrief needs to know about a finished (or abandoned) call."""

    model_config = ConfigDict(extra="forbid")

    persona_name: str = Field(description="The persona's id (its file name), e.g. 'backfire_brian'.")
    caller_name: str | None = Field(
        default=None, description="The caller's name as the trainee knows them (identity.name), e.g. 'Brian Keller'."
    )
    outcome: str | None = None
    outcome_reason: str | None = None
    initial_mood: MoodPoint | None = None
    turns: list[CallTurn] = Field(default_factory=list)

    @classmethod
    def from_session(cls, session: Any, initial_mood: MoodPoint | None = None) -> CallRecord:
        """Adapt a storage `SessionRecord` (or anything with the same attribute names).

        The caller's name comes from the session's persona snapshot (`persona_text`), when it has one.
        """
        turns = []
        notes = plan_notes(session)
        for t in session.turns:
            if getattr(t, "status", "final") == "interrupted":
                continue
            mood = None
            if t.mood is not None:
                mood = MoodPoint(
                    anger=t.mood.anger, trust=t.mood.trust, entrenchment=t.mood.entrenchment,
                    label=t.mood.label, fired_rules=[_rule_text(r) for r in t.mood.fired_rules],
                )  # fmt: skip
            plan = notes.get(getattr(t, "id", ""))
            turns.append(CallTurn(role=t.role, text=t.text, grades=list(t.grades), mood=mood, plan=plan))
        return cls(
            persona_name=session.persona_name, caller_name=_caller_name(session), outcome=session.outcome,
            outcome_reason=session.outcome_reason, initial_mood=initial_mood, turns=turns,
        )  # fmt: skip


def plan_notes(session: Any) -> dict[str, CallerPlanNote]:
    """The stored plan of each caller reply, by the reply's turn id (`simulator.caller.plan.plans_in_record`)."""
    from simulator.caller.plan import plans_in_record

    if not hasattr(session, "guard_events"):
        return {}
    return {
        turn_id: CallerPlanNote(
            act=rec.act, carried=rec.carried(ids=False), voiced_by=rec.voiced_by(), why=rec.plan.why
        )  # the trainee reads this: no persona fact or remedy ids
        for turn_id, rec in plans_in_record(session).items()
    }


def _caller_name(session: Any) -> str | None:
    """identity.name from the session's persona snapshot; None if it has none or it no longer loads."""
    from simulator.errors import CooldownError
    from simulator.persona.loader import load_persona_text

    text = getattr(session, "persona_text", None)
    if not text:
        return None
    try:
        return load_persona_text(text, f"{session.persona_name}.yaml (stored snapshot)").identity.name
    except CooldownError:
        return None


def _rule_text(rule: Any) -> str:
    if isinstance(rule, dict):
        return str(rule.get("reason") or rule.get("label") or rule)
    return str(rule)


class TurnScore(BaseModel):
    """One trainee turn as the debrief shows it."""

    model_config = ConfigDict(extra="forbid")

    turn: int = Field(description="1-based trainee turn number.")
    text: str
    status: str
    grader: str
    perspective_taking: int | None = None
    behaviours: list[Behaviour] = Field(default_factory=list)
    techniques: list[TechniqueUse] = Field(default_factory=list)
    manipulation_tactics: list[Tactic] = Field(default_factory=list)
    manipulative: bool | None = None
    tip: str | None = None
    better_phrasing: str | None = None
    other_scores: list[str] = Field(default_factory=list, description="e.g. 'local:appraiser: 2'.")
    disagreements: list[str] = Field(
        default_factory=list, description="Where two graders of this turn differ, e.g. 'score: llm 3, local 1'."
    )
    unsure: list[str] = Field(
        default_factory=list, description="Decisions the grader was unsure of (confidence under UNSURE_BELOW)."
    )
    integrity_flags: list[str] = Field(default_factory=list)
    mood_after: MoodPoint | None = None


class Change(BaseModel):
    """One of the changes that matter most, with a better phrasing from this call when there is one."""

    model_config = ConfigDict(extra="forbid")

    turn: int
    said: str
    problem: str
    better_phrasing: str | None = None
    tip: str | None = None
    source: str = Field(description="The grader the phrasing or tip came from.")


class TechniqueTally(BaseModel):
    """How often a technique was used ethically and manipulatively, with the evidence."""

    model_config = ConfigDict(extra="forbid")

    technique: Technique
    ethical: int = 0
    manipulative: int = 0
    evidence: list[str] = Field(default_factory=list, description="'turn N (use): quote'.")


class Debrief(BaseModel):
    """The debrief of one call."""

    model_config = ConfigDict(extra="forbid")

    persona_name: str
    caller_name: str | None = None
    outcome: str | None
    outcome_reason: str | None
    decisive_rules: list[str] = Field(description="The rules that fired on the last graded turn.")
    rule_counts: dict[str, int] = Field(description="How often each rule fired over the call.")
    mood_trajectory: list[tuple[int, MoodPoint]] = Field(description="(trainee turn, mood); 0 is the start.")
    turns: list[TurnScore]
    average_perspective_taking: float | None
    ungraded_turns: int
    strengths: list[str]
    top_changes: list[Change]
    techniques: list[TechniqueTally]
    tactics: dict[str, int]
    caller_plans: list[tuple[int, str, CallerPlanNote]] = Field(
        default_factory=list, description="(trainee turn it answers, the caller's line, its plan) per planned reply."
    )

    def to_markdown(self) -> str:
        """The debrief as Markdown for the page, the CLI and exports."""
        return _markdown(self)


def _primary(grades: list[TurnGrade]) -> TurnGrade | None:
    graded = [g for g in grades if g.status == "graded"]
    llm = [g for g in graded if g.grader.startswith("llm:")]
    chosen = llm or graded or list(grades)
    return chosen[0] if chosen else None


def _phrasing_source(grades: list[TurnGrade]) -> tuple[str | None, str | None, str]:
    """(better_phrasing, tip, grader): an LLM grade's phrasing first, else any tip."""
    graded = sorted(
        (g for g in grades if g.status == "graded"), key=lambda g: not g.grader.startswith("llm:")
    )
    for g in graded:
        if g.better_phrasing:
            return g.better_phrasing, g.tip, g.grader
    for g in graded:
        if g.tip:
            return None, g.tip, g.grader
    return None, None, ""


def _score_turn(number: int, turn: CallTurn) -> TurnScore:
    primary = _primary(turn.grades)
    phrasing, tip, _ = _phrasing_source(turn.grades)
    others = [
        f"{g.grader}: {g.verdict.perspective_taking if g.verdict else 'ungraded'}"
        for g in turn.grades
        if g is not primary
    ]
    score = TurnScore(
        turn=number, text=turn.text, status=primary.status if primary else "ungraded",
        grader=primary.grader if primary else "", tip=tip, better_phrasing=phrasing, other_scores=others,
        integrity_flags=sorted({f for g in turn.grades for f in g.integrity_flags}), mood_after=turn.mood,
    )  # fmt: skip
    graded = [g for g in turn.grades if g.verdict is not None]
    if len(graded) >= 2:
        score.disagreements = _disagreements(graded[0], graded[1])
    if primary is not None and primary.confidence:
        score.unsure = [k for k in ("score", "manipulative") if primary.confidence.get(k, 1.0) < UNSURE_BELOW]
    if primary is not None and primary.verdict is not None:
        v = primary.verdict
        score.perspective_taking = v.perspective_taking
        score.behaviours = list(v.behaviours)
        score.techniques = list(v.techniques)
        score.manipulation_tactics = list(v.manipulation_tactics)
        score.manipulative = v.manipulative
    return score


def _disagreements(a: TurnGrade, b: TurnGrade) -> list[str]:
    """What two graders' verdicts on one turn disagree about (score, manipulative, negative behaviours)."""
    va, vb = a.verdict, b.verdict
    if va is None or vb is None:
        return []
    out = []
    if va.perspective_taking != vb.perspective_taking:
        out.append(f"score: {a.grader} {va.perspective_taking}, {b.grader} {vb.perspective_taking}")
    if va.manipulative != vb.manipulative:
        yes, no = (a, b) if va.manipulative else (b, a)
        out.append(f"manipulative: {yes.grader} yes, {no.grader} no")
    neg_a = sorted(x.value for x in set(va.behaviours) & NEGATIVE_BEHAVIOURS)
    neg_b = sorted(x.value for x in set(vb.behaviours) & NEGATIVE_BEHAVIOURS)
    if neg_a != neg_b:
        out.append(f"negative moves: {a.grader} {', '.join(neg_a) or 'none'}; {b.grader} {', '.join(neg_b) or 'none'}")
    return out


def _mood_delta(before: MoodPoint | None, after: MoodPoint | None) -> float:
    """How much worse the caller got over a turn (positive = worse)."""
    if before is None or after is None:
        return 0.0
    return (
        (after.anger - before.anger)
        + (before.trust - after.trust)
        + (after.entrenchment - before.entrenchment)
    )


def _problem(score: TurnScore) -> str:
    parts = [
        f"You used {words(t.technique.value)} manipulatively: “{t.evidence}”."
        for t in score.techniques
        if t.use == "manipulative"
    ]
    if score.manipulation_tactics:
        parts.append("Manipulation tactics: " + ", ".join(words(t.value) for t in score.manipulation_tactics) + ".")
    parts += [_PROBLEMS[b] for b in score.behaviours if b in _PROBLEMS]
    if not parts and score.perspective_taking is not None:
        parts.append(
            f"Perspective-taking {score.perspective_taking}: {SCORE_MEANINGS[score.perspective_taking]}."
        )
    return " ".join(parts[:2])


def _top_changes(
    scores: list[TurnScore], turns: list[CallTurn], before: list[MoodPoint | None]
) -> list[Change]:
    ranked: list[tuple[float, int, Change]] = []
    for score, turn, prior in zip(scores, turns, before, strict=True):
        if score.perspective_taking is None:
            continue
        negatives = [b for b in score.behaviours if b in NEGATIVE_BEHAVIOURS]
        if not (score.manipulative or negatives or score.perspective_taking <= 2):
            continue
        severity = float(
            (6 if score.manipulative else 0) + 2 * len(negatives) + (4 - score.perspective_taking)
        )
        severity += max(0.0, min(3.0, _mood_delta(prior, turn.mood) / 10))
        phrasing, tip, source = _phrasing_source(turn.grades)
        change = Change(
            turn=score.turn, said=score.text, problem=_problem(score), better_phrasing=phrasing, tip=tip,
            source=source or score.grader,
        )  # fmt: skip
        ranked.append((-severity, score.turn, change))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [change for _, _, change in ranked[:TOP_CHANGES]]


def _strengths(scores: list[TurnScore], call: CallRecord, moods: list[tuple[int, MoodPoint]]) -> list[str]:
    graded = [s for s in scores if s.perspective_taking is not None]
    found: list[str] = []
    best = sorted(
        (s for s in graded if (s.perspective_taking or 0) >= 3),
        key=lambda s: (-(s.perspective_taking or 0), s.turn),
    )
    for s in best[:2]:
        pt = s.perspective_taking or 0
        found.append(f"Turn {s.turn} ({pt}/4, {SCORE_MEANINGS[pt]}): “{_excerpt(s.text)}”")
    listening = Counter(b.value for s in graded for b in s.behaviours if b in POSITIVE_BEHAVIOURS)
    if listening:
        found.append("Listening moves: " + ", ".join(f"{words(name)} ×{n}" for name, n in sorted(listening.items())))
    for s in graded:
        for t in s.techniques:
            if t.use == "ethical" and len(found) < 6:
                found.append(f"Ethical {words(t.technique.value)} on turn {s.turn}: “{t.evidence}”")
    if graded and not any(s.manipulative for s in graded):
        found.append("No manipulative moves in the whole call.")
    if len(moods) >= 2:
        first, last = moods[0][1], moods[-1][1]
        if last.anger < first.anger:
            found.append(f"The caller's anger fell from {first.anger:g} to {last.anger:g}.")
        if last.trust > first.trust:
            found.append(f"The caller's trust rose from {first.trust:g} to {last.trust:g}.")
    if call.outcome == "resolved":
        found.append("You resolved the call.")
    return found


def _excerpt(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_debrief(call: CallRecord) -> Debrief:
    """The debrief of a call. Deterministic: the same record always gives the same debrief."""
    trainee_turns = [t for t in call.turns if t.role == "agent"]
    scores = [_score_turn(n, t) for n, t in enumerate(trainee_turns, start=1)]
    moods: list[tuple[int, MoodPoint]] = [(0, call.initial_mood)] if call.initial_mood else []
    before: list[MoodPoint | None] = []
    last = call.initial_mood
    for n, call_turn in enumerate(trainee_turns, start=1):
        before.append(last)
        if call_turn.mood is not None:
            moods.append((n, call_turn.mood))
            last = call_turn.mood
    rule_counts = Counter(rule.split(":", 1)[0].strip() for _, m in moods for rule in m.fired_rules)
    decisive = next((m.fired_rules for _, m in reversed(moods) if m.fired_rules), [])
    tallies: dict[Technique, TechniqueTally] = {}
    for s in scores:
        for t in s.techniques:
            tally = tallies.setdefault(t.technique, TechniqueTally(technique=t.technique))
            if t.use == "ethical":
                tally.ethical += 1
            else:
                tally.manipulative += 1
            tally.evidence.append(f"turn {s.turn} ({t.use}): {t.evidence}")
    graded = [s.perspective_taking for s in scores if s.perspective_taking is not None]
    plans: list[tuple[int, str, CallerPlanNote]] = []
    answered = 0
    for utterance in call.turns:
        answered += utterance.role == "agent"
        if utterance.role == "customer" and utterance.plan is not None:
            plans.append((answered, utterance.text, utterance.plan))
    return Debrief(
        persona_name=call.persona_name,
        caller_name=call.caller_name,
        outcome=call.outcome,
        outcome_reason=call.outcome_reason,
        decisive_rules=list(decisive),
        rule_counts=dict(sorted(rule_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        mood_trajectory=moods,
        turns=scores,
        average_perspective_taking=round(sum(graded) / len(graded), 2) if graded else None,
        ungraded_turns=sum(1 for s in scores if s.perspective_taking is None),
        strengths=_strengths(scores, call, moods),
        top_changes=_top_changes(scores, trainee_turns, before),
        techniques=[tallies[t] for t in Technique if t in tallies],
        tactics=dict(Counter(t.value for s in scores for t in s.manipulation_tactics)),
        caller_plans=plans,
    )


def _cell(text: str) -> str:
    return _excerpt(text, 90).replace("|", "\\|")


def _markdown(d: Debrief) -> str:
    out = [f"# Debrief: call with {d.caller_name or d.persona_name}", ""]
    out.append(
        f"**Outcome:** {words(d.outcome or 'not finished')}" + (f": {d.outcome_reason}" if d.outcome_reason else "")
    )
    if d.decisive_rules:
        out += ["", "Rules that fired on the last turn:", *[f"- {words(r)}" for r in d.decisive_rules]]
    if d.rule_counts:
        out += ["", "Rules over the call: " + ", ".join(f"{words(k)} ×{n}" for k, n in d.rule_counts.items())]
    avg = "n/a" if d.average_perspective_taking is None else f"{d.average_perspective_taking:.2f}/4"
    out += ["", f"Average perspective-taking: {avg}; ungraded turns: {d.ungraded_turns}", ""]
    if d.mood_trajectory:
        out += [
            "## Mood",
            "",
            "| turn | anger | trust | entrenchment | mood | rules fired |",
            "|---|---|---|---|---|---|",
        ]
        for n, m in d.mood_trajectory:
            rules = "; ".join(words(r) for r in m.fired_rules) or "-"
            out.append(
                f"| {n or 'start'} | {m.anger:g} | {m.trust:g} | {m.entrenchment:g} | {m.label} "
                f"| {_cell(rules)} |"
            )
        out.append("")
    out += ["## Strengths", ""]
    out += [f"- {s}" for s in d.strengths] or [
        "- None stood out yet: start by asking what happened, and reflect it back."
    ]
    out += ["", "## The changes that matter most", ""]
    if not d.top_changes:
        out.append("- Nothing serious to change in this call.")
    for n, c in enumerate(d.top_changes, start=1):
        out.append(f"{n}. **Turn {c.turn}**: “{_excerpt(c.said)}”  \n   {c.problem}")
        if c.better_phrasing:
            out.append(f"   Try instead: “{c.better_phrasing}” ({c.source})")
        tip = _new_advice(c.tip, c.problem)
        if tip:
            out.append(f"   Tip: {tip}")
    out += [
        "",
        "## Turn by turn",
        "",
        "| turn | you said | score | behaviours | techniques | grader |",
        "|---|---|---|---|---|---|",
    ]
    for s in d.turns:
        score = "ungraded" if s.perspective_taking is None else f"{s.perspective_taking}/4"
        if "score" in s.unsure and s.perspective_taking is not None:
            score += " (unsure)"
        if s.manipulative:
            score += " ⚠ manipulative" + (" (unsure)" if "manipulative" in s.unsure else "")
        techniques = "; ".join(f"{words(t.technique.value)} ({t.use}): “{t.evidence}”" for t in s.techniques) or "-"
        behaviours = ", ".join(words(b.value) for b in s.behaviours) or "-"
        out.append(
            f"| {s.turn} | {_cell(s.text)} | {score} | {behaviours} | {_cell(techniques)} "
            f"| {s.grader or '-'} |"
        )
    if d.caller_plans:
        out += [
            "",
            "## Why the caller said that",
            "",
            "Each reply was planned before anyone spoke: what it had to do, what it was to carry, and who voiced it.",
            "",
            "| after turn | the caller said | meant to | to carry | voiced by |",
            "|---|---|---|---|---|",
        ]
        for n, said, p in d.caller_plans:
            voiced = _excerpt(p.voiced_by, 150).replace("|", "\\|")
            out.append(f"| {n} | {_cell(said)} | {p.act} | {_cell(p.carried or '-')} | {voiced} |")
    split = [s for s in d.turns if s.disagreements]
    if split:
        out += ["", "## Where the graders disagreed", ""]
        out += [f"- Turn {s.turn}: " + "; ".join(s.disagreements) for s in split]
    out += ["", "## Persuasion techniques", ""]
    if not d.techniques and not d.tactics:
        out.append("- No persuasion techniques or manipulation tactics detected.")
    for t in d.techniques:
        out.append(f"- **{words(t.technique.value)}**: {t.ethical} ethical, {t.manipulative} manipulative")
        out += [f"  - {e}" for e in t.evidence]
    if d.tactics:
        out.append("- Manipulation tactics: " + ", ".join(f"{words(k)} ×{n}" for k, n in sorted(d.tactics.items())))
    return "\n".join(out) + "\n"


def _new_advice(tip: str | None, problem: str) -> str | None:
    """The tip without sentences that only repeat the problem already stated."""
    if not tip:
        return None
    seen = problem.lower()
    sentences = re.split(r"(?<=[.!?])\s+", tip.strip())
    kept = [s for s in sentences if s.rstrip(".!?").lower() not in seen]
    return " ".join(kept) or None
