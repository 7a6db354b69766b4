"""`cooldown personas test --with-caller`: the real caller chain and guard, judged line by line.

Unit tests inject a `FakeChatModel` through `cli_personas.caller_model`; the integration test runs the
embedded model and asserts on structure only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from simulator.call.mood import MoodState
from simulator.cli import personas as cli_personas
from simulator.errors import ModelUnavailable
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel, FakeRequest
from simulator.persona.behaviour import CallerLine, CallerRun, CallerSummary, GuardNote, Trajectory

PERSONA = "dana_delayed_order"
IN_CHARACTER = "I've waited two weeks for this order and nobody tells me anything."
AS_AGENT = "AGENT: Thank you for calling! How can I help you today?"
JSON_LEAK = '{"mood": "angry", "reply": "I want my refund"}'


def _run(model: FakeChatModel, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setattr(cli_personas, "caller_model", lambda settings: model)
    return CliRunner().invoke(cli_personas.personas, ["test", PERSONA, "--with-caller", "--quiet", *args])


def _verdicts(output: str) -> list[str]:
    return re.findall(r"^\s+-> (in character|regenerated|FALLBACK line|cut short)", output, re.MULTILINE)


def _caller_lines(output: str) -> list[str]:
    return re.findall(r"^\s+caller: (.*)$", output, re.MULTILINE)


def test_in_character_caller_passes_every_line_first_time(monkeypatch: pytest.MonkeyPatch) -> None:
    model = FakeChatModel(default_reply=IN_CHARACTER)
    monkeypatch.setattr(cli_personas, "caller_model", lambda settings: model)
    result = CliRunner().invoke(cli_personas.personas, ["test", PERSONA, "--with-caller", "--turns", "3"])
    assert result.exit_code == 0, result.output
    out = result.output
    lines = _caller_lines(out)
    # empathetic plays 3 turns; fact_dumper may end the call sooner, but plays at least one
    assert 4 <= len(lines) <= 6
    assert set(lines) == {IN_CHARACTER}
    assert _verdicts(out) == ["in character"] * len(lines)
    assert f"stayed in character in {len(lines)}/{len(lines)} lines first time; 0 regenerations; 0 fallbacks" in out
    assert "pass^k 2/2 calls (100%)" in out
    assert "fake fake-model, chat prompts" in out
    # one model request per line, each carrying the persona's prompt and the scripted agent turn
    assert len(model.requests) == len(lines)
    assert all(r.kind == "stream" for r in model.requests)
    assert "That sounds really frustrating" in model.requests[0].text


def test_caller_answering_as_the_agent_falls_back_and_fails_only_when_strict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = FakeChatModel(default_reply=AS_AGENT)
    result = _run(model, monkeypatch, "--strategy", "empathetic", "--turns", "2")
    assert result.exit_code == 0, result.output
    assert _verdicts(result.output) == ["FALLBACK line", "FALLBACK line"]
    assert "attempt 1 agent_speak" in result.output and "attempt 3 agent_speak" in result.output
    assert "in 0/2 lines first time; 0 regenerations; 2 fallbacks (agent_speak x6)" in result.output
    assert "pass^k 0/1 calls (0%)" in result.output
    assert AS_AGENT not in result.output  # the rejected text is never shown as the caller's line
    assert len(model.requests) == 6  # first try + two regenerations, per line

    strict = _run(FakeChatModel(default_reply=AS_AGENT), monkeypatch, "--strategy", "empathetic", "--strict")
    assert strict.exit_code == 1
    assert "fallback" in strict.output


def test_json_leak_is_regenerated_and_strict_passes_without_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    model = FakeChatModel([JSON_LEAK], default_reply=IN_CHARACTER)
    result = _run(model, monkeypatch, "--strategy", "empathetic", "--turns", "2", "--strict")
    assert result.exit_code == 0, result.output
    assert _verdicts(result.output) == ["regenerated"]  # --quiet hides the clean second line
    assert "regenerated after 2 attempts: attempt 1 structured_output" in result.output
    assert "in 1/2 lines first time; 1 regeneration (structured_output); 0 fallbacks" in result.output
    assert "pass^k 0/1 calls" in result.output
    assert _caller_lines(result.output) == [IN_CHARACTER]


def test_json_leak_every_time_fails_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(FakeChatModel(default_reply=JSON_LEAK), monkeypatch, "--strategy", "fact_dumper", "--strict")
    assert result.exit_code == 1
    assert set(_verdicts(result.output)) == {"FALLBACK line"}
    assert "structured_output" in result.output
    assert JSON_LEAK not in result.output


class _CompletionFake(FakeChatModel):
    """The embedded model's shape: transcript-completion prompts."""

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(role="caller", provider="fake", model="fake-model", prompt_form="completion")


