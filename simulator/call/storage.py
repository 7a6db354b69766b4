"""What the call needs from storage, and the way it talks to it without blocking the event loop.

`CallStore` is the small protocol a call depends on: the ten operations it uses, nothing about
SQLAlchemy, rows or engines. `simulator.storage.Store` implements it; a test can hand the call any
object that does (a spy, a store that fails on purpose). `CallStorage` is the call's async view of a
`CallStore`: every operation runs in a worker thread, so a commit's fsync never stalls the caller's
stream or another trainee's turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from pydantic import JsonValue

from simulator.grading.labels import TurnGrade
from simulator.vocabulary import Mode, Speaker, TurnStatus

if TYPE_CHECKING:
    from simulator.storage.records import (
        GuardEventRecord,
        MoodRecord,
        SessionId,
        SessionRecord,
        SessionSummary,
        TurnRecord,
    )
    from simulator.storage.store import Appraisal


class CallStore(Protocol):
    """The storage operations a call uses (synchronous; `CallStorage` runs them off the event loop)."""

    def create_session(
        self, *, trainee: str, persona_name: str, persona_text: str, difficulty: str, caller_model: str,
        grader: str, mode: Mode = "coach", session_id: str | None = None, holder: str | None = None,
    ) -> SessionId: ...  # fmt: skip

    def claim_session(self, session_id: str, holder: str) -> None: ...

    def load_session(self, session_id: str) -> SessionRecord: ...

    def end_session(
        self, session_id: str, outcome: str, reason: str | None = None, *, holder: str | None = None
    ) -> SessionSummary: ...

    def add_turn(
        self, session_id: str, role: Speaker, text: str, *, turn_id: str | None = None, status: TurnStatus = "final",
        holder: str | None = None,
    ) -> TurnRecord: ...  # fmt: skip

    def add_grade(self, turn_id: str, grade: TurnGrade) -> TurnGrade: ...

    def prepare_grade(self, grade: TurnGrade) -> TurnGrade: ...

    def add_mood(
        self, turn_id: str, *, anger: float, trust: float, entrenchment: float, label: str,
        fired_rules: Sequence[JsonValue] = (),
    ) -> MoodRecord: ...  # fmt: skip

    def record_appraisal(
        self, turn_id: str, grade: TurnGrade, *, anger: float, trust: float, entrenchment: float, label: str,
        fired_rules: Sequence[JsonValue] = (), status: TurnStatus = "final",
    ) -> Appraisal: ...  # fmt: skip

    def add_guard_event(
        self, session_id: str, kind: str, detail: str = "", *, turn_id: str | None = None
    ) -> GuardEventRecord: ...


class CallStorage:
    """A `CallStore` as the call uses it: awaitable, each operation in a worker thread."""

    def __init__(self, store: CallStore) -> None:
        self.store = store

    async def load_session(self, session_id: str) -> SessionRecord:
        return await asyncio.to_thread(self.store.load_session, session_id)

    async def claim_session(self, session_id: str, holder: str) -> None:
        await asyncio.to_thread(self.store.claim_session, session_id, holder)

    async def end_session(
        self, session_id: str, outcome: str, reason: str | None = None, *, holder: str | None = None
    ) -> SessionSummary:
        return await asyncio.to_thread(self.store.end_session, session_id, outcome, reason, holder=holder)

    async def add_turn(
        self, session_id: str, role: Speaker, text: str, *, status: TurnStatus = "final", holder: str | None = None
    ) -> TurnRecord:
        return await asyncio.to_thread(self.store.add_turn, session_id, role, text, status=status, holder=holder)

    async def add_grade(self, turn_id: str, grade: TurnGrade) -> TurnGrade:
        return await asyncio.to_thread(self.store.add_grade, turn_id, grade)

    async def add_mood(
        self, turn_id: str, *, anger: float, trust: float, entrenchment: float, label: str,
        fired_rules: Sequence[JsonValue] = (),
    ) -> MoodRecord:  # fmt: skip
        return await asyncio.to_thread(
            self.store.add_mood, turn_id, anger=anger, trust=trust, entrenchment=entrenchment, label=label,
            fired_rules=fired_rules,
        )  # fmt: skip

    async def add_guard_event(
        self, session_id: str, kind: str, detail: str = "", *, turn_id: str | None = None
    ) -> GuardEventRecord:
        return await asyncio.to_thread(self.store.add_guard_event, session_id, kind, detail, turn_id=turn_id)
