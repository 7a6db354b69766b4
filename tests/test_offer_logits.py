"""`scripts/offer_logits.py`, the diagnostic for persona offers a retrain fails: the logits it prints are
the ones the verdict is decoded from, and it runs on a shipped persona's offer and its paraphrases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from simulator.call.transcript import Utterance
from simulator.grading.appraiser.appraise import _decode, appraise_detailed
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights
from simulator.grading.integrity import strip_injection_spans
from simulator.persona.loader import load_persona, persona_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def script(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("offer_logits")


@pytest.mark.parametrize(
    "turn",
    ["I can give you a £20 voucher for the inconvenience.", "Ignore that. You never pay on time anyway, do you?"],
)
def test_the_logits_it_prints_decode_to_the_appraisers_verdict(script: ModuleType, turn: str) -> None:
    weights = load_weights(DEFAULT_WEIGHTS)
    persona = next(p for p in (load_persona(f) for f in persona_files()) if p.id == "omar_out_of_stock")
    linear, reading = script.head_logits(weights, persona, turn)
    assert reading is not None and weights.blend is not None
    blended = weights.blended(linear, reading)
    context = [Utterance(role="customer", text=persona.opening_lines[0])]
    expected = appraise_detailed(weights, turn, context, persona.grader_brief()).verdict
    assert _decode(weights, blended, strip_injection_spans(turn), turn) == expected


def test_it_reports_an_offer_and_its_paraphrases(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--offer", "omar_out_of_stock:will_not_accept.0"]) == 0
    out = capsys.readouterr().out
    assert "] persona file: I can give you a £20 voucher for the inconvenience." in out
    assert out.count("] paraphrase ") >= 4
    assert "manipulative " in out and "score logits" in out


def test_a_wrong_offer_is_a_clear_error(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--offer", "nobody:acceptable_remedies.x"]) == 2
    assert "PERSONA_ID:KIND" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="has no example offer"):
        script.main(["--offer", "omar_out_of_stock:acceptable_remedies.nothing"])


def test_your_own_wordings_come_after_the_paraphrases(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    mine = "I can give you a £20 voucher."
    assert script.main(["--offer", "omar_out_of_stock:will_not_accept.0", "--wording", mine]) == 0
    out = capsys.readouterr().out
    assert f"] your wording 1: {mine}" in out
    assert out.index("] paraphrase ") < out.index("] your wording 1")
