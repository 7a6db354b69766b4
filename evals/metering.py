"""Token counts and cost: an estimate before a run, the metered figures after it, a budget ceiling.

`MeteredChatModel` wraps the grader's `ChatModel` and counts every call it makes and the tokens
sent and received (with `simulator.tokens.count_tokens`, offline, erring high). The estimate before a
run counts the requests that are neither done nor cached, plus the rubric prompt and an expected
answer size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from simulator.errors import CooldownError
from simulator.grading.base import GradeRequest
from simulator.llm.base import ChatModel, Message, ModelInfo, T
from simulator.prompts import load_template
from simulator.resources import prompts_dir

PROMPTS_DIR = prompts_dir()
DEFAULT_RUBRIC_TOKENS = 1500
"""Rubric/system prompt size assumed when `prompts/grader_*.md` cannot be read."""
EXPECTED_OUTPUT_TOKENS = 350
"""A structured verdict with reasons, tip and better phrasing."""

PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}
"""USD per million (input, output) tokens for a few well-known models; override with --price-in/--price-out.
Prices change: treat the figure as an estimate."""


class BudgetExceeded(CooldownError):
    """A run would spend (or has spent) more tokens than its `--budget-tokens` ceiling."""


def count_tokens(text: str, model: ModelInfo | None = None) -> int:
    """Tokens in `text`, via `simulator.tokens.count_tokens`; a high char-based guess if that is absent."""
    try:
        from simulator.tokens import count_tokens as _count
    except ImportError:  # the lead's module not landed yet: over-estimate rather than under
        return len(text) // 3 + 1
    return _count(text, model)


def price_for(model_name: str | None) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for a known model name (longest prefix wins)."""
    if not model_name:
        return None
    for name in sorted(PRICES_PER_MTOK, key=len, reverse=True):
        if model_name.startswith(name) or model_name.endswith("/" + name):
            return PRICES_PER_MTOK[name]
    return None


@dataclass
class Usage:
    """Calls and tokens, counted as they happen."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def total(self) -> int:
        """Input plus output tokens."""
        return self.tokens_in + self.tokens_out

    def cost(self, price: tuple[float, float] | None) -> float | None:
        """USD at the given price, or None if the price is unknown."""
        if price is None:
            return None
        return (self.tokens_in * price[0] + self.tokens_out * price[1]) / 1_000_000


@dataclass
class Estimate:
    """What a run is expected to cost before it starts."""

    requests: int
    cached: int
    tokens_in: int
    tokens_out: int
    price: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Input plus output tokens."""
        return self.tokens_in + self.tokens_out

    @property
    def cost(self) -> float | None:
        """Estimated USD, or None if the price is unknown."""
        return Usage(0, self.tokens_in, self.tokens_out).cost(self.price)


def rubric_tokens() -> int:
    """Tokens of the grader's system prompt files (`prompts/grader_*.md`), or a default."""
    files = sorted(PROMPTS_DIR.glob("grader_*.md"))
    if not files:
        return DEFAULT_RUBRIC_TOKENS
    return sum(count_tokens(load_template(p.name)) for p in files)


def request_tokens(request: GradeRequest) -> int:
    """Tokens of the variable part of a grading prompt for one request."""
    parts = [request.trainee_turn, request.scenario or "", request.persona or ""]
    parts += [f"{u.role}: {u.text}" for u in request.context]
    return count_tokens("\n".join(parts)) + 40  # fences and block labels


def _messages_text(messages: Sequence[Message]) -> str:
    return "\n".join(f"{m.role}: {m.content}" for m in messages)


class MeteredChatModel:
    """A `ChatModel` that counts calls and tokens of the model it wraps."""

    def __init__(self, inner: ChatModel, usage: Usage | None = None) -> None:
        self.inner = inner
        self.usage = usage or Usage()

    @property
    def info(self) -> ModelInfo:
        """The wrapped model's info."""
        return self.inner.info

    def _sent(self, text: str) -> None:
        self.usage.calls += 1
        self.usage.tokens_in += count_tokens(text, self.info)

    def _got(self, text: str) -> None:
        self.usage.tokens_out += count_tokens(text, self.info)

    async def generate(self, messages: Sequence[Message], **kwargs: Any) -> str:
        """Count, then delegate."""
        self._sent(_messages_text(messages))
        out = await self.inner.generate(messages, **kwargs)
        self._got(out)
        return out

    async def stream(self, messages: Sequence[Message], **kwargs: Any) -> AsyncIterator[str]:
        """Count, then delegate."""
        self._sent(_messages_text(messages))
        async for chunk in self.inner.stream(messages, **kwargs):
            self._got(chunk)
            yield chunk

    async def stream_completion(self, prompt: str, **kwargs: Any) -> AsyncIterator[str]:
        """Count, then delegate."""
        self._sent(prompt)
        async for chunk in self.inner.stream_completion(prompt, **kwargs):
            self._got(chunk)
            yield chunk

    async def structured(
        self, messages: Sequence[Message], schema: type[T], *, max_tokens: int | None = None
    ) -> T:
        """Count, then delegate; output tokens are counted on the validated JSON (or the raw reply)."""
        self._sent(_messages_text(messages))
        try:
            out = await self.inner.structured(messages, schema, max_tokens=max_tokens)
        except Exception as err:
            raw = getattr(err, "raw", "")
            self._got(raw if isinstance(raw, str) else "")
            raise
        self._got(out.model_dump_json() if isinstance(out, BaseModel) else str(out))
        return out

    async def aclose(self) -> None:
        """Close the wrapped model."""
        await self.inner.aclose()
