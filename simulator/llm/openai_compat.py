"""The real `ChatModel`: every provider through langchain-openai (one code path).

OpenAI, any OpenAI-compatible URL (Ollama, vLLM, LM Studio, a llama.cpp server) and the embedded
llama.cpp server differ only in base URL, key, prompt form and structured-output method:

* structured output: `json_schema` for OpenAI; `function_calling` for llama.cpp servers, which reject
  `json_schema` response formats but force tool calls with a grammar. Numeric bounds are not enforced by
  that grammar, so pydantic validators do it.
* one retry layer (the openai client's `max_retries`, which honours Retry-After) and one wall-clock budget
  per call (`budget_s`), so a stalled server ends the call in seconds, not the client's 10-minute default.
* provider failures become `simulator.errors.ModelError` subclasses whose messages say how to fix them.
* at most `max_concurrency` requests in flight per endpoint (base URL, else provider + model), shared by
  every session and every model object in the process on the same event loop (`endpoint_slots`). A
  stream holds its slot until it finishes or is closed; waiting for a slot counts against `budget_s`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
import openai
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, SecretStr, ValidationError

from simulator.errors import (
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelNotFound,
    ModelOutputError,
    ModelRateLimited,
    ModelStreamInterrupted,
    ModelTimeout,
    ModelUnavailable,
)
from simulator.llm.base import Message, ModelInfo, T

log = logging.getLogger(__name__)
R = TypeVar("R")


_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = weakref.WeakKeyDictionary()
_SLOTS_LOCK = threading.Lock()


def endpoint_key(info: ModelInfo) -> str:
    """What the concurrency limit is shared by: the base URL, else provider and model."""
    return (info.base_url or f"{info.provider}:{info.model}").rstrip("/")


def endpoint_slots(key: str, limit: int) -> asyncio.Semaphore:
    """The running loop's semaphore for endpoint `key` (created with `limit` slots on first use).

    Process-wide, not per session: every model object talking to the same endpoint on this event loop
    shares it. Semaphores are per loop because an asyncio primitive belongs to one loop.
    """
    loop = asyncio.get_running_loop()
    with _SLOTS_LOCK:
        per_loop = _SLOTS.setdefault(loop, {})
        if key not in per_loop:
            per_loop[key] = asyncio.Semaphore(limit)
        return per_loop[key]


def _lc_messages(messages: Sequence[Message]) -> list[BaseMessage]:
    kinds: dict[str, type[BaseMessage]] = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m.role](content=m.content) for m in messages]


class OpenAICompatModel:
    """A `ChatModel` over langchain-openai. `base_url_factory` lets the embedded server start lazily."""

    def __init__(
        self,
        info: ModelInfo,
        *,
        base_url: str | None = None,
        base_url_factory: Callable[[], str] | None = None,
        api_key: SecretStr | None = None,
        temperature: float | None = None,
        max_tokens: int = 160,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        budget_s: float = 75.0,
        http_async_client: httpx.AsyncClient | None = None,
        max_concurrency: int = 8,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self._info = info
        self._base_url = base_url
        self._base_url_factory = base_url_factory
        self._api_key = api_key
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = httpx.Timeout(timeout_s, connect=5.0)
        self.max_retries = max_retries
        self.budget_s = budget_s
        self.max_concurrency = max_concurrency
        """Requests in flight at once to this model's endpoint (the first model on an endpoint sets it)."""
        self._http = http_async_client
        # langchain-openai shares one default async HTTP client per process, bound to the first event
        # loop that used it; we keep clients per event loop instead, so CLI runs, tests and the web
        # server's loop never trip over a closed loop.
        self._per_loop: dict[int, tuple[Any, Any, httpx.AsyncClient | None]] = {}
        self._lock = threading.Lock()
        self._structured_runnables: dict[tuple[int, type[BaseModel], int | None], tuple[Any, Any]] = {}
        """(chat model, runnable) by (id of the chat model, schema, max_tokens): see `_structured_runnable`."""

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def _url(self) -> str | None:
        if self._base_url is None and self._base_url_factory is not None:
            url = await asyncio.to_thread(self._start_once)
            self._base_url = url
        return self._base_url

    def _start_once(self) -> str:
        with self._lock:
            if self._base_url is None:
                assert self._base_url_factory is not None
                self._base_url = self._base_url_factory()
            return self._base_url

    def _common(self, base_url: str | None, http: httpx.AsyncClient | None) -> dict[str, Any]:
        key = self._api_key or SecretStr("not-needed")
        kw: dict[str, Any] = {
            "model": self._info.model,
            "api_key": key,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "max_tokens": self.max_tokens,
        }
        if base_url:
            kw["base_url"] = base_url
        if self.temperature is not None:
            kw["temperature"] = self.temperature
        if http is not None:
            kw["http_async_client"] = http
        return kw

    async def _models(self) -> tuple[Any, Any]:
        loop = id(asyncio.get_running_loop())
        if loop not in self._per_loop:
            from langchain_openai import ChatOpenAI, OpenAI

            url = await self._url()
            http = self._http or httpx.AsyncClient(timeout=self.timeout)
            kw = self._common(url, http)
            self._per_loop[loop] = (ChatOpenAI(**kw), OpenAI(**kw), None if self._http else http)
        chat, completion, _ = self._per_loop[loop]
        return chat, completion

    async def _chat_model(self) -> Any:
        return (await self._models())[0]

    async def _completion_model(self) -> Any:
        return (await self._models())[1]

    def _bind(self, model: Any, max_tokens: int | None, temperature: float | None, stop: Sequence[str] | None) -> Any:
        kw: dict[str, Any] = {}
        if max_tokens is not None:
            kw["max_tokens"] = max_tokens
        if temperature is not None:
            kw["temperature"] = temperature
        if stop:
            kw["stop"] = list(stop)
        return model.bind(**kw) if kw else model

    def _slots(self) -> asyncio.Semaphore:
        return endpoint_slots(endpoint_key(self._info), self.max_concurrency)

    async def _call(self, what: Callable[[], Awaitable[R]]) -> R:
        try:
            async with asyncio.timeout(self.budget_s), self._slots():
                return await what()
        except TimeoutError as exc:
            raise ModelTimeout(self._budget_message()) from exc
        except ModelError:
            raise
        except Exception as exc:
            raise translate_error(exc, self._info) from exc

    def _budget_message(self) -> str:
        return (
            f"the {self._info.role} model ({self._info.label}) did not answer within {self.budget_s:.0f} s. "
            f"Check the server, or raise COOLDOWN_{self._info.role.upper()}__BUDGET_S."
        )

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> str:
        async def run() -> str:
            model = self._bind(await self._chat_model(), max_tokens, temperature, stop)
            reply = await model.ainvoke(_lc_messages(messages))
            return str(reply.content)

        return await self._call(run)

    async def _stream(self, chunks: Callable[[], Awaitable[AsyncIterator[Any]]]) -> AsyncIterator[str]:
        got: list[str] = []
        try:
            async with asyncio.timeout(self.budget_s), self._slots():
                async for chunk in await chunks():
                    text = chunk if isinstance(chunk, str) else str(getattr(chunk, "content", "") or "")
                    if text:
                        got.append(text)
                        yield text
        except TimeoutError as exc:
            if not got:  # nothing arrived: a stalled server, not a dropped line
                raise ModelTimeout(self._budget_message()) from exc
            raise ModelStreamInterrupted(self._budget_message(), partial="".join(got)) from exc
        except ModelError:
            raise
        except Exception as exc:
            err = translate_error(exc, self._info)
            if got or isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
                raise ModelStreamInterrupted(
                    f"the {self._info.role} model's reply was cut off mid-stream ({type(exc).__name__}); "
                    "nothing partial was kept. Try the turn again.",
                    partial="".join(got),
                ) from exc
            raise err from exc

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        async def chunks() -> AsyncIterator[Any]:
            model = self._bind(await self._chat_model(), max_tokens, temperature, stop)
            return model.astream(_lc_messages(messages))

        return self._stream(chunks)

    def stream_completion(
        self,
        prompt: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        async def chunks() -> AsyncIterator[Any]:
            model = self._bind(await self._completion_model(), max_tokens, temperature, stop)
            return model.astream(prompt)

        return self._stream(chunks)

    async def structured(
        self, messages: Sequence[Message], schema: type[T], *, max_tokens: int | None = None
    ) -> T:
        async def run() -> T:
            runnable = self._structured_runnable(await self._chat_model(), schema, max_tokens)
            out = await runnable.ainvoke(_lc_messages(messages))
            parsed, raw = out.get("parsed"), _raw_text(out.get("raw"))
            if isinstance(parsed, schema):
                return parsed
            error = out.get("parsing_error")
            if parsed is not None:  # a dict from json_mode
                try:
                    return schema.model_validate(parsed)
                except ValidationError as exc:
                    error = exc
            raise ModelOutputError(
                f"the {self._info.role} model's output did not fit {schema.__name__}: {error}", raw=raw
            )

        return await self._call(run)

    def _structured_runnable(self, chat: Any, schema: type[BaseModel], max_tokens: int | None) -> Any:
        """`chat` bound to answer in `schema`, built once per (this loop's chat model, schema, max_tokens).

        Building it converts the schema to JSON Schema, a few milliseconds for the grader's output on every
        grade; the runnable keeps no state between calls, so one serves them all. Each entry holds its chat
        model, so no other object can take that id while the entry is cached.
        """
        key = (id(chat), schema, max_tokens)
        entry = self._structured_runnables.get(key)
        if entry is None:
            model = self._bind(chat, max_tokens, None, None)
            runnable = model.with_structured_output(schema, method=self._info.structured_method, include_raw=True)
            entry = self._structured_runnables[key] = (chat, runnable)
        return entry[1]

    async def aclose(self) -> None:
        loop = id(asyncio.get_running_loop())
        entry = self._per_loop.pop(loop, None)
        if entry is not None:
            kept = self._structured_runnables.items()
            self._structured_runnables = {k: v for k, v in kept if v[0] is not entry[0]}
        if entry is not None and entry[2] is not None:
            await entry[2].aclose()
        if self._http is not None:
            await self._http.aclose()


def _raw_text(raw: Any) -> str:
    if raw is None:
        return ""
    calls = getattr(raw, "tool_calls", None)
    if calls:
        return json.dumps(calls[0].get("args", {}))
    fc = getattr(raw, "additional_kwargs", {}).get("function_call")
    if fc:
        return str(fc.get("arguments", ""))
    return str(getattr(raw, "content", raw))


def translate_error(exc: BaseException, info: ModelInfo) -> ModelError:
    """A provider exception as Cooldown's own, with a message that says how to fix it (never the key)."""
    role = info.role.upper()
    where = f"{info.base_url}" if info.base_url else "the OpenAI API"
    if isinstance(exc, openai.AuthenticationError):
        return ModelAuthError(
            f"{where} rejected the API key for the {info.role} model. Set a valid key in "
            f"COOLDOWN_{role}__API_KEY or OPENAI_API_KEY."
        )
    if isinstance(exc, openai.NotFoundError):
        return ModelNotFound(
            f"{where} does not know the model '{info.model}' (404). Check COOLDOWN_{role}__MODEL; "
            "`cooldown doctor` shows what each role uses."
        )
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeout(
            f"the {info.role} model at {where} timed out. Check that the server is up and not overloaded, "
            f"or raise COOLDOWN_{role}__TIMEOUT_S."
        )
    if isinstance(exc, openai.RateLimitError):
        body = getattr(exc, "body", None)
        code = body.get("code") if isinstance(body, dict) else None
        if code == "insufficient_quota":
            err: ModelError = ModelRateLimited(f"the account behind the {info.role} model has no quota left ({where}).")
            err.retryable = False
            return err
        return ModelRateLimited(
            f"{where} is rate-limiting the {info.role} model; retries were used up. Try again shortly."
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailable(
            f"cannot reach the {info.role} model at {where}. Is the server running and the URL right "
            f"(COOLDOWN_{role}__BASE_URL)?"
        )
    if isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):
        return ModelBadRequest(f"{where} refused the request for the {info.role} model: {_short(exc)}")
    if isinstance(exc, openai.APIStatusError):
        return ModelUnavailable(f"{where} failed with HTTP {exc.status_code} for the {info.role} model: {_short(exc)}")
    if isinstance(exc, httpx.HTTPError):
        return ModelUnavailable(f"network error talking to the {info.role} model at {where}: {type(exc).__name__}")
    return ModelError(f"the {info.role} model failed: {type(exc).__name__}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text[:300]
