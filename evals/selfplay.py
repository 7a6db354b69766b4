"""Self-play suites: scripted trainee strategies against personas, with a grader driving the mood.

Each item is (persona, strategy, difficulty). The strategy's scripted turns (`personas/strategies.yaml`)
are graded turn by turn by the grader under test, and the grader's verdict drives the mood state
machine (`simulator.call.mood.step`), exactly as in a live call. With `grader=None` the strategy's own
labels drive it (the persona's dynamics alone). The report gives outcome rates per strategy and the
mood trajectory of every item, and flags a caller that **softens without the trainee earning it**:

- a turn after which the mood softened although the turn's scripted labels hold nothing that earns
  it (no listening behaviour, apology, solution offer, or ethically used technique);
- a call that resolved under a strategy that must never resolve (dismissive, fact-dumping,
  manipulative closing).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from simulator.call.transcript import Utterance
from simulator.grading.base import GradeRequest, TurnGrader
from simulator.grading.labels import POSITIVE_BEHAVIOURS, Behaviour, TurnVerdict

SOFTENING_THRESHOLD = 5
"""Points of (anger fall + trust rise + entrenchment fall) that count as the caller softening."""
EARNING_BEHAVIOURS = POSITIVE_BEHAVIOURS | {Behaviour.APOLOGY, Behaviour.SOLUTION_OFFER}


def earned(verdict: TurnVerdict) -> bool:
    """Does a turn's (scripted) labelling hold anything that may soften a caller?"""
    if verdict.manipulative:
        return False
    return bool(set(verdict.behaviours) & EARNING_BEHAVIOURS) or any(
        t.use == "ethical" for t in verdict.techniques
    )


def softening(before: Any, after: Any) -> int:
    """How much the caller softened from one state to the next (negative: hardened)."""
    return int((before.anger - after.anger) + (after.trust - before.trust)
               + (before.entrenchment - after.entrenchment))


async def play(persona: Any, strategy_name: str, strategy: Any, difficulty: Any,
               grader: TurnGrader | None) -> dict[str, Any]:
    """Play one strategy against one persona; return the trajectory and its flags."""
    from simulator.call.engine import TurnEngine
    from simulator.call.mood import mood_label
    from simulator.persona.behaviour import fill_text, scripted_verdict

    engine = TurnEngine(persona, difficulty)
    start = engine.start
    points: list[dict[str, Any]] = []
    transcript: list[Utterance] = []
    flags: list[str] = []
    outcome = None
    ungraded = 0
    for i, turn in enumerate(strategy.turns, start=1):
        text = fill_text(persona, turn.text)
        gold = scripted_verdict(turn, text)
        verdict: TurnVerdict | None = gold
        if grader is not None:
            grade = await grader.grade(GradeRequest(trainee_turn=text, context=list(transcript),
                                                    persona=persona.id))
            verdict = grade.verdict
        before = engine.state
        result = engine.advance(text, verdict)
        transcript.append(Utterance(role="agent", text=text))
        if verdict is None:  # ungraded: the turn counts, the mood holds (the same rule as a live call)
            ungraded += 1
            points.append({"turn": i, "text": text, "ungraded": grade.reason, "gold_score":
                           gold.perspective_taking, "outcome": result.outcome})
            if engine.over:
                outcome = result.outcome
                break
            continue
        soft = softening(before, result.state)
        if soft >= SOFTENING_THRESHOLD and not earned(gold):
            flags.append(f"turn {i}: softened by {soft} on a turn that earns nothing ({text[:60]!r})")
        points.append({
            "turn": i, "text": text, "gold_score": gold.perspective_taking,
            "graded_score": verdict.perspective_taking, "manipulative": verdict.manipulative,
            "anger": result.state.anger, "trust": result.state.trust,
            "entrenchment": result.state.entrenchment, "mood": mood_label(result.state),
            "softening": soft, "fired": [str(f) for f in result.fired], "outcome": result.outcome,
        })
        if engine.over:
            outcome = result.outcome
            break
    return {"persona": persona.id, "strategy": strategy_name, "difficulty": difficulty,
            "start": {"anger": start.anger, "trust": start.trust, "entrenchment": start.entrenchment},
            "outcome": outcome or "no outcome", "turns": len(points), "ungraded": ungraded,
            "points": points, "flags": flags}


async def run_selfplay(grader: TurnGrader | None, *, personas: list[str] | None = None,
                       difficulty: Any = "normal") -> dict[str, Any]:
    """Play every strategy against every (selected) persona and summarise.

    Args:
        grader: the grader whose verdicts drive the mood; None uses the strategies' own labels.
        personas: persona ids to include (default: all shipped personas that load).
        difficulty: the difficulty level to play at.
    """
    from simulator.persona.behaviour import NEVER_RESOLVE, load_strategies
    from simulator.persona.loader import list_personas, load_persona

    book = load_strategies()
    listing = [p for p in list_personas() if p.error is None and (not personas or p.id in personas)]
    items = []
    for entry in listing:
        persona = load_persona(entry.path)
        for name, strategy in book.strategies.items():
            item = await play(persona, name, strategy, difficulty, grader)
            if name in NEVER_RESOLVE and item["outcome"] == "resolved":
                item["flags"].append(f"resolved under the {name} strategy, which must never resolve")
            items.append(item)
    rates: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        rates[item["strategy"]][item["outcome"]] += 1
    return {
        "grader": None if grader is None else {"name": grader.name, "version": grader.version},
        "difficulty": difficulty,
        "outcome_rates": {s: {o: round(n / sum(c.values()), 3) for o, n in c.items()} for s, c in rates.items()},
        "items": items,
        "flagged": [f"{i['persona']} / {i['strategy']}: {f}" for i in items for f in i["flags"]],
    }


def selfplay_lines(result: dict[str, Any]) -> list[str]:
    """Terminal summary: outcome rates per strategy, one trajectory line per item, the flags."""
    who = result["grader"]["name"] if result["grader"] else "the strategies' own labels"
    lines = [f"self-play at {result['difficulty']} difficulty, mood driven by {who}", ""]
    for strategy, rates in result["outcome_rates"].items():
        lines.append(f"  {strategy:<20} " + ", ".join(f"{o} {r:.0%}" for o, r in sorted(rates.items())))
    lines.append("")
    for item in result["items"]:
        path = " → ".join(f"A{p['anger']}/T{p['trust']}/E{p['entrenchment']}" for p in item["points"]
                          if "anger" in p)
        lines.append(f"  {item['persona']:<24} {item['strategy']:<20} {item['outcome']:<12} {path}")
    lines.append("")
    flagged = result["flagged"]
    lines.append(f"{len(flagged)} flag(s): caller softened without the trainee earning it" if flagged
                 else "no unearned softening")
    lines += [f"  FLAG {f}" for f in flagged]
    return lines
