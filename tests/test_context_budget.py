"""The context budget: summaries from labels, a prompt that flattens, and clear errors."""

from __future__ import annotations

import pytest

from simulator.call.transcript import Utterance
from simulator.caller.budget import LoggedTurn, fit_to_budget, summarise_earlier
from simulator.errors import ConfigError
from simulator.grading.labels import Behaviour, TurnVerdict
from simulator.tokens import count_tokens

PERSONA_BLOCK = "You are Dana, furious about a missing parcel. " * 40  # ~400 tokens, always kept


def render(window: list[Utterance], summary: str | None) -> str:
    lines = [PERSONA_BLOCK, "Current state: anger 80, trust 10."]
    if summary:
        lines.append(summary)
    lines += [f"{u.role.upper()}: {u.text}" for u in window]
    lines.append("CUSTOMER:")
    return "\n".join(lines)


def _agent(text: str, *behaviours: Behaviour, mood: str = "angry", manip: bool = False) -> LoggedTurn:
    verdict = TurnVerdict(
        perspective_taking=2,
        behaviours=list(behaviours),
        manipulation_tactics=["pressure"] if manip else [],
    )
    return LoggedTurn(utterance=Utterance(role="agent", text=text), verdict=verdict, mood_label=mood)


def _customer(text: str) -> LoggedTurn:
    return LoggedTurn(utterance=Utterance(role="customer", text=text))


def _call(n_exchanges: int) -> list[LoggedTurn]:
    turns: list[LoggedTurn] = []
    for i in range(n_exchanges):
        turns.append(_customer(f"Turn {i}: I am still waiting for my parcel and nobody has helped me at all."))
        b = [Behaviour.APOLOGY] if i % 2 else [Behaviour.FACT_CONFRONTATION]
        mood = "furious" if i < n_exchanges // 2 else "wary"
        turns.append(_agent(f"Agent line {i}: I'm looking at your order details right now, one moment.", *b, mood=mood))
    return turns


def test_summary_counts_labels_and_mood_journey() -> None:
    turns = [
        _customer("Where is it?"),
        _agent("I'm so sorry.", Behaviour.APOLOGY, mood="furious"),
        _agent("Sorry again. What happened?", Behaviour.APOLOGY, Behaviour.OPEN_QUESTION, mood="angry"),
        _agent("Our tracking says delivered.", Behaviour.FACT_CONFRONTATION, mood="angry"),
        _agent("Accept now or lose it.", Behaviour.SOLUTION_OFFER, mood="wary", manip=True),
    ]
    text = summarise_earlier(turns)
    assert text is not None
    assert "4 agent turns not shown" in text
    assert "apologised twice" in text
    assert "asked you a question" in text
    assert "argued with your account using records, data or policy once" in text
    assert "offered a remedy once" in text
    assert "pushed you with pressure or tricks once" in text
    assert text.endswith("you went from furious to wary.")
    assert summarise_earlier([]) is None
    assert summarise_earlier(turns) == text  # deterministic


def test_summary_without_labels_still_says_something() -> None:
    text = summarise_earlier([_customer("hi"), LoggedTurn(utterance=Utterance(role="agent", text="ok"))])
    assert text == "Earlier in the call (1 agent turn not shown): the agent said nothing that stood out."


def test_short_call_is_kept_whole() -> None:
    turns = _call(3)
    ctx = fit_to_budget(turns, render, 2000, count_tokens)
    assert ctx.earlier_summary is None
    assert [u.text for u in ctx.transcript] == [t.utterance.text for t in turns]
    assert ctx.summarised == 0


def test_turn_60_within_budget_and_curve_flattens() -> None:
    budget = 900
    sizes = []
    for n in range(1, 101):
        ctx = fit_to_budget(_call(n), render, budget, count_tokens)
        assert ctx.tokens == count_tokens(ctx.prompt)
        sizes.append(ctx.tokens)
    assert sizes[59] <= budget
    assert max(sizes) <= budget
    # Flattening: the last 40 turns vary by only a few tokens (summary digits), not by turn length.
    assert max(sizes[60:]) - min(sizes[60:]) <= 10
    assert sizes[99] - sizes[29] <= 10
    assert sizes[0] < sizes[10]  # and it does grow while the call is short


def test_tight_budget_drops_more_turns() -> None:
    turns = _call(20)
    roomy = fit_to_budget(turns, render, 5000, count_tokens)
    tight = fit_to_budget(turns, render, 600, count_tokens)
    assert len(tight.transcript) < len(roomy.transcript)
    assert tight.tokens <= 600
    assert tight.earlier_summary is not None


def test_huge_last_turn_is_shortened_not_dropped() -> None:
    turns = [
        *_call(2),
        LoggedTurn(utterance=Utterance(role="agent", text="blah " * 3000 + "Can you hear me?")),
    ]
    ctx = fit_to_budget(turns, render, 700, count_tokens)
    assert ctx.tokens <= 700
    assert len(ctx.transcript) == 1
    assert ctx.transcript[0].text.startswith("…")
    assert ctx.transcript[0].text.endswith("Can you hear me?")


def test_budget_smaller_than_persona_says_how_to_fix() -> None:
    with pytest.raises(ConfigError, match="raise context_budget_tokens to at least"):
        fit_to_budget(_call(2), render, 100, count_tokens)


# --- with the real persona, caller prompt and token counter ------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["chat", "completion"])
async def test_real_caller_prompt_within_budget_at_turn_60_and_flat(form: str) -> None:
    from pathlib import Path

    from simulator.call.mood import initial_state
    from simulator.caller.chain import Caller, CallerReply, new_canary, script_for
    from simulator.llm.base import ModelInfo
    from simulator.llm.fake import FakeChatModel
    from simulator.persona.loader import load_persona
    from simulator.tokens import count_messages

    persona = load_persona(Path(__file__).resolve().parent.parent / "personas" / "backfire_brian.yaml")
    state = initial_state(persona, "normal")
    model = FakeChatModel(default_reply="Still waiting.")
    model._info = ModelInfo(role="caller", provider="fake", model="fake", prompt_form=form)
    budget = 1600
    caller = Caller(model, script_for(persona, "normal", new_canary()), budget_tokens=budget)
    turns = _call(100)
    sizes = []
    for n in range(1, 101):
        reply = None
        async for ev in caller.speak(turns[: 2 * n], state):
            if isinstance(ev, CallerReply):
                reply = ev
        assert reply is not None
        req = model.requests[-1]
        sent = count_tokens(req.prompt or "") if form == "completion" else count_messages(req.messages)
        assert sent <= budget, f"turn {n}: {sent} tokens sent"
        sizes.append(sent)
    assert sizes[59] <= budget
    late = sizes[40:]
    assert max(late) - min(late) <= 25, late  # flat: only summary digits and mood words change
    assert sizes[99] <= sizes[20] + 25
    print(f"\n{form}: prompt tokens at turns 1/10/20/60/100 = {[sizes[i] for i in (0, 9, 19, 59, 99)]}")
