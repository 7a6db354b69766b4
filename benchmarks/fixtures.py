"""What the benchmarks run on: gold-suite turns, a scripted call, stores in a temp folder, fast fakes.

`ScriptedModel` is a `ChatModel` with a fixed latency that records nothing (unlike the tests'
`FakeChatModel`, whose growing request log would show up in memory and throughput figures). Its
structured replies are a valid, technique-free `GraderOutput`, so the real LLM grading chain accepts them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from simulator.grading.base import GradeRequest, TurnGrader
from simulator.llm.base import Message, ModelInfo, ModelRole, PromptForm, T
from simulator.runtime import local_grader as runtime_local_grader

ROOT = Path(__file__).resolve().parent.parent
PERSONA = ROOT / "personas" / "backfire_brian.yaml"
GOLD_SUITES = ("gold_listening", "gold_persuasion")

TRAINEE_TURNS: tuple[str, ...] = (
    "I'm sorry, that sounds like a really frustrating day. What happened when you got home?",
    "So you took the whole day off and nobody came to the door. That's a wasted day.",
    "If I'd planned my week around a delivery I'd be annoyed too. How is this affecting you?",
    "What would make this right for you today?",
    "Let me check the side gate note with the courier, and if it's not there I'll send a replacement.",
    "I can see why the tracking message felt like being called a liar. Tell me more about the photo.",
    "Our records show it was delivered at 14:14.",
    "Just to check I've got it: the bench matters because it's for your mum's birthday on Saturday?",
    "I'll open a courier investigation now and call you back by five with an answer.",
    "Thanks for bearing with me. Which would suit you better, a refund or a new bench on Thursday?",
)
"""A realistic mix of listening, remedy and confronting turns, cycled for scripted calls."""

CUSTOMER_LINES: tuple[str, ...] = (
    "I took the whole day off for this and nobody knocked, not once.",
    "Don't tell me it was delivered. I was sitting right by the door all afternoon.",
    "Fine. So what are you actually going to do about it?",
    "It was meant to be a birthday present, and now I've got nothing to give.",
    "Thursday is too late, the birthday is Saturday. Can you do better than that?",
)


def gold_requests(limit: int | None = None) -> list[GradeRequest]:
    """Every turn of the shipped gold suites (all splits) as grading requests."""
    from evals.suites import load_spec

    out: list[GradeRequest] = []
    for name in GOLD_SUITES:
        out.extend(case.request() for case in load_spec(name, split="all").cases)
    return out[:limit] if limit is not None else out


def local_grader() -> TurnGrader:
    """The shipped local appraiser, built where every entry point builds it."""
    return runtime_local_grader()


def grader_output(request_text: str = "") -> Any:
    """A valid, technique-free `GraderOutput` (what a well-behaved grader model returns)."""
    from simulator.grading.schema import GraderOutput

    del request_text
    return GraderOutput(
        reasoning="The agent acknowledges the caller's situation without arguing with it.",
        behaviours=[],
        perspective_taking=1,
        techniques=[],
        manipulation_tactics=[],
        manipulative=False,
        tip="Name what the caller lost before offering anything.",
        better_phrasing="You gave up a whole day for this; what would help most now?",
    )


class ScriptedModel:
    """A `ChatModel` with fixed latency and canned replies; records nothing.

    Args:
        latency_s: Delay before a reply (before the first chunk when streaming).
        role: The role it serves.
        prompt_form: 'chat' or 'completion'.
        replies: Text replies, cycled.
        gguf_path: Set to count prompt tokens with a GGUF tokenizer (as for the embedded model).
        chunk_chars: Characters per streamed chunk.
    """

    def __init__(
        self,
        latency_s: float = 0.0,
        *,
        role: ModelRole = "caller",
        prompt_form: PromptForm = "completion",
        replies: Sequence[str] = CUSTOMER_LINES,
        gguf_path: str | None = None,
        chunk_chars: int = 6,
        provider: str = "fake",
        model: str = "scripted",
    ) -> None:
        self.latency_s = latency_s
        self._replies = tuple(replies)
        self._n = 0
        self.chunk_chars = chunk_chars
        self._info = ModelInfo(
            role=role, provider=provider, model=model, prompt_form=prompt_form, gguf_path=gguf_path
        )
        self.calls = 0
        self.last_prompt: str | list[Message] | None = None
        self.called_at: float | None = None
        """`time.perf_counter()` when the last stream was requested (Cooldown's work before the model)."""

    @property
    def info(self) -> ModelInfo:
        """Who serves this role."""
        return self._info

    def _text(self) -> str:
        text = self._replies[self._n % len(self._replies)]
        self._n += 1
        self.calls += 1
        return text

    async def generate(self, messages: Sequence[Message], **_: Any) -> str:
        """A whole reply after the latency."""
        await asyncio.sleep(self.latency_s)
        return self._text()

    async def _chunks(self) -> AsyncIterator[str]:
        await asyncio.sleep(self.latency_s)
        text = self._text()
        for i in range(0, len(text), self.chunk_chars):
            await asyncio.sleep(0)
            yield text[i : i + self.chunk_chars]

    def stream(self, messages: Sequence[Message], **_: Any) -> AsyncIterator[str]:
        """A reply as chunks; the latency comes before the first chunk."""
        self.last_prompt, self.called_at = list(messages), time.perf_counter()
        return self._chunks()

    def stream_completion(self, prompt: str, **_: Any) -> AsyncIterator[str]:
        """A completion as chunks; the latency comes before the first chunk."""
        self.last_prompt, self.called_at = prompt, time.perf_counter()
        return self._chunks()

    async def structured(self, messages: Sequence[Message], schema: type[T], **_: Any) -> T:
        """A valid `GraderOutput` (validated into `schema`) after the latency."""
        await asyncio.sleep(self.latency_s)
        self.calls += 1
        out: BaseModel = grader_output()
        return schema.model_validate(out.model_dump())

    async def aclose(self) -> None:
        """Nothing to release."""


class TimedModel:
    """Wraps a real `ChatModel`: records each streamed prompt and when its first chunk arrived."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.prompts: list[str] = []
        self.first_chunk_at: float | None = None

    @property
    def info(self) -> ModelInfo:
        """The wrapped model's info."""
        info: ModelInfo = self.inner.info
        return info

    async def _timed(self, stream: AsyncIterator[str]) -> AsyncIterator[str]:
        first = True
        try:
            async for chunk in stream:
                if first:
                    self.first_chunk_at, first = time.perf_counter(), False
                yield chunk
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    async def generate(self, messages: Sequence[Message], **kw: Any) -> str:
        """Delegated."""
        text: str = await self.inner.generate(messages, **kw)
        return text

    def stream(self, messages: Sequence[Message], **kw: Any) -> AsyncIterator[str]:
        """Delegated, timed."""
        self.prompts.append("\n".join(m.content for m in messages))
        return self._timed(self.inner.stream(messages, **kw))

    def stream_completion(self, prompt: str, **kw: Any) -> AsyncIterator[str]:
        """Delegated, timed."""
        self.prompts.append(prompt)
        return self._timed(self.inner.stream_completion(prompt, **kw))

    async def structured(self, messages: Sequence[Message], schema: type[T], **kw: Any) -> T:
        """Delegated."""
        out: T = await self.inner.structured(messages, schema, **kw)
        return out

    async def aclose(self) -> None:
        """Delegated."""
        await self.inner.aclose()


def bench_settings(data_dir: Path, **overrides: Any) -> Any:
    """Settings for a benchmark: data in `data_dir`, deterministic caller sampling unless overridden."""
    from simulator.config import load_settings

    caller = {"temperature": 0.0, **overrides.pop("caller", {})}
    return load_settings(data_dir=data_dir, caller=caller, **overrides)


def open_store(data_dir: Path) -> Any:
    """A fresh SQLite store (WAL, synchronous=FULL: the product's durability settings) under `data_dir`."""
    from simulator.storage import Store

    data_dir.mkdir(parents=True, exist_ok=True)
    return Store.open(f"sqlite:///{data_dir / 'bench.db'}", data_dir, sweep_stale_after=None)
