"""Self-play suites: scripted strategies through the mood machine; unearned softening is flagged."""

from __future__ import annotations

import asyncio

from evals.selfplay import earned, run_selfplay, selfplay_lines
from simulator.grading.base import GradeRequest
from simulator.grading.labels import TurnGrade, TurnVerdict


class GenerousGrader:
    """Calls every turn perfect perspective-taking: a grader a dismissive trainee would love."""

    name = "fake:generous"
    version = "1"

    async def grade(self, request: GradeRequest) -> TurnGrade:
        verdict = TurnVerdict(perspective_taking=4, behaviours=["reflection", "perspective_taking", "validation"])
        return TurnGrade(status="graded", verdict=verdict, grader=self.name, grader_version=self.version)


def test_scripted_labels_give_expected_outcomes_and_no_flags() -> None:
    result = asyncio.run(run_selfplay(None))
    assert result["items"], "no personas/strategies found"
    rates = result["outcome_rates"]
    assert rates["dismissive"].get("resolved", 0) == 0
    assert rates["empathetic"].get("resolved", 0) > 0.5
    assert result["flagged"] == []
    assert any("A" in line and "→" in line for line in selfplay_lines(result))


def test_a_grader_that_rewards_dismissal_is_flagged() -> None:
    result = asyncio.run(run_selfplay(GenerousGrader(), personas=["backfire_brian"]))
    flags = [f for f in result["flagged"] if "dismissive" in f or "fact_dumper" in f]
    assert flags, result["flagged"]
    assert any("earns nothing" in f for f in flags)


def test_earned() -> None:
    assert earned(TurnVerdict(perspective_taking=3, behaviours=["open_question"]))
    assert not earned(TurnVerdict(perspective_taking=0, behaviours=["dismissal"]))
    assert not earned(TurnVerdict(perspective_taking=3, behaviours=["reflection"], manipulation_tactics=["pressure"]))
