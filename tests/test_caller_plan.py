"""The reply planner: every caller reply is planned as data from the trainee's move and the new mood."""

from __future__ import annotations

import pytest

from simulator.call.engine import TurnEngine
from simulator.call.mood import MoodState
from simulator.call.transcript import Utterance
from simulator.caller.budget import LoggedTurn
from simulator.caller.plan import PlanRecord, ReplyPlan, fact_said, plan_reply, questions_in
from simulator.caller.words import quantities, stems
from simulator.grading.labels import Behaviour, TurnVerdict
from simulator.persona.loader import find_persona, load_persona
from simulator.persona.schema import Persona

B = Behaviour


def _persona(name: str) -> Persona:
    return load_persona(find_persona(name))


def _play(persona: Persona, *turns: tuple[str, list[Behaviour]], pt: int = 3) -> ReplyPlan:
    """Play `turns` through the state machine; the plan for the reply to the last one."""
    engine = TurnEngine(persona, "normal")
    history = [LoggedTurn(utterance=Utterance(role="customer", text=persona.opening_lines[0]))]
    plan = None
    for text, behaviours in turns:
        verdict = TurnVerdict(perspective_taking=pt, behaviours=behaviours)
        step = engine.advance(text, verdict)
        history.append(LoggedTurn(utterance=Utterance(role="agent", text=text), verdict=verdict))
        plan = plan_reply(persona, step.state, history, step.outcome)
        history.append(LoggedTurn(utterance=Utterance(role="customer", text="Right.")))
    assert plan is not None
    return plan


def test_words_normalise_numbers_and_dates() -> None:
    assert quantities("He paid £349 a week ago and got a cancellation email yesterday.") == {"349", "yesterday"}
    assert quantities("Three hundred and eighty! Forty-five quid.") == {"380", "45"}
    assert quantities("Four") == {"4"}
    assert quantities("No one told me. This one is broken. May I ask?") == set()
    assert quantities("delivered at 2:14 pm on Tuesday, a sixty percent rise") == {"2:14", "tuesday", "60"}
    assert stems("How much did you pay?") == {"pay"}
    assert "deliver" in stems("deliveries") and "pay" in stems("payments")


def test_questions_are_found_in_a_turn() -> None:
    assert questions_in("That sounds awful. Can you tell me what happened?") == ["Can you tell me what happened?"]
    assert questions_in("Tell me more about the order") == ["Tell me more about the order"]
    assert questions_in("I can see why that matters. If I were you I'd be furious.") == []


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("How much did you pay for it?", "paid"),  # Omar answered "Four"; the plan carries £349
        ("What were you planning to use it for?", "dough"),  # a reveal_when_asked phrase
        ("I'm so sorry. Can you tell me what happened?", "paid"),  # the next fact not said yet
    ],
)
def test_a_question_is_answered_with_the_matching_fact(question: str, fact: str) -> None:
    plan = _play(_persona("omar_out_of_stock"), (question, [B.OPEN_QUESTION]))
    assert plan.act == "answer" and plan.fact == fact
    assert plan.fact_say and plan.fact_text and plan.question and question.endswith(plan.question)
    if fact == "paid":
        assert "£349" in plan.fact_say


def test_answering_respects_reveal_after_turn() -> None:
    dana = _persona("dana_delayed_order")  # the wedding is told from turn 2
    early = _play(dana, ("When is the wedding?", [B.OPEN_QUESTION]))
    assert early.act == "restate_demand" and "until turn 2" in early.why
    later = _play(dana, ("I'm sorry about this.", [B.APOLOGY]), ("When is the wedding?", [B.OPEN_QUESTION]))
    assert later.act == "answer" and later.fact == "wedding"


def test_does_not_know_and_details_not_held_give_dont_know() -> None:
    omar = _persona("omar_out_of_stock")
    plan = _play(omar, ("Do you know when it will be back in stock?", [B.OPEN_QUESTION]))
    assert plan.act == "dont_know" and plan.unknown == "when the mixer will be back in stock"
    detail = _play(omar, ("What's your order number?", [B.OPEN_QUESTION]))
    assert detail.act == "dont_know" and detail.unknown == ""


def test_small_talk_and_needs_questions_come_back_to_the_demand() -> None:
    omar = _persona("omar_out_of_stock")
    small = _play(omar, ("Lovely weather today, isn't it?", []), pt=1)
    assert small.act == "restate_demand" and small.why == "small talk" and small.demand
    needs = _play(omar, ("What would make this right for you today?", [B.NEEDS_CHECK, B.OPEN_QUESTION]))
    assert needs.act == "restate_demand" and needs.need in omar.scenario.real_needs


