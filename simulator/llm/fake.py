"""A scripted model for tests: queue replies, read back exactly what was sent.

    fake = FakeChatModel()
    fake.enqueue("Where is my parcel?")            # next generate/stream reply
    fake.enqueue(TurnVerdictOut(...))               # next structured reply (a model instance)
    fake.enqueue('{"not": "valid"}')               # structured reply that fails validation
    fake.enqueue(ModelTimeout("..."))               # the next call raises this
    ...
    fake.requests[-1].messages                      # what the code under test sent

With an empty queue it replies with `default_reply`, or raises if `strict=True`.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from simulator.errors import ModelError, ModelOutputError, ModelStreamInterrupted
from simulator.llm.base import Message, ModelInfo, ModelRole, T

Reply = str | BaseModel | dict[str, Any] | Exception | Callable[["FakeRequest"], Any]


@dataclass
class FakeRequest:
    """One call the fake received."""

    kind: str  # "generate" | "stream" | "stream_completion" | "structured"
    messages: list[Message] = field(default_factory=list)
    prompt: str | None = None
    schema: type[BaseModel] | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    stop: list[str] | None = None

    @property
    def text(self) -> str:
        """Everything sent, as one string (handy for `assert "x" in req.text`)."""
        if self.prompt is not None:
            return self.prompt
        return "\n".join(f"{m.role}: {m.content}" for m in self.messages)


class FakeChatModel:
    """Implements `ChatModel` with scripted replies; records every request."""

    def __init__(
        self,
        replies: Sequence[Reply] = (),
        *,
        role: ModelRole = "caller",
        default_reply: str = "I still want this sorted out.",
        strict: bool = False,
        latency_s: float = 0.0,
        chunk_size: int = 4,
        cut_stream_after: int | None = None,
    ) -> None:
        self._queue: deque[Reply] = deque(replies)
        self.requests: list[FakeRequest] = []
        self.default_reply = default_reply
        self.strict = strict
        self.latency_s = latency_s
        self.chunk_size = chunk_size
        self.cut_stream_after = cut_stream_after
        self._info = ModelInfo(role=role, provider="fake", model="fake-model")
        self.closed = False

    @property
    def info(self) -> ModelInfo:
        return self._info

    def enqueue(self, *replies: Reply) -> FakeChatModel:
        self._queue.extend(replies)
        return self

    def _next(self, request: FakeRequest) -> Any:
        self.requests.append(request)
        if self._queue:
            reply = self._queue.popleft()
        elif self.strict:
            raise AssertionError(f"FakeChatModel: no scripted reply left for a {request.kind} call")
        else:
            reply = self.default_reply
        if callable(reply) and not isinstance(reply, (BaseModel, Exception)):
            reply = reply(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def _sleep(self) -> None:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> str:
        req = FakeRequest("generate", list(messages), None, None, max_tokens, temperature, _l(stop))
        reply = self._next(req)
        await self._sleep()
        return _as_text(reply)

    async def _chunks(self, text: str) -> AsyncIterator[str]:
        await self._sleep()
        pieces = [text[i : i + self.chunk_size] for i in range(0, len(text), self.chunk_size)] or [""]
        for n, piece in enumerate(pieces):
            if self.cut_stream_after is not None and n >= self.cut_stream_after:
                raise ModelStreamInterrupted("fake stream cut", partial="".join(pieces[:n]))
            await asyncio.sleep(0)
            yield piece

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        req = FakeRequest("stream", list(messages), None, None, max_tokens, temperature, _l(stop))
        text = _as_text(self._next(req))
        async for piece in self._chunks(text):
            yield piece

    async def stream_completion(
        self,
        prompt: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        req = FakeRequest("stream_completion", [], prompt, None, max_tokens, temperature, _l(stop))
        text = _as_text(self._next(req))
        async for piece in self._chunks(text):
            yield piece

    async def structured(
        self, messages: Sequence[Message], schema: type[T], *, max_tokens: int | None = None
    ) -> T:
        req = FakeRequest("structured", list(messages), None, schema, max_tokens)
        reply = self._next(req)
        await self._sleep()
        if isinstance(reply, schema):
            return reply
        raw = reply.model_dump_json() if isinstance(reply, BaseModel) else _as_text(reply)
        try:
            return schema.model_validate_json(raw)
        except ValidationError as exc:
            raise ModelOutputError(f"structured output failed validation: {exc}", raw=raw) from exc

    async def aclose(self) -> None:
        self.closed = True


def _l(stop: Sequence[str] | None) -> list[str] | None:
    return list(stop) if stop is not None else None


def _as_text(reply: Any) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, BaseModel):
        return reply.model_dump_json()
    if isinstance(reply, dict):
        return json.dumps(reply)
    raise ModelError(f"FakeChatModel cannot reply with {type(reply).__name__}")
