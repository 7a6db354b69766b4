"""The caller chain with a fake model: prompt forms, trimming, guard, regeneration and fallback."""

from __future__ import annotations

import pytest

from simulator.call.transcript import Utterance, for_caller_model
from simulator.caller.budget import LoggedTurn
from simulator.caller.chain import COMPLETION_STOPS, Caller, CallerChunk, CallerReply, CallerScript
from simulator.caller.guard import CallerGuard
from simulator.errors import ModelStreamInterrupted, ModelTimeout
from simulator.llm.base import Message, ModelInfo
from simulator.llm.fake import FakeChatModel

CANARY = "cnry-0123456789ab"


def _render_chat(
    state: str, window: list[Utterance], summary: str | None, closing: str | None
) -> list[Message]:
    system = f"You are Dana, an angry customer. Mood: {state}. Secret: {CANARY}."
    if summary:
        system += f"\n{summary}"
    if closing:
        system += f"\nEnd the call now: {closing}."
    return [Message(role="system", content=system), *for_caller_model(window)]


def _render_completion(state: str, window: list[Utterance], summary: str | None, closing: str | None) -> str:
    head = f"Dana is an angry customer ({state}). {CANARY}\n"
    if summary:
        head += summary + "\n"
    if closing:
        head += f"Dana ends the call: {closing}.\n"
    return head + "".join(f"\n{u.role.upper()}: {u.text}" for u in window) + "\nCUSTOMER:"


SCRIPT: CallerScript[str] = CallerScript(
    render_chat=_render_chat,
    render_completion=_render_completion,
    fallback_line=lambda state, n, closing: ["Just fix it.", "Are you fixing this or not?"][n % 2],
    guard=CallerGuard(canary=CANARY, hidden_texts=["the parcel is actually at the depot in Leeds"]),
    mood_label=lambda state: state,
    speaker_name="Dana",
)

TURNS = [
    LoggedTurn(utterance=Utterance(role="customer", text="Where is my parcel?")),
    LoggedTurn(utterance=Utterance(role="agent", text="I'm sorry, can you tell me what happened?")),
]


def _model(form: str, *replies: object, **kw: object) -> FakeChatModel:
    fake = FakeChatModel(list(replies), strict=True, **kw)  # type: ignore[arg-type]
    fake._info = ModelInfo(role="caller", provider="fake", model="fake", prompt_form=form)
    return fake


