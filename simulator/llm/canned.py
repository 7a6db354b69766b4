"""The seam's plumbing for models that answer in this process: the test fake and the scripted caller.

`CannedModel` implements the four `ChatModel` calls once: each call becomes a `Request`, the subclass's
`_reply` answers it (text, a pydantic model, a dict, or it raises), and the answer is returned whole,
streamed or validated into the asked schema. A subclass says only what differs: what it answers
(`_reply`), how long it takes (`_pause`) and how a text streams (`_pieces`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from simulator.errors import ModelError, ModelOutputError
from simulator.llm.base import Message, ModelInfo, T


@dataclass
class Request:
    """One call a canned model received."""

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


class CannedModel:
    """Implements `ChatModel` over `_reply`; a subclass sets `_info` and says what it answers."""

    _info: ModelInfo

    @property
    def info(self) -> ModelInfo:
        """Who serves this role."""
        return self._info

    def _reply(self, request: Request) -> Any:
        """The answer to `request`: text, a pydantic model or a dict; raise to fail the call."""
        raise NotImplementedError

    async def _pause(self) -> None:
        """The time an answer takes (none)."""

    async def _pieces(self, text: str) -> AsyncIterator[str]:
        """A streamed answer: after the pause, the whole text as one chunk."""
        await self._pause()
        yield text

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> str:
        """The answer, whole."""
        reply = self._reply(Request("generate", list(messages), None, None, max_tokens, temperature, _listed(stop)))
        await self._pause()
        return self._text(reply)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        """The answer, as chunks."""
        request = Request("stream", list(messages), None, None, max_tokens, temperature, _listed(stop))
        async for piece in self._pieces(self._text(self._reply(request))):
            yield piece

    async def stream_completion(
        self,
        prompt: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        """The answer to a transcript-form prompt, as chunks."""
        request = Request("stream_completion", [], prompt, None, max_tokens, temperature, _listed(stop))
        async for piece in self._pieces(self._text(self._reply(request))):
            yield piece

    async def structured(self, messages: Sequence[Message], schema: type[T], *, max_tokens: int | None = None) -> T:
        """The answer validated into `schema`; `ModelOutputError` (with `.raw`) if it does not fit."""
        reply = self._reply(Request("structured", list(messages), None, schema, max_tokens))
        await self._pause()
        if isinstance(reply, schema):
            return reply
        raw = reply.model_dump_json() if isinstance(reply, BaseModel) else self._text(reply)
        try:
            return schema.model_validate_json(raw)
        except ValidationError as exc:
            raise ModelOutputError(f"structured output failed validation: {exc}", raw=raw) from exc

    async def aclose(self) -> None:
        """Nothing to release."""

    def _text(self, reply: Any) -> str:
        if isinstance(reply, str):
            return reply
        if isinstance(reply, BaseModel):
            return reply.model_dump_json()
        if isinstance(reply, dict):
            return json.dumps(reply)
        raise ModelError(f"{type(self).__name__} cannot reply with {type(reply).__name__}")


def _listed(stop: Sequence[str] | None) -> list[str] | None:
    return list(stop) if stop is not None else None
