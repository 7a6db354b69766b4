"""Check one helper author's JSONL file of labelled turns: format, labels, evidence, pairs.

usage: .venv/bin/python scripts/check_authored.py FILE   (the authoring checker the helper authors ran)
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simulator.grading.appraiser.dataset import LabelledTurn

AXES = {"truth", "transparency", "free_choice", "interest", "conditional", "listening"}
CATS = {"plain", "pair", "surface_cue"}
NEG = {"fact_confrontation", "dismissal", "blame"}


def main(path: str) -> int:
    problems: list[str] = []
    items = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"line {n}: not JSON ({e})")
                continue
            raw.setdefault("split", "train")
            declared = raw.get("gold", {}).get("manipulative")
            try:
                case = LabelledTurn.model_validate(raw)
            except Exception as e:
                problems.append(f"line {n}: {str(e)[:400]}")
                continue
            if declared is not None and declared != case.gold.manipulative:
                problems.append(
                    f"line {n} {case.id}: manipulative={declared} but techniques/tactics say {case.gold.manipulative}"
                )
            m = case.meta
            for key in ("group", "category", "note", "voice"):
                if not m.get(key):
                    problems.append(f"line {n} {case.id}: meta.{key} missing")
            if m.get("category") not in CATS:
                problems.append(f"line {n} {case.id}: meta.category must be one of {sorted(CATS)}")
            if m.get("category") == "pair" and m.get("pair_axis") not in AXES:
                problems.append(f"line {n} {case.id}: pair needs meta.pair_axis in {sorted(AXES)}")
            if not case.scenario or not case.context or case.context[-1].role != "customer":
                problems.append(f"line {n} {case.id}: needs a scenario and a context ending with the customer's line")
            for t in case.gold.techniques:
                if len(t.evidence.split()) < 3:
                    problems.append(
                        f"line {n} {case.id}: evidence {t.evidence!r} is too short; quote the words that do it"
                    )
            wraps = set(case.gold.behaviours) & NEG or case.gold.manipulation_tactics
            if m.get("category") == "surface_cue" and not wraps:
                problems.append(
                    f"line {n} {case.id}: a surface_cue turn wraps dismissal, blame, fact confrontation or "
                    "pressure; label what it does"
                )
            items.append(case)
    ids = Counter(c.id for c in items)
    problems += [f"duplicate id {i}" for i, k in ids.items() if k > 1]
    groups = defaultdict(list)
    for c in items:
        groups[c.meta.get("group")].append(c)
    for g, cs in groups.items():
        pair = [c for c in cs if c.meta.get("category") == "pair"]
        if pair and len(cs) != 2:
            problems.append(f"group {g}: a pair needs exactly 2 turns, has {len(cs)}")
            continue
        if not pair:
            if len(cs) > 1:
                problems.append(f"group {g}: only pair halves share a group id")
            continue
        a, b = cs
        if a.meta.get("pair_axis") != b.meta.get("pair_axis"):
            problems.append(f"group {g}: the two halves name different axes")
        if [u.text for u in a.context] != [u.text for u in b.context] or a.scenario != b.scenario:
            problems.append(f"group {g}: the two halves need the same scenario and context")
        axis = a.meta.get("pair_axis")
        if axis == "listening":
            if a.gold.perspective_taking == b.gold.perspective_taking:
                problems.append(f"group {g}: a listening pair's halves should differ in perspective_taking")
        elif a.gold.manipulative == b.gold.manipulative:
            problems.append(f"group {g}: on axis {axis} one half is manipulative and the other is not")
    cats = Counter(c.meta.get("category") for c in items)
    axes = Counter(c.meta.get("pair_axis") for c in items if c.meta.get("category") == "pair")
    print(f"{len(items)} turns; categories {dict(cats)}; pair turns by axis {dict(axes)}; "
          f"manipulative {sum(c.gold.manipulative for c in items)}")
    for p in problems:
        print("PROBLEM:", p)
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
