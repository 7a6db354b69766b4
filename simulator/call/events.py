"""What a call turn yields to the page or the terminal, in order: caller text as it passes the guard,
the mood update, grades (local at once, LLM when ready), the end of the call, or a failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simulator.call.mood import MoodState
from simulator.grading.labels import TurnGrade
from simulator.vocabulary import Outcome


@dataclass(frozen=True)
class CallerText:
    """A piece of the caller's reply that passed the guard: show it now."""

    text: str


@dataclass(frozen=True)
class CallerDone:
    """The caller's reply is complete and stored."""

    turn_id: str
    text: str
    fallback: bool = False
    """The model's replies failed the guard; a persona example line was used."""
    closing: bool = False


@dataclass(frozen=True)
class MoodUpdate:
    """The caller's state after the trainee's turn."""

    turn_id: str
    state: MoodState
    label: str
    fired_rules: list[str]
    notes: list[str]


@dataclass(frozen=True)
class GradeReady:
    """A stored grade for a trainee turn (`source` 'local' at once, 'llm' when it finishes)."""

    turn_id: str
    grade: TurnGrade
    source: Literal["local", "llm"]


@dataclass(frozen=True)
class CallEnded:
    """The state machine ended the call; the session is closed."""

    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class TurnFailed:
    """The caller could not reply, or the reply could not be stored. The trainee's turn is stored;
    `retry()` asks the caller again."""

    message: str
    retryable: bool
    interrupted: bool = False
    unsaved: bool = False
    """The database did not store the reply: the caller text shown for it is to be taken back."""
    taken_over: bool = False
    """The call was continued in another tab or instance: this copy may no longer add to it."""


TurnEvent = CallerText | CallerDone | MoodUpdate | GradeReady | CallEnded | TurnFailed
