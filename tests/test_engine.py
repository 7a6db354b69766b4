"""The one turn engine: every player of a call applies a turn the same way, ungraded turns included."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evals.selfplay import run_selfplay
from simulator.call.engine import TurnEngine
from simulator.call.mood import UNGRADED_NOTE, MoodState
from simulator.call.session import CallSession, MoodUpdate
from simulator.config import load_settings
from simulator.errors import InputRejected
from simulator.grading.base import GradeRequest
from simulator.grading.labels import Behaviour, TurnGrade, TurnVerdict
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel
from simulator.persona.loader import load_persona
from simulator.storage import Store

PERSONA = Path(__file__).resolve().parent.parent / "personas" / "backfire_brian.yaml"
FACTS = TurnVerdict(perspective_taking=0, behaviours=[Behaviour.FACT_CONFRONTATION])


class Ungradable:
    """A grader that can never grade (a model that is down, say)."""

    name = "local:appraiser"
    version = "test"

    async def grade(self, request: GradeRequest) -> TurnGrade:
        return TurnGrade.ungraded(self.name, "the grader is down")


def _values(state: MoodState) -> tuple[int, int, int]:
    return state.anger, state.trust, state.entrenchment


def test_an_ungraded_turn_counts_but_moves_nothing() -> None:
    engine = TurnEngine(load_persona(PERSONA), "normal")
    before = engine.state
    result = engine.advance("anything", None)
    assert _values(result.state) == _values(before) and result.state.turn == 1
    assert result.fired == [] and UNGRADED_NOTE in result.notes
    graded = engine.advance("Our tracking shows it was delivered.", FACTS)
    assert graded.fired and graded.state.turn == 2


def test_the_engine_refuses_turns_after_the_outcome() -> None:
    engine = TurnEngine(load_persona(PERSONA), "normal")
    while not engine.over:
        engine.advance("Our tracking shows it was delivered.", FACTS)
    with pytest.raises(InputRejected):
        engine.advance("hello?", FACTS)


def test_an_ungraded_turn_runs_out_the_clock() -> None:
    persona = load_persona(PERSONA)
    engine = TurnEngine(persona, "normal")
    for _ in range(persona.turn_limit("normal")):
        engine.advance("...", None)
    assert engine.outcome == "out_of_turns"


@pytest.mark.anyio
async def test_a_live_call_holds_the_mood_on_an_ungraded_turn(tmp_path: Path) -> None:
    """Before the shared engine a live call moved the mood on a made-up neutral verdict (score 1)."""
    store = Store.open(f"sqlite:///{tmp_path / 'calls.db'}")
    caller = FakeChatModel(["Well?"], default_reply="Well?")
    caller._info = ModelInfo(role="caller", provider="fake", model="fake", prompt_form="chat")
    session = CallSession.start(
        store, PERSONA, caller_model=caller, local_grader=Ungradable(), settings=load_settings(), opening_index=0
    )
    before = session.state
    events = [e async for e in session.take_turn("I see.")]
    mood = next(e for e in events if isinstance(e, MoodUpdate))
    assert _values(mood.state) == _values(before) and mood.fired_rules == []
    assert UNGRADED_NOTE in mood.notes
    await session.aclose()
    store.close()


def test_self_play_counts_an_ungraded_turn_like_a_live_call() -> None:
    """Before the shared engine self-play skipped an ungraded turn entirely (it never counted)."""
    result = asyncio.run(run_selfplay(Ungradable(), personas=["backfire_brian"]))
    for run in result["items"]:
        assert run["ungraded"] == run["turns"] > 0
        assert all(p.get("outcome") in (None, "out_of_turns") for p in run["points"])
