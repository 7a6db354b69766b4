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
