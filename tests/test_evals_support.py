"""Shared fakes for the evals tests: a tiny gold suite and deterministic graders (no network, no models)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from simulator.grading.base import GradeRequest
from simulator.grading.labels import TurnGrade, TurnVerdict

TURNS: list[dict[str, Any]] = [
    {"turn": "What happened when the courier didn't show up?", "score": 3, "behaviours": ["open_question"]},
    {"turn": "Our tracking shows it was delivered at 2 pm.", "score": 0, "behaviours": ["fact_confrontation"]},
    {"turn": "Calm down, it's only a few days.", "score": 0, "behaviours": ["dismissal"]},
    {"turn": "I'm sorry about the delay.", "score": 2, "behaviours": ["apology"]},
    {"turn": "I can send a replacement by Thursday.", "score": 1, "behaviours": ["solution_offer"]},
    {"turn": "So you took a day off and nobody came. How is that affecting your week?", "score": 4,
     "behaviours": ["reflection", "perspective_taking", "open_question"]},
]


def gold_case(i: int, *, split: str = "test", manipulative: bool = False, group: str | None = None) -> dict[str, Any]:
    """A valid gold case built from TURNS (cycled); optionally a manipulative technique use."""
    base = TURNS[i % len(TURNS)]
    turn = f"{base['turn']} (case {i})"
    techniques = []
    if manipulative:
        turn += " Accept now or the offer is gone forever."
        techniques = [{"technique": "loss_aversion", "use": "manipulative",
                       "evidence": "Accept now or the offer is gone forever."}]
    return {
        "id": f"t-{i:04d}",
        "scenario": "Missed delivery; policy: investigate within 2 working days.",
        "persona": "backfire_missed_delivery",
        "context": [{"role": "customer", "text": "It never came!"}],
        "trainee_turn": turn,
        "gold": {"perspective_taking": base["score"], "behaviours": base["behaviours"], "techniques": techniques,
                 "manipulation_tactics": [], "manipulative": manipulative},
        "meta": {"group": group or f"g-{i}", "pair_axis": "truth" if group else None, "note": "test"},
        "split": split,
    }


def write_suite(path: Path, n: int = 24, *, pairs: int = 0) -> Path:
    """A JSONL gold suite of n cases (+ `pairs` matched ethical/manipulative pairs)."""
    lines = [gold_case(i) for i in range(n)]
    for k in range(pairs):
        lines.append(gold_case(1000 + 2 * k, group=f"pair-{k}"))
        lines.append(gold_case(1001 + 2 * k, group=f"pair-{k}", manipulative=True))
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def oracle_verdict(turn: str) -> TurnVerdict:
    """The gold verdict TURNS gives a turn (what a perfect grader would say)."""
    for base in TURNS:
        if turn.startswith(base["turn"]):
            techniques = []
            if "gone forever" in turn:
                techniques = [{"technique": "loss_aversion", "use": "manipulative",
                               "evidence": "Accept now or the offer is gone forever."}]
            return TurnVerdict.model_validate(
                {"perspective_taking": base["score"], "behaviours": base["behaviours"], "techniques": techniques}
            )
    return TurnVerdict(perspective_taking=1)


class OracleGrader:
    """Grades like the gold, optionally wrong on every `wrong_every`-th call, and counts its calls."""

    def __init__(self, name: str = "fake:oracle", version: str = "1", *, delay: float = 0.0,
                 wrong_every: int = 0, ungraded_every: int = 0) -> None:
        self._name, self._version = name, version
        self.delay, self.wrong_every, self.ungraded_every = delay, wrong_every, ungraded_every
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return self._version

    async def grade(self, request: GradeRequest) -> TurnGrade:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.ungraded_every and self.calls % self.ungraded_every == 0:
                return TurnGrade.ungraded(self.name, "fake failure")
            verdict = oracle_verdict(request.trainee_turn)
            if self.wrong_every and self.calls % self.wrong_every == 0:
                verdict = TurnVerdict(perspective_taking=(verdict.perspective_taking + 2) % 5)
            return TurnGrade(status="graded", verdict=verdict, grader=self.name, grader_version=self.version)
        finally:
            self.in_flight -= 1