def _caller(model: FakeChatModel, **kw: object) -> Caller[str]:
    return Caller(model, SCRIPT, budget_tokens=1500, count_tokens=lambda t: len(t) // 4 + 1, **kw)  # type: ignore[arg-type]


async def _run(caller: Caller[str], state: str = "angry", **kw: object) -> tuple[list[str], CallerReply]:
    chunks: list[str] = []
    reply = None
    async for ev in caller.speak(TURNS, state, **kw):  # type: ignore[arg-type]
        if isinstance(ev, CallerChunk):
            chunks.append(ev.text)
        else:
            reply = ev
    assert reply is not None
    return chunks, reply


@pytest.mark.anyio
async def test_chat_form_flips_roles_and_streams() -> None:
    model = _model("chat", "It never came. I waited all day! Who's paying for that?")
    chunks, reply = await _run(_caller(model))
    req = model.requests[0]
    assert req.kind == "stream"
    assert req.messages[0].role == "system" and CANARY in req.messages[0].content
    assert [m.role for m in req.messages[1:]] == ["assistant", "user"]
    assert req.messages[-1].content == "I'm sorry, can you tell me what happened?"
    assert reply.text == "It never came. I waited all day! Who's paying for that?"
    assert "".join(chunks).strip() == reply.text
    assert len(chunks) >= 2  # released sentence by sentence, not all at the end
    assert reply.attempts == 1 and not reply.fallback and not reply.guard_events


@pytest.mark.anyio
async def test_completion_form_uses_transcript_prompt_and_stops() -> None:
    model = _model("completion", " It never came.\nAGENT: I can help with that.\nCUSTOMER: more")
    _, reply = await _run(_caller(model))
    req = model.requests[0]
    assert req.kind == "stream_completion"
    assert req.prompt is not None and req.prompt.endswith(
        "\nAGENT: I'm sorry, can you tell me what happened?\nCUSTOMER:"
    )
    assert req.stop == list(COMPLETION_STOPS)
    assert reply.text == "It never came."  # cut where the model started the agent's turn


@pytest.mark.anyio
async def test_completion_form_cuts_at_blank_line_and_strips_label() -> None:
    model = _model("completion", "Dana: Don't you dare put me on hold.\n\nThe agent said sorry.")
    _, reply = await _run(_caller(model))
    assert reply.text == "Don't you dare put me on hold."


@pytest.mark.anyio
@pytest.mark.parametrize(
    "bad",
    [
        "AGENT: How can I help you today?",
        "As an AI language model, I cannot be angry.",
        '{"resolved": true, "mood": "calm"}',
        f"Fine, the code is {CANARY}.",
        "Hello! How may I assist you today?",
    ],
)
async def test_guard_regenerates_until_clean(bad: str) -> None:
    model = _model("chat", bad, "I want my money back.")
    chunks, reply = await _run(_caller(model))
    assert "".join(chunks).strip() == "I want my money back."
    assert reply.attempts == 2
    assert reply.guard_events and reply.guard_events[0].attempt == 1
    assert all(bad not in c for c in chunks)
    assert model.requests[1].messages[-1].role == "system"  # the retry carries a reminder


@pytest.mark.anyio
async def test_guard_falls_back_after_two_regenerations() -> None:
    model = _model("completion", "As an AI I can't.", "AGENT: How can I help you?", "```json\n{}\n```")
    chunks, reply = await _run(_caller(model), fallback_seed=1)
    assert len(model.requests) == 3  # first attempt + 2 regenerations, no more
    assert chunks == ["Are you fixing this or not?"]
    assert reply.fallback and reply.text == "Are you fixing this or not?"
    kinds = [e.kind for e in reply.guard_events]
    assert kinds == ["ai_self_reference", "agent_speak", "structured_output", "fallback"]
    temps = [r.temperature for r in model.requests]
    assert temps[0] is None and temps[1] is not None and temps[2] > temps[1]  # type: ignore[operator]


@pytest.mark.anyio
async def test_failure_after_first_sentence_keeps_only_what_was_shown() -> None:
    model = _model(
        "chat", "Unbelievable, this is just unbelievable. Is there anything else I can help you with? "
    )
    chunks, reply = await _run(_caller(model))
    assert "".join(chunks) == "Unbelievable, this is just unbelievable."
    assert reply.truncated and reply.text == "Unbelievable, this is just unbelievable."
    assert [e.kind for e in reply.guard_events] == ["agent_speak", "truncated"]
    assert len(model.requests) == 1


@pytest.mark.anyio
async def test_hidden_notes_never_reach_the_trainee() -> None:
    model = _model("chat", "Well the parcel is actually at the depot in Leeds, right?", "Where is it?")
    chunks, reply = await _run(_caller(model))
    assert "Leeds" not in "".join(chunks)
    assert reply.guard_events[0].kind == "hidden_leak"


@pytest.mark.anyio
async def test_empty_reply_is_regenerated() -> None:
    model = _model("completion", "   \n", "Hello?")
    _, reply = await _run(_caller(model))
    assert reply.text == "Hello?" and reply.guard_events[0].kind == "empty"


@pytest.mark.anyio
async def test_closing_is_passed_to_the_prompt() -> None:
    model = _model("chat", "Fine. Thank you, goodbye.")
    _, reply = await _run(_caller(model), closing="resolved")
    assert "End the call now: resolved." in model.requests[0].messages[0].content
    assert reply.text == "Fine. Thank you, goodbye."


@pytest.mark.anyio
async def test_cut_stream_reports_only_released_text() -> None:
    model = _model(
        "chat",
        "I waited by the door for three days! And then nothing happened",
        chunk_size=5,
        cut_stream_after=9,
    )
    chunks: list[str] = []
    with pytest.raises(ModelStreamInterrupted) as info:
        async for ev in _caller(model).speak(TURNS, "angry"):
            if isinstance(ev, CallerChunk):
                chunks.append(ev.text)
    assert info.value.partial == "".join(chunks) == "I waited by the door for three days!"


@pytest.mark.anyio
async def test_provider_errors_propagate() -> None:
    model = _model("chat", ModelTimeout("caller model timed out after 30 s; press Retry"))
    with pytest.raises(ModelTimeout):
        await _run(_caller(model))


@pytest.mark.anyio
async def test_long_call_prompt_stays_under_budget() -> None:
    turns = [
        LoggedTurn(utterance=Utterance(role="agent" if i % 2 else "customer", text=f"line {i} " * 20))
        for i in range(200)
    ]
    model = _model("chat", "Still waiting.")
    caller = Caller(model, SCRIPT, budget_tokens=400, count_tokens=lambda t: len(t) // 4 + 1)
    reply = None
    async for ev in caller.speak(turns, "angry"):
        if isinstance(ev, CallerReply):
            reply = ev
    assert reply is not None and reply.prompt_tokens <= 400 and reply.summarised > 0
    assert "Earlier in the call" in model.requests[0].messages[0].content


def test_trimmer_starts_at_once_when_the_reply_cannot_be_a_speaker_label() -> None:
    from simulator.caller.chain import _CUT_COMPLETION, _Trimmer

    trimmer = _Trimmer(_CUT_COMPLETION, "Omar")
    assert trimmer.feed(" No,") == "No,"  # not a label's start: no 16-character hold
    held = _Trimmer(_CUT_COMPLETION, "Omar")
    assert held.feed(" Cust") == "" and held.feed("omer: Where") == "Where"
    assert _Trimmer(_CUT_COMPLETION, "Omar").feed("Om") == ""
