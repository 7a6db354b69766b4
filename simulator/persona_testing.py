"""Behaviour tests for personas: play scripted trainee strategies and check the mood dynamics.

Strategies (`personas/strategies.yaml`) are trainee turns *with their labels*, so a run is exact and
deterministic: no model is involved unless a `caller` hook is passed. Each persona is checked against

- its own `expectations` (e.g. "3 fact_confrontation turns: entrenchment ≥ 95, not resolved");
- built-in checks every persona must pass: dismissive, fact-dumping and manipulative strategies never
  resolve (at any difficulty), and the empathetic strategy resolves at normal difficulty.

The caller hook (`CallerHook`) is where a later mode plugs in the real caller model: it receives the
state after each turn and returns the caller's line, which the trajectory records, and an optional
`line_check` reports problems with each line (e.g. `simulator.guard.CallerGuard`). Without a hook no
caller lines exist and none are claimed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.errors import PersonaError
from simulator.labels import TechniqueUse, TurnVerdict
from simulator.mood import MoodState, MoodStep, initial_state, mood_label, step
from simulator.persona import (
    DIFFICULTIES,
    DifficultyName,
    Expect,
    Expectation,
    Outcome,
    Persona,
    ScriptedTurn,
    Slug,
    Text,
)
from simulator.persona_loader import PERSONAS_DIR, validate_yaml_file
from simulator.transcript import Utterance

STRATEGIES_FILE = PERSONAS_DIR / "strategies.yaml"
NEVER_RESOLVE = ("dismissive", "fact_dumper", "manipulative_closer")
MUST_RESOLVE = "empathetic"


class Strategy(BaseModel):
    """A named trainee strategy: scripted turns with their labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Text
    turns: Annotated[list[ScriptedTurn], Field(min_length=1, max_length=60)]


class StrategyBook(BaseModel):
    """The strategies file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    strategies: dict[Slug, Strategy]


def load_strategies(path: Path = STRATEGIES_FILE) -> StrategyBook:
    """Load the strategies file with the same safe loader as personas.

    Raises:
        PersonaError: With `file:line:column` of the first problem.
    """
    book, problems = validate_yaml_file(Path(path), StrategyBook)
    if book is None:
        raise problems[0].to_error(more=len(problems) - 1)
    missing = [name for name in (*NEVER_RESOLVE, MUST_RESOLVE) if name not in book.strategies]
    if missing:
        raise PersonaError(
            f"{path}: strategies {missing} are required by the built-in persona checks; add them"
        )
    return book


# --- playing ------------------------------------------------------------------------------------


class CallerRequest(BaseModel):
    """What the caller hook gets after each trainee turn."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    persona: Persona
    difficulty: DifficultyName
    state: MoodState
    transcript: list[Utterance]
    closing: Outcome | None = None


CallerHook = Callable[[CallerRequest], Awaitable[str]]
"""Returns the caller's next line (e.g. renders `simulator.caller_prompt` and calls the caller model)."""
LineCheck = Callable[[str], list[str]]
"""Returns problems with a caller line (empty when it stayed in character)."""


class TrajectoryPoint(BaseModel):
    """One trainee turn and what it did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    step: MoodStep
    caller_line: str | None = None
    caller_problems: list[str] = Field(default_factory=list)


class Trajectory(BaseModel):
    """A scripted run against one persona."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    persona: str
    difficulty: DifficultyName
    strategy: str
    start: MoodState
    points: list[TrajectoryPoint]

    @property
    def final(self) -> MoodState:
        """The state after the last turn played."""
        return self.points[-1].step.state if self.points else self.start

    @property
    def outcome(self) -> Outcome | None:
        """How the call ended, or None if it is still going."""
        return self.points[-1].step.outcome if self.points else None


def fill_text(persona: Persona, text: str) -> str:
    """Replace `{remedy}` and `{refused_offer}` with this persona's example offers."""
    scenario = persona.scenario
    refused = next((r.example_offer for r in scenario.will_not_accept if r.example_offer), None)
    if "{refused_offer}" in text and refused is None:
        raise PersonaError(
            f"{persona.id}: a scripted turn uses {{refused_offer}} but no will_not_accept item has an "
            "example_offer; add one"
        )
    text = text.replace("{remedy}", scenario.acceptable_remedies[0].example_offer)
    return text.replace("{refused_offer}", refused or "")


