"""The turn engine: one call's mood as graded trainee turns arrive. Pure: no I/O, no models, no clock.

Every player of a call uses it, so they can never drift apart: the live session (`session`), its
replay after a restart, the persona behaviour tests (`simulator.persona.behaviour`) and self-play
(`evals.selfplay`). A turn whose grade is missing (`verdict=None`, the grader failed) counts towards
the turn limit but moves nothing (`mood.hold`): an ungradable turn is never given a default score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from simulator.call.mood import MoodState, MoodStep, hold, initial_state, step
from simulator.errors import InputRejected
from simulator.grading.labels import TurnVerdict
from simulator.persona.schema import DifficultyName, Persona
from simulator.vocabulary import Outcome


def next_step(
    persona: Persona,
    difficulty: DifficultyName,
    state: MoodState,
    text: str,
    verdict: TurnVerdict | None,
    confidence: Mapping[str, float] | None = None,
) -> MoodStep:
    """One trainee turn applied to `state` (`verdict=None`: ungraded, the mood holds). Pure.

    `confidence` (the grade's, per head) scales each fired rule; see `mood.step`.
    """
    if verdict is None:
        return hold(persona, difficulty, state)
    return step(persona, difficulty, state, verdict, text, confidence)


@dataclass
class TurnEngine:
    """The state machine for one call: `advance` once per trainee turn, until `outcome` is set."""

    persona: Persona
    difficulty: DifficultyName
    state: MoodState = field(default=None)  # type: ignore[assignment]
    outcome: Outcome | None = None
    steps: list[MoodStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = initial_state(self.persona, self.difficulty)
        self.start = self.state

    @property
    def over(self) -> bool:
        return self.outcome is not None

    def peek(
        self, text: str, verdict: TurnVerdict | None, confidence: Mapping[str, float] | None = None
    ) -> MoodStep:
        """What `advance` would do, without changing the engine."""
        return next_step(self.persona, self.difficulty, self.state, text, verdict, confidence)

    def advance(
        self, text: str, verdict: TurnVerdict | None, confidence: Mapping[str, float] | None = None
    ) -> MoodStep:
        """Apply one trainee turn (`verdict=None`: ungraded) and return the step.

        Raises:
            InputRejected: The call already has an outcome.
        """
        if self.outcome is not None:
            raise InputRejected(f"The call has ended ({self.outcome}); start a new call to keep practising.")
        result = self.peek(text, verdict, confidence)
        self.commit(result)
        return result

    def commit(self, result: MoodStep) -> None:
        """Take a step computed by `peek` (the live call stores it before it commits)."""
        self.state = result.state
        self.steps.append(result)
        if result.outcome is not None:
            self.outcome = result.outcome
