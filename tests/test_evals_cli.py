"""`cooldown evals run|report|compare|schema|list` end to end with a fake local grader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_evals_support import OracleGrader, write_suite

from evals import graders as graders_module
from evals.cli import EXIT_REGRESSION, EXIT_SUITE_FAILED, evals


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "mini.jsonl", 60, pairs=6)


def _run(monkeypatch: pytest.MonkeyPatch, grader: OracleGrader, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(graders_module, "local_grader", lambda: grader)
    result = CliRunner().invoke(evals, ["run", *args, "--no-progress", "--no-cache"])
    return result.exit_code, result.output


def test_run_writes_reports_and_summary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, suite: Path) -> None:
    out = tmp_path / "run-a"
    code, text = _run(monkeypatch, OracleGrader(name="local:fake"), str(suite), "--out", str(out))
    assert code == 0, text
    assert "before: 0 model calls" in text and "after: 72 items graded now" in text
    assert "macro-F1 behaviours" in text and "PASSED" in text
    report = json.loads((out / "report.json").read_text())
    m = report["suites"][0]["graders"]["local:fake"]
    assert m["score"]["accuracy"] == 1.0 and m["pairs"]["manipulative"]["accuracy"] == 1.0
    assert m["labels"]["behaviour.open_question"]["f1"] == 1.0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html), "the HTML report must be self-contained"
    # `report` rebuilds the same figures from the results alone
    again = CliRunner().invoke(evals, ["report", str(out), "--no-html"])
    assert again.exit_code == 0 and "PASSED" in again.output


def test_compare_flags_regressions_and_item_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, suite: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(monkeypatch, OracleGrader(name="local:fake"), str(suite), "--out", str(a), "--no-html")[0] == 0
    code, text = _run(monkeypatch, OracleGrader(name="local:fake", version="2", wrong_every=3), str(suite),
                      "--out", str(b), "--no-html")
    assert code == 0, text
    result = CliRunner().invoke(evals, ["compare", str(a), str(b)])
    assert result.exit_code == EXIT_REGRESSION
    assert "REGRESSION" in result.output and "score.accuracy" in result.output
    assert "(broken)" in result.output
    same = CliRunner().invoke(evals, ["compare", str(a), str(a), "--json"])
    assert same.exit_code == 0 and json.loads(same.output)["regressions"] == []


def test_too_many_ungraded_fails_the_suite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, suite: Path) -> None:
    code, text = _run(monkeypatch, OracleGrader(name="local:fake", ungraded_every=20), str(suite),
                      "--out", str(tmp_path / "r"), "--no-html")
    assert code == EXIT_SUITE_FAILED
    assert "FAILED: more than 2% ungraded" in text


def test_usage_errors_are_friendly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COOLDOWN_RAISE_ERRORS", raising=False)
    result = CliRunner().invoke(evals, ["run", "esconv:/no/such/file.jsonl", "--no-progress"])
    assert result.exit_code == 1 and "dataset file not found" in result.output
    assert "Traceback" not in result.output
    listing = CliRunner().invoke(evals, ["list"])
    assert "mentalmanip-consensus" in listing.output
    schema = CliRunner().invoke(evals, ["schema"])
    assert json.loads(schema.output)["title"] == "Cooldown grading-suite case"


def test_reports_say_when_a_suite_has_no_split(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, suite: Path) -> None:
    plain = tmp_path / "plain.jsonl"
    rows = [json.loads(x) for x in suite.read_text(encoding="utf-8").splitlines()[:10]]
    plain.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "split"}) + "\n" for r in rows))
    out = tmp_path / "run"
    code, text = _run(monkeypatch, OracleGrader(name="local:fake"), str(plain), str(suite), "--out", str(out))
    assert code == 0, text
    assert "== plain (gold; no split field: all 10 cases)" in text
    assert "== mini (gold; split test: 72 of 72 cases)" in text
    html = (out / "report.html").read_text(encoding="utf-8")
    plain_section = html.split("<h2>plain</h2>", 1)[1].split("<h2>", 1)[0]
    assert "no split field: all 10 cases" in plain_section and "split test" not in plain_section
    header = html.split("<h2>", 1)[0]
    assert "split test" not in header  # the run's --split is not a fact about every suite
