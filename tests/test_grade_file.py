"""`cooldown grade`: JSONL in, one verdict line per valid input line out, bad lines reported and skipped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from simulator.cli import grade as cli_grade
from simulator.errors import ConfigError
from simulator.grading.base import GradeRequest
from simulator.grading.chain import LLMGrader
from simulator.grading.grade_file import GradeInputLine, LineProblem, grade_lines, make_grader, read_lines
from simulator.grading.labels import TurnGrade, TurnVerdict
from simulator.llm.fake import FakeChatModel, FakeRequest

OUTPUT_KEYS = {
    "id", "perspective_taking", "behaviours", "techniques", "manipulation_tactics", "manipulative", "status",
    "integrity_flags", "grader",
}  # fmt: skip


def reply(request: FakeRequest) -> dict[str, Any]:
    """A valid structured reply whatever the turn: 'BAD' turns get an invalid one."""
    if "BAD" in request.messages[1].content:
        return {"perspective_taking": 9}
    return {
        "reasoning": "Asks what happened.",
        "behaviours": ["open_question"],
        "perspective_taking": 3,
        "techniques": [],
        "manipulation_tactics": [],
        "manipulative": False,
        "tip": "Keep asking.",
        "better_phrasing": "What happened?",
    }


def line(i: int | str, turn: str = "What happened?", **extra: Any) -> str:
    return json.dumps({"id": i, "context": [{"role": "customer", "text": "Nobody came!"}], "trainee_turn": turn,
                       **extra})  # fmt: skip


def test_read_lines_reports_bad_lines_with_numbers_and_ignores_extra_fields() -> None:
    raw = [
        ("\ufeff" + line("a", label="gold")).encode(),
        b"   \n",
        b"{not json",
        b"[1, 2]",
        json.dumps({"id": "c"}).encode(),
        json.dumps({"id": True, "trainee_turn": "x"}).encode(),
        json.dumps({"id": "d", "trainee_turn": "x", "context": [{"role": "boss", "text": "x"}]}).encode(),
        b"\xff\xfe bad bytes",
        line(7, scenario="Late parcel.", persona="backfire_brian").encode(),
    ]
    items = dict(read_lines(raw))
    assert isinstance(items[1], GradeInputLine) and items[1].id == "a"
    assert 2 not in items  # blank lines are skipped silently
    problems = {n: p for n, p in items.items() if isinstance(p, LineProblem)}
    assert sorted(problems) == [3, 4, 5, 6, 7, 8]
    assert "invalid JSON" in problems[3].message
    assert "JSON object" in problems[4].message
    assert "trainee_turn" in problems[5].message and problems[5].id == "c"
    assert "id" in problems[6].message
    assert "context.0.role" in problems[7].message
    assert "UTF-8" in problems[8].message
    ok = items[9]
    assert isinstance(ok, GradeInputLine) and ok.request().persona == "backfire_brian"


def run(lines: list[str], grader: Any, concurrency: int = 3) -> tuple[list[dict[str, Any]], Any]:
    written: list[str] = []
    summary = asyncio.run(grade_lines(lines, grader, written.append, concurrency=concurrency))
    return [json.loads(w) for w in written], summary


def test_llm_grading_keeps_input_order_and_never_writes_a_default_score() -> None:
    fake = FakeChatModel([reply] * 40, role="grader", strict=True, latency_s=0.001)
    lines = [line(i) for i in range(10)] + [line("bad", turn="BAD turn"), "oops", line(11)]
    out, summary = run(lines, LLMGrader(fake))
    assert [o["id"] for o in out] == [*range(10), "bad", 11]
    assert all(set(o) == OUTPUT_KEYS for o in out)
    good = [o for o in out if o["id"] != "bad"]
    assert all(o["status"] == "graded" and o["perspective_taking"] == 3 for o in good)
    assert all(o["behaviours"] == ["open_question"] and o["manipulative"] is False for o in good)
    bad = next(o for o in out if o["id"] == "bad")
    assert bad["status"] == "ungraded"
    assert bad["perspective_taking"] is None and bad["manipulative"] is None and bad["behaviours"] == []
    assert summary.graded == 11 and len(summary.ungraded) == 1 and summary.ungraded[0].line == 11
    assert [p.line for p in summary.bad_lines] == [12]
    assert summary.exit_code == 1


class SlowGrader:
    """A TurnGrader that records how many grades run at once."""

    name = "test:slow"
    version = "1"

    def __init__(self) -> None:
        self.active = self.peak = 0

    async def grade(self, request: GradeRequest) -> TurnGrade:
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0.01)
        self.active -= 1
        if request.trainee_turn == "raise":
            raise RuntimeError("boom")
        return TurnGrade(status="graded", verdict=TurnVerdict(perspective_taking=2), grader=self.name)


def test_concurrency_is_bounded_and_a_raising_grader_fails_closed() -> None:
    grader = SlowGrader()
    out, summary = run([line(i) for i in range(20)] + [line("r", turn="raise")], grader, concurrency=3)
    assert grader.peak == 3
    assert len(out) == 21 and out[-1]["status"] == "ungraded" and out[-1]["perspective_taking"] is None
    assert summary.exit_code == 3 and "boom" in summary.ungraded[0].message


def test_exit_code_zero_when_everything_is_graded() -> None:
    out, summary = run([line(1), line(2)], SlowGrader())
    assert summary.exit_code == 0 and len(out) == 2


def test_make_grader_with_an_injected_model() -> None:
    grader = make_grader("llm", model=FakeChatModel(role="grader"))
    assert isinstance(grader, LLMGrader) and grader.name == "llm:fake-model"


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> FakeChatModel:
    fake = FakeChatModel([reply] * 20, role="grader", strict=True)
    monkeypatch.setattr(cli_grade, "make_grader", lambda kind: LLMGrader(fake))
    return fake


def test_cli_writes_out_file_reports_bad_lines_and_exits_1(tmp_path: Path, fake_llm: FakeChatModel) -> None:
    source = tmp_path / "turns.jsonl"
    source.write_text("\n".join([line("a"), "{broken", line("b")]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli_grade.grade, [str(source), "--grader", "llm", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"{source}:2: invalid JSON" in result.stderr
    assert "graded 2, ungraded 0, skipped 1" in result.stderr
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and rows[0]["grader"] == "llm:fake-model"
    assert fake_llm.closed


def test_cli_reads_stdin_and_exits_0_or_3(fake_llm: FakeChatModel) -> None:
    ok = CliRunner().invoke(cli_grade.grade, ["-", "--grader", "llm"], input=line(1) + "\n")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout.splitlines()[0])["perspective_taking"] == 3
    ungraded = CliRunner().invoke(cli_grade.grade, ["-", "--grader", "llm"], input=line(2, turn="BAD") + "\n")
    assert ungraded.exit_code == 3
    assert json.loads(ungraded.stdout.splitlines()[0])["status"] == "ungraded"


def test_cli_exits_4_when_the_grader_cannot_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(kind: str) -> Any:
        raise ConfigError("no grader model configured; set COOLDOWN_GRADER__MODEL")

    monkeypatch.setattr(cli_grade, "make_grader", broken)
    monkeypatch.delenv("COOLDOWN_RAISE_ERRORS", raising=False)
    source = tmp_path / "t.jsonl"
    source.write_text(line(1), encoding="utf-8")
    result = CliRunner().invoke(cli_grade.grade, [str(source), "--grader", "llm"])
    assert result.exit_code == 4 and "COOLDOWN_GRADER__MODEL" in result.stderr
    assert CliRunner().invoke(cli_grade.grade, [str(source), "--grader", "nope"]).exit_code == 2


def test_local_grader_end_to_end_through_the_cli(tmp_path: Path) -> None:
    source = tmp_path / "t.jsonl"
    source.write_text(line("x", turn="Our tracking shows it was delivered at 2 pm.") + "\n" + line("e", turn=""))
    result = CliRunner().invoke(cli_grade.grade, [str(source), "--grader", "local"])
    assert result.exit_code == 1, result.output  # the empty turn is a bad input line, not a score
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["grader"] for r in rows] == ["local:appraiser"]
    assert rows[0]["status"] == "graded" and isinstance(rows[0]["perspective_taking"], int)
    assert "(id 'e'): trainee_turn: trainee_turn is empty" in result.stderr and "Value error" not in result.stderr


def test_cli_warns_about_repeated_ids_and_refuses_them_with_strict(tmp_path: Path) -> None:
    source = tmp_path / "turns.jsonl"
    source.write_text("\n".join([line("a"), line("b"), line("a", turn="Again?"), line(7), line(7)]) + "\n")
    runner = CliRunner()
    warned = runner.invoke(cli_grade.grade, [str(source), "--grader", "local"])
    assert warned.exit_code == 0, warned.output
    assert f"{source}:3 (id 'a'): duplicate id, first on line 1" in warned.stderr
    assert f"{source}:5 (id 7): duplicate id, first on line 4" in warned.stderr
    assert [json.loads(x)["id"] for x in warned.stdout.splitlines()] == ["a", "b", "a", 7, 7]
    assert "2 repeated id(s)" in warned.stderr

    strict = runner.invoke(cli_grade.grade, [str(source), "--grader", "local", "--strict"])
    assert strict.exit_code == 1
    assert [json.loads(x)["id"] for x in strict.stdout.splitlines()] == ["a", "b", 7]
    assert f"{source}:3 (id 'a'): duplicate id, first on line 1; not graded (--strict)" in strict.stderr
    assert "skipped 2 bad input line(s)" in strict.stderr


def test_a_line_missing_its_closing_brace_is_reported_where_it_ends() -> None:
    text = '{"id": "x", "trainee_turn": "What happened?"'
    [(number, problem)] = list(read_lines([(text + "\n").encode()]))
    assert number == 1 and isinstance(problem, LineProblem)
    assert "column 1" not in problem.message
    assert f"at column {len(text) + 1} (the end of the line" in problem.message, problem.message
    [(_, middle)] = list(read_lines([b'{"id": "x" "trainee_turn": "y"}\r\n']))
    assert isinstance(middle, LineProblem) and "at column 12, near" in middle.message, middle.message


def test_cli_warns_up_front_when_the_llm_grader_is_the_embedded_demo_model(
    fake_llm: FakeChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no grader configured: the grader role is the embedded SmolLM2-135M demo model
    demo = CliRunner().invoke(cli_grade.grade, ["-", "--grader", "llm"], input=line(1) + "\n")
    first = demo.stderr.splitlines()[0]
    assert "demo" in first and "cannot" in first, demo.stderr
    assert "COOLDOWN_GRADER__MODEL" in demo.stderr and "COOLDOWN_GRADER__BASE_URL" in demo.stderr
    assert "--grader local" in demo.stderr
    local = CliRunner().invoke(cli_grade.grade, ["-", "--grader", "local"], input=line(1) + "\n")
    assert "demo" not in local.stderr
    monkeypatch.setenv("COOLDOWN_GRADER__BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("COOLDOWN_GRADER__MODEL", "llama3.1:8b")
    capable = CliRunner().invoke(cli_grade.grade, ["-", "--grader", "llm"], input=line(1) + "\n")
    assert capable.exit_code == 0 and "demo" not in capable.stderr


def test_an_empty_turn_is_refused_not_graded(tmp_path: Path) -> None:
    """Before: an empty trainee_turn was graded (score 1). Now it is a bad input line with a reason."""
    from simulator.grading.grade_file import read_lines

    rows = list(read_lines(['{"id": 1, "trainee_turn": "   "}', '{"id": 2, "trainee_turn": "\\u200b"}']))
    assert all(not hasattr(item, "trainee_turn") for _, item in rows)
    assert all("empty" in str(item) for _, item in rows)
