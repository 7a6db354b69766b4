"""Thresholds: carried by a suite file (sidecar or YAML), added to by `--min`, shown met or missed, exit 6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from test_evals_support import OracleGrader, gold_case, write_suite

from evals import graders as graders_module
from evals.cases import SuiteError, load_suite_file
from evals.cli import EXIT_SUITE_FAILED, EXIT_THRESHOLD_MISSED, evals
from evals.labelsets import BINARY_KEYS
from evals.suites import load_spec
from evals.thresholds import LABEL_NAMES, METRICS, Threshold, check, parse_option, resolve, unknown_name_message


def _sidecar(suite: Path, text: str) -> Path:
    path = suite.with_name(suite.stem + ".thresholds.yaml")
    path.write_text(text, encoding="utf-8")
    return path


def _run(monkeypatch: pytest.MonkeyPatch, grader: OracleGrader, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(graders_module, "local_grader", lambda: grader)
    result = CliRunner().invoke(evals, ["run", *args, "--no-progress", "--no-cache"])
    return result.exit_code, result.output


# --- names -----------------------------------------------------------------------------------------


def test_every_documented_name_resolves_and_label_short_names_are_unique() -> None:
    assert len(LABEL_NAMES) == len(BINARY_KEYS)
    for name in METRICS:
        assert resolve(name) is not None
    for name in ("score_qwk", "manipulative_f1", "label.dismissal.recall", "label.behaviour.dismissal.recall",
                 "label.false_urgency.f1", "label.listening.kappa", "label.anchoring.precision"):
        assert resolve(name) is not None, name
    for name in ("score_qwq", "label.dismissal", "label.dismissal.mae", "label.nope.recall", "f1"):
        assert resolve(name) is None, name
    readme = (Path(__file__).resolve().parent.parent / "evals" / "README.md").read_text(encoding="utf-8")
    for name in METRICS:
        assert f"`{name}`" in readme, f"document {name} in evals/README.md"


def test_unknown_name_suggests_and_lists_the_valid_ones() -> None:
    text = unknown_name_message("label.dismisal.recall")
    assert "Did you mean label.dismissal.recall?" in text
    assert "score_qwk" in text and "label.<label>.<stat>" in text and "dismissal" in text


def test_min_option_parsing() -> None:
    assert parse_option("score_qwk=0.8", ["a"]) == (None, Threshold(metric="score_qwk", minimum=0.8, source="--min"))
    suite, t = parse_option("esconv:esconv_test:label.listening.f1=0.6", ["esconv:esconv_test"])
    assert suite == "esconv:esconv_test" and t.metric == "label.listening.f1"
    for bad, why in [("score_qwk", "NAME=VALUE"), ("score_qwk=high", "must be a number"),
                     ("score_qwk=1.5", "between -1 and 1"), ("label.dismissal.recall=-0.1", "between 0 and 1"),
                     ("other:score_qwk=0.5", "no suite 'other'"), ("qwk=0.5", "Valid names")]:
        with pytest.raises(ValueError, match=why):
            parse_option(bad, ["a"])


# --- checking ----------------------------------------------------------------------------------------


def test_check_reports_value_ci_met_and_conclusive() -> None:
    metrics = {
        "score": {"n": 50, "kappa_quadratic": 0.85, "kappa_quadratic_ci": [0.8, 0.9]},
        "labels": {"behaviour.dismissal": {"recall": 0.7, "recall_ci": [0.5, 0.9]},
                   "behaviour.blame": {"recall": None, "recall_ci": None}},
    }
    out = {r["metric"]: r for r in check(metrics, [
        Threshold(metric="score_qwk", minimum=0.75, source="f:1"),
        Threshold(metric="label.dismissal.recall", minimum=0.8, source="f:2"),
        Threshold(metric="label.blame.recall", minimum=0.5, source="--min"),
        Threshold(metric="label.anchoring.recall", minimum=0.5, source="--min"),
    ])}
    assert out["score_qwk"]["met"] and out["score_qwk"]["conclusive"] and out["score_qwk"]["ci"] == [0.8, 0.9]
    assert not out["label.dismissal.recall"]["met"] and not out["label.dismissal.recall"]["conclusive"]
    assert not out["label.blame.recall"]["met"] and out["label.blame.recall"]["note"] == "no gold positives"
    assert not out["label.anchoring.recall"]["met"]
    assert out["label.anchoring.recall"]["note"] == "the suite has no gold for this label"


# --- where thresholds come from ------------------------------------------------------------------------


def test_sidecar_thresholds_load_with_their_suite(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 12)
    _sidecar(suite, "score_qwk: 0.8\nmanipulative_f1: 0.85\nlabel.dismissal.recall: 0.8\n")
    loaded = load_spec(str(suite))
    assert [(t.metric, t.minimum) for t in loaded.thresholds] == [
        ("score_qwk", 0.8), ("manipulative_f1", 0.85), ("label.dismissal.recall", 0.8)]
    assert loaded.thresholds[2].source == f"{tmp_path / 'mini.thresholds.yaml'}:3"


def test_every_problem_in_a_sidecar_is_reported_at_once(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 12)
    side = _sidecar(suite, "score_qwk: high\nlabel.dismisal.recall: 0.8\nmacro_f1: 2\nscore_qwk: 0.7\n")
    with pytest.raises(SuiteError) as info:
        load_spec(str(suite))
    assert [(p.line, p.field) for p in info.value.problems] == [
        (1, "score_qwk"), (2, "label.dismisal.recall"), (3, "macro_f1"), (4, "score_qwk")]
    text = str(info.value)
    assert f"{side}:2: label.dismisal.recall: unknown metric" in text and "Did you mean" in text
    assert f"{side}:3: macro_f1: the minimum must be between 0 and 1, got 2" in text
    assert "given twice (also on line 1)" in text


def test_yaml_suite_carries_its_own_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"thresholds": {"score_accuracy": 0.9},
                                    "cases": [gold_case(i) for i in range(4)]}, sort_keys=False))
    suite = load_spec(str(path))
    assert len(suite.cases) == 4 and [t.metric for t in suite.thresholds] == ["score_accuracy"]
    _sidecar(path, "score_qwk: 0.8\n")
    with pytest.raises(SuiteError, match="keep them in one place"):
        load_spec(str(path))


def test_yaml_suite_mapping_rejects_unknown_keys_and_sidecars_are_not_suites(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"cases": [gold_case(0)], "threshold": {"score_qwk": 0.8}}, sort_keys=False))
    with pytest.raises(SuiteError, match=r"s.yaml:\d+: threshold: unknown key"):
        load_suite_file(path)
    side = _sidecar(write_suite(tmp_path / "mini.jsonl", 3), "score_qwk: 0.8\n")
    with pytest.raises(SuiteError, match="this is a thresholds file, not a suite"):
        load_suite_file(side)


# --- the run ------------------------------------------------------------------------------------------


def test_met_thresholds_pass_and_missed_ones_exit_6(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 60, pairs=6)
    _sidecar(suite, "score_qwk: 0.8\nmanipulative_f1: 0.85\nlabel.dismissal.recall: 0.8\n")
    code, text = _run(monkeypatch, OracleGrader(name="local:fake"), str(suite), "--out", str(tmp_path / "good"))
    assert code == 0, text
    assert "thresholds (3/3 met):" in text and "PASSED" in text
    assert "score_qwk              >= 0.8   1.000" in text
    report = json.loads((tmp_path / "good" / "report.json").read_text())
    assert report["passed"] and report["missed_thresholds"] == []

    code, text = _run(monkeypatch, OracleGrader(name="local:fake", wrong_every=3), str(suite),
                      "--out", str(tmp_path / "bad"))
    assert code == EXIT_THRESHOLD_MISSED, text
    assert "MISSED" in text and "NOT PASSED:" in text and "threshold(s) missed: mini / local:fake / score_qwk" in text
    report = json.loads((tmp_path / "bad" / "report.json").read_text())
    qwk = report["suites"][0]["graders"]["local:fake"]["thresholds"][0]
    assert qwk["metric"] == "score_qwk" and not qwk["met"] and len(qwk["ci"]) == 2
    assert qwk["source"] == f"{tmp_path / 'mini.thresholds.yaml'}:1"
    html = (tmp_path / "bad" / "report.html").read_text()
    assert "Thresholds:" in html and "class=fail>MISSED" in html and "≥ 0.8" in html
    # `report` rebuilds the verdict from the run alone, with the same exit code
    again = CliRunner().invoke(evals, ["report", str(tmp_path / "bad"), "--no-html"])
    assert again.exit_code == EXIT_THRESHOLD_MISSED and "MISSED" in again.output


def test_min_adds_to_and_overrides_the_suite_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 60)
    _sidecar(suite, "score_accuracy: 0.99\n")
    worse = OracleGrader(name="local:fake", wrong_every=4)
    code, _ = _run(monkeypatch, worse, str(suite), "--out", str(tmp_path / "a"), "--no-html")
    assert code == EXIT_THRESHOLD_MISSED
    code, text = _run(monkeypatch, OracleGrader(name="local:fake", wrong_every=4), str(suite),
                      "--out", str(tmp_path / "b"), "--no-html", "--min", "score_accuracy=0.5",
                      "--min", "mini:label.open_question.recall=0.5")
    assert code == 0, text
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert {t["metric"]: (t["minimum"], t["source"]) for t in manifest["thresholds"]["mini"]} == {
        "score_accuracy": (0.5, "--min"), "label.open_question.recall": (0.5, "--min")}


def test_unknown_metric_in_min_is_an_error_listing_valid_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 6)
    code, text = _run(monkeypatch, OracleGrader(), str(suite), "--out", str(tmp_path / "r"), "--min", "qwk=0.8")
    assert code == 2
    assert "unknown metric 'qwk'" in text and "Valid names: score_qwk" in text and "label.<label>.<stat>" in text
    assert not (tmp_path / "r").exists(), "nothing is graded before the options are known to be right"


def test_an_ungraded_failure_outranks_a_missed_threshold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 60)
    code, text = _run(monkeypatch, OracleGrader(name="local:fake", ungraded_every=10), str(suite),
                      "--out", str(tmp_path / "r"), "--no-html", "--min", "score_accuracy=1.0",
                      "--min", "label.blame.recall=0.5")
    assert code == EXIT_SUITE_FAILED
    assert "mini / local:fake (over 2% ungraded)" in text
    assert "label.blame.recall has no value (no gold positives), minimum 0.5" in text


def test_resume_keeps_the_min_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "mini.jsonl", 30)
    run = tmp_path / "r"
    code, _ = _run(monkeypatch, OracleGrader(name="local:fake", wrong_every=3), str(suite), "--out", str(run),
                   "--no-html", "--min", "score_accuracy=0.9")
    assert code == EXIT_THRESHOLD_MISSED
    code, text = _run(monkeypatch, OracleGrader(name="local:fake"), "--resume", str(run), "--no-html")
    assert code == EXIT_THRESHOLD_MISSED and "score_accuracy" in text
