"""`scripts/dev_figures.py`: the target figures on a development set or on labelled files of the user's choice,
with the matched pairs counted per decision axis."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from simulator.grading.appraiser.dataset import load_many
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS
from simulator.grading.labels import TurnVerdict

SCENARIO = "The broadband price rose from £30 to £38 on renewal. The Lite plan is £25 with slower speeds."
CONTEXT = [{"role": "customer", "text": "You put my price up without asking. Is there anything cheaper?"}]


def _turn(n: int, text: str, manipulative: bool, group: str, axis: str | None) -> dict[str, object]:
    techniques = [{"technique": "choice_architecture", "use": "manipulative", "evidence": text[:20]}]
    return {
        "id": f"t-{n:04d}",
        "scenario": SCENARIO,
        "persona": "broadband_price_rise",
        "context": CONTEXT,
        "trainee_turn": text,
        "gold": {
            "perspective_taking": 1,
            "behaviours": ["solution_offer"],
            "techniques": techniques if manipulative else [],
            "manipulation_tactics": [],
            "manipulative": manipulative,
        },
        "meta": {"group": group, "pair_axis": axis, "category": "pair" if axis else "plain"},
        "split": "train",
    }


@pytest.fixture
def script(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("dev_figures")


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    rows = [
        _turn(1, "You can move to Lite at £25 a month if you'd like; it's slower.", False, "g1", "free_choice"),
        _turn(2, "I've already moved you to Lite at £25 a month; it's slower.", True, "g1", "free_choice"),
        _turn(3, "I'm sorry about the rise. Lite is £25 a month, with slower speeds.", False, "g2", None),
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_pairs_are_counted_per_axis(script: ModuleType, labelled: Path) -> None:
    cases = load_many([labelled])
    right = [c.gold for c in cases]
    clean = [TurnVerdict.model_validate({"perspective_taking": 1}) for _ in cases]
    assert script.pairs_by_axis(cases, right) == "free_choice 1/1"
    assert script.pairs_by_axis(cases, clean) == "free_choice 0/1"


@pytest.mark.filterwarnings("ignore:.*only one label in common")  # three turns: some resamples hold one score
def test_it_scores_files_of_your_choice(script: ModuleType, labelled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--files", str(labelled)]) == 0
    out = capsys.readouterr().out
    assert "3 given turns, final labels" in out
    assert "score_qwk" in out and "free_choice " in out and "/1" in out
    assert "n/a (no negative behaviours in the gold labels)" in out


def test_other_raters_labels_exist_only_for_dev2(script: ModuleType, labelled: Path) -> None:
    with pytest.raises(SystemExit):
        script.main(["--files", str(labelled), "--labels", "author"])


@pytest.mark.filterwarnings("ignore:.*only one label in common")
def test_every_weights_file_gets_the_same_header_and_pairs_match_the_target(
    script: ModuleType, labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = str(DEFAULT_WEIGHTS)
    assert script.main(["--files", str(labelled), "--", shipped, shipped]) == 0
    out = capsys.readouterr().out
    assert out.count("3 given turns, final labels") == 2
    # a listening pair with two honest halves is not one of the pairs target's pairs, so it is not counted
    listening = [_turn(n, "Lite is £25 a month." + " Sorry." * n, False, "g3", "listening") for n in (4, 5)]
    more = labelled.with_name("more.jsonl")
    more.write_text("".join(json.dumps(r) + "\n" for r in listening), encoding="utf-8")
    cases = load_many([labelled, more])
    clean = [TurnVerdict.model_validate({"perspective_taking": 1}) for _ in cases]
    assert script.pairs_by_axis(cases, clean) == "free_choice 0/1"
