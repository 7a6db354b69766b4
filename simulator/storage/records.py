"""What the store hands out and takes in: pydantic records, never ORM objects.

`SessionRecord` is also the JSON export format: `SessionRecord.model_validate_json(store.export_session(
sid, "json"))` gives back the same record, and `Store.import_session` stores it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal, NewType

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from simulator.grading.labels import TurnGrade
from simulator.vocabulary import CallOutcome, DifficultyName, GuardEventKind, Mode, Speaker, TurnStatus

if TYPE_CHECKING:
    from simulator.call.transcript import Utterance

SessionId = NewType("SessionId", str)
"""A session's id: a UUID in canonical lowercase string form."""



class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TraineeRecord(_Record):
    """A trainee."""

    id: str
    name: str
    created_at: datetime


class MoodRecord(_Record):
    """The caller's mood state after a turn, as the mood state machine computed it."""

    anger: float
    trust: float
    entrenchment: float
    label: str = Field(description="The mood label, e.g. 'furious', 'guarded', 'open'.")
    fired_rules: list[JsonValue] = Field(default_factory=list, description="Rules that fired this turn.")
    created_at: datetime


class GuardEventRecord(_Record):
    """Something a guard noticed or did during the call."""

    turn_id: str | None = None
    kind: GuardEventKind | str
    detail: str = ""
    created_at: datetime


class TurnRecord(_Record):
    """One utterance with its status, and (when loaded with the session) its mood and grades."""

    id: str
    session_id: SessionId
    index: int = Field(description="0-based position in the call.")
    role: Speaker
    text: str = Field(description="Canonical text (see simulator.storage.text).")
    status: TurnStatus
    text_canon: str = Field(description="The canonicalisation scheme applied to `text`.")
    text_altered: bool = Field(description="True when canonicalising changed the text as given.")
    created_at: datetime
    updated_at: datetime
    mood: MoodRecord | None = None
    grades: list[TurnGrade] = Field(default_factory=list, description="One per grader, sorted by grader.")

    def utterance(self) -> Utterance:
        """The turn as a transcript `Utterance`."""
        from simulator.call.transcript import Utterance

        return Utterance(role=self.role, text=self.text)


class SessionSummary(_Record):
    """A session without its turns (what `list_sessions` returns)."""

    id: SessionId
    trainee: str
    persona_name: str
    persona_hash: str = Field(description="'sha256:<hex>' of the snapshotted persona text.")
    difficulty: DifficultyName
    caller_model: str
    grader: str
    mode: Mode
    created_at: datetime
    ended_at: datetime | None = None
    outcome: CallOutcome | None = None
    outcome_reason: str | None = None
    turn_count: int = Field(0, description="Every stored utterance: the caller's opening, replies and trainee turns.")
    trainee_turns: int = Field(0, description="The trainee's turns (agent utterances) only.")


class SessionRecord(SessionSummary):
    """Everything about a session: the persona snapshot, turns with moods and grades, guard events."""

    format: Literal["cooldown.session/1"] = "cooldown.session/1"
    persona_text: str
    turns: list[TurnRecord] = Field(default_factory=list)
    guard_events: list[GuardEventRecord] = Field(default_factory=list)

    def transcript(self, *, include_interrupted: bool = False) -> list[Utterance]:
        """The call as `Utterance`s, oldest first (interrupted turns left out unless asked for)."""
        return [t.utterance() for t in self.turns if include_interrupted or t.status != "interrupted"]


class SweepReport(_Record):
    """What the on-open sweeper did to turns left in `received` by a crash."""

    interrupted: int = Field(0, description="Turns with no later reply, marked `interrupted`.")
    finalised: int = Field(0, description="Turns that had a later reply, marked `final`.")


class IdleSweepReport(_Record):
    """What the idle sweeper did: open calls with no activity for longer than the idle timeout."""

    abandoned: list[SessionId] = Field(default_factory=list, description="Calls ended as `abandoned`.")
    turns: SweepReport = Field(default_factory=SweepReport, description="Their turns left `received`, settled.")
