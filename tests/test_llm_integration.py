"""The real embedded model through the seam: invoke, streaming, completion, structured output.

These start llama.cpp servers (the bundled SmolLM2-135M) and run in CI; they assert on structure, never on
what the 135M model says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from simulator.config import bundled_gguf, load_settings
from simulator.llm import get_model
from simulator.llm.base import Message
from simulator.llm.embedded import POOL, EmbeddedServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    POOL.stop_all()


class CallerMood(BaseModel):
    feeling: str
    anger: int


async def test_generate_stream_and_completion_on_the_embedded_model() -> None:
    caller = get_model("caller", load_settings())
    assert caller.info.provider == "embedded" and caller.info.demo_grade
    text = await caller.generate([Message(role="user", content="Say hello.")], max_tokens=12)
    assert isinstance(text, str) and text.strip()
    chunks = [c async for c in caller.stream([Message(role="user", content="Count to five.")], max_tokens=24)]
    assert len(chunks) >= 2 and "".join(chunks).strip()
    prompt = "A phone call.\nAGENT: Hello, how can I help?\nCUSTOMER:"
    stops = ["\nAGENT:", "\nCUSTOMER:"]
    done = [c async for c in caller.stream_completion(prompt, max_tokens=30, stop=stops)]
    assert "AGENT:" not in "".join(done)


async def test_structured_output_uses_function_calling_and_validates() -> None:
    grader = get_model("grader", load_settings())
    assert grader.info.structured_method == "function_calling"
    out = await grader.structured(
        [Message(role="user", content="A customer is furious (9 of 10) about a lost parcel. Describe them.")],
        CallerMood,
    )
    assert isinstance(out, CallerMood)


async def test_a_role_can_point_at_a_second_openai_compatible_server(monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = bundled_gguf()
    assert gguf is not None
    second = EmbeddedServer(gguf, n_ctx=1024, alias="second-llama")
    url = second.start()
    try:
        monkeypatch.setenv("COOLDOWN_GRADER__BASE_URL", url)
        monkeypatch.setenv("COOLDOWN_GRADER__MODEL", "second-llama")
        grader = get_model("grader", load_settings())
        assert grader.info.provider == "openai-compatible" and grader.info.base_url == url
        assert (await grader.generate([Message(role="user", content="Hi")], max_tokens=4)).strip()
        out = await grader.structured([Message(role="user", content="Angry customer, 7/10.")], CallerMood)
        assert isinstance(out, CallerMood)
    finally:
        second.stop()
    assert second.pid is None


def test_doctor_shows_both_roles_served() -> None:
    env = {**os.environ}
    result = subprocess.run(
        [sys.executable, "-m", "simulator.cli.main", "doctor"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("answers: yes") == 2


def test_embedded_server_dies_with_its_parent() -> None:
    code = (
        "import sys, time\n"
        "from simulator.config import bundled_gguf\n"
        "from simulator.llm.embedded import EmbeddedServer\n"
        "s = EmbeddedServer(bundled_gguf(), n_ctx=512)\n"
        "s.start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.kill()  # kill -9: no atexit runs; the child's watchdog must end it
    parent.wait()
    import time

    for _ in range(40):
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.25)
    else:
        os.kill(child_pid, 9)
        pytest.fail("the embedded server outlived its parent")
