"""Replies checked against their plan, and the persona's own lines standing in (no models)."""

from __future__ import annotations

import pytest

from simulator.call.transcript import Utterance
from simulator.caller.budget import LoggedTurn
from simulator.caller.coherence import check_reply, holdings_of, repeats_earlier
from simulator.caller.lines import candidates, fill, stand_in, unknown_slots
from simulator.caller.plan import ReplyPlan
from simulator.caller.voice import PersonaVoice
from simulator.persona.loader import find_persona, load_persona, load_persona_text
from simulator.persona.schema import Persona


def _persona(name: str) -> Persona:
    return load_persona(find_persona(name))


OMAR = _persona("omar_out_of_stock")
PAID = next(f for f in OMAR.scenario.knows if f.id == "paid")
ANSWER_PAID = ReplyPlan(act="answer", mood="angry", turn=2, fact="paid", fact_text=PAID.text, fact_say=PAID.say)


def _kinds(plan: ReplyPlan, text: str, persona: Persona = OMAR, **kw: object) -> list[str]:
    return [f.kind for f in check_reply(plan, text, holdings_of(persona), **kw)]  # type: ignore[arg-type]


def test_the_issue_examples_fail_their_plans() -> None:
    assert _kinds(ANSWER_PAID, "Four") == ["fact", "unheld_quantity"]  # asked what he paid
    dana = _persona("dana_delayed_order")
    restate = ReplyPlan(act="restate_demand", mood="angry", demand=dana.scenario.demands[0])
    assert _kinds(restate, "I can have it delivered tomorrow.", dana) == ["act", "offers_remedy", "unheld_quantity"]
    assert "agent_voice" in _kinds(restate, "Our records show it is in transit, I want it Saturday.", dana)
    assert "agent_voice" in _kinds(ANSWER_PAID, "He paid £349 a week ago.")  # the fact recited in third person
    assert "agent_voice" in _kinds(ANSWER_PAID, "The mixer, and he pays £349 a week ago.")
    assert _kinds(ANSWER_PAID, "You pay £349 a week ago; that's amazing.") == ["agent_voice"]  # his fact as "you"


def test_a_reply_that_does_its_plan_passes() -> None:
    assert _kinds(ANSWER_PAID, "I paid £349 a week ago! And then a cancellation email.") == []
    assert _kinds(ANSWER_PAID, "I paid 349 quid.") == ["fact"]  # the number alone is not the fact
    dont_know = ReplyPlan(act="dont_know", mood="angry", unknown="when the mixer will be back in stock")
    assert _kinds(dont_know, "No idea. You tell me.") == []
    assert _kinds(dont_know, "It'll be back on the 14th.") == ["act", "unheld_quantity"]
    reject = ReplyPlan(act="reject_offer", mood="angry", refusal="Store credit")
    assert _kinds(reject, "A voucher? No chance.") == []
    assert _kinds(reject, "Sounds good, deal.") == ["act"]


def test_replies_the_embedded_model_gave_that_only_looked_right_fail() -> None:
    restate = ReplyPlan(act="restate_demand", mood="angry", demand=OMAR.scenario.demands[0])
    assert _kinds(restate, "(GIVE) I don't know when the mixer will be back in stock.") == ["not_speech", "act"]
    assert _kinds(restate, "I want the mixer before Saturday.") == []
    assert _kinds(restate, "I want the mixer before Saturday.\nYou are the first to have a problem.") == ["not_speech"]
    assert _kinds(restate, "Go on then. What are you doing about the mixer?") == []
    walter = _persona("walter_elderly_billing")
    push = ReplyPlan(act="push_back", mood="wary")
    assert _kinds(push, "No. I'm not sure of what happened to me, but you're right.", walter) == ["act"]
    close = ReplyPlan(act="close", mood="open", outcome="resolved")
    assert _kinds(close, "I'm not sure if this is a big deal.") == ["act"]
    hang_up = ReplyPlan(act="hang_up", mood="furious", outcome="hung_up")
    assert _kinds(hang_up, "I'm not going to cancel.") == ["act"]
    acknowledge = ReplyPlan(act="acknowledge", mood="wary")
    assert _kinds(acknowledge, "I don't want to do it, I'm a little too good.") == ["act"]
    assert _kinds(acknowledge, "I'm sorry.") == ["act"]
    assert _kinds(acknowledge, "This is Omar. I'm so sorry to hear that.") == ["act", "agent_voice"]
    assert _kinds(restate, "I'd like to know what happened.") == ["act"]
    kofi = _persona("kofi_roaming_bill")
    kofi_restate = ReplyPlan(act="restate_demand", mood="angry", demand=kofi.scenario.demands[0])
    assert _kinds(kofi_restate, "I want it taken off! You're right, it's not Europe.", kofi) == ["act"]


