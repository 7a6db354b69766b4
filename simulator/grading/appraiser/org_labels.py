"""An organisation's own labels for retraining the appraiser: loading, the held-out split, and what is enough.

The labels are suite-format JSONL (`evals/suites/README.md`) with full `gold` verdicts. Their own
`split` field is ignored: `hold_out` sets aside a deterministic share of the label *groups*
(`meta.group`, else the id), so the new weights are measured on turns they were never trained on, and
two turns of one group never straddle the split.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from simulator.errors import CooldownError
from simulator.grading.appraiser.dataset import LabelledTurn
from simulator.grading.labels import Behaviour, Tactic, Technique

MIN_LABELS = 50
"""Fewer labelled turns than this are refused: the held-out figures would be noise."""
MIN_POSITIVES = 1
"""Every rubric label (behaviour, technique, tactic) needs at least this many positive examples."""
HELD_OUT_SHARE = 0.2
"""Share of the label groups held out for measuring (at least one group)."""


class NotEnoughLabels(CooldownError):
    """The organisation's labels are too few, or leave a rubric label without a positive example."""


def group_key(case: LabelledTurn) -> str:
    """`meta.group` when present, else the id."""
    group = case.meta.get("group")
    return str(group) if group not in (None, "") else case.id


def load_labels(paths: Sequence[Path]) -> list[LabelledTurn]:
    """Read suite-format label files (every line needs `gold`); ids must be unique across them.

    Raises:
        CooldownError: A file is unreadable, a line is invalid (with `file:line` and the problem), or an
            id repeats.
    """
    cases: list[LabelledTurn] = []
    seen: set[str] = set()
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CooldownError(f"cannot read the labels file {path} ({exc})") from exc
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                raw = json.loads(line)
                if not isinstance(raw, dict):
                    raise ValueError("a label line must be a JSON object")
                if raw.get("gold") is None:
                    raise ValueError("it has no `gold` verdict; training needs full gold labels")
                raw = {k: v for k, v in raw.items() if k not in ("split", "source_labels", "mapped")}
                case = LabelledTurn.model_validate({**raw, "split": "train"})
            except (json.JSONDecodeError, ValidationError, ValueError) as exc:
                raise CooldownError(f"{where}: not a usable label ({exc}). Fix or remove the line.") from exc
            if case.id in seen:
                raise CooldownError(f"{where}: duplicate id {case.id!r}; ids must be unique across the label files")
            seen.add(case.id)
            cases.append(case)
    return cases


def rubric_positives(cases: Sequence[LabelledTurn]) -> dict[str, int]:
    """How many turns carry each rubric label (`behaviour.x`, `technique.x`, `tactic.x`)."""
    counts: dict[str, int] = {}
    for b in Behaviour:
        counts[f"behaviour.{b.value}"] = sum(b in c.gold.behaviours for c in cases)
    for t in Technique:
        counts[f"technique.{t.value}"] = sum(c.gold.uses(t) is not None for c in cases)
    for x in Tactic:
        counts[f"tactic.{x.value}"] = sum(x in c.gold.manipulation_tactics for c in cases)
    return counts


def check_enough(cases: Sequence[LabelledTurn]) -> None:
    """Refuse labels too few to train and measure on.

    Raises:
        NotEnoughLabels: Fewer than `MIN_LABELS` turns, or a rubric label with fewer than `MIN_POSITIVES`
            positive examples (every missing label is named).
    """
    if len(cases) < MIN_LABELS:
        raise NotEnoughLabels(
            f"{len(cases)} labelled turns is too few: retraining needs at least {MIN_LABELS}, "
            f"with at least {MIN_POSITIVES} positive example of every rubric label"
        )
    missing = [name for name, n in rubric_positives(cases).items() if n < MIN_POSITIVES]
    if missing:
        raise NotEnoughLabels(
            f"every rubric label needs at least {MIN_POSITIVES} positive example in the new labels; "
            f"none for: {', '.join(missing)}. Label turns that show them (docs/rubric.md), then train again"
        )


def hold_out(cases: Sequence[LabelledTurn]) -> tuple[list[LabelledTurn], list[LabelledTurn]]:
    """(train, held out): the groups whose SHA-256 sorts first, `HELD_OUT_SHARE` of them, are held out.

    Deterministic and independent of file order; a group is never split.
    """
    groups = sorted({group_key(c) for c in cases}, key=lambda g: hashlib.sha256(g.encode("utf-8")).hexdigest())
    n_held = max(1, math.ceil(len(groups) * HELD_OUT_SHARE)) if len(groups) > 1 else 0
    held = set(groups[:n_held])
    train = [c for c in cases if group_key(c) not in held]
    test = [c for c in cases if group_key(c) in held]
    return train, test
