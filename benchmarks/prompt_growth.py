"""Figure 5: caller prompt tokens per turn across a scripted 100-turn call.

The caller chain (`simulator.caller.chain.Caller`) is driven directly for 100 trainee turns (personas end calls
by 60 turns, so `CallSession` cannot run this long): each turn is graded by the local appraiser, moves the
mood state machine, and the caller answers with a scripted line. Prompt tokens are counted on what was
actually sent, in both prompt forms: completion (embedded SmolLM2, its own GGUF tokenizer) and chat
(`gpt-4o-mini`, tiktoken o200k_base).
"""

from __future__ import annotations

import asyncio

from benchmarks.common import Figure, check, measured
from benchmarks.fixtures import PERSONA, TRAINEE_TURNS, ScriptedModel, bench_settings

TURNS = 100


async def grow(form: str, turns: int) -> list[int]:
    """Prompt tokens sent to the caller model at each trainee turn."""
    import tempfile
    from pathlib import Path

    from simulator.call.mood import initial_state, mood_label, step
    from simulator.call.transcript import Utterance
    from simulator.caller.budget import LoggedTurn
    from simulator.caller.chain import Caller, CallerReply, new_canary, script_for
    from simulator.config import bundled_gguf
    from simulator.grading.appraiser.appraise import appraise
    from simulator.llm.base import Message
    from simulator.persona.loader import load_persona
    from simulator.tokens import count_messages, count_tokens

    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(Path(tmp))
    persona = load_persona(PERSONA)
    if form == "completion":
        gguf = bundled_gguf()
        model = ScriptedModel(gguf_path=str(gguf) if gguf else None, prompt_form="completion")
    else:
        model = ScriptedModel(prompt_form="chat", provider="openai", model="gpt-4o-mini")
    caller = Caller(model, script_for(persona, "normal", new_canary()), budget_tokens=settings.context_budget_tokens)
    state = initial_state(persona, "normal")
    history = [LoggedTurn(utterance=Utterance(role="customer", text=persona.opening_lines[0]))]
    tokens: list[int] = []
    for i in range(turns):
        text = TRAINEE_TURNS[i % len(TRAINEE_TURNS)]
        verdict = appraise(text, [h.utterance for h in history][-16:])
        state = step(persona, "normal", state, verdict, text).state
        history.append(LoggedTurn(utterance=Utterance(role="agent", text=text), verdict=verdict,
                                  mood_label=mood_label(state)))  # fmt: skip
        reply: CallerReply | None = None
        async for item in caller.speak(history, state):
            if isinstance(item, CallerReply):
                reply = item
        assert reply is not None
        sent = model.last_prompt
        if isinstance(sent, str):
            tokens.append(count_tokens(sent, model.info))
        else:
            assert sent is not None
            tokens.append(count_messages([Message.model_validate(m) for m in sent], model.info))
        history.append(LoggedTurn(utterance=Utterance(role="customer", text=reply.text)))
    return tokens


def run(*, quick: bool) -> Figure:
    """Measure figure 5 (the same in quick and full runs: it is deterministic)."""
    del quick
    from simulator.config import load_settings

    budget = load_settings().context_budget_tokens
    fig = Figure(key="prompt_growth", title="Caller prompt tokens per turn over a 100-turn call")
    with measured(fig):
        for form in ("completion", "chat"):
            tokens = asyncio.run(grow(form, TURNS))
            fig.series[form] = [float(t) for t in tokens]
            last50 = tokens[50:]
            slope = (sum(last50[25:]) / 25 - sum(last50[:25]) / 25) / 25
            fig.numbers[form] = {
                "turn_1": tokens[0], "turn_10": tokens[9], "turn_25": tokens[24], "turn_50": tokens[49],
                "turn_100": tokens[99], "max": max(tokens), "plateau_from_turn": _plateau(tokens),
                "slope_last_50_tokens_per_turn": slope,
            }  # fmt: skip
            fig.targets.append(check(f"{form}: max prompt tokens vs budget {budget}", float(max(tokens)),
                                     le=budget, unit=" tokens", goal=f"<= {budget} (budget)"))  # fmt: skip
            fig.targets.append(check(f"{form}: growth over turns 50-100", abs(slope), le=1.0, unit=" tokens/turn",
                                     goal="flat (|slope| <= 1 token/turn)"))  # fmt: skip
        fig.numbers["budget"] = budget
    return fig


def _plateau(tokens: list[int]) -> int:
    """The first turn from which the prompt stays within 5% of its turns-50-100 median (where it flattens)."""
    tail = sorted(tokens[50:])
    level = tail[len(tail) // 2]
    for i in range(len(tokens)):
        if all(abs(t - level) <= 0.05 * level for t in tokens[i:]):
            return i + 1
    return len(tokens)
