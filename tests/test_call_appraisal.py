"""The turn pipeline's appraisal write: one transaction, overlapped with the caller's stream, always
committed before the caller's reply is stored (docs/performance.md §1)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_call import EMPATHY, PERSONA, KeywordGrader, _caller

from simulator.call.session import CallerDone, CallerText, CallSession, GradeReady, MoodUpdate, TurnFailed
from simulator.config import load_settings
from simulator.errors import StorageError
from simulator.storage import Store


class SpyStore(Store):
    """Records the order of writes; `record_appraisal` can be slowed down or made to fail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[str, float]] = []
        self.appraisal_delay = 0.0
        self.appraisal_failures = 0
        self.appraisal_threads: list[int] = []
        self._lock = threading.Lock()

    def _note(self, what: str) -> None:
        with self._lock:
            self.log.append((what, time.perf_counter()))

    def record_appraisal(self, *args: Any, **kwargs: Any) -> Any:
        self.appraisal_threads.append(threading.get_ident())
        self._note("appraisal:start")
        time.sleep(self.appraisal_delay)
        if self.appraisal_failures:
            self.appraisal_failures -= 1
            self._note("appraisal:failed")
            raise StorageError("disk full (injected)")
        out = super().record_appraisal(*args, **kwargs)
        self._note("appraisal:committed")
        return out

    def add_turn(self, session_id: str, role: Any, text: str, **kwargs: Any) -> Any:
        self._note(f"turn:{role}:{kwargs.get('status', 'final')}")
        return super().add_turn(session_id, role, text, **kwargs)

    def add_grade(self, *args: Any, **kwargs: Any) -> Any:
        self._note("grade")
        return super().add_grade(*args, **kwargs)

    def add_mood(self, *args: Any, **kwargs: Any) -> Any:
        self._note("mood")
        return super().add_mood(*args, **kwargs)

    def set_turn_status(self, *args: Any, **kwargs: Any) -> Any:
        self._note("status")
        return super().set_turn_status(*args, **kwargs)

    def kinds(self) -> list[str]:
        return [k for k, _ in self.log]

    def at(self, kind: str) -> float:
        return next(t for k, t in self.log if k == kind)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SpyStore]:
    s = SpyStore.open(f"sqlite:///{tmp_path / 'calls.db'}")
    assert isinstance(s, SpyStore)
    yield s
    s.close()


def _start(store: SpyStore, *replies: str, **kw: Any) -> CallSession:
    session = CallSession.start(
        store, PERSONA, caller_model=_caller(*replies, **kw), local_grader=KeywordGrader(), settings=load_settings(),
        opening_index=0,
    )  # fmt: skip
    store.log.clear()  # only the turns' writes from here on
    return session


@pytest.mark.anyio
async def test_one_appraisal_commit_per_turn_before_the_reply(store: SpyStore) -> None:
    session = _start(store, "Nobody knocked. Not once.")
    events = [ev async for ev in session.take_turn(EMPATHY)]
    assert store.kinds() == [
        "turn:agent:received", "appraisal:start", "appraisal:committed", "turn:customer:final",
    ]  # fmt: skip
    assert store.appraisal_threads[0] != threading.get_ident()  # committed off the event loop
    assert [type(e).__name__ for e in events][:2] == ["GradeReady", "MoodUpdate"]
    grade = next(e for e in events if isinstance(e, GradeReady))
    agent = session.record().turns[1]
    assert agent.status == "final" and agent.grades == [grade.grade]
    mood = next(e for e in events if isinstance(e, MoodUpdate))
    assert agent.mood is not None and agent.mood.label == mood.label
    assert any("sees it from his side" in str(r) for r in agent.mood.fired_rules)


