"""The scenario-pair data (`data/scenario_pairs/`) keeps its shape: the same turn under two scenarios."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from simulator.grading.appraiser.dataset import LabelledTurn, load_cases
from simulator.grading.appraiser.training import PACKAGE_DATA

ROOT = Path(__file__).resolve().parents[1]
PAIRS = PACKAGE_DATA / "scenario_pairs"
FILES = sorted(PAIRS.glob("*.jsonl"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_pair_is_one_turn_under_two_scenarios(path: Path) -> None:
    groups: dict[str, list[LabelledTurn]] = defaultdict(list)
    for case in load_cases(path):
        assert case.meta["category"] == "scenario_pair" and case.split == "train"
        groups[case.meta["group"]].append(case)
    for group, items in groups.items():
        assert sorted(c.meta["version"] for c in items) == ["A", "B"], group
        a, b = items
        assert a.trainee_turn == b.trainee_turn and a.context == b.context, group
        assert a.scenario != b.scenario, group


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_authoring_checker_finds_no_problem(path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_scenario_pairs.py"), str(path)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert ", 0 problems" in out.splitlines()[0], out


def test_flip_pairs_puts_the_manipulative_half_first(load_script: Callable[[str], ModuleType]) -> None:
    cases = load_cases(PAIRS / "diagnostic_sp8.jsonl")
    pairs = load_script("scenario_pair_figures").flip_pairs(cases)
    assert len(pairs) == 22
    assert all(m.gold.manipulative and not h.gold.manipulative for m, h in pairs)
    assert all(m.meta["group"] == h.meta["group"] for m, h in pairs)
