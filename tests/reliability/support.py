"""Shared pieces for the reliability tests: fake HTTP transports, the local grader, sessions, corpora."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from simulator.call.session import CallSession, TurnEvent
from simulator.config import Settings, load_settings
from simulator.grading.base import TurnGrader
from simulator.llm.base import ModelInfo
from simulator.llm.openai_compat import OpenAICompatModel
from simulator.storage import Store

ROOT = Path(__file__).resolve().parents[2]
ATTACKS = ROOT / "tests" / "fixtures" / "attacks"
PERSONAS = ROOT / "personas"
BRIAN = PERSONAS / "backfire_brian.yaml"
E = TypeVar("E")

Handler = Callable[[httpx.Request, int], Awaitable[httpx.Response] | httpx.Response]


def load_corpus(name: str) -> Any:
    """One of our versioned attack corpora (`tests/fixtures/attacks/<name>`)."""
    path = ATTACKS / name
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


# --- fake OpenAI-compatible HTTP server ----------------------------------------------------------


def completion_body(text: str) -> dict[str, Any]:
    """A non-streamed chat completion."""
    return {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }  # fmt: skip


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return f"data: {json.dumps(body)}\n\n".encode()


def sse_response(
    pieces: list[str],
    *,
    cut_after: int | None = None,
    stall_after: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A streamed chat completion of `pieces`; cut (RemoteProtocolError) or stalled after n pieces."""

    async def body() -> AsyncIterator[bytes]:
        yield _chunk({"role": "assistant", "content": ""})
        for n, piece in enumerate(pieces):
            if cut_after is not None and n >= cut_after:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body (incomplete chunked read)"
                )
            if stall_after is not None and n >= stall_after:
                await asyncio.sleep(3600)
            yield _chunk({"content": piece})
            await asyncio.sleep(0)
        yield _chunk({}, "stop")
        yield b"data: [DONE]\n\n"

    return httpx.Response(200, headers={"content-type": "text/event-stream", **(headers or {})}, content=body())


def error_response(status: int, message: str = "nope", code: str | None = None, **headers: str) -> httpx.Response:
    """An OpenAI-style error body."""
    error: dict[str, Any] = {"message": message, "type": "error", "code": code}
    return httpx.Response(status, headers=headers, json={"error": error})


@dataclass
class FakeServer:
    """An `httpx.MockTransport` handler that records every request and answers with `handler`."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """HTTP attempts so far."""
        return len(self.requests)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(asyncio.get_running_loop().time())
        result = self.handler(request, len(self.requests))
        if isinstance(result, httpx.Response):
            return result
        return await result


def caller_model(
    server: FakeServer,
    *,
    role: str = "caller",
    api_key: str | None = None,
    **kw: Any,
) -> OpenAICompatModel:
    """The real seam over a fake transport (chat prompt form, function-calling structured output)."""
    from pydantic import SecretStr

    info = ModelInfo(
        role=role,
        provider="openai-compatible",
        model="fake-remote",
        base_url="http://127.0.0.1:9/v1",
        prompt_form="chat",
        structured_method="function_calling",
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    opts: dict[str, Any] = {"max_retries": 2, "timeout_s": 5.0, "budget_s": 20.0}
    opts.update(kw)
    key = SecretStr(api_key) if api_key else None
    return OpenAICompatModel(info, base_url=info.base_url, api_key=key, http_async_client=client, **opts)


# --- graders -------------------------------------------------------------------------------------


def local_grader() -> TurnGrader:
    """The product's local appraiser as a `TurnGrader`."""
    from simulator.grading.appraiser import LocalAppraiser

    grader: TurnGrader = LocalAppraiser()
    return grader


# --- sessions ------------------------------------------------------------------------------------


def settings(**overrides: Any) -> Settings:
    """Default settings (tests run with no COOLDOWN_* variables set)."""
    return load_settings(**overrides)


def start_session(store: Store, model: Any, persona: Path = BRIAN, **kw: Any) -> CallSession:
    """A new call on `persona` with the local grader, opening line 0."""
    kw.setdefault("local_grader", local_grader())
    kw.setdefault("settings", settings())
    return CallSession.start(store, persona, caller_model=model, opening_index=0, **kw)


async def play(session: CallSession, text: str) -> list[TurnEvent]:
    """All events of one trainee turn."""
    return [ev async for ev in session.take_turn(text)]


async def retry(session: CallSession) -> list[TurnEvent]:
    """All events of one retry."""
    return [ev async for ev in session.retry()]


def of(events: list[TurnEvent], kind: type[E]) -> list[E]:
    """The events of one kind."""
    return [e for e in events if isinstance(e, kind)]


def fast_db_url(name: str) -> tuple[str, Path]:
    """A SQLite URL on tmpfs when there is one (these tests measure our logic, not the disk's fsync)."""
    import tempfile

    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="cooldown-rel-", dir=shm if shm.is_dir() else None))
    return f"sqlite:///{folder / name}", folder