@pytest.mark.anyio
async def test_caller_streams_while_the_appraisal_commits(store: SpyStore) -> None:
    session = _start(store, "Nobody knocked. Nobody rang. I was sitting right by the door.")
    store.appraisal_delay = 0.5
    first_text: float | None = None
    async for ev in session.take_turn(EMPATHY):
        if isinstance(ev, CallerText) and first_text is None:
            first_text = time.perf_counter()
    assert first_text is not None
    assert first_text < store.at("appraisal:committed")  # the caller streamed before the commit finished
    assert store.at("appraisal:committed") <= store.at("turn:customer:final")  # order kept on disk
    assert [t.status for t in session.record().turns] == ["final", "final", "final"]


@pytest.mark.anyio
async def test_failed_appraisal_write_stores_no_reply_and_retry_recovers(store: SpyStore) -> None:
    session = _start(store, "Nobody knocked.", "Fine. Still nobody knocked.")
    store.appraisal_failures = 2  # the background write and its one retry
    events = [ev async for ev in session.take_turn(EMPATHY)]  # fails visibly, as a retryable TurnFailed
    assert not [e for e in events if isinstance(e, CallerDone)]
    failed = [e for e in events if isinstance(e, TurnFailed)]
    assert len(failed) == 1 and failed[0].unsaved and failed[0].retryable
    assert "database did not answer" in failed[0].message and "Retry" in failed[0].message
    record = session.record()
    assert [(t.role, t.status) for t in record.turns] == [("customer", "final"), ("agent", "received")]
    assert record.turns[1].grades == [] and record.turns[1].mood is None  # nothing half-written
    assert session.pending_reply
    done = [ev async for ev in session.retry()]  # writes the appraisal first, then the reply
    assert [e for e in done if isinstance(e, CallerDone)]
    record = session.record()
    assert [t.status for t in record.turns] == ["final", "final", "final"]
    assert record.turns[1].grades and record.turns[1].mood is not None
    assert store.at("appraisal:committed") < store.at("turn:customer:final")


@pytest.mark.anyio
async def test_one_failed_attempt_is_retried_within_the_turn(store: SpyStore) -> None:
    session = _start(store, "Nobody knocked.")
    store.appraisal_failures = 1
    events = [ev async for ev in session.take_turn(EMPATHY)]
    assert [e for e in events if isinstance(e, CallerDone)]
    assert store.kinds().count("appraisal:start") == 2
    assert session.record().turns[1].status == "final"


@pytest.mark.anyio
async def test_aclose_waits_for_an_appraisal_in_flight(store: SpyStore) -> None:
    session = _start(store, "Nobody knocked.")
    store.appraisal_delay = 0.2
    async for ev in session.take_turn(EMPATHY):
        if isinstance(ev, MoodUpdate):
            break  # the page went away mid-turn
    await asyncio.sleep(0)
    await session.aclose()
    assert "appraisal:committed" in store.kinds()
    assert session.record().turns[1].status == "final"


class PreparingGrader(KeywordGrader):
    """A grader that reads the scenario ahead, as `LocalAppraiser.prepare` does. Its read blocks until the
    test releases it, so "start did not wait" is checked by order, not by a wall clock; and it may fail."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.prepared: list[str] = []
        self.release = threading.Event()
        self.done = threading.Event()
        self.fail = fail

    def prepare(self, scenario: str) -> None:
        assert self.release.wait(5), "the test never released the read-ahead"
        self.prepared.append(scenario)
        self.done.set()
        if self.fail:
            raise RuntimeError("prefix failed (injected)")


@pytest.mark.anyio
@pytest.mark.parametrize("fail", [False, True])
async def test_a_call_reads_its_scenario_ahead_off_the_call_path(store: SpyStore, fail: bool) -> None:
    grader = PreparingGrader(fail=fail)
    session = CallSession.start(
        store, PERSONA, caller_model=_caller("Nobody knocked."), local_grader=grader, settings=load_settings(),
        opening_index=0,
    )  # fmt: skip
    assert not grader.done.is_set()  # start returned while the read-ahead was still blocked: it did not wait
    grader.release.set()
    assert grader.done.wait(5)
    assert grader.prepared == [session.persona.grader_brief()]
    events = [ev async for ev in session.take_turn(EMPATHY)]  # a failed read-ahead changes nothing
    assert any(isinstance(e, GradeReady) for e in events)
