"""The capacity benchmark's parts (issue 16 item 3): the scripted model server, and a tiny end-to-end run.

No timing assertions: the run is checked for running and printing its figures, never for their values.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.capacity import StepResult, _has_caller_text, capacity_at, doubling_point, matched_pair
from benchmarks.common import Dist, wait_served
from benchmarks.model_server import CALLER_LINES, ScriptedServer, ServerTiming
from simulator.grading.schema import GraderOutput
from simulator.llm.base import Message, ModelInfo, ModelRole
from simulator.llm.factory import StructuredMethod
from simulator.llm.openai_compat import OpenAICompatModel


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer(timing=ServerTiming(latency_s=0.0, tokens_per_s=10_000)).start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def model(srv: ScriptedServer, role: ModelRole, method: StructuredMethod = "function_calling") -> OpenAICompatModel:
    url = f"{srv.url}/{role}-{method}/v1"
    info = ModelInfo(role=role, provider="openai-compatible", model="scripted", base_url=url, structured_method=method)
    return OpenAICompatModel(info, base_url=url, max_retries=0)


def test_scripted_server_speaks_what_cooldown_asks(server: ScriptedServer) -> None:
    """The real client path: a streamed chat and completion, and structured output both ways."""

    async def go() -> tuple[str, str, GraderOutput, GraderOutput]:
        caller, tools, schema = model(server, "caller"), model(server, "grader"), model(server, "grader", "json_schema")
        try:
            chat = "".join([c async for c in caller.stream([Message(role="user", content="hi")], stop=["\nAGENT:"])])
            completion = "".join([c async for c in caller.stream_completion("AGENT: hi\nCUSTOMER:")])
            by_tool = await tools.structured([Message(role="user", content="grade")], GraderOutput)
            by_schema = await schema.structured([Message(role="user", content="grade")], GraderOutput)
            return chat, completion, by_tool, by_schema
        finally:
            for m in (caller, tools, schema):
                await m.aclose()

    chat, completion, by_tool, by_schema = asyncio.run(go())
    assert chat in CALLER_LINES and completion.strip() in CALLER_LINES
    assert by_tool.perspective_taking == by_schema.perspective_taking == 1
    assert server.stats.counts == {"chat_stream": 1, "completion_stream": 1, "structured": 2}


def test_scripted_server_is_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ScriptedServer(host="0.0.0.0")


def test_wait_served_sees_a_page_and_gives_up_once_its_process_has_died(server: ScriptedServer) -> None:
    """The wait for a started page that the capacity rig and the browser tests share."""
    assert wait_served(f"{server.url}/v1/models", None, timeout_s=10)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(30)
    began = time.monotonic()
    assert not wait_served(f"{server.url}/no-such-page", dead, timeout_s=60)
    assert time.monotonic() - began < 5


def _step(instances: int, trainees: int, tps: float, p95: float, errors: int = 0) -> StepResult:
    dist = Dist(n=10, median=p95 / 2, p95=p95, min=0.1, max=p95)
    return StepResult(instances=instances, trainees=trainees, window_s=10, turns=int(tps * 10), turns_per_s=tps,
                      first_text_s=dist, turn_s=dist, end_call_s=dist, calls_started=1, errors=errors,
                      cpu_cores={}, rss_mb={}, db_connections_peak={}, load=(0, 0, 0))  # fmt: skip


def test_capacity_figures_from_steps() -> None:
    steps = [_step(1, 1, 1.0, 0.5), _step(1, 2, 1.9, 0.6), _step(1, 4, 3.0, 1.2), _step(1, 8, 3.1, 2.5, errors=1)]
    assert capacity_at(steps, 1.0) == 1.9  # within the budget only
    assert capacity_at(steps, 5.0) == 3.0  # a step with errors never counts
    assert doubling_point(steps, 0.5) == 4
    assert doubling_point(steps[:2], 0.5) is None
    two = [_step(2, 2, 2.0, 0.5), _step(2, 4, 3.9, 0.55), _step(2, 8, 5.5, 1.3)]
    heaviest = matched_pair(steps, two)  # 1.2 s vs 1.3 s: the same p95
    assert heaviest is not None and (heaviest[0].trainees, heaviest[1].trainees) == (4, 8)
    within = matched_pair(steps, two, budget_s=1.0)  # both over the budget: saturated, not a match
    assert within is not None and (within[0].trainees, within[1].trainees) == (2, 4)


def test_caller_text_is_found_in_gradio_chat_shapes() -> None:
    user = {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
    assert not _has_caller_text([user])
    assert not _has_caller_text([user, {"role": "assistant", "content": [{"type": "text", "text": " "}]}])
    assert _has_caller_text([user, {"role": "assistant", "content": [{"type": "text", "text": "Where is it?"}]}])
    assert _has_caller_text([user, {"role": "assistant", "content": "Where is it?"}])


@pytest.mark.slow
def test_bench_capacity_runs_and_prints_its_figures(tmp_path: Path) -> None:
    """Two real `cooldown app` processes, a throwaway PostgreSQL and the scripted server, a few seconds."""
    from simulator.cli.bench import bench

    args = ["capacity", "--per-instance", "1", "--step-s", "2", "--turns", "2", "--think-s", "0",
            "--out", str(tmp_path)]  # fmt: skip
    out = CliRunner().invoke(bench, args)
    assert out.exit_code == 0, out.output
    for words in ("1 inst K=  1", "2 inst K=  2", "turns/s", "first text p50", "db conns", "rss a=",
                  "cpu ms/turn", "capacity within p95", "p95 doubles", "2 instances / 1"):  # fmt: skip
        assert words in out.output, out.output
    saved = json.loads((tmp_path / "capacity.json").read_text())
    steps = saved["numbers"]["steps"]
    assert [(s["instances"], s["trainees"]) for s in steps] == [(1, 1), (2, 2)]
    assert all(s["calls_started"] >= 1 and s["errors"] == 0 for s in steps), steps  # how many turns fit: not asked
    assert set(steps[1]["cpu_cores"]) >= {"instance_a", "instance_b", "postgres", "model_server", "loadgen_a",
                                           "loadgen_b", "machine"}  # fmt: skip
    assert steps[1]["db_connections_peak"].get("total", 0) >= 2
