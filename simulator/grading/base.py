"""What a grader is: anything that turns a `GradeRequest` into a `TurnGrade` (never raises for bad output).

Implementations: the local appraiser (`simulator.grading.appraiser`) and the LLM grading chain
(`simulator.grading.chain`). Suites, the call pipeline and `cooldown grade` depend only on this.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from simulator.call.transcript import Utterance
from simulator.grading.labels import TurnGrade


class GradeRequest(BaseModel):
    """One trainee turn to grade, in the context of the call."""

    model_config = ConfigDict(extra="forbid")

    trainee_turn: str
    context: list[Utterance] = Field(default_factory=list, description="Earlier turns, oldest first.")
    scenario: str | None = Field(default=None, description="Free text with the scenario's facts.")
    persona: str | None = Field(default=None, description="A persona name from the library, if known.")


@runtime_checkable
class TurnGrader(Protocol):
    """Grades single trainee turns. `grade` returns `TurnGrade.ungraded(...)` rather than raising."""

    @property
    def name(self) -> str:
        """Stored with every grade, e.g. 'local:appraiser' or 'llm:gpt-4o-mini'."""
        ...

    @property
    def version(self) -> str:
        """Grader version (model weights / prompt version), stored with every grade."""
        ...

    async def grade(self, request: GradeRequest) -> TurnGrade:
        """Grade one turn."""
        ...
