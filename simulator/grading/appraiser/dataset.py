"""Labelled turns for training and measuring the appraiser: the gold-case JSONL format, loaded strictly.

One JSON object per line: `id`, `scenario`, `persona`, `context` (earlier utterances, oldest first),
`trainee_turn`, `gold` (a `TurnVerdict`), `meta`, and `split` (`train` or `test`, fixed per `meta.group`).
Our own training turns (`simulator/grading/appraiser/data/*.jsonl`, ids `ax-*`) and the gold suites
(`evals/suites/gold_*.jsonl`) share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.call.transcript import Utterance
from simulator.errors import CooldownError
from simulator.grading.labels import TurnVerdict


class DatasetError(CooldownError):
    """A labelled-turn file has a line that does not follow the gold-case format."""


class LabelledTurn(BaseModel):
    """One labelled trainee turn (a gold case)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    scenario: str | None = None
    persona: str | None = None
    context: list[Utterance] = Field(default_factory=list)
    trainee_turn: str
    gold: TurnVerdict
    meta: dict[str, Any] = Field(default_factory=dict)
    split: Literal["train", "test"]

    @model_validator(mode="after")
    def _evidence_is_verbatim(self) -> LabelledTurn:
        for t in self.gold.techniques:
            if t.evidence not in self.trainee_turn:
                raise ValueError(f"evidence {t.evidence!r} is not an exact substring of trainee_turn")
        return self


def load_cases(path: Path) -> list[LabelledTurn]:
    """Read one JSONL file of labelled turns.

    Raises:
        DatasetError: With `path:line` and what to fix, for the first invalid line.
    """
    cases: list[LabelledTurn] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                cases.append(LabelledTurn.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise DatasetError(
                    f"{path}:{lineno}: not a valid labelled turn ({exc}). Fix or remove the line."
                ) from exc
    return cases


def load_many(paths: Iterable[Path]) -> list[LabelledTurn]:
    """Read several JSONL files in the given order; ids must be unique across them."""
    cases: list[LabelledTurn] = []
    seen: set[str] = set()
    for path in paths:
        for case in load_cases(path):
            if case.id in seen:
                raise DatasetError(f"{path}: duplicate id {case.id!r}; ids must be unique across files.")
            seen.add(case.id)
            cases.append(case)
    return cases
