"""External adapters: mapping rules on synthetic records in the shared schema (no dataset text copied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.cases import SuiteError
from evals.external import load_external
from evals.suites import load_spec

EVAL_DATA = Path("/work/shared/eval-data")


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _rec(i: int, labels: dict[str, Any], text: str = "text", **meta: Any) -> dict[str, Any]:
    return {"id": f"x-{i}", "context": [{"role": "customer", "text": "hi"}], "utterance": text,
            "labels": labels, "meta": meta, "source": "synthetic"}


def test_esconv_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.jsonl", [
        _rec(0, {"strategy": "Questions"}),
        _rec(1, {"strategy": "Reflection of feelings"}),
        _rec(2, {"strategy": "Providing Suggestions"}),
        _rec(3, {"strategy": "Other"}, low_content_heuristic=True),
    ])
    cases = load_external("esconv", path)
    assert len(cases) == 3  # keyboard-mashing turn skipped
    q, r, s = (c.mapped for c in cases)
    assert q and r and s
    assert q["behaviour.open_question"] is True and q["behaviour.reflection"] is False and q["listening"] is True
    assert r["behaviour.reflection"] is True
    assert s["behaviour.solution_offer"] is True and s["listening"] is False and s["manipulative"] is False
    assert cases[0].source_labels == {"strategy": "Questions"}
    assert cases[0].context[0].role == "customer"


def test_annomi_mapping_and_ties(tmp_path: Path) -> None:
    base = {"main_therapist_behaviour": "question", "question_subtype": "closed", "reflection_exists": "False",
            "reflection_subtype": "n/a", "therapist_input_subtype": "n/a", "mi_quality": "low"}
    path = _write(tmp_path / "a.jsonl", [
        _rec(0, base),
        _rec(1, {**base, "main_therapist_behaviour": "therapist_input", "question_subtype": "n/a",
                 "therapist_input_subtype": "advice"}),
        _rec(2, {**base, "main_therapist_behaviour": "reflection", "question_subtype": "n/a",
                 "reflection_exists": "True", "reflection_subtype": "complex", "mi_quality": "high"}),
        _rec(3, {**base, "question_subtype": "open|closed"}),
    ])
    closed, advice, refl = (c.mapped or {} for c in load_external("annomi", path))
    assert closed == {"behaviour.open_question": False, "behaviour.reflection": False,
                      "behaviour.information": False}  # no listening label for a closed question
    assert advice["listening"] is False
    assert refl["behaviour.reflection"] is True and refl["listening"] is True


def test_mentalmanip_mapping_and_consensus(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.jsonl", [
        _rec(0, {"manipulative": 1, "technique": ["Intimidation", "Accusation"], "vulnerability": [],
                 "consensus": True}),
        _rec(1, {"manipulative": 1, "technique": [], "vulnerability": [], "consensus": False}),
        _rec(2, {"manipulative": 0, "technique": [], "vulnerability": [], "consensus": True}),
    ])
    a, b, c = (x.mapped for x in load_external("mentalmanip", path))
    assert a and b and c
    assert a["manipulative"] is True and a["tactic.intimidation"] is True and a["tactic.guilt_tripping"] is True
    assert a["tactic.deception"] is False
    assert b == {"manipulative": True}  # techniques unknown: no tactic labels
    assert c["manipulative"] is False and c["tactic.intimidation"] is False
    assert len(load_external("mentalmanip-consensus", path)) == 2


def test_darkpatterns_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", [
        _rec(0, {"is_dark_pattern": True, "pattern_category": "Urgency", "pattern_type": "Countdown Timer",
                 "deceptive": "Yes"}),
        _rec(1, {"is_dark_pattern": True, "pattern_category": "Scarcity", "pattern_type": "Low-stock Message",
                 "deceptive": "No"}),
        _rec(2, {"is_dark_pattern": True, "pattern_category": "Misdirection", "pattern_type": "Confirmshaming",
                 "deceptive": "No"}),
        _rec(3, {"is_dark_pattern": False, "pattern_category": "Not Dark Pattern"}),
    ])
    timer, stock, shame, neg = (c.mapped for c in load_external("darkpatterns", path))
    assert timer and stock and shame and neg
    assert timer["tactic.false_urgency"] and timer["manipulative"] and timer["technique.loss_aversion"]
    assert "manipulative" not in stock and stock["technique.loss_aversion"] is True
    assert shame["tactic.guilt_tripping"] and shame["manipulative"]
    assert not any(neg.values())


def test_wrong_adapter_for_file_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.jsonl", [_rec(0, {"strategy": "Questions"})])
    with pytest.raises(SuiteError, match=r"e.jsonl:1: record does not fit the darkpatterns mapping"):
        load_external("darkpatterns", path)
    with pytest.raises(SuiteError, match="unknown external dataset"):
        load_external("nope", path)


def test_spec_addressing(tmp_path: Path) -> None:
    path = _write(tmp_path / "esconv_test.jsonl", [_rec(i, {"strategy": "Questions"}) for i in range(5)])
    suite = load_spec(f"esconv:{path}", limit=2)
    assert suite.kind == "external" and suite.name == "esconv:esconv_test"
    assert len(suite.cases) == 2 and "Proxy" in suite.note


@pytest.mark.skipif(not EVAL_DATA.is_dir(), reason="the external datasets are not shipped; present in dev only")
@pytest.mark.parametrize(
    ("name", "file", "at_least"),
    [("esconv", "esconv/esconv_test.jsonl", 2700), ("annomi", "annomi/annomi_therapist.jsonl", 2800),
     ("mentalmanip-consensus", "mentalmanip/mentalmanip.jsonl", 2900),
     ("darkpatterns", "darkpatterns/darkpatterns.jsonl", 2200)],
)
def test_real_datasets_load_completely(name: str, file: str, at_least: int) -> None:
    assert len(load_external(name, EVAL_DATA / file)) >= at_least


def test_every_bad_record_is_reported_at_once(tmp_path: Path) -> None:
    good = _rec(0, {"strategy": "Questions"})
    no_text = {k: v for k, v in _rec(1, {"strategy": "Questions"}).items() if k != "utterance"}
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join([json.dumps(good), json.dumps(no_text), "{broken", json.dumps(good)]) + "\n")
    with pytest.raises(SuiteError) as info:
        load_external("esconv", path)
    assert [p.line for p in info.value.problems] == [2, 3]
    assert "e.jsonl:2: record does not fit the esconv mapping: the record has no 'utterance' field" in str(info.value)
    assert "e.jsonl:3: invalid JSON at column 2" in str(info.value)
