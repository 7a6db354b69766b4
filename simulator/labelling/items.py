"""The turns to label: a suite-format JSONL file (`evals/suites/README.md`) whose `gold` is optional.

A line needs `id` and `trainee_turn`; `scenario`, `persona`, `context`, `meta` and `split` are shown to
the rater and carried into the exported suite. A `gold` already in the file is kept out of the rater's
sight (raters label blind) and is replaced by theirs on export.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simulator.call.transcript import Utterance
from simulator.labelling.records import LabelError

MAX_ITEMS = 20_000


class LabelItem(BaseModel):
    """One trainee turn to label, with what the rater sees around it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    scenario: str | None = None
    persona: str | None = None
    context: list[Utterance] = Field(default_factory=list)
    trainee_turn: str = Field(min_length=1)
    gold: dict[str, Any] | None = None
    """Labels already in the file: never shown to a rater, replaced on export."""
    meta: dict[str, Any] = Field(default_factory=dict)
    split: Literal["train", "test"] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _whole_number_id(cls, value: Any) -> Any:
        """A whole-number id (`"id": 7`, as a spreadsheet export writes it) is the id "7": ids are compared,
        stored and exported as text, so `--redo 7` finds it (a bool or a float stays refused)."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def digest(self) -> str:
        """A short digest of what the rater saw (scenario, persona, context, turn): a label made on other
        text is stale and not counted."""
        seen = [self.scenario, self.persona, [u.model_dump(mode="json") for u in self.context], self.trainee_turn]
        return hashlib.sha256(json.dumps(seen, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def _problems(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "line"
        out.append(f"{where}: {e['msg']}")
    return out


def load_items(path: Path) -> list[LabelItem]:
    """The items of a JSONL file, in file order.

    Raises:
        LabelError: Every problem in the file at once, each as `file:line: field: message`.
    """
    if not path.is_file():
        raise LabelError([f"{path}: no such file; give a .jsonl file of turns (one JSON object per line)"])
    if path.suffix != ".jsonl":
        raise LabelError([f"{path}: label a .jsonl file (one turn per line, the suite format)"])
    items: list[LabelItem] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    with path.open("rb") as fh:
        for lineno, data in enumerate(fh, start=1):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(f"{path}:{lineno}: not UTF-8 text; save the file as UTF-8")
                continue
            if not text.strip():
                continue
            try:
                raw = json.loads(text)
                item = LabelItem.model_validate(raw)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{lineno}: not JSON ({exc.msg} at column {exc.colno}); one object per line")
                continue
            except ValidationError as exc:
                problems += [f"{path}:{lineno}: {p}" for p in _problems(exc)]
                continue
            if item.id in seen:
                problems.append(
                    f"{path}:{lineno}: id: {item.id!r} is used on line {seen[item.id]} too; ids must be unique"
                )
                continue
            seen[item.id] = lineno
            items.append(item)
    if len(items) > MAX_ITEMS:
        problems.append(f"{path}: {len(items)} turns; split the file into files of at most {MAX_ITEMS}")
    if not items and not problems:
        problems.append(f"{path}: the file holds no turns; add one JSON object per line with `id` and `trainee_turn`")
    if problems:
        raise LabelError(problems)
    return items
