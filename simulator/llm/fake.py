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
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from pydantic import BaseModel

from simulator.errors import ModelStreamInterrupted
from simulator.llm.base import ModelInfo, ModelRole
from simulator.llm.canned import CannedModel, Request

FakeRequest = Request
"""One call the fake received (the canned models' `Request`, under the name the tests know)."""

Reply = str | BaseModel | dict[str, Any] | Exception | Callable[[FakeRequest], Any]


class FakeChatModel(CannedModel):
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

    def enqueue(self, *replies: Reply) -> FakeChatModel:
        self._queue.extend(replies)
        return self

    def _reply(self, request: FakeRequest) -> Any:
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

    async def _pause(self) -> None:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)

    async def _pieces(self, text: str) -> AsyncIterator[str]:
        await self._pause()
        pieces = [text[i : i + self.chunk_size] for i in range(0, len(text), self.chunk_size)] or [""]
        for n, piece in enumerate(pieces):
            if self.cut_stream_after is not None and n >= self.cut_stream_after:
                raise ModelStreamInterrupted("fake stream cut", partial="".join(pieces[:n]))
            await asyncio.sleep(0)
            yield piece

    async def aclose(self) -> None:
        self.closed = True