def scripted_verdict(turn: ScriptedTurn, text: str) -> TurnVerdict:
    """The `TurnVerdict` of a scripted turn (evidence defaults to the whole turn)."""
    spec = turn.verdict
    return TurnVerdict(
        perspective_taking=spec.perspective_taking,
        behaviours=list(spec.behaviours),
        techniques=[
            TechniqueUse(technique=t.technique, use=t.use, evidence=t.evidence or text)
            for t in spec.techniques
        ],
        manipulation_tactics=list(spec.manipulation_tactics),
    )


def _script(turns: Sequence[ScriptedTurn], count: int | None) -> list[ScriptedTurn]:
    count = len(turns) if count is None else count
    return [turns[i % len(turns)] for i in range(count)]


def simulate(
    persona: Persona,
    difficulty: DifficultyName,
    turns: Sequence[ScriptedTurn],
    *,
    count: int | None = None,
    strategy: str = "script",
) -> Trajectory:
    """Play scripted turns through the mood state machine until the script or the call ends."""
    state = initial_state(persona, difficulty)
    start, points = state, []
    for turn in _script(turns, count):
        text = fill_text(persona, turn.text)
        result = step(persona, difficulty, state, scripted_verdict(turn, text), text)
        points.append(TrajectoryPoint(text=text, step=result))
        state = result.state
        if result.outcome is not None:
            break
    return Trajectory(
        persona=persona.id, difficulty=difficulty, strategy=strategy, start=start, points=points
    )


async def simulate_with_caller(
    persona: Persona,
    difficulty: DifficultyName,
    turns: Sequence[ScriptedTurn],
    caller: CallerHook,
    *,
    count: int | None = None,
    strategy: str = "script",
    line_check: LineCheck | None = None,
) -> Trajectory:
    """Like `simulate`, but asks `caller` for the caller's line after every turn and records it.

    The mood dynamics are identical to `simulate` (the caller's words never change the state); the
    trajectory adds the lines and, if `line_check` is given, the problems it found in each.
    """
    state = initial_state(persona, difficulty)
    start, points = state, []
    transcript = [Utterance(role="customer", text=persona.opening_lines[0])]
    for turn in _script(turns, count):
        text = fill_text(persona, turn.text)
        result = step(persona, difficulty, state, scripted_verdict(turn, text), text)
        transcript.append(Utterance(role="agent", text=text))
        request = CallerRequest(
            persona=persona,
            difficulty=difficulty,
            state=result.state,
            transcript=list(transcript),
            closing=result.outcome,
        )
        line = await caller(request)
        transcript.append(Utterance(role="customer", text=line))
        problems = line_check(line) if line_check else []
        points.append(TrajectoryPoint(text=text, step=result, caller_line=line, caller_problems=problems))
        state = result.state
        if result.outcome is not None:
            break
    return Trajectory(
        persona=persona.id, difficulty=difficulty, strategy=strategy, start=start, points=points
    )


# --- checking -----------------------------------------------------------------------------------


