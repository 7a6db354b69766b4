"""Lint for a persona's own lines (`lines`) and the facts they say, reported as `file:line:col: field: message`.

Run by `simulator.persona.lint.lint_paths` for every persona that loads. Errors:

- no `lines` block, an act with no lines, an empty act, a mood no line of an act covers;
- a `{slot}` an act's line cannot fill (a fact id that does not exist, `{fact}` outside `answer`...);
- a fact without `say` (answers say it, first person);
- a line that would fail its own act's check once filled (`simulator.caller.coherence`): a
  `dont_know` line that never says "don't know", a number the persona doesn't hold, an offer of a fix;
- a line the in-character guard would stop (agent voice, AI talk, markup);
- a fact's `ask` question that the planner would not answer with that fact.

Nothing here runs at call time: a bad line that slips through is skipped by the caller, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from simulator.call.mood import MoodState
from simulator.call.transcript import Utterance
from simulator.caller.budget import LoggedTurn
from simulator.caller.coherence import check_reply, holdings_of
from simulator.caller.guard import CallerGuard
from simulator.caller.lines import fill, unknown_slots
from simulator.caller.plan import ReplyPlan, fact_key, plan_reply
from simulator.grading.labels import Behaviour, TurnVerdict
from simulator.persona.loader import PersonaProblem, position_of, yaml_positions
from simulator.persona.schema import ACT_SLOTS, ACTS, CLOSING_ACTS, MOODS, Act, Fact, MoodName, Persona

_OUTCOME_OF = {act: outcome for outcome, act in CLOSING_ACTS.items()}
Report = Callable[[tuple[str | int, ...], str], None]
"""Records one problem: (field path, message)."""


def lint_lines(persona: Persona, path: Path) -> list[PersonaProblem]:
    """Every problem with the persona's own lines and the facts they say."""
    positions = yaml_positions(path)
    problems: list[PersonaProblem] = []

    def problem(field: tuple[str | int, ...], message: str) -> None:
        line, column = position_of(positions, *field)
        dotted = ".".join(str(p) for p in field)
        problems.append(PersonaProblem(file=str(path), line=line, column=column, field=dotted, message=message))

    problems_with_asks(persona, problem)
    if persona.lines is None:
        problem(
            ("lines",),
            "no `lines:` block: the caller needs the persona's own lines per act to stand in when the model's "
            "reply misses its plan (and to play the scripted caller); see docs/personas.md",
        )
        return problems
    for i, fact in enumerate(persona.scenario.knows):
        if fact.say is None:
            problem(("scenario", "knows", i), "fact has no `say`: answers say it, in the first person (add one)")
    holdings = holdings_of(persona)
    guard = _lint_guard(persona)
    for act in ACTS:
        bank = persona.lines.bank(act)
        if bank is None:
            problem(("lines",), f"no lines for act `{act}`; add at least one (an `any:` line covers every mood)")
            continue
        entries = bank.all_lines()
        if not entries:
            problem(("lines", act), f"act `{act}` has an empty bank; give it at least one line")
            continue
        bare = [m for m in MOODS if not bank.for_mood(m)]
        if bare:
            problem(("lines", act), f"act `{act}` has no line for mood {', '.join(bare)}; add them or an `any:` line")
        for key, index, line in entries:
            where = ("lines", act, key, index)
            unknown = unknown_slots(persona, act, line)
            if unknown:
                allowed = sorted({*ACT_SLOTS.get(act, frozenset()), *(f.id for f in persona.scenario.knows if f.id)})
                known = ", ".join("{" + s + "}" for s in allowed) or "none (give facts an `id`)"
                slots = ", ".join("{" + s + "}" for s in unknown)
                problem(where, f"unknown slot {slots} in a `{act}` line; slots here: {known}")
                continue
            mood: MoodName = "angry" if key == "any" else key  # type: ignore[assignment]
            for plan in _sample_plans(persona, act, mood):
                text = fill(persona, line, plan, reveal_all=True)
                if text is None:
                    continue
                failures = check_reply(plan, text, holdings)
                if failures:
                    problem(where, f"would fail its own act once filled ({text!r}): {failures[0].detail}")
                    break
                verdict = guard.check(text)
                if not verdict.ok:
                    problem(where, f"the in-character guard would stop it: {verdict.violations[0].kind} "
                            f"({verdict.violations[0].detail})")
                    break
    return problems


def _lint_guard(persona: Persona) -> CallerGuard:
    from simulator.caller.chain import script_for

    return script_for(persona, "normal", "LINT-CANARY-0000").guard


def _sample_plans(persona: Persona, act: Act, mood: MoodName) -> list[ReplyPlan]:
    """Plans an `act` line must serve: for `answer`, one per fact; for `reject_offer`, one per refusal."""
    scenario = persona.scenario
    base = ReplyPlan(act=act, mood=mood, turn=60, demand=scenario.demands[0], outcome=_OUTCOME_OF.get(act))
    if act == "answer":
        return [
            base.model_copy(update={"fact": fact_key(persona, f), "fact_text": f.text, "fact_say": f.say or f.text})
            for f in scenario.knows
        ]
    if act == "dont_know":
        return [base.model_copy(update={"unknown": topic}) for topic in [*scenario.does_not_know, ""]]
    if act == "reject_offer":
        return [
            base.model_copy(update={"refusal": r.description, "refusal_say": r.say or r.description})
            for r in scenario.will_not_accept
        ]
    return [base]


def problems_with_asks(persona: Persona, report: Report) -> None:
    """Report `ask` questions the planner would not answer with their own fact."""
    for i, fact in enumerate(persona.scenario.knows):
        if fact.ask is None:
            continue
        plan = plan_for_question(persona, fact, fact.ask)
        if plan.act != "answer" or plan.fact != fact_key(persona, fact):
            got = f"`{plan.act}`" + (f" with fact {plan.fact}" if plan.fact else "")
            report(
                ("scenario", "knows", i, "ask"),
                f"the planner would reply to this question with {got} ({plan.why}), not with this fact; "
                "add a `reveal_when_asked` phrase it contains, or reword it",
            )


def plan_for_question(persona: Persona, fact: Fact, question: str) -> ReplyPlan:
    """The plan for `question` asked at the first turn `fact` may be told, in a neutral mood."""
    turn = max(1, fact.reveal_after_turn)
    state = MoodState(anger=50, trust=40, entrenchment=50, turn=turn)
    verdict = TurnVerdict(perspective_taking=2, behaviours=[Behaviour.OPEN_QUESTION])
    turns = [
        LoggedTurn(utterance=Utterance(role="customer", text=persona.opening_lines[0])),
        LoggedTurn(utterance=Utterance(role="agent", text=question), verdict=verdict),
    ]
    return plan_reply(persona, state, turns)
