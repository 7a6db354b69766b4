"""`cooldown label agreement` and the kappa maths it shares with scripts/blind_agreement.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

from click.testing import CliRunner

from simulator.cli.main import main
from simulator.grading.agreement import all_pairs, disagreements, kappa


def _line(item: str, score: int, behaviours: list[str], tactics: list[str] | None = None) -> str:
    gold = {"perspective_taking": score, "behaviours": behaviours, "techniques": [],
            "manipulation_tactics": tactics or [], "manipulative": bool(tactics)}
    return json.dumps({"id": item, "trainee_turn": "text", "gold": gold, "split": "test"})


def _rater(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_kappa_known_values() -> None:
    assert kappa([1, 0, 1, 0], [1, 0, 1, 0]) == 1.0
    assert math.isclose(kappa([1, 1, 0, 0], [1, 0, 1, 0]), 0.0)
    assert kappa([0, 4], [4, 0], k=5, quadratic=True) < 0
    assert math.isnan(kappa([], []))


def test_agreement_reports_kappa_per_label_and_lists_disagreements(tmp_path: Path) -> None:
    a = _rater(tmp_path / "ann.jsonl", [_line("t1", 3, ["reflection"]), _line("t2", 0, ["dismissal"]),
                                        _line("t3", 1, ["information"]), _line("t4", 2, ["apology"])])
    b = _rater(tmp_path / "bo.jsonl", [_line("t1", 3, ["reflection"]), _line("t2", 0, ["blame"]),
                                       _line("t3", 1, ["information"]), _line("t4", 2, ["apology"]),
                                       _line("t9", 1, [])])
    out = tmp_path / "agreement.json"
    result = CliRunner().invoke(main, ["label", "agreement", str(a), str(b), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "ann vs bo: 4 items labelled by both" in result.output
    assert "score (quadratic kappa)" in result.output and "behaviour.dismissal" in result.output
    assert "disagreements to adjudicate: 2" in result.output
    assert "t2" in result.output and "behaviour.blame" in result.output and "t9" not in result.output
    data = json.loads(out.read_text())
    score = next(r for r in data["pairs"][0]["rows"] if r["label"].startswith("score"))
    assert score["kappa"] == 1.0


def test_three_raters_give_every_pair() -> None:
    v = {"perspective_taking": 1, "behaviours": [], "techniques": [], "manipulation_tactics": []}
    raters = {"a": {"x": v}, "b": {"x": v}, "c": {"x": {**v, "perspective_taking": 2}}}
    assert [(p.rater_a, p.rater_b) for p in all_pairs(raters)] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert disagreements(raters) == [{"id": "x", "label": "perspective_taking", "values": {"a": 1, "b": 1, "c": 2}}]


def test_files_sharing_no_ids_exit_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    a = _rater(tmp_path / "a.jsonl", [_line("t1", 3, ["reflection"])])
    b = _rater(tmp_path / "b.jsonl", [_line("t2", 3, ["reflection"])])
    result = CliRunner().invoke(main, ["label", "agreement", str(a), str(b)])
    assert result.exit_code == 1
    assert "share no ids" in result.output


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    a = _rater(tmp_path / "a.jsonl", [_line("t1", 3, ["reflection"])])
    b = _rater(tmp_path / "b.jsonl", ['{"id": "t1", "gold": {"perspective_taking": 9}}'])
    result = CliRunner().invoke(main, ["label", "agreement", str(a), str(b)])
    assert result.exit_code == 1
    assert "b.jsonl:1" in result.output
