"""Verdicts as flat label dictionaries, the unit every metric works on.

Keys (values):

- `perspective_taking` (int 0-4)
- `behaviour.<name>` (bool) for each docs/rubric.md §1 behaviour
- `technique.<name>` (bool: the technique is used at all) and `technique_use.<name>`
  ("none" | "ethical" | "manipulative") for each technique
- `tactic.<name>` (bool) for each manipulation tactic
- `manipulative` (bool)
- `listening` (bool): any positive §1 behaviour (a proxy several external datasets map to)
- `any_technique_or_tactic` (bool): any technique or tactic at all (dark-pattern detection)

Our gold suites give every key; external datasets give only the keys their mapping supports.
"""

from __future__ import annotations

from simulator.grading.labels import POSITIVE_BEHAVIOURS, Behaviour, Tactic, Technique, TurnVerdict

LabelValue = bool | int | str

SCORE_KEY = "perspective_taking"
MANIPULATIVE_KEY = "manipulative"

BEHAVIOUR_KEYS: tuple[str, ...] = tuple(f"behaviour.{b.value}" for b in Behaviour)
TECHNIQUE_KEYS: tuple[str, ...] = tuple(f"technique.{t.value}" for t in Technique)
TECHNIQUE_USE_KEYS: tuple[str, ...] = tuple(f"technique_use.{t.value}" for t in Technique)
TACTIC_KEYS: tuple[str, ...] = tuple(f"tactic.{t.value}" for t in Tactic)
PROXY_KEYS: tuple[str, ...] = ("listening", "any_technique_or_tactic")

BINARY_KEYS: tuple[str, ...] = (
    *BEHAVIOUR_KEYS,
    *TECHNIQUE_KEYS,
    *TACTIC_KEYS,
    MANIPULATIVE_KEY,
    *PROXY_KEYS,
)
"""Every presence label, in report order."""

ALL_KEYS: frozenset[str] = frozenset({SCORE_KEY, *BINARY_KEYS, *TECHNIQUE_USE_KEYS})
USE_CLASSES: tuple[str, ...] = ("none", "ethical", "manipulative")


def flatten(verdict: TurnVerdict) -> dict[str, LabelValue]:
    """Every flat label of a verdict."""
    out: dict[str, LabelValue] = {SCORE_KEY: verdict.perspective_taking}
    behaviours = set(verdict.behaviours)
    for b in Behaviour:
        out[f"behaviour.{b.value}"] = b in behaviours
    for t in Technique:
        use = verdict.uses(t)
        out[f"technique.{t.value}"] = use is not None
        out[f"technique_use.{t.value}"] = use or "none"
    tactics = set(verdict.manipulation_tactics)
    for tac in Tactic:
        out[f"tactic.{tac.value}"] = tac in tactics
    out[MANIPULATIVE_KEY] = verdict.manipulative
    out["listening"] = bool(behaviours & POSITIVE_BEHAVIOURS)
    out["any_technique_or_tactic"] = bool(verdict.techniques or verdict.manipulation_tactics)
    return out


def key_problems(mapped: dict[str, LabelValue]) -> list[tuple[str, str]]:
    """Every mapped label whose key or value is outside the catalogue above, as (key, what is wrong)."""
    problems: list[tuple[str, str]] = []
    for key, value in mapped.items():
        if key not in ALL_KEYS:
            problems.append((key, "unknown label key; see evals/labelsets.py for the keys"))
        elif key == SCORE_KEY:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 4:
                problems.append((key, f"must be a whole number 0-4, got {value!r}"))
        elif key.startswith("technique_use."):
            if value not in USE_CLASSES:
                problems.append((key, f"must be one of {', '.join(USE_CLASSES)}, got {value!r}"))
        elif not isinstance(value, bool):
            problems.append((key, f"must be true or false, got {value!r}"))
    return problems


def check_keys(mapped: dict[str, LabelValue]) -> None:
    """Raise ValueError if a mapped label uses a key or value outside the catalogue above."""
    problems = key_problems(mapped)
    if problems:
        raise ValueError("; ".join(f"{key}: {message}" for key, message in problems))