def test_completion_form_model_gets_transcript_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    def reply(request: FakeRequest) -> str:
        return " " + IN_CHARACTER + "\nAGENT: I see."  # continues the transcript; the trimmer cuts it

    model = _CompletionFake([reply, reply], strict=True)
    result = _run(model, monkeypatch, "--strategy", "empathetic", "--turns", "2")
    assert result.exit_code == 0, result.output
    assert "completion prompts" in result.output
    assert "in 2/2 lines first time" in result.output
    assert all(r.kind == "stream_completion" and r.prompt and r.prompt.endswith("CUSTOMER:") for r in model.requests)


def test_plain_test_never_builds_the_caller_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(settings: object) -> FakeChatModel:
        raise AssertionError("the model must not be built without --with-caller")

    monkeypatch.setattr(cli_personas, "caller_model", refuse)
    result = CliRunner().invoke(cli_personas.personas, ["test", PERSONA, "--quiet"])
    assert result.exit_code == 0, result.output
    assert "caller check" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strict"], "--strict only applies with --with-caller"),
        (["--turns", "2"], "--turns only applies with --with-caller"),
        (["--with-caller", "--strategy", "nope"], "unknown strategy 'nope'"),
    ],
)
def test_usage_errors(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_personas, "caller_model", lambda settings: FakeChatModel())
    result = CliRunner().invoke(cli_personas.personas, ["test", PERSONA, *args])
    assert result.exit_code == 2
    assert message in result.output


def test_unreachable_model_is_a_friendly_error(monkeypatch: pytest.MonkeyPatch) -> None:
    model = FakeChatModel([ModelUnavailable("the caller model is not running; start it")])
    result = _run(model, monkeypatch, "--strategy", "empathetic")
    assert result.exit_code == 1
    assert "the caller check could not run: the caller model is not running; start it" in result.output
    assert model.closed


def test_summary_text_counts_lines_kinds_and_calls() -> None:
    def line(attempts: int, *, fallback: bool = False, kinds: tuple[str, ...] = ()) -> CallerLine:
        notes = [GuardNote(attempt=i + 1, kind=k, detail="x") for i, k in enumerate(kinds)]
        return CallerLine(turn=1, agent_text="a", line="b", attempts=attempts, fallback=fallback, violations=notes)

    def run(*lines: CallerLine) -> CallerRun:
        start = MoodState(anger=50, trust=50, entrenchment=50)
        trajectory = Trajectory(persona="p", difficulty="normal", strategy="s", start=start, points=[])
        return CallerRun(
            persona="p", strategy="s", difficulty="normal", model="m", trajectory=trajectory, lines=list(lines)
        )

    summary = CallerSummary.of(
        [
            run(line(1), line(1), line(2, kinds=("agent_speak",))),
            run(line(1), line(1), line(1), line(1), line(1)),
            run(line(3, fallback=True, kinds=("hidden_leak", "agent_speak", "agent_speak"))),
        ]
    )
    assert summary.text() == (
        "stayed in character in 7/9 lines first time; 1 regeneration (agent_speak); "
        "1 fallback (agent_speak x2, hidden_leak)"
    )
    assert summary.pass_k_text() == "pass^k 1/3 calls (33%) had every caller line in character first time"
    assert CallerSummary.of([]).text() == "stayed in character in 0/0 lines first time; 0 regenerations; 0 fallbacks"


@pytest.fixture
def _stop_servers() -> Iterator[None]:
    from simulator.llm.embedded import POOL

    yield
    POOL.stop_all()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.usefixtures("_stop_servers")
def test_with_caller_against_the_embedded_model() -> None:
    result = CliRunner().invoke(
        cli_personas.personas, ["test", "backfire_brian", "--with-caller", "--turns", "2", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "embedded SmolLM2-135M" in out and "completion prompts" in out
    summary = re.search(r"== backfire_brian caller: stayed in character in (\d+)/(\d+) lines first time", out)
    assert summary is not None, out
    first_time, total = int(summary.group(1)), int(summary.group(2))
    assert 2 <= total <= 4 and 0 <= first_time <= total  # two strategies, at most 2 turns each
    assert re.search(r"^pass\^k \d/2 calls", out, re.MULTILINE)
    assert len(_caller_lines(out)) == total - first_time  # --quiet prints only the lines that needed help
    assert all(line.strip() for line in _caller_lines(out))
