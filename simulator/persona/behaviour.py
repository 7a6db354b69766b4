"""Behaviour tests for personas: play scripted trainee strategies and check the mood dynamics.

Strategies (`personas/strategies.yaml`) are trainee turns *with their labels*, so a run is exact and
deterministic: no model is involved unless a `caller` hook is passed. Each persona is checked against

- its own `expectations` (e.g. "3 fact_confrontation turns: entrenchment ≥ 95, not resolved");
- built-in checks every persona must pass: dismissive, fact-dumping and manipulative strategies never
  resolve (at any difficulty), and the empathetic strategy resolves at normal difficulty.

The caller hook (`CallerHook`) is where a later mode plugs in the real caller model: it receives the
state after each turn and returns the caller's line, which the trajectory records, and an optional
`line_check` reports problems with each line (e.g. `simulator.caller.guard.CallerGuard`). Without a hook no
caller lines exist and none are claimed. `play_with_caller` plugs in the real caller chain
(`simulator.caller.chain.Caller` and its guard) and reports, line by line, whether the model stayed in
character first time, needed a regeneration, was cut short or fell back to a persona example line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.call.engine import TurnEngine
from simulator.call.mood import MoodState, MoodStep, mood_label
from simulator.call.transcript import Utterance
from simulator.errors import PersonaError
from simulator.grading.labels import TechniqueUse, TurnVerdict
from simulator.persona.loader import PERSONAS_DIR, validate_yaml_file
from simulator.persona.schema import (
    DIFFICULTIES,
    DifficultyName,
    Expect,
    Expectation,
    Persona,
    ScriptedTurn,
    Slug,
    Text,
)
from simulator.vocabulary import Outcome

if TYPE_CHECKING:
    from simulator.caller.chain import CallerReply
    from simulator.llm.base import ChatModel

STRATEGIES_FILE = PERSONAS_DIR / "strategies.yaml"
NEVER_RESOLVE = ("dismissive", "fact_dumper", "manipulative_closer")
MUST_RESOLVE = "empathetic"
CALLER_STRATEGIES = (MUST_RESOLVE, "fact_dumper")
"""The strategies played against the real caller model by default (one that opens up, one that digs in)."""


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
"""Returns the caller's next line (e.g. renders `simulator.caller.prompt` and calls the caller model)."""
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
    turn_limit: int | None = None
    """The persona's turn limit at this difficulty (the call ends `out_of_turns` there)."""
    turns_asked: int | None = None
    """How many turns the run was asked to play (it stops sooner if the call ends)."""

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
    engine = TurnEngine(persona, difficulty)
    points = []
    script = _script(turns, count)
    for turn in script:
        text = fill_text(persona, turn.text)
        result = engine.advance(text, scripted_verdict(turn, text))
        points.append(TrajectoryPoint(text=text, step=result))
        if engine.over:
            break
    return Trajectory(
        persona=persona.id,
        difficulty=difficulty,
        strategy=strategy,
        start=engine.start,
        points=points,
        turn_limit=persona.turn_limit(difficulty),
        turns_asked=len(script),
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
    engine = TurnEngine(persona, difficulty)
    points = []
    transcript = [Utterance(role="customer", text=persona.opening_lines[0])]
    script = _script(turns, count)
    for turn in script:
        text = fill_text(persona, turn.text)
        result = engine.advance(text, scripted_verdict(turn, text))
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
        if engine.over:
            break
    return Trajectory(
        persona=persona.id,
        difficulty=difficulty,
        strategy=strategy,
        start=engine.start,
        points=points,
        turn_limit=persona.turn_limit(difficulty),
        turns_asked=len(script),
    )


# --- checking -----------------------------------------------------------------------------------


class CheckResult(BaseModel):
    """One expectation (declared or built in) and whether it held."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    passed: bool
    failures: list[str] = Field(default_factory=list)
    trajectory: Trajectory | None = None


def _when(trajectory: Trajectory) -> str:
    """Where the run stopped, e.g. 'after turn 8 of the 8 played; turn limit 14 at normal'."""
    turn, asked, limit = trajectory.final.turn, trajectory.turns_asked, trajectory.turn_limit
    text = f"after turn {turn}"
    if trajectory.outcome is None and asked is not None and (limit is None or asked < limit):
        text += f" of the {asked} played"
    if limit is not None:
        text += f"; turn limit {limit} at {trajectory.difficulty}"
    return text


def check_expect(expect: Expect, trajectory: Trajectory) -> list[str]:
    """Every way the trajectory misses `expect` (empty when it holds)."""
    failures = []
    final, outcome = trajectory.final, trajectory.outcome or "none"
    if expect.outcome is not None and outcome != expect.outcome:
        failures.append(f"expected outcome {expect.outcome}, got {outcome} {_when(trajectory)}")
    if outcome in expect.outcome_not:
        failures.append(f"outcome {outcome} is not allowed here ({_when(trajectory)})")
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
    """Play one declared expectation and check it.

    Without `turns`, the script (repeated as needed) plays until the call ends, at most the persona's
    turn limit at the expectation's difficulty: the same length as the built-in checks.
    """
    if expectation.strategy is not None:
        strategy = book.strategies.get(expectation.strategy)
        if strategy is None:
            known = ", ".join(sorted(book.strategies))
            failure = f"unknown strategy {expectation.strategy!r}; known: {known}"
            return CheckResult(name=expectation.name, passed=False, failures=[failure])
        turns, label = strategy.turns, expectation.strategy
    else:
        turns, label = expectation.script or [], "script"
    count = expectation.turns if expectation.turns is not None else persona.turn_limit(expectation.difficulty)
    trajectory = simulate(persona, expectation.difficulty, turns, count=count, strategy=label)
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
    limit = f" (turn limit {trajectory.turn_limit})" if trajectory.turn_limit is not None else ""
    lines.append(f"  -> {trajectory.outcome or 'still on the line'} after turn {trajectory.final.turn}{limit}")
    return "\n".join(lines)


def _moves(fired: object) -> str:
    parts = [
        f"{var[0].upper()}{getattr(fired, var):+d}"
        for var in ("anger", "trust", "entrenchment")
        if getattr(fired, var)
    ]
    return "(" + " ".join(parts) + ")" if parts else ""


# --- the real caller ----------------------------------------------------------------------------

LineVerdict = Literal["in_character", "regenerated", "cut_short", "fallback"]
"""How a caller line came about: the model's first reply passed the guard; a later attempt passed; the
reply failed after its first sentences were shown and was cut back to them; or every attempt failed and
the persona's example line for the mood was used."""


class GuardNote(BaseModel):
    """One guard rejection of the model's own output while producing a caller line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempt: int
    kind: str
    """A `simulator.caller.guard.GuardKind`, e.g. `agent_speak`, `structured_output`."""
    detail: str
    """What matched, shortened."""


class CallerLine(BaseModel):
    """What the real caller said after one scripted turn, and whether it stayed in character."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    turn: int
    agent_text: str
    line: str
    attempts: int
    fallback: bool = False
    truncated: bool = False
    violations: list[GuardNote] = Field(default_factory=list)

    @property
    def verdict(self) -> LineVerdict:
        """See `LineVerdict`."""
        if self.fallback:
            return "fallback"
        if self.truncated:
            return "cut_short"
        return "regenerated" if self.attempts > 1 else "in_character"

    @classmethod
    def from_reply(cls, turn: int, agent_text: str, reply: CallerReply) -> CallerLine:
        """Read a `simulator.caller.chain.CallerReply` (its guard events say what the guard rejected)."""
        notes = [
            GuardNote(attempt=e.attempt, kind=e.kind, detail=e.detail)
            for e in reply.guard_events
            if e.kind not in ("fallback", "truncated")
        ]
        return cls(
            turn=turn,
            agent_text=agent_text,
            line=reply.text,
            attempts=reply.attempts,
            fallback=reply.fallback,
            truncated=reply.truncated,
            violations=notes,
        )


class CallerRun(BaseModel):
    """One scripted strategy played against the real caller model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    persona: str
    strategy: str
    difficulty: DifficultyName
    model: str
    """The caller model's label, e.g. 'embedded SmolLM2-135M-Instruct (demo-grade)'."""
    trajectory: Trajectory
    lines: list[CallerLine]

    @property
    def clean(self) -> bool:
        """True when every line of this call stayed in character first time."""
        return all(line.verdict == "in_character" for line in self.lines)


class CallerSummary(BaseModel):
    """Counts over caller runs: lines by verdict, the guard kinds behind them, and pass^k over calls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lines: int = 0
    first_time: int = 0
    regenerated: int = 0
    cut_short: int = 0
    fallbacks: int = 0
    kinds: dict[LineVerdict, dict[str, int]] = Field(default_factory=dict)
    """For each verdict other than in_character, how often each guard kind fired on its lines."""
    calls: int = 0
    clean_calls: int = 0
    """Calls whose every line stayed in character first time (the pass^k numerator)."""

    @classmethod
    def of(cls, runs: Sequence[CallerRun]) -> CallerSummary:
        """Add up the lines of `runs`."""
        verdicts: Counter[LineVerdict] = Counter()
        kinds: dict[LineVerdict, Counter[str]] = {}
        for line in (line for run in runs for line in run.lines):
            verdicts[line.verdict] += 1
            if line.verdict != "in_character":
                kinds.setdefault(line.verdict, Counter()).update(v.kind for v in line.violations)
        return cls(
            lines=sum(verdicts.values()),
            first_time=verdicts["in_character"],
            regenerated=verdicts["regenerated"],
            cut_short=verdicts["cut_short"],
            fallbacks=verdicts["fallback"],
            kinds={verdict: dict(counter) for verdict, counter in kinds.items()},
            calls=len(runs),
            clean_calls=sum(run.clean for run in runs),
        )

    def text(self) -> str:
        """E.g. 'stayed in character in 7/8 lines first time; 1 regeneration (agent_speak); 0 fallbacks'."""
        parts = [f"stayed in character in {self.first_time}/{self.lines} lines first time"]
        parts.append(_counted(self.regenerated, "regeneration", self.kinds.get("regenerated")))
        if self.cut_short:
            parts.append(_counted(self.cut_short, "cut short", self.kinds.get("cut_short"), plural=""))
        parts.append(_counted(self.fallbacks, "fallback", self.kinds.get("fallback")))
        return "; ".join(parts)

    def pass_k_text(self) -> str:
        """pass^k: the share of calls whose every line (k per call) stayed in character first time."""
        share = f" ({100 * self.clean_calls / self.calls:.0f}%)" if self.calls else ""
        return f"pass^k {self.clean_calls}/{self.calls} calls{share} had every caller line in character first time"


def _counted(n: int, noun: str, kinds: dict[str, int] | None, *, plural: str = "s") -> str:
    text = f"{n} {noun}{'' if n == 1 else plural}"
    if kinds:
        text += " (" + ", ".join(k if c == 1 else f"{k} x{c}" for k, c in sorted(kinds.items())) + ")"
    return text


async def play_with_caller(
    persona: Persona,
    difficulty: DifficultyName,
    turns: Sequence[ScriptedTurn],
    model: ChatModel,
    *,
    count: int,
    strategy: str = "script",
    budget_tokens: int,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> CallerRun:
    """Play scripted turns against the real caller chain (`Caller` + guard) and judge every line.

    The mood dynamics are those of `simulate`; the caller's words never change them. Each line's
    verdict is the guard's verdict on the model's own output (before any regeneration or fallback).

    Args:
        persona: The persona on the line.
        difficulty: The difficulty to play at.
        turns: The scripted trainee turns (repeated if shorter than `count`).
        model: The caller-role model (its `info.prompt_form` picks chat or completion prompts).
        count: Turns to play at most (the call may end sooner).
        strategy: The strategy's name, for the report.
        budget_tokens: The caller prompt's token budget (`Settings.context_budget_tokens`).
        max_tokens: Reply length cap (`Settings.caller.max_tokens`).
        temperature: Sampling temperature (`Settings.caller.temperature`).

    Raises:
        ModelError: The caller model could not be reached or its stream broke.
    """
    from simulator.caller.budget import LoggedTurn
    from simulator.caller.chain import Caller, CallerReply, new_canary, script_for

    caller = Caller(
        model,
        script_for(persona, difficulty, new_canary()),
        budget_tokens=budget_tokens,
        max_tokens=max_tokens,
        temperature=temperature,
    )
    replies: list[CallerReply] = []

    async def speak(request: CallerRequest) -> str:
        history = [LoggedTurn(utterance=u) for u in request.transcript]
        final: CallerReply | None = None
        async for item in caller.speak(history, request.state, closing=request.closing, fallback_seed=len(replies)):
            if isinstance(item, CallerReply):
                final = item
        if final is None:  # pragma: no cover - Caller.speak always ends with its reply
            raise RuntimeError("the caller chain ended without a reply")
        replies.append(final)
        return final.text

    def rejected(_line: str) -> list[str]:
        return [f"{e.kind}: {e.detail}" for e in replies[-1].guard_events]

    trajectory = await simulate_with_caller(
        persona, difficulty, turns, speak, count=count, strategy=strategy, line_check=rejected
    )
    lines = [
        CallerLine.from_reply(point.step.state.turn, point.text, reply)
        for point, reply in zip(trajectory.points, replies, strict=True)
    ]
    return CallerRun(
        persona=persona.id,
        strategy=strategy,
        difficulty=difficulty,
        model=model.info.label,
        trajectory=trajectory,
        lines=lines,
    )