class CheckResult(BaseModel):
    """One expectation (declared or built in) and whether it held."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    passed: bool
    failures: list[str] = Field(default_factory=list)
    trajectory: Trajectory | None = None


def check_expect(expect: Expect, trajectory: Trajectory) -> list[str]:
    """Every way the trajectory misses `expect` (empty when it holds)."""
    failures = []
    final, outcome = trajectory.final, trajectory.outcome or "none"
    if expect.outcome is not None and outcome != expect.outcome:
        failures.append(f"expected outcome {expect.outcome}, got {outcome}")
    if outcome in expect.outcome_not:
        failures.append(f"outcome {outcome} is not allowed here")
    for var in ("anger", "trust", "entrenchment"):
        value = getattr(final, var)
        low, high = getattr(expect, f"{var}_at_least"), getattr(expect, f"{var}_at_most")
        if low is not None and value < low:
            failures.append(f"{var} {value} < {low}")
        if high is not None and value > high:
            failures.append(f"{var} {value} > {high}")
    if expect.ended_by_turn is not None and (trajectory.outcome is None or final.turn > expect.ended_by_turn):
        failures.append(
            f"the call should have ended by turn {expect.ended_by_turn} (turn {final.turn}: {outcome})"
        )
    return failures


def run_expectation(persona: Persona, expectation: Expectation, book: StrategyBook) -> CheckResult:
    """Play one declared expectation and check it."""
    if expectation.strategy is not None:
        strategy = book.strategies.get(expectation.strategy)
        if strategy is None:
            known = ", ".join(sorted(book.strategies))
            failure = f"unknown strategy {expectation.strategy!r}; known: {known}"
            return CheckResult(name=expectation.name, passed=False, failures=[failure])
        turns, label = strategy.turns, expectation.strategy
    else:
        turns, label = expectation.script or [], "script"
    trajectory = simulate(persona, expectation.difficulty, turns, count=expectation.turns, strategy=label)
    failures = check_expect(expectation.expect, trajectory)
    return CheckResult(name=expectation.name, passed=not failures, failures=failures, trajectory=trajectory)


def builtin_checks(persona: Persona, book: StrategyBook) -> list[CheckResult]:
    """The checks every persona must pass, whatever it declares."""
    results = []
    for name in NEVER_RESOLVE:
        for difficulty in DIFFICULTIES:
            trajectory = simulate(
                persona,
                difficulty,
                book.strategies[name].turns,
                strategy=name,
                count=persona.turn_limit(difficulty),
            )
            failures = check_expect(Expect(outcome_not=["resolved"]), trajectory)
            results.append(
                CheckResult(
                    name=f"built-in: {name} never resolves ({difficulty})",
                    passed=not failures,
                    failures=failures,
                    trajectory=trajectory,
                )
            )
    trajectory = simulate(
        persona,
        "normal",
        book.strategies[MUST_RESOLVE].turns,
        strategy=MUST_RESOLVE,
        count=persona.turn_limit("normal"),
    )
    failures = check_expect(Expect(outcome="resolved"), trajectory)
    results.append(
        CheckResult(
            name=f"built-in: {MUST_RESOLVE} resolves (normal)",
            passed=not failures,
            failures=failures,
            trajectory=trajectory,
        )
    )
    return results


class PersonaReport(BaseModel):
    """All behaviour checks for one persona, and the default trajectories to print."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    persona: str
    checks: list[CheckResult]
    trajectories: list[Trajectory]

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)


def test_persona(
    persona: Persona, book: StrategyBook, difficulty: DifficultyName = "normal"
) -> PersonaReport:
    """Run the declared and built-in checks, and play every strategy once at `difficulty`."""
    checks = [run_expectation(persona, e, book) for e in persona.expectations] + builtin_checks(persona, book)
    trajectories = [
        simulate(persona, difficulty, s.turns, strategy=name, count=persona.turn_limit(difficulty))
        for name, s in book.strategies.items()
    ]
    return PersonaReport(persona=persona.id, checks=checks, trajectories=trajectories)


test_persona.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite the name


def format_trajectory(trajectory: Trajectory, *, reasons: bool = True) -> str:
    """The trajectory as text: one line per turn with the state, the mood and what fired."""
    start = trajectory.start
    lines = [f"{trajectory.strategy} @ {trajectory.difficulty}: start {start.short()} ({mood_label(start)})"]
    for point in trajectory.points:
        state = point.step.state
        line = f"  t{state.turn:<2} {state.short()}  {mood_label(state):<8}"
        if reasons:
            fired = "; ".join(f"{f.label} {_moves(f)}" for f in point.step.fired) or "no rule fired"
            line += f"  {fired}"
        lines.append(line)
        if point.caller_line is not None:
            flag = f"  [{'; '.join(point.caller_problems)}]" if point.caller_problems else ""
            lines.append(f"      caller: {point.caller_line}{flag}")
    lines.append(f"  -> {trajectory.outcome or 'still on the line'} after turn {trajectory.final.turn}")
    return "\n".join(lines)


def _moves(fired: object) -> str:
    parts = [
        f"{var[0].upper()}{getattr(fired, var):+d}"
        for var in ("anger", "trust", "entrenchment")
        if getattr(fired, var)
    ]
    return "(" + " ".join(parts) + ")" if parts else ""
