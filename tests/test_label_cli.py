"""`cooldown label FILE --rater NAME` in the terminal, scripted through click's CliRunner, then export,
adjudicate, history and `cooldown evals run` on the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from label_kit import write_turns

from simulator.cli.main import main
from simulator.labelling import LabelStore, load_items

# one turn's answers: behaviours, score, techniques, (use, evidence per technique), tactics
PLAIN = "2,3\n3\n\n\n"


def _label(turns: Path, rater: str, answers: str, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["label", str(turns), "--rater", rater, *extra], input=answers)
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def friendly_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors shown as the rater sees them (one line, exit 1), not raised."""
    monkeypatch.delenv("COOLDOWN_RAISE_ERRORS", raising=False)


@pytest.fixture
def turns(tmp_path: Path) -> Path:
    return write_turns(tmp_path / "turns.jsonl", 3)


def test_a_rater_labels_every_turn_saved_one_by_one(turns: Path, tmp_path: Path) -> None:
    answers = (
        "2,3\n7\n3\n1\nx\nethical\nnot in the turn\nthis sofa is normally a 4 to 6 week build\n\n"  # errors re-asked
        "reflection, dismissal\n0\n\n5\n"
        "9\n1\n\n\n"
    )
    out = tmp_path / "ann-suite.jsonl"
    code, output = _label(turns, "ann", answers, "--out", str(out))
    assert code == 0, output
    assert "Scenario: Delayed order" in output and "customer: I was promised the twelfth of May" in output
    assert "score 7 is out of range; the score is 0 to 4" in output
    assert "type ethical (e) or manipulative (m)" in output
    assert "'not in the turn' is not in the turn word for word" in output
    assert "Saved per-0001 (version 1). 1 of 3 labelled." in output and "Done: 3 of 3" in output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["per-0001", "per-0002", "per-0003"]
    first = lines[0]["gold"]
    assert first["behaviours"] == ["reflection", "validation"] and first["perspective_taking"] == 3
    assert first["techniques"] == [{"technique": "anchoring", "use": "ethical",
                                    "evidence": "this sofa is normally a 4 to 6 week build"}]
    assert lines[1]["gold"]["manipulation_tactics"] == ["pressure"] and lines[1]["gold"]["manipulative"] is True
    assert lines[0]["scenario"].startswith("Delayed order") and lines[0]["context"][0]["role"] == "customer"


def test_an_unknown_label_name_is_asked_again_with_the_valid_names(turns: Path) -> None:
    code, output = _label(turns, "ann", "listening\nq\n")
    assert code == 0
    assert "unknown behaviour 'listening'; give numbers 1-11 or names from: open_question" in output


def test_quitting_keeps_what_was_saved_and_the_next_run_resumes(turns: Path) -> None:
    code, output = _label(turns, "ann", PLAIN + "q\n")
    assert code == 0 and "Stopped. 1 of 3 labelled" in output
    code, output = _label(turns, "ann", "s\n" + PLAIN)
    assert code == 0, output
    assert "1 labelled by ann, 2 to do" in output and "per-0001" not in output.split("to do.")[1]
    assert "Skipped per-0002." in output and "Saved per-0003" in output and "Done: 2 of 3" in output


def test_input_ending_mid_turn_keeps_earlier_turns(turns: Path) -> None:
    code, _ = _label(turns, "ann", PLAIN + "2\n")  # the second turn's score never comes
    assert code == 1  # click's Abort
    assert list(LabelStore(turns).latest("ann")) == ["per-0001"]


def test_redo_saves_a_new_version_with_the_old_labels_as_defaults(turns: Path) -> None:
    _label(turns, "ann", PLAIN * 3)
    code, output = _label(turns, "ann", "\n4\n\n\n", "--redo", "per-0002")
    assert code == 0, output
    assert "[again]" in output and "Saved per-0002 (version 2)" in output
    history = LabelStore(turns).history("ann", "per-0002")
    assert [r.verdict.perspective_taking for r in history] == [3, 4]
    assert [b.value for b in history[1].verdict.behaviours] == ["reflection", "validation"]  # the default kept
    result = CliRunner().invoke(main, ["label", "history", str(turns), "--rater", "ann", "--id", "per-0002"])
    assert result.exit_code == 0 and "v1" in result.output and "* per-0002" in result.output
    assert "3 turns, 4 saved versions" in result.output