def test_numbers_the_agent_said_may_be_repeated_and_lines_may_not_be() -> None:
    accept = ReplyPlan(act="accept_offer", mood="open", remedy="upgrade_same_price")
    assert _kinds(accept, "Okay, Wednesday works.") == ["unheld_quantity"]
    assert _kinds(accept, "Okay, Wednesday works.", agent_said=["It can come on Wednesday."]) == []
    assert _kinds(accept, "Okay, that works.", earlier=["okay,  that works"]) == ["repeated"]


def test_fill_uses_fact_says_slots_and_reveal_rules() -> None:
    plan = ReplyPlan(act="answer", mood="angry", turn=0, fact="paid", fact_text=PAID.text, fact_say=PAID.say)
    assert fill(OMAR, "Since you ask. {fact}", plan) == "Since you ask. " + str(PAID.say)
    assert fill(OMAR, "Well, {dough}", plan) is None  # the dough fact is only told once asked about
    assert fill(OMAR, "Well, {dough}", plan, agent_said="What do you bake?") is not None
    assert fill(OMAR, "{popup}", plan) is None and fill(OMAR, "{popup}", plan.model_copy(update={"turn": 1}))
    unknown = ReplyPlan(act="dont_know", mood="angry", unknown="")
    assert fill(OMAR, "How would I know {unknown}?", unknown) == "How would I know that?"
    assert unknown_slots(OMAR, "push_back", "No. {fact} {nope} {paid}") == ["fact", "nope"]


def _history(*pairs: tuple[str, str]) -> list[LoggedTurn]:
    return [LoggedTurn(utterance=Utterance(role=role, text=text)) for role, text in pairs]  # type: ignore[arg-type]


def test_stand_in_never_repeats_a_line_in_a_call() -> None:
    voice = PersonaVoice(OMAR)
    plan = ReplyPlan(act="restate_demand", mood="angry", turn=3, demand=OMAR.scenario.demands[0])
    said: list[str] = []
    turns = _history(("customer", OMAR.opening_lines[0]))
    for n in range(6):
        turns += _history(("agent", "Anyway."))
        chosen = voice.stand_in(plan, turns, seed=n)
        assert chosen is not None and chosen.failures == []
        assert chosen.text not in said
        said.append(chosen.text)
        turns += _history(("customer", chosen.text))
    assert len(set(said)) == 6  # its mood's lines, then the nearest moods' own lines


def test_stand_in_prefers_the_line_that_fits_the_agents_words() -> None:
    plan = ReplyPlan(act="restate_demand", mood="angry", turn=3, demand=OMAR.scenario.demands[0])
    chosen = stand_in(OMAR, plan, holdings_of(OMAR), earlier=[], agent_turns=["Three days? That's tight."])
    assert chosen is not None and chosen.text == "Three days. I need a mixer in three days. Brilliant."
    seeds = {
        stand_in(OMAR, plan, holdings_of(OMAR), earlier=[], agent_turns=["Hmm."], seed=s).text  # type: ignore[union-attr]
        for s in range(12)
    }
    assert len(seeds) > 1  # ties break by seed


def test_a_bad_slot_never_crashes_a_call() -> None:
    text = find_persona("omar_out_of_stock").read_text(encoding="utf-8")
    broken = load_persona_text(text.replace('"Right. Go on."', '"Right. {no_such_fact}"'), "omar_out_of_stock.yaml")
    plan = ReplyPlan(act="acknowledge", mood="angry", turn=3)
    pool = candidates(broken, plan, [], "")
    assert pool and all("{" not in line and "no_such_fact" not in line for line in pool)


@pytest.mark.parametrize("name", ["backfire_brian", "walter_elderly_billing"])
def test_without_lines_there_is_nothing_to_stand_in(name: str) -> None:
    text = find_persona(name).read_text(encoding="utf-8")
    without = text.split("\nlines:\n")[0] + "\nmax_turns:" + text.split("\nmax_turns:")[1]
    bare = load_persona_text(without, f"{name}.yaml")
    assert bare.lines is None
    plan = ReplyPlan(act="restate_demand", mood="angry", demand="x")
    assert PersonaVoice(bare).stand_in(plan, []) is None


def test_a_shortened_repeat_of_an_earlier_line_is_a_repeat() -> None:
    """Seen in a browser call: the embedded model said one sentence of the opening line again as turn 2."""
    opening = "Hello? I've got a 'delivered' email for a bench I have never seen. I want my money back."
    assert repeats_earlier("I've got a delivered email for a bench I have never seen.", [opening])
    assert not repeats_earlier("Look. I want my money back today, I've got a 'delivered' email for a bench I "
                               "have never seen!", [opening])  # fmt: skip
    assert repeats_earlier("No. I've got a 'delivered' email for a bench I have never seen.", [opening])
    assert repeats_earlier("I want my money back.", [opening])
    assert not repeats_earlier("I want my money back. Today, not next week.", [opening])  # adds something
    earlier = ["Your tracking page says never seen."]
    assert not repeats_earlier("Your tracking page says never seen. Write that down.", earlier)
    assert not repeats_earlier("Where is my bench?", [opening])