def test_data_confrontation_is_pushed_back() -> None:
    confront = ("Our system shows it was delivered at 2:14.", [B.FACT_CONFRONTATION])
    plan = _play(_persona("backfire_brian"), confront, pt=0)
    assert plan.act == "push_back"


def test_offers_are_weighed() -> None:
    omar = _persona("omar_out_of_stock")
    refused = _play(omar, ("I can give you a £20 voucher for the inconvenience.", [B.SOLUTION_OFFER]), pt=1)
    assert refused.act == "reject_offer"
    assert refused.refusal == "Store credit or a voucher instead of a mixer."
    assert refused.refusal_say == "A voucher doesn't bake bread. I want a mixer."
    offer = omar.scenario.acceptable_remedies[0].example_offer
    too_soon = _play(omar, (offer, [B.SOLUTION_OFFER]))
    assert too_soon.act == "counter_offer" and too_soon.remedy == "upgrade_same_price"
    listened = [
        ("Three days before your pop-up, that's awful. What do you need it for?", [B.REFLECTION, B.OPEN_QUESTION]),
        ("So it's bread dough, and your old one burnt out on brioche. I'd be furious too.", [B.PERSPECTIVE_TAKING]),
    ]
    calm = _play(omar, *listened, (offer, [B.SOLUTION_OFFER, B.VALIDATION]), pt=4)
    assert calm.act in ("accept_offer", "close")
    unrecognised = _play(omar, ("I can put a note on your account.", [B.SOLUTION_OFFER]), pt=1)
    assert unrecognised.act == "counter_offer" and unrecognised.remedy is None


def test_does_that_work_weighs_the_offer_and_never_answers_a_keyword() -> None:
    kofi = _persona("kofi_roaming_bill")  # "work" is a reveal_when_asked phrase of his employer fact
    offer = kofi.scenario.acceptable_remedies[0].example_offer
    plan = _play(kofi, (offer, [B.SOLUTION_OFFER]), ("Does that work for you?", [B.NEEDS_CHECK, B.OPEN_QUESTION]))
    assert plan.act in ("counter_offer", "accept_offer") and plan.remedy == "travel_pass_backdated"


def test_listening_is_acknowledged_once_the_caller_is_wary_not_while_angry() -> None:
    brian = _persona("backfire_brian")  # starts angry
    angry = _play(brian, ("That sounds really stressful.", [B.VALIDATION]))
    assert angry.act == "restate_demand" and "too angry" in angry.why
    state = MoodState(anger=45, trust=40, entrenchment=50, turn=3)
    history = [
        LoggedTurn(utterance=Utterance(role="agent", text="That sounds stressful."),
                   verdict=TurnVerdict(perspective_taking=3, behaviours=[B.VALIDATION])),
    ]  # fmt: skip
    assert plan_reply(brian, state, history).act == "acknowledge"


def test_closing_acts_follow_the_outcome() -> None:
    state = MoodState(anger=99, trust=0, entrenchment=99, turn=4)
    acts = {o: plan_reply(_persona("omar_out_of_stock"), state, [], o).act for o in
            ("resolved", "hung_up", "escalated", "out_of_turns")}  # fmt: skip
    assert acts == {
        "resolved": "close", "hung_up": "hang_up", "escalated": "escalate", "out_of_turns": "end_unresolved"
    }  # fmt: skip


def test_a_fact_already_said_is_not_told_again_as_the_next_fact() -> None:
    omar = _persona("omar_out_of_stock")
    paid = omar.scenario.knows[0]
    assert fact_said(paid, ["I paid £349 a week ago, and yesterday I got a cancellation email."])
    assert not fact_said(paid, ["Brilliant. So I pay for a mixer, you take the money."])


def test_plans_are_deterministic_and_round_trip_as_stored_records() -> None:
    omar = _persona("omar_out_of_stock")
    first = _play(omar, ("How much did you pay for it?", [B.OPEN_QUESTION]))
    assert first == _play(omar, ("How much did you pay for it?", [B.OPEN_QUESTION]))
    assert first.summary() == "answer with fact paid (angry): asked about it: fact paid"
    record = PlanRecord(plan=first, voice="authored")
    assert PlanRecord.model_validate_json(record.detail()) == record
    with pytest.raises(ValueError):
        ReplyPlan.model_validate({"act": "answer", "mood": "angry", "surprise": 1})
