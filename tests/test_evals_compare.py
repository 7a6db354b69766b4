"""`cooldown evals compare`: only comparable runs compare, and gold edits are kept apart from grader changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_evals_support import OracleGrader, gold_case, write_suite

from evals import graders as graders_module
from evals.cli import EXIT_NOT_COMPARABLE, EXIT_REGRESSION, evals
from evals.compare import NotComparable, compare_runs


def _run(monkeypatch: pytest.MonkeyPatch, suite: Path, out: Path, grader: OracleGrader | None = None,
         *args: str) -> Path:
    monkeypatch.setattr(graders_module, "local_grader", lambda: grader or OracleGrader(name="local:fake"))
    result = CliRunner().invoke(evals, ["run", str(suite), "--out", str(out), "--no-progress", "--no-cache",
                                        "--no-html", *args])
    assert result.exit_code == 0, result.output
    return out


def _compare(a: Path, b: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(evals, ["compare", str(a), str(b), *args])
    return result.exit_code, result.stdout, result.stderr


def _write(path: Path, cases: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


def test_runs_of_unrelated_suites_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a = _run(monkeypatch, write_suite(tmp_path / "listening.jsonl", 30), tmp_path / "a")
    b = _run(monkeypatch, write_suite(tmp_path / "persuasion.jsonl", 30), tmp_path / "b")
    code, out, err = _compare(a, b)
    assert code == EXIT_NOT_COMPARABLE, out
    assert "cannot compare these runs" in err
    assert "different suites (only in A: listening; only in B: persuasion)" in err
    assert "regression" not in out


def test_same_suite_name_with_other_items_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a = _run(monkeypatch, _write(tmp_path / "one" / "mini.jsonl", [gold_case(i) for i in range(30)]), tmp_path / "a")
    other = [gold_case(i) for i in range(30)]
    for c in other[:4]:
        c["id"] = c["id"].replace("t-", "x-")
    b = _run(monkeypatch, _write(tmp_path / "two" / "mini.jsonl", other), tmp_path / "b")
    with pytest.raises(NotComparable) as info:
        compare_runs(a, b)
    text = str(info.value)
    assert "suite mini, grader local:fake: different items: 4 only in A (t-0000, t-0001, t-0002, t-0003)" in text
    assert "4 only in B (x-0000" in text


def test_same_ids_with_edited_text_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cases = [gold_case(i) for i in range(30)]
    a = _run(monkeypatch, _write(tmp_path / "one" / "mini.jsonl", cases), tmp_path / "a")
    cases[5]["trainee_turn"] += " Anything else?"
    b = _run(monkeypatch, _write(tmp_path / "two" / "mini.jsonl", cases), tmp_path / "b")
    code, _, err = _compare(a, b)
    assert code == EXIT_NOT_COMPARABLE
    assert "1 items have the same id but different text (t-0005)" in err


def test_different_limit_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 30)
    a = _run(monkeypatch, suite, tmp_path / "a")
    b = _run(monkeypatch, suite, tmp_path / "b", None, "--limit", "10")
    code, _, err = _compare(a, b)
    assert code == EXIT_NOT_COMPARABLE
    assert "20 only in A" in err and "A ran with --split test --limit None, B with --split test --limit 10" in err


def test_no_grader_in_common_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 12)
    a = _run(monkeypatch, suite, tmp_path / "a", OracleGrader(name="local:one"))
    b = _run(monkeypatch, suite, tmp_path / "b", OracleGrader(name="local:two"))
    code, _, err = _compare(a, b)
    assert code == EXIT_NOT_COMPARABLE and "no grader in common (A: local:one; B: local:two)" in err


def _edit_gold(cases: list[dict]) -> None:
    """Fix two gold labels (the grader's answers stay the same)."""
    cases[0]["gold"]["perspective_taking"] = 2  # was 3
    cases[2]["gold"]["behaviours"] = ["dismissal", "blame"]  # blame added


def test_gold_edits_are_reported_and_not_counted_as_regressions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cases = [gold_case(i) for i in range(60)]
    a = _run(monkeypatch, _write(tmp_path / "one" / "mini.jsonl", cases), tmp_path / "a")
    _edit_gold(cases)
    b = _run(monkeypatch, _write(tmp_path / "two" / "mini.jsonl", cases), tmp_path / "b")
    code, out, _ = _compare(a, b)
    assert code == 0, out
    assert "NOTE: the gold labels differ between the runs for 2 items" in out
    assert "0 items graded differently" in out
    assert "mini t-0000: perspective_taking 3→2" in out
    assert "mini t-0002: +behaviour.blame" in out
    assert "0 grader regression(s)" in out
    result = compare_runs(a, b)
    assert result["regressions"] == [] and len(result["gold_changed"]) == 2
    # the edits' own effect is shown, apart: A's grades now miss the fixed labels
    effect = {m["metric"]: m for m in result["gold_effect"]}
    assert effect["score.accuracy"]["b"] < effect["score.accuracy"]["a"] == 1.0
    assert effect["f1.behaviour.blame"]["a"] is None and effect["f1.behaviour.blame"]["b"] == 0.0
    assert "Effect of the gold edits alone" in out


def test_grader_regression_is_still_caught_when_gold_was_edited(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cases = [gold_case(i) for i in range(60)]
    a = _run(monkeypatch, _write(tmp_path / "one" / "mini.jsonl", cases), tmp_path / "a")
    _edit_gold(cases)
    worse = OracleGrader(name="local:fake", version="2", wrong_every=3)
    b = _run(monkeypatch, _write(tmp_path / "two" / "mini.jsonl", cases), tmp_path / "b", worse)
    code, out, _ = _compare(a, b)
    assert code == EXIT_REGRESSION
    result = compare_runs(a, b)
    assert {m["metric"] for m in result["regressions"]} >= {"score.accuracy"}
    assert len(result["gold_changed"]) == 2 and "Effect of the gold edits alone" in out
    # the gold edits' effect is listed apart and never flagged
    assert all(m["verdict"] != "regression" for m in result["gold_effect"])


def test_identical_runs_compare_clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 30)
    a = _run(monkeypatch, suite, tmp_path / "a")
    code, out, _ = _compare(a, a)
    assert code == 0
    assert "(no metric changed)" in out and "gold labels differ" not in out
