"""The one LLM seam: what every part of Cooldown may ask of a model, whoever serves it.

Real providers (the embedded llama.cpp server, OpenAI, any OpenAI-compatible URL) implement it in
`simulator.llm.openai_compat`; tests use `simulator.llm.fake.FakeChatModel`. Nothing else in the code
base talks to a provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

Role = Literal["system", "user", "assistant"]
PromptForm = Literal["chat", "completion"]
ModelRole = Literal["caller", "grader"]

T = TypeVar("T", bound=BaseModel)


class Message(BaseModel):
    """One chat message as the *model* sees it (not the trainee-centric transcript)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class ModelInfo(BaseModel):
    """What to tell a person about the model behind a role. Never holds a key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: ModelRole
    provider: Literal["embedded", "openai", "openai-compatible", "fake", "scripted"]
    """`scripted`: no model; the caller plays the persona's own lines (`simulator.llm.scripted`)."""
    model: str
    base_url: str | None = None
    prompt_form: PromptForm = "chat"
    structured_method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema"
    demo_grade: bool = False
    """True for the embedded 135M model: fine for trying the product, not for realistic callers."""
    gguf_path: str | None = None
    """For local llama.cpp models: the GGUF file, whose own tokenizer counts tokens exactly."""

    @property
    def label(self) -> str:
        """Short text for the UI and logs, e.g. 'embedded SmolLM2-135M-Instruct (demo-grade)'."""
        suffix = " (demo-grade)" if self.demo_grade else ""
        return f"{self.provider} {self.model}{suffix}"


@runtime_checkable
class ChatModel(Protocol):
    """A model serving one role. Every method raises `simulator.errors.ModelError` subclasses."""

    @property
    def info(self) -> ModelInfo:
        """Who serves this role."""
        ...

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> str:
        """One chat completion, whole."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        """A chat completion as text chunks. A cut stream raises `ModelStreamInterrupted`."""
        ...

    def stream_completion(
        self,
        prompt: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        """A raw text completion (transcript form, e.g. '...\\nCUSTOMER:'), as text chunks."""
        ...

    async def structured(
        self,
        messages: Sequence[Message],
        schema: type[T],
        *,
        max_tokens: int | None = None,
    ) -> T:
        """Structured output validated into `schema`; raises `ModelOutputError` (with `.raw`) if invalid."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...
