"""The better grade wins: an LLM grade that arrives before the next turn replaces the appraiser's labels
for the mood; a late or ungraded one changes nothing; the debrief shows where the two disagreed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from simulator.call.session import CallSession, MoodUpdate
from simulator.config import load_settings
from simulator.grading.base import GradeRequest
from simulator.grading.debrief import CallRecord, build_debrief
from simulator.grading.labels import Behaviour, TurnGrade, TurnVerdict
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel
from simulator.storage import Store

PERSONA = Path(__file__).resolve().parent.parent / "personas" / "backfire_brian.yaml"
TURN = "Let me look into that for you."
LISTENING = TurnVerdict(
    perspective_taking=4,
    behaviours=[Behaviour.PERSPECTIVE_TAKING, Behaviour.REFLECTION, Behaviour.VALIDATION, Behaviour.OPEN_QUESTION],
)
NEUTRAL = TurnVerdict(perspective_taking=1)


class Fixed:
    """A grader that gives one verdict (or none), after a delay."""

    def __init__(self, name: str, verdict: TurnVerdict | None, delay: float = 0.0) -> None:
        self.name, self.version, self.verdict, self.delay = name, "test", verdict, delay

    async def grade(self, request: GradeRequest) -> TurnGrade:
        await asyncio.sleep(self.delay)
        if self.verdict is None:
            return TurnGrade.ungraded(self.name, "the model returned nothing usable")
        return TurnGrade(status="graded", verdict=self.verdict, grader=self.name, grader_version="test")


def _session(tmp_path: Path, llm: Fixed) -> tuple[CallSession, Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'calls.db'}")
    caller = FakeChatModel(["Go on then."] * 10, default_reply="Go on then.")
    caller._info = ModelInfo(role="caller", provider="fake", model="fake", prompt_form="chat")
    session = CallSession.start(
        store, PERSONA, caller_model=caller, local_grader=Fixed("local:appraiser", NEUTRAL), llm_grader=llm,
        settings=load_settings(), opening_index=0,
    )  # fmt: skip
    return session, store


async def _turn(session: CallSession, text: str = TURN) -> list[object]:
    return [e async for e in session.take_turn(text)]


@pytest.mark.anyio
async def test_a_disagreeing_grade_that_arrives_in_time_replaces_the_mood(tmp_path: Path) -> None:
    session, store = _session(tmp_path, Fixed("llm:fake", LISTENING))
    first = await _turn(session)
    local_mood = next(e for e in first if isinstance(e, MoodUpdate)).state
    await session.wait_for_grades(timeout=5)
    second = await _turn(session)
    moods = [e for e in second if isinstance(e, MoodUpdate)]
    assert len(moods) == 2, "the regraded mood of turn 1 comes first, then turn 2's"
    regraded = moods[0]
    assert regraded.state.trust > local_mood.trust and regraded.state.anger <= local_mood.anger
    assert any("recomputed from llm:fake" in n for n in regraded.notes)
    record = store.load_session(session.id)
    assert [e.kind for e in record.guard_events if e.kind == "mood_regraded"] == ["mood_regraded"]
    resumed = await CallSession.resume(
        store, session.id, caller_model=session.caller.model, local_grader=Fixed("local:appraiser", NEUTRAL)
    )
    assert resumed.state == session.state, "a resumed call replays the regraded mood"
    debrief = build_debrief(CallRecord.from_session(record)).to_markdown()
    assert "Where the graders disagreed" in debrief and "llm:fake 4" in debrief and "local:appraiser 1" in debrief
    await session.aclose()
    store.close()


@pytest.mark.anyio
async def test_a_late_grade_is_stored_but_does_not_move_the_mood(tmp_path: Path) -> None:
    session, store = _session(tmp_path, Fixed("llm:fake", LISTENING, delay=1.0))
    await _turn(session)
    second = await _turn(session)  # the LLM grade of turn 1 is still running
    assert len([e for e in second if isinstance(e, MoodUpdate)]) == 1
    await session.wait_for_grades(timeout=5)
    record = store.load_session(session.id)
    assert not [e for e in record.guard_events if e.kind == "mood_regraded"]
    assert any(g.grader == "llm:fake" for t in record.turns for g in t.grades)
    await session.aclose()
    store.close()


@pytest.mark.anyio
async def test_an_ungraded_llm_result_leaves_the_appraisers_mood(tmp_path: Path) -> None:
    session, store = _session(tmp_path, Fixed("llm:fake", None))
    await _turn(session)
    await session.wait_for_grades(timeout=5)
    before = session.state
    second = await _turn(session)
    moods = [e for e in second if isinstance(e, MoodUpdate)]
    assert len(moods) == 1 and moods[0].state.turn == before.turn + 1
    await session.aclose()
    store.close()
