"""The rewording helpers' check (stdlib only): every pair reworded, turn ids in the item's order, no turn left
unchanged, and one verbatim evidence string per technique.

usage: python3 check.py ITEMS.jsonl OUTPUT.jsonl
"""

from __future__ import annotations

import json
import sys
from typing import Any


def problems_in(items: dict[str, dict[str, Any]], output: list[str]) -> tuple[set[str], list[str]]:
    """The pairs reworded in `output` (one JSON line each) and the problems found."""
    probs: list[str] = []
    done: set[str] = set()
    for n, line in enumerate(output, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            probs.append(f"line {n}: not JSON ({e})")
            continue
        pair = row.get("pair")
        if pair not in items:
            probs.append(f"line {n}: unknown pair {pair!r}")
            continue
        if pair in done:
            probs.append(f"line {n}: pair {pair} twice")
        done.add(pair)
        turns = row.get("turns")
        if not isinstance(turns, list) or len(turns) != 2:
            probs.append(f"{pair}: need exactly 2 turns")
            continue
        for want, got in zip(items[pair]["turns"], turns, strict=True):
            probs += turn_problems(pair, want, got)
        if turns[0].get("trainee_turn") == turns[1].get("trainee_turn"):
            probs.append(f"{pair}: both turns identical")
    return done, probs


def turn_problems(pair: str, want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What is wrong with one reworded turn `got` of the original `want`."""
    where = f"{pair} {want['id']}"
    probs = []
    if got.get("id") != want["id"]:
        probs.append(f"{pair}: turn id {got.get('id')!r}, expected {want['id']!r} (same order as the item)")
    text = got.get("trainee_turn") or ""
    if len(text.split()) < 3:
        probs.append(f"{where}: trainee_turn missing or too short")
    if text.strip() == want["trainee_turn"].strip():
        probs.append(f"{where}: unchanged wording")
    evidence = got.get("evidence", [])
    if len(evidence) != len(want["techniques"]):
        need = len(want["techniques"])
        probs.append(f"{where}: {need} techniques need {need} evidence strings, got {len(evidence)}")
    for e in evidence:
        if not isinstance(e, str) or len(e.strip()) < 4 or e not in text:
            probs.append(f"{where}: evidence {e!r} is not a verbatim substring of the new turn (or too short)")
    return probs


def main(items_path: str, output_path: str) -> int:
    with open(items_path, encoding="utf-8") as fh:
        items = {row["pair"]: row for row in (json.loads(line) for line in fh if line.strip())}
    with open(output_path, encoding="utf-8") as fh:
        done, probs = problems_in(items, fh.readlines())
    missing = [p for p in items if p not in done]
    first = f" (first: {missing[0]})" if missing else ""
    print(f"{len(done)} of {len(items)} pairs reworded; {len(missing)} missing{first}")
    for p in probs[:50]:
        print(p)
    print(f"{len(probs)} problems")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
