"""The real seam against fake HTTP transports: errors become Cooldown's own, retries stay bounded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import pytest
from pydantic import BaseModel

from simulator.errors import (
    ModelAuthError,
    ModelBadRequest,
    ModelNotFound,
    ModelOutputError,
    ModelStreamInterrupted,
    ModelTimeout,
    ModelUnavailable,
)
from simulator.llm.base import Message, ModelInfo
from simulator.llm.openai_compat import OpenAICompatModel

pytestmark = pytest.mark.anyio
MSGS = [Message(role="user", content="hello")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def completion(text: str = "Where is my parcel?") -> dict[str, object]:
    return {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }  # fmt: skip


class Recorder:
    def __init__(self, handler: Callable[[httpx.Request, int], httpx.Response]) -> None:
        self.handler = handler
        self.calls = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return self.handler(request, self.calls)


def model(rec: Callable[..., object], **kw: object) -> OpenAICompatModel:
    info = ModelInfo(role="caller", provider="openai-compatible", model="m", base_url="http://127.0.0.1:9/v1",
                     structured_method="function_calling")  # fmt: skip
    client = httpx.AsyncClient(transport=httpx.MockTransport(rec))  # type: ignore[arg-type]
    opts: dict[str, object] = {"max_retries": 2, "timeout_s": 5, "budget_s": 10}
    opts.update(kw)
    return OpenAICompatModel(info, base_url=info.base_url, http_async_client=client, **opts)  # type: ignore[arg-type]


async def test_generate_ok() -> None:
    rec = Recorder(lambda r, n: httpx.Response(200, json=completion()))
    assert await model(rec).generate(MSGS) == "Where is my parcel?"
    assert rec.calls == 1


@pytest.mark.parametrize(
    ("status", "error"), [(401, ModelAuthError), (404, ModelNotFound), (400, ModelBadRequest)]
)
async def test_client_errors_are_not_retried_and_say_how_to_fix(status: int, error: type[Exception]) -> None:
    rec = Recorder(lambda r, n: httpx.Response(status, json={"error": {"message": "nope", "code": "x"}}))
    with pytest.raises(error) as info:
        await model(rec).generate(MSGS)
    assert rec.calls == 1
    assert "COOLDOWN_CALLER" in str(info.value) or "refused" in str(info.value)


async def test_429_with_retry_after_is_honoured_then_succeeds() -> None:
    def handler(r: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(
                429, headers={"retry-after-ms": "300"}, json={"error": {"message": "slow down"}}
            )
        return httpx.Response(200, json=completion())

    rec = Recorder(handler)
    started = time.perf_counter()
    assert await model(rec).generate(MSGS)
    assert rec.calls == 2
    assert time.perf_counter() - started >= 0.25


async def test_persistent_5xx_attempts_are_bounded() -> None:
    rec = Recorder(lambda r, n: httpx.Response(503, json={"error": {"message": "down"}}))
    with pytest.raises(ModelUnavailable):
        await model(rec, max_retries=2).generate(MSGS)
    assert rec.calls == 3  # one try + the client's two retries; no second retry layer


async def test_stalled_server_ends_within_the_budget() -> None:
    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json=completion())

    started = time.perf_counter()
    with pytest.raises(ModelTimeout, match="BUDGET_S"):
        await model(stall, budget_s=0.5).generate(MSGS)
    assert time.perf_counter() - started < 3


async def test_cut_stream_raises_interrupted_with_partial_kept_out_of_band() -> None:
    def sse(request: httpx.Request, n: int) -> httpx.Response:
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "Where is "}, "finish_reason": None}]}  # fmt: skip

        async def body():  # type: ignore[no-untyped-def]
            yield f"data: {json.dumps(chunk)}\n\n".encode()
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    got = []
    with pytest.raises(ModelStreamInterrupted) as info:
        async for piece in model(Recorder(sse), max_retries=0).stream(MSGS):
            got.append(piece)
    assert "".join(got) == "Where is "
    assert info.value.partial == "Where is "


class Verdict(BaseModel):
    reason: str
    score: int


async def test_structured_output_via_function_calling() -> None:
    def handler(r: httpx.Request, n: int) -> httpx.Response:
        sent = json.loads(r.content)
        assert sent["tool_choice"]["function"]["name"] == "Verdict"
        body = completion("")
        body["choices"][0]["message"] = {  # type: ignore[index]
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "t1", "type": "function",
                            "function": {"name": "Verdict", "arguments": '{"reason": "ok", "score": 3}'}}],
        }  # fmt: skip
        return httpx.Response(200, json=body)

    out = await model(Recorder(handler)).structured(MSGS, Verdict)
    assert out == Verdict(reason="ok", score=3)


def tool_reply(r: httpx.Request, n: int) -> httpx.Response:
    """A tool call answering the forced tool with `{"reason": "ok", "score": 3}`."""
    name = json.loads(r.content)["tool_choice"]["function"]["name"]
    body = completion("")
    body["choices"][0]["message"] = {  # type: ignore[index]
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "t1", "type": "function",
                        "function": {"name": name, "arguments": '{"reason": "ok", "score": 3}'}}],
    }  # fmt: skip
    return httpx.Response(200, json=body)


class OtherVerdict(BaseModel):
    reason: str
    score: int


async def test_structured_output_builds_its_schema_binding_once_per_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """The grader's schema is converted once, not on every grade; another schema gets its own."""
    from langchain_openai import ChatOpenAI

    built: list[type[BaseModel]] = []
    real = ChatOpenAI.with_structured_output

    def counting(self: ChatOpenAI, schema: type[BaseModel], **kw: object) -> object:
        built.append(schema)
        return real(self, schema, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ChatOpenAI, "with_structured_output", counting)
    m = model(Recorder(tool_reply))
    first = await m.structured(MSGS, Verdict, max_tokens=50)
    second = await m.structured(MSGS, Verdict, max_tokens=50)
    assert first == second == Verdict(reason="ok", score=3)
    assert built == [Verdict]
    assert await m.structured(MSGS, OtherVerdict, max_tokens=50) == OtherVerdict(reason="ok", score=3)
    assert built == [Verdict, OtherVerdict]


async def test_structured_output_that_does_not_validate_raises_with_raw() -> None:
    def handler(r: httpx.Request, n: int) -> httpx.Response:
        body = completion("")
        body["choices"][0]["message"] = {  # type: ignore[index]
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "t1", "type": "function",
                            "function": {"name": "Verdict", "arguments": '{"reason": "ok"}'}}],
        }  # fmt: skip
        return httpx.Response(200, json=body)

    with pytest.raises(ModelOutputError) as info:
        await model(Recorder(handler)).structured(MSGS, Verdict)
    assert "reason" in info.value.raw
