"""Suite format: loading JSONL/YAML, file:line errors, gold consistency, the committed JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_evals_support import gold_case, write_suite

from evals.cases import SCHEMA_PATH, SuiteError, load_suite_file, schema_text
from evals.suites import SUITES_DIR, load_spec


def test_jsonl_suite_loads_and_builds_requests_without_gold(tmp_path: Path) -> None:
    cases = load_suite_file(write_suite(tmp_path / "s.jsonl", 6))
    assert [c.id for c in cases] == [f"t-{i:04d}" for i in range(6)]
    request = cases[1].request()
    assert request.trainee_turn.startswith("Our tracking shows")
    assert "gold" not in request.model_dump_json()


def test_yaml_suite_loads_with_line_numbers(tmp_path: Path) -> None:
    import yaml

    good = gold_case(0)
    bad = gold_case(1)
    bad["gold"]["perspective_taking"] = 7
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"cases": [good, bad]}, sort_keys=False), encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite_file(path)
    text = str(info.value)
    second_item_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "t-0001" in line)
    assert f"s.yaml:{second_item_line}: gold.perspective_taking" in text


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.update(extra_field=1), "extra_field"),
        (lambda c: c["gold"].update(behaviours=["listening_well"]), "gold.behaviours"),
        (lambda c: c["gold"].update(manipulative=True), "gold.manipulative"),
        (lambda c: c["context"].append({"role": "system", "text": "x"}), "context"),
        (lambda c: c.update(split="dev"), "split"),
    ],
)
def test_bad_case_reports_file_line_and_field(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    lines = [gold_case(0), gold_case(1), gold_case(2)]
    mutate(lines[2])
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(SuiteError) as info:
        load_suite_file(path)
    assert f"bad.jsonl:3: {expected}" in str(info.value)


def test_evidence_must_be_a_verbatim_substring(tmp_path: Path) -> None:
    case = gold_case(0, manipulative=True)
    case["gold"]["techniques"][0]["evidence"] = "accept NOW or lose it"
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(case) + "\n")
    with pytest.raises(SuiteError, match="not an exact substring"):
        load_suite_file(path)


def test_invalid_json_and_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(gold_case(0)) + "\n{not json\n")
    with pytest.raises(SuiteError, match=r"broken.jsonl:2: invalid JSON"):
        load_suite_file(path)
    path.write_text(json.dumps(gold_case(0)) + "\n" + json.dumps(gold_case(0)) + "\n")
    with pytest.raises(SuiteError, match="duplicate case id"):
        load_suite_file(path)


def test_split_filter_and_limit(tmp_path: Path) -> None:
    lines = [gold_case(i, split="train" if i % 3 else "test") for i in range(9)]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert len(load_spec(str(path), split="test").cases) == 3
    assert len(load_spec(str(path), split="all", limit=4).cases) == 4
    with pytest.raises(SuiteError, match="no suite"):
        load_spec("no_such_suite_name")


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), "run `cooldown evals schema --write`"


def test_shipped_gold_suites_load() -> None:
    files = sorted(SUITES_DIR.glob("*.jsonl"))
    for path in files:
        cases = load_suite_file(path)
        assert cases, path
        assert all(c.gold is not None for c in cases)


def _broken_suite(path: Path) -> Path:
    """Seven cases with a different problem each, plus two lines that are not JSON objects."""
    cases = [gold_case(i) for i in range(8)]
    cases[1]["gold"]["perspective_taking"] = 7
    cases[2]["split"] = "dev"
    cases[2]["extra_field"] = 1
    cases[3]["gold"]["manipulative"] = True
    cases[4]["gold"]["techniques"] = [{"technique": "anchoring", "use": "ethical", "evidence": "not in the turn"}]
    cases[5]["id"] = "t-0000"
    cases[6]["mapped"] = {"behaviour.listening_well": True, "listening": "yes"}
    lines = [json.dumps(c) for c in cases]
    lines[7] = lines[7].replace("Missed delivery", "Missed\tdelivery")  # a raw tab inside a JSON string
    lines += ['{"id": "t-9999",}', "[1, 2]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = _broken_suite(tmp_path / "bad.jsonl")
    with pytest.raises(SuiteError) as info:
        load_suite_file(path)
    found = [(p.line, p.field) for p in info.value.problems]
    assert found == [
        (2, "gold.perspective_taking"), (3, "split"), (3, "extra_field"), (4, "gold.manipulative"),
        (5, "gold.techniques.0.evidence"), (6, "id"), (7, "mapped.behaviour.listening_well"),
        (7, "mapped.listening"), (8, ""), (9, ""), (10, ""),
    ]
    text = str(info.value)
    assert text.startswith(f"{path}: 11 problems")
    for problem in info.value.problems:  # every problem on its own line, as file:line: field: message
        field = f"{problem.field}: " if problem.field else ""
        assert f"\n  {path}:{problem.line}: {field}{problem.message}" in text
    assert f"{path}:2: gold.perspective_taking: must be at most 4 (got 7)" in text
    assert f"{path}:3: split: must be 'train' or 'test' (got 'dev')" in text
    assert "first used on line 1" in text


def test_problem_messages_are_plain_words(tmp_path: Path) -> None:
    text = ""
    try:
        load_suite_file(_broken_suite(tmp_path / "bad.jsonl"))
    except SuiteError as err:
        text = str(err)
    assert "raw control character" in text and "at column" in text
    assert "a case must be a JSON object {...}, not a list" in text
    # no parser or validator jargon leaks through
    for jargon in ("Value error", "at at", "Input should be", "Expecting property name", "Invalid control",
                   "Extra inputs are not permitted", "Field required"):
        assert jargon not in text, jargon


def test_one_problem_reads_as_one_line(tmp_path: Path) -> None:
    case = gold_case(0)
    del case["trainee_turn"]
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(case) + "\n")
    with pytest.raises(SuiteError) as info:
        load_suite_file(path)
    assert str(info.value) == f"{path}:1: trainee_turn: required field is missing"


def test_yaml_suite_reports_every_case_problem_and_plain_syntax_errors(tmp_path: Path) -> None:
    import yaml

    cases = [gold_case(i) for i in range(3)]
    cases[0]["gold"]["perspective_taking"] = "high"
    cases[2]["context"] = "hello"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"cases": cases}, sort_keys=False), encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite_file(path)
    assert [p.field for p in info.value.problems] == ["gold.perspective_taking", "context"]
    assert "must be a whole number (got 'high')" in str(info.value)
    path.write_text("cases:\n\t- id: x\n", encoding="utf-8")
    with pytest.raises(SuiteError, match=r"s.yaml:2: invalid YAML at column 1: a tab character"):
        load_suite_file(path)


def test_not_utf8_is_a_located_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(gold_case(0)).encode() + b"\n" + json.dumps(gold_case(1)).replace(
        "delivery", "d\xe9livery").encode("latin-1") + b"\n")
    with pytest.raises(SuiteError, match=r"latin1.jsonl:2: not UTF-8 text"):
        load_suite_file(path)


def test_run_prints_every_problem_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from evals.cli import evals

    monkeypatch.delenv("COOLDOWN_RAISE_ERRORS", raising=False)
    path = _broken_suite(tmp_path / "bad.jsonl")
    result = CliRunner().invoke(evals, ["run", str(path), "--no-progress", "--no-cache"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "11 problems" in result.output
    assert f"{path}:10: a case must be a JSON object" in result.output
