"""RELIABILITY §8 E6: a canary API key never appears in logs (DEBUG included), the database, exports or errors.

The keys are set the way an operator would (`OPENAI_API_KEY` and per-role `COOLDOWN_*__API_KEY`), the real
seam talks to a fake transport that answers 401 and 500, logging runs at DEBUG with the openai/httpx loggers
forced to DEBUG too, and everything the run produced is searched for the key values and their fragments.
"""

from __future__ import annotations

import io
import logging
import secrets
import shutil
from collections.abc import Iterator

import httpx
import pytest

from simulator.call.session import CallSession, TurnFailed
from simulator.config import load_settings
from simulator.grading.chain import LLMGrader
from simulator.llm.factory import get_model
from simulator.logs import configure_logging
from simulator.storage import Store

from .conftest import FigureBook
from .support import BRIAN, FakeServer, error_response, fast_db_url, local_grader, of, play, sse_response

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    keys = {
        "OPENAI_API_KEY": "sk-test-CANARY-" + secrets.token_hex(12),
        "COOLDOWN_CALLER__API_KEY": "sk-test-CANARY-caller-" + secrets.token_hex(8),
        "COOLDOWN_GRADER__API_KEY": "sk-proj-CANARY-grader-" + secrets.token_hex(8),
    }
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COOLDOWN_CALLER__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("COOLDOWN_CALLER__MODEL", "remote-caller")
    monkeypatch.setenv("COOLDOWN_GRADER__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("COOLDOWN_GRADER__MODEL", "remote-grader")
    monkeypatch.setenv("COOLDOWN_CALLER__MAX_RETRIES", "1")
    monkeypatch.setenv("COOLDOWN_GRADER__MAX_RETRIES", "1")
    return keys


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Everything the product's logging writes, at DEBUG, with the noisy client loggers forced on."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    buffer = io.StringIO()
    yield_buffer = buffer
    try:
        yield yield_buffer
    finally:
        for handler in list(root.handlers):
            if handler not in before[1]:
                root.removeHandler(handler)
        root.setLevel(before[0])
        for name in ("openai", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def _fragments(key: str) -> list[str]:
    """The key and its secret part (what follows the public prefix), so partial leaks count too."""
    tail = key.split("CANARY-", 1)[1]
    return [key, tail, tail[-12:]]


async def test_e6_canary_key_never_leaks(canaries: dict[str, str], debug_log: io.StringIO, figures: FigureBook) -> None:
    settings = load_settings()
    configure_logging(logging.DEBUG, settings.secrets())
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_cooldown", False))
    handler.setStream(debug_log)  # type: ignore[attr-defined]
    for name in ("openai", "httpx", "httpcore", "langchain_openai"):
        logging.getLogger(name).setLevel(logging.DEBUG)  # as if someone ran with OPENAI_LOG=debug

    seen_auth: list[str] = []

    def server(request: httpx.Request, n: int) -> httpx.Response:
        seen_auth.append(request.headers.get("authorization", ""))
        if n <= 2:
            return error_response(401, f"Incorrect API key provided: {request.headers.get('authorization')}")
        if n <= 4:
            return error_response(500, "internal error")
        return sse_response(["I took the day off for this. ", "Nobody knocked."])

    fake = FakeServer(server)
    caller = get_model("caller", settings, http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(fake)))
    grader_server = FakeServer(lambda r, n: error_response(500, "grader down"))
    grader_model = get_model(
        "grader", settings, http_async_client=httpx.AsyncClient(transport=httpx.MockTransport(grader_server))
    )
    url, folder = fast_db_url("secrets.db")
    errors: list[str] = []
    try:
        store = Store.open(url)
        session = CallSession.start(
            store, BRIAN, caller_model=caller, local_grader=local_grader(), llm_grader=LLMGrader(grader_model),
            settings=settings, opening_index=0,
        )  # fmt: skip
        for _ in range(3):  # 401 (no retry), 401, then 500 + 500 (one retry), then a reply
            events = await play(session, "What happened when the courier came?")
            errors += [f.message for f in of(events, TurnFailed)]
            await session.wait_for_grades(10)
        logging.getLogger("simulator").debug("settings at startup: %r / %s", settings, settings.model_dump())
        logging.getLogger("simulator").error("request failed with headers %s", {"Authorization": seen_auth[0]})
        exports = store.export_session(session.id, "md") + store.export_session(session.id, "json")
        record = store.load_session(session.id)
        errors += [g.reason or "" for t in record.turns for g in t.grades]
        errors += [e.detail for e in record.guard_events]
        store.close()
        db_bytes = b"".join(p.read_bytes() for p in folder.iterdir())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    surfaces = {
        "logs": debug_log.getvalue(),
        "database": db_bytes.decode("utf-8", "replace"),
        "exports": exports,
        "error messages": "\n".join(errors),
        "reprs": repr(settings) + str(settings.model_dump()) + repr(caller.info) + repr(grader_model.info),
    }
    assert any(canaries["COOLDOWN_CALLER__API_KEY"] in a for a in seen_auth), "the key was not used at all"
    assert len(surfaces["logs"]) > 1000, "DEBUG logging produced almost nothing; the test is not looking"
    found = {
        where: sorted({name for name, key in canaries.items() for frag in _fragments(key) if frag in text})
        for where, text in surfaces.items()
    }
    hits = sum(len(v) for v in found.values())
    figures.record(
        "E6",
        "canary keys in logs (DEBUG) / DB / exports / errors / reprs",
        f"{hits} occurrences; scanned {len(surfaces['logs']):,} log chars, {len(db_bytes):,} DB bytes, "
        f"{len(errors)} error messages",
        "0 occurrences",
        hits == 0,
        note=str({k: v for k, v in found.items() if v}),
    )
    assert hits == 0, found
