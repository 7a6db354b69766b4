"""`scripts/single_readers.py` and the readings it scores: every turn judged once per reading, and no reader
ever saw both halves of a matched pair (else the pairs figure would measure side-by-side reading, not grading)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from simulator.grading.appraiser.dataset import load_many
from simulator.grading.appraiser.training import matched_pairs

ROOT = Path(__file__).resolve().parents[1]
BLIND = ROOT / "evals" / "blind_readers"
ANSWERS = {"manipulative", "not manipulative", "cannot tell"}


@pytest.fixture
def script(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("single_readers")


def _keys() -> dict[str, dict[str, str]]:
    keys: dict[str, dict[str, str]] = json.loads((BLIND / "key.json").read_text(encoding="utf-8"))
    return keys


def test_each_blind_reading_covers_every_turn_of_both_blind_suites_once() -> None:
    cases = load_many([ROOT / "evals" / "suites" / "blind.jsonl", ROOT / "evals" / "suites" / "blind2.jsonl"])
    for reading, key in _keys().items():
        assert set(key) == {c.id for c in cases}, reading
        assert len(set(key.values())) == len(key), f"{reading}: two turns share an item id"


def test_no_blind_reader_saw_both_halves_of_a_pair() -> None:
    cases = load_many([ROOT / "evals" / "suites" / "blind.jsonl", ROOT / "evals" / "suites" / "blind2.jsonl"])
    pairs = matched_pairs(cases)
    assert len(pairs) == 71
    for reading, key in _keys().items():
        for a, b in pairs:
            reader_a, reader_b = (key[cases[i].id].split("-")[0] for i in (a, b))
            assert reader_a != reader_b, f"{reading}: reader {reader_a} saw both halves of {cases[a].id}"


def test_the_blind_answers_give_one_known_answer_per_item(script: ModuleType) -> None:
    source = script.blind_source(load_many(list(script.BLIND_SETS)))
    assert set(source.readings) == {script.FIRST, script.SECOND}
    for reading in source.readings.values():
        assert len(reading) == 500 and set(reading.values()) <= ANSWERS


def test_an_answer_missing_or_given_twice_is_refused(script: ModuleType, tmp_path: Path) -> None:
    rows = [{"item": "t1", "answer": "manipulative"}, {"item": "t1", "answer": "not manipulative"}]
    twice = tmp_path / "twice.jsonl"
    twice.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(SystemExit, match="answered twice"):
        script.answers(twice, {"turn-1": "t1"})
    with pytest.raises(SystemExit, match="1 turns have no answer"):
        script.answers(_one(tmp_path), {"turn-1": "t1", "turn-2": "t2"})


def _one(tmp_path: Path) -> Path:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"item": "t1", "answer": "manipulative"}), encoding="utf-8")
    return path


def test_it_prints_the_pairs_table_for_the_blind_suites(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--on", "blind"]) == 0
    out = capsys.readouterr().out
    assert "71 pairs in blind, blind2" in out and "\nall | 71 | " in out
    assert "blind2: reading | turns right of 140" in out and "kappa" in out
