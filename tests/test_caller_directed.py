"""The caller chain with plans: stage directions in both prompt forms, the plan enforced for the demo model
(the persona's own line stands in), only recorded for other models, and stored with the reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.call.mood import MoodState
from simulator.call.session import CallerDone, CallerText, CallSession, TurnEvent
from simulator.call.transcript import Utterance
from simulator.caller.budget import LoggedTurn
from simulator.caller.chain import Caller, CallerChunk, CallerReply, new_canary, script_for
from simulator.caller.plan import PLAN_EVENT, plans_in_record
from simulator.caller.prompt import render_caller_chat, render_caller_completion, stage_direction
from simulator.config import load_settings
from simulator.grading.base import GradeRequest
from simulator.grading.labels import Behaviour, TurnGrade, TurnVerdict
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel
from simulator.persona.loader import find_persona, load_persona
from simulator.storage import Store

OMAR_FILE = find_persona("omar_out_of_stock")
OMAR = load_persona(OMAR_FILE)
ASK_PAID = "How much did you pay for it?"
ON_PLAN = "I paid £349 a week ago, then a cancellation email. Brilliant."


def _fake(*replies: str, demo: bool, form: str = "completion") -> FakeChatModel:
    fake = FakeChatModel(list(replies), strict=True)
    fake._info = ModelInfo(role="caller", provider="fake", model="fake", prompt_form=form, demo_grade=demo)  # type: ignore[arg-type]
    return fake


def _turns(question: str = ASK_PAID) -> list[LoggedTurn]:
    verdict = TurnVerdict(perspective_taking=3, behaviours=[Behaviour.OPEN_QUESTION])
    return [
        LoggedTurn(utterance=Utterance(role="customer", text=OMAR.opening_lines[0])),
        LoggedTurn(utterance=Utterance(role="agent", text=question), verdict=verdict),
    ]


async def _speak(caller: Caller[MoodState], turns: list[LoggedTurn]) -> tuple[list[str], CallerReply]:
    chunks: list[str] = []
    reply = None
    async for item in caller.speak(turns, MoodState(anger=60, trust=25, entrenchment=45, turn=1)):
        if isinstance(item, CallerChunk):
            chunks.append(item.text)
        else:
            reply = item
    assert reply is not None
    return chunks, reply


def _caller(model: FakeChatModel) -> Caller[MoodState]:
    return Caller(model, script_for(OMAR, "normal", new_canary()), budget_tokens=1600)


def test_the_plan_is_a_stage_direction_in_both_prompt_forms() -> None:
    plan = script_for(OMAR, "normal", new_canary()).planner.plan(  # type: ignore[union-attr]
        MoodState(anger=60, trust=25, entrenchment=45, turn=1), _turns(), None
    )
    direction = stage_direction(plan)
    assert "I paid £349 a week ago" in direction and "never offer a fix" in direction
    state = MoodState(anger=60, trust=25, entrenchment=45, turn=1)
    window = [t.utterance for t in _turns()]
    completion = render_caller_completion(OMAR, "normal", state, window, canary="c-0123456789", plan=plan)
    assert completion.endswith(f"(Stage direction for the CUSTOMER's next line: {direction})\nCUSTOMER:")
    system = render_caller_chat(OMAR, "normal", state, window, canary="c-0123456789", plan=plan)[0].content
    assert f"<your_next_line>\n{direction}\n</your_next_line>" in system
    plain = render_caller_completion(OMAR, "normal", state, window, canary="c-0123456789")
    assert "Stage direction" not in plain


@pytest.mark.anyio
async def test_demo_model_reply_off_plan_is_replaced_by_the_personas_own_line() -> None:
    model = _fake(" Four.", demo=True)  # what the embedded model said when asked what Omar paid
    chunks, reply = await _speak(_caller(model), _turns())
    assert reply.voice == "authored" and reply.fallback and reply.failures == []
    assert "£349" in reply.text and chunks == [reply.text]  # "Four" was never shown
    assert {f.kind for f in reply.model_failures} == {"fact", "unheld_quantity"}
    assert [e.kind for e in reply.guard_events] == ["plan", "fallback"]
    assert len(model.requests) == 1  # no slow regeneration: the authored line stands in at once
    assert "Stage direction for the CUSTOMER's next line" in (model.requests[0].prompt or "")


async def _items(caller: Caller[MoodState], turns: list[LoggedTurn]) -> tuple[list[CallerChunk], CallerReply]:
    chunks: list[CallerChunk] = []
    reply = None
    async for item in caller.speak(turns, MoodState(anger=60, trust=25, entrenchment=45, turn=1)):
        if isinstance(item, CallerChunk):
            chunks.append(item)
        else:
            reply = item
    assert reply is not None
    return chunks, reply


@pytest.mark.anyio
async def test_demo_model_reply_on_plan_is_shown_clause_by_clause() -> None:
    model = _fake(" " + ON_PLAN + "\nAGENT: Right.", demo=True)
    chunks, reply = await _items(_caller(model), _turns())
    assert reply.voice == "model" and not reply.fallback and reply.failures == []
    assert reply.text == ON_PLAN and "".join(c.text for c in chunks).strip() == ON_PLAN
    assert chunks[0].text.strip() == "I paid £349 a week ago," and not any(c.replace for c in chunks)


@pytest.mark.anyio
async def test_held_back_whole_without_early_text() -> None:
    model = _fake(" " + ON_PLAN + "\nAGENT: Right.", demo=True)
    caller = Caller(model, script_for(OMAR, "normal", new_canary()), budget_tokens=1600, early_text=False)
    chunks, reply = await _speak(caller, _turns())
    assert chunks == [ON_PLAN] and reply.text == ON_PLAN  # held back until it passed, then shown at once


@pytest.mark.anyio
async def test_first_clauses_shown_then_replaced_when_the_whole_reply_misses_its_plan() -> None:
    said = " I am so fed up with all of this, honestly, it is a joke."  # passes every clause; no £349
    chunks, reply = await _items(_caller(_fake(said, demo=True)), _turns())
    assert chunks[0].text.strip() == "I am so fed up with all of this," and not chunks[0].replace
    assert chunks[-1].replace and chunks[-1].text == reply.text  # the page withdraws what it showed
    assert reply.voice == "authored" and "£349" in reply.text
    assert [f.kind for f in reply.model_failures] == ["fact"]
    assert [e.kind for e in reply.guard_events] == ["plan", "fallback"]


@pytest.mark.anyio
async def test_a_clause_that_offers_a_fix_is_never_shown() -> None:
    said = " I can have it delivered tomorrow, no problem."  # what the embedded model said as Dana
    chunks, reply = await _items(_caller(_fake(said, demo=True)), _turns())
    assert [c.text for c in chunks] == [reply.text] and not chunks[0].replace  # nothing of it reached the page
    assert reply.voice == "authored" and "offers_remedy" in {f.kind for f in reply.model_failures}


@pytest.mark.anyio
async def test_other_models_are_only_checked_and_stream_as_before() -> None:
    model = _fake("Four. Four quid. Honestly.", demo=False, form="chat")
    chunks, reply = await _speak(_caller(model), _turns())
    assert reply.voice == "model" and reply.text == "Four. Four quid. Honestly." and len(chunks) >= 1
    assert {f.kind for f in reply.failures} == {"fact", "unheld_quantity"}
    assert reply.plan is not None and reply.plan.act == "answer"
    assert "<your_next_line>" in model.requests[0].text


@pytest.mark.anyio
async def test_a_guard_failure_also_stands_in_when_enforced() -> None:
    model = _fake(" How can I help you today?", demo=True)
    _, reply = await _speak(_caller(model), _turns())
    assert reply.voice == "authored" and "£349" in reply.text
    assert [e.kind for e in reply.guard_events] == ["agent_speak", "fallback"]


class _Grader:
    """Labels a question as an open question (the state machine needs labels, not a model)."""

    name = "local:appraiser"
    version = "test"

    async def grade(self, request: GradeRequest) -> TurnGrade:
        verdict = TurnVerdict(perspective_taking=3, behaviours=[Behaviour.OPEN_QUESTION])
        return TurnGrade(status="graded", verdict=verdict, grader=self.name, grader_version="test")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'calls.db'}")
    yield s
    s.close()


@pytest.mark.anyio
async def test_the_plan_is_stored_with_the_reply_and_read_back(store: Store) -> None:
    model = _fake(" Four.", " " + ON_PLAN, demo=True)
    session = CallSession.start(
        store, OMAR_FILE, caller_model=model, local_grader=_Grader(), settings=load_settings(), opening_index=0
    )
    events: list[TurnEvent] = [e async for e in session.take_turn(ASK_PAID)]
    first = next(e for e in events if isinstance(e, CallerDone))
    assert first.fallback and "£349" in "".join(e.text for e in events if isinstance(e, CallerText))
    events = [e async for e in session.take_turn("And what were you planning to use it for?")]
    second = next(e for e in events if isinstance(e, CallerDone))
    record = session.record()
    assert sum(1 for g in record.guard_events if g.kind == PLAN_EVENT) == 2
    plans = plans_in_record(record)
    assert plans[first.turn_id].voice == "authored" and plans[first.turn_id].plan.fact == "paid"
    assert {f.kind for f in plans[first.turn_id].model_failures} == {"fact", "unheld_quantity"}
    assert plans[second.turn_id].plan.act == "answer" and plans[second.turn_id].plan.fact == "dough"
    # the second model reply said the wrong fact: the dough line stood in
    assert plans[second.turn_id].voice == "authored" and "dough hook" in second.text


@pytest.mark.anyio
async def test_the_page_shows_only_the_stand_in_after_a_replaced_reply(store: Store) -> None:
    from simulator.ui.live import LiveCall

    model = _fake(" I am so fed up with all of this, honestly, it is a joke.", demo=True)
    session = CallSession.start(
        store, OMAR_FILE, caller_model=model, local_grader=_Grader(), settings=load_settings(), opening_index=0
    )
    live = LiveCall(session, trainee="ana", mode="coach", llm_grading=False)
    seen: list[str] = []
    async for _ in live.send(ASK_PAID):
        seen.append(live.chat[-1]["content"] if live.chat[-1]["role"] == "assistant" else "")
    assert any(s.startswith("I am so fed up") for s in seen)  # the first clause was on the page early
    final = live.chat[-1]["content"]
    assert "£349" in final and "fed up" not in final  # and none of it is left behind
    assert [m["role"] for m in live.chat].count("assistant") == 2  # the opening line and this reply
    assert live.status == "The persona's own line stood in for the caller model's reply, which did not carry the fact."


def test_the_plan_reads_as_act_fact_and_voice() -> None:
    from simulator.caller.plan import PlanCheckFailure, PlanRecord, ReplyPlan

    plan = ReplyPlan(act="answer", mood="angry", fact="paid", fact_say="I paid £349.", why="asked about it: fact paid")
    failed = [PlanCheckFailure(kind="fact", detail="missing 349"), PlanCheckFailure(kind="unheld_quantity", detail="4")]
    record = PlanRecord(plan=plan, voice="authored", model_failures=failed)
    assert (record.act, record.carried()) == ("answer", "fact paid: “I paid £349.”")
    assert record.carried(ids=False) == "fact: “I paid £349.”"  # the trainee's debrief: no persona ids
    assert record.voiced_by() == (
        "the persona's own line (the model's reply did not carry the fact, said a number the persona does not hold)"
    )
    assert PlanRecord(plan=plan, voice="model").voiced_by() == "the model"
    assert PlanRecord(plan=plan, voice="authored").voiced_by() == "the scripted caller (the persona's own line)"
    guarded = PlanRecord(plan=plan, voice="authored", guard_failures=["agent_speak"])
    assert guarded.voiced_by() == "the persona's own line (the model's reply spoke as the agent)"
