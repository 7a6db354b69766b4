"""The scripted caller: COOLDOWN_CALLER__MODEL=scripted[:SEED] plays the persona's own lines, no model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.call.session import CallerDone, CallSession
from simulator.caller.plan import plans_in_record
from simulator.config import load_settings
from simulator.errors import ConfigError
from simulator.grading.base import GradeRequest
from simulator.grading.labels import Behaviour, TurnGrade, TurnVerdict
from simulator.llm.factory import describe_role, get_model
from simulator.llm.scripted import ScriptedCallerModel, scripted_seed
from simulator.persona.loader import find_persona
from simulator.storage import Store

TURNS = [
    "I'm so sorry. Can you tell me what happened?",
    "What were you planning to use it for?",
    "Do you know when it will be back in stock?",
    "Lovely weather today, isn't it?",
    "Our records show the order was cancelled correctly.",
    "I can give you a £20 voucher for the inconvenience.",
]


def test_the_setting_names_the_scripted_caller_and_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert scripted_seed(None) is None and scripted_seed("gpt-4o-mini") is None
    assert scripted_seed("scripted") == 0 and scripted_seed("Scripted:42") == 42
    with pytest.raises(ConfigError):
        scripted_seed("scripted:soon")
    monkeypatch.setenv("COOLDOWN_CALLER__MODEL", "scripted:7")
    info = describe_role("caller", load_settings())
    assert info.provider == "scripted" and info.label == "scripted caller, seed 7"
    model = get_model("caller", load_settings())
    assert isinstance(model, ScriptedCallerModel) and model.seed == 7
    monkeypatch.setenv("COOLDOWN_GRADER__MODEL", "scripted")
    with pytest.raises(ConfigError, match="only the caller can be scripted"):
        describe_role("grader", load_settings())


class _Grader:
    """Deterministic labels from keywords (the local appraiser is not what is under test)."""

    name = "local:appraiser"
    version = "test"

    async def grade(self, request: GradeRequest) -> TurnGrade:
        text = request.trainee_turn.lower()
        if "records" in text:
            verdict = TurnVerdict(perspective_taking=0, behaviours=[Behaviour.FACT_CONFRONTATION])
        elif "voucher" in text:
            verdict = TurnVerdict(perspective_taking=1, behaviours=[Behaviour.SOLUTION_OFFER])
        elif "?" in text:
            verdict = TurnVerdict(perspective_taking=3, behaviours=[Behaviour.OPEN_QUESTION])
        else:
            verdict = TurnVerdict(perspective_taking=1)
        return TurnGrade(status="graded", verdict=verdict, grader=self.name, grader_version="test")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'calls.db'}")
    yield s
    s.close()


async def _call(store: Store, seed: int) -> tuple[list[str], CallSession]:
    session = CallSession.start(
        store,
        find_persona("omar_out_of_stock"),
        caller_model=ScriptedCallerModel(seed),
        local_grader=_Grader(),
        settings=load_settings(),
        opening_index=0,
    )
    lines = []
    for text in TURNS:
        async for event in session.take_turn(text):
            if isinstance(event, CallerDone):
                assert not event.fallback  # nothing failed: these are the caller's lines
                lines.append(event.text)
        if session.ended:
            break
    return lines, session


@pytest.mark.anyio
async def test_a_scripted_call_plays_the_personas_own_lines_deterministically(store: Store) -> None:
    lines, session = await _call(store, seed=3)
    again, _ = await _call(store, seed=3)
    assert lines == again and len(lines) == len(TURNS)
    assert len(set(lines)) == len(lines)  # never the same line twice
    assert "£349" in lines[0]  # what happened: the money
    assert "dough hook" in lines[1]
    assert "know when the mixer will be back in stock" in lines[2]
    assert "mixer" in lines[3].lower() or "saturday" in lines[3].lower()  # small talk: back to the demand
    assert lines[5].startswith(("No", "Not a chance", "A voucher", "Are you serious", "Yeah, I'll buy"))
    record = session.record()
    assert record.caller_model == "scripted caller, seed 3"
    plans = plans_in_record(record)
    assert [p.plan.act for p in plans.values()][:5] == ["answer", "answer", "dont_know", "restate_demand", "push_back"]
    assert all(p.voice == "authored" and not p.failures for p in plans.values())
    from simulator.ui.review import review

    session.abandon("the test is over")
    item = review(store, session.id)  # "why did he say that?": the plan under every caller reply
    assert "## Why the caller said that" in item.markdown
    assert "| 1 |" in item.markdown and "| fact: “" in item.markdown and "fact paid" not in item.markdown  # no ids
    assert item.transcript_html.count("data-plan") == len(lines)
    assert "Meant to: <b>answer</b>" in item.transcript_html and "the scripted caller" in item.transcript_html
    others = {tuple((await _call(store, seed=s))[0]) for s in range(4)}
    assert len(others) > 1  # the seed breaks ties between equally fitting lines
