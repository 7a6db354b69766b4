"""RELIABILITY §8 C8: a limit on concurrent model requests per endpoint, shared by every session.

Twenty trainees take a turn at the same moment; each session has its own `OpenAICompatModel` (as separate
pages or CLI runs in one process would) but all talk to the same endpoint, an `httpx.MockTransport` that
answers after a latency and streams its reply. The transport counts requests in flight, from the request
arriving to the last byte of the stream, so a stream that gave its slot back before its reply ended would
show.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import BaseModel

from simulator.call.session import CallerDone, TurnFailed
from simulator.llm.base import Message, ModelInfo
from simulator.llm.openai_compat import OpenAICompatModel, endpoint_key
from simulator.storage import Store

from .conftest import FigureBook
from .support import completion_body, fast_db_url, of, play, start_session

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

LATENCY_S = 0.5
REPLY = ["I took the day off for this. ", "Nobody knocked, not once!"]
TURN = "That sounds exhausting. What happened when you rang the first time?"


@dataclass
class InFlight:
    """A fake endpoint that counts requests in flight (arrival to end of body) and their peak."""

    latency_s: float = LATENCY_S
    now: int = 0
    peak: int = 0
    requests: int = 0

    def _enter(self) -> None:
        self.now += 1
        self.requests += 1
        self.peak = max(self.peak, self.now)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self._enter()
        try:
            await asyncio.sleep(self.latency_s)
        except BaseException:
            self.now -= 1
            raise
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=self._sse())
        self.now -= 1
        return httpx.Response(200, json=completion_body("Fine. Go on."))

    async def _sse(self) -> AsyncIterator[bytes]:
        """The reply in chunks; the request stops counting when its last byte is sent (or it is cut)."""
        counted = True
        try:
            for piece in REPLY:
                body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}  # fmt: skip
                yield f"data: {json.dumps(body)}\n\n".encode()
                await asyncio.sleep(0.05)
            self.now, counted = self.now - 1, False
            yield b"data: [DONE]\n\n"
        finally:
            if counted:  # closed early: a client that stops reading frees the server too
                self.now -= 1


def model(server: InFlight, base_url: str, limit: int, **kw: object) -> OpenAICompatModel:
    """A real seam over the fake endpoint; every call gets its own model object and HTTP client."""
    info = ModelInfo(role="caller", provider="openai-compatible", model="fake-remote", base_url=base_url,
                     prompt_form="chat", structured_method="function_calling")  # fmt: skip
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    opts: dict[str, object] = {"max_retries": 0, "timeout_s": 10.0, "budget_s": 30.0, "max_concurrency": limit}
    opts.update(kw)
    return OpenAICompatModel(info, base_url=base_url, http_async_client=client, **opts)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    url, folder = fast_db_url("concurrency.db")
    s = Store.open(url)
    yield s
    s.close()
    shutil.rmtree(folder, ignore_errors=True)


async def _twenty_turns(store: Store, base_url: str, limit: int) -> tuple[InFlight, int, list[str], float]:
    server = InFlight()
    sessions = [start_session(store, model(server, base_url, limit), trainee=f"C8-{k}") for k in range(20)]
    started = time.perf_counter()
    results = await asyncio.gather(*(play(s, TURN) for s in sessions), return_exceptions=True)
    elapsed = time.perf_counter() - started
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    errors += [f.message for r in results if isinstance(r, list) for f in of(r, TurnFailed)]
    done = sum(1 for r in results if isinstance(r, list) and of(r, CallerDone))
    return server, done, errors, elapsed


async def test_c8_twenty_simultaneous_turns_never_exceed_the_limit(store: Store, figures: FigureBook) -> None:
    server, done, errors, elapsed = await _twenty_turns(store, "http://c8-limited.invalid/v1", 8)
    control, control_done, _, control_elapsed = await _twenty_turns(store, "http://c8-unlimited.invalid/v1", 64)
    stored = sum(
        1
        for s in store.list_sessions(limit=200)
        if s.trainee.startswith("C8-")
        for t in store.load_session(s.id).turns[1:]
        if t.role == "customer" and t.status == "final"
    )
    ok = server.peak <= 8 and done == 20 and not errors
    figures.record(
        "C8", "20 simultaneous turns, 0.5 s latency, limit 8 per endpoint",
        f"peak in flight {server.peak} (same load with limit 64: {control.peak}); completed {done}/20; errors "
        f"{len(errors)}; {elapsed:.1f}s (unlimited {control_elapsed:.1f}s); final replies stored {stored}/40",
        "<= 8 in flight; all complete; no errors", ok, note="; ".join(errors[:2]),
    )  # fmt: skip
    assert not errors, errors
    assert done == 20 and control_done == 20
    assert server.peak <= 8, f"{server.peak} requests in flight with a limit of 8"
    assert server.peak == 8, "the limit was never reached: the test is not loading the endpoint"
    assert control.peak > 8, "without the limit the load should exceed 8 (else this test proves nothing)"


async def test_c8_generate_and_structured_share_the_slots(figures: FigureBook) -> None:
    class Ack(BaseModel):
        ok: bool

    server = InFlight(latency_s=0.2)
    url = "http://c8-mixed.invalid/v1"
    talk = [Message(role="user", content="hello")]

    async def one(k: int) -> object:
        m = model(server, url, 3)
        if k % 3 == 0:
            return await m.generate(talk)
        if k % 3 == 1:
            return "".join([piece async for piece in m.stream(talk)])
        try:
            return await m.structured(talk, Ack)
        except Exception as exc:  # the fake answers prose, so structured output fails: still a request
            return exc

    await asyncio.gather(*(one(k) for k in range(12)))
    figures.record("C8", "generate + stream + structured, 12 calls, limit 3", f"peak in flight {server.peak}; "
                   f"{server.requests} requests", "<= 3", server.peak <= 3)  # fmt: skip
    assert server.requests == 12
    assert server.peak == 3


async def test_c8_a_closed_stream_gives_its_slot_back() -> None:
    server = InFlight(latency_s=0.05)
    url = "http://c8-close.invalid/v1"
    talk = [Message(role="user", content="hello")]
    first = model(server, url, 1).stream(talk)
    assert isinstance(first, AsyncGenerator)
    assert await first.__anext__()
    await first.aclose()  # the trainee left mid-reply
    started = time.perf_counter()
    text = await asyncio.wait_for(model(server, url, 1).generate(talk), 5)
    assert text == "Fine. Go on." and time.perf_counter() - started < 2


async def test_c8_waiting_for_a_slot_counts_against_the_budget() -> None:
    from simulator.errors import ModelTimeout

    server = InFlight(latency_s=1.0)
    url = "http://c8-budget.invalid/v1"
    talk = [Message(role="user", content="hello")]
    holder = asyncio.ensure_future(model(server, url, 1).generate(talk))
    await asyncio.sleep(0.05)
    with pytest.raises(ModelTimeout):
        await model(server, url, 1, budget_s=0.3).generate(talk)
    assert await holder == "Fine. Go on."


def test_c8_each_event_loop_has_its_own_slots() -> None:
    """The same model used from two threads' loops (CLI + web server) never trips over a foreign loop."""
    server = InFlight(latency_s=0.05)
    shared = model(server, "http://c8-loops.invalid/v1", 2)
    results: list[str] = []

    def run() -> None:
        async def calls() -> list[str]:
            talk = [Message(role="user", content="hi")]
            return list(await asyncio.gather(*(shared.generate(talk) for _ in range(3))))

        results.extend(asyncio.run(calls()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == ["Fine. Go on."] * 6
    assert server.peak <= 4  # 2 per loop


def test_endpoint_key_is_the_base_url_else_provider_and_model() -> None:
    remote = ModelInfo(role="caller", provider="openai-compatible", model="m", base_url="http://h:1/v1/")
    hosted = ModelInfo(role="grader", provider="openai", model="gpt-4o-mini")
    assert endpoint_key(remote) == "http://h:1/v1"
    assert endpoint_key(hosted) == "openai:gpt-4o-mini"