def test_whole_number_ids_in_the_file_are_ids_like_any_other(tmp_path: Path) -> None:
    turns = tmp_path / "numbered.jsonl"
    lines = [json.loads(line) for line in write_turns(tmp_path / "t.jsonl", 2).read_text().splitlines()]
    turns.write_text("".join(json.dumps(line | {"id": n}) + "\n" for n, line in enumerate(lines, start=1)))
    assert [item.id for item in load_items(turns)] == ["1", "2"]
    code, output = _label(turns, "ann", PLAIN * 2)
    assert code == 0 and "Saved 1 (version 1)" in output, output
    code, output = _label(turns, "ann", "\n4\n\n\n", "--redo", "2")
    assert code == 0 and "Saved 2 (version 2)" in output, output
    assert [r.version for r in LabelStore(turns).history("ann", "2")] == [1, 2]
    code, output = _label(turns, "ann", "", "--redo", "3")
    assert code != 0 and "no turn with id 3" in output
    turns.write_text(json.dumps(lines[0] | {"id": 1}) + "\n" + json.dumps(lines[1] | {"id": "1"}) + "\n")
    code, output = _label(turns, "ann", "")
    assert code == 1 and "'1' is used on line 1 too" in output


def test_a_bad_rater_name_or_turns_file_is_a_clear_error(turns: Path, tmp_path: Path) -> None:
    code, output = _label(turns, "../ann", "")
    assert code == 1 and "rater name '../ann'" in output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    code, output = _label(bad, "ann", "")
    assert code == 1 and "bad.jsonl:1: trainee_turn: Field required" in output


def test_two_raters_agreement_adjudication_and_the_suite_runs(turns: Path, tmp_path: Path) -> None:
    _label(turns, "ann", PLAIN * 3)
    _label(turns, "bo", PLAIN + "1\n0\n\n\n" + PLAIN)
    runner = CliRunner()
    for rater in ("ann", "bo"):
        result = runner.invoke(main, ["label", "export", str(turns), "--rater", rater,
                                      "--out", str(tmp_path / f"{rater}.jsonl")])
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["label", "agreement", str(tmp_path / "ann.jsonl"), str(tmp_path / "bo.jsonl")])
    assert result.exit_code == 0 and "ann vs bo: 3 items labelled by both" in result.output
    assert "per-0002" in result.output.split("disagreements to adjudicate")[1]

    gold = tmp_path / "gold.jsonl"
    early = runner.invoke(main, ["label", "export", str(turns), "--from", "ann", "--from", "bo",
                                 "--adjudicator", "cy", "--out", str(gold)])
    assert early.exit_code == 1 and "1 turn(s) the raters disagree on: per-0002" in early.output
    assert not gold.exists()

    result = runner.invoke(main, ["label", "adjudicate", str(turns), "--rater", "cy", "--from", "ann",
                                  "--from", "bo"], input="2\n2\n\n\n")
    assert result.exit_code == 0, result.output
    assert "1 to settle" in result.output and "differs on perspective_taking: ann=3, bo=0" in result.output
    assert "0 disagreement(s) left" in result.output
    result = runner.invoke(main, ["label", "export", str(turns), "--from", "ann", "--from", "bo",
                                  "--adjudicator", "cy", "--out", str(gold)])
    assert result.exit_code == 0, result.output
    assert "2 turns agreed, 1 adjudicated" in result.output
    cases = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines()]
    assert [c["gold"]["perspective_taking"] for c in cases] == [3, 2, 3]

    run_dir = tmp_path / "run"
    result = runner.invoke(main, ["evals", "run", str(gold), "--grader", "local", "--split", "all", "--no-progress",
                                  "--no-html", "--out", str(run_dir)])
    assert result.exit_code in (0, 6), result.output  # graded; thresholds are not this test's business
    assert (run_dir / "report.json").exists()
    assert len(load_items(turns)) == 3


def test_export_needs_one_rater_or_several(turns: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["label", "export", str(turns), "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2 and "give either --rater NAME" in result.output
    result = CliRunner().invoke(
        main, ["label", "export", str(turns), "--rater", "zed", "--out", str(tmp_path / "x.jsonl")]
    )
    assert result.exit_code == 1 and "no turn has labels yet" in result.output


def test_label_help_names_the_workflow() -> None:
    result = CliRunner().invoke(main, ["label", "--help"])
    assert result.exit_code == 0
    assert "cooldown label FILE.jsonl --rater NAME" in result.output
    assert "agreement" in result.output and "adjudicate" in result.output and "export" in result.output


def test_an_export_that_evals_run_would_refuse_is_not_written(tmp_path: Path) -> None:
    turns = tmp_path / "odd.jsonl"
    turns.write_text(json.dumps({"id": "o1", "trainee_turn": "Sorry about that.", "meta": {"pair_axis": "vibes"}})
                     + "\n", encoding="utf-8")
    _label(turns, "ann", "11\n2\n\n\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["label", "export", str(turns), "--rater", "ann", "--out", str(out)])
    assert result.exit_code == 1 and "odd.jsonl (id o1)" in result.output and "pair_axis" in result.output
    assert not out.exists()
    result = CliRunner().invoke(main, ["label", "export", str(turns), "--adjudicator", "cy", "--rater", "ann",
                                       "--out", str(out)])
    assert result.exit_code == 2 and "--adjudicator settles the disagreements" in result.output
