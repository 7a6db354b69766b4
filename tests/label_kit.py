"""Turns files for the labelling tests: gold suite turns with their gold taken off."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.resources import package_path

SOURCE = package_path("evals", "suites", "gold_persuasion.jsonl")


def gold_lines(n: int) -> list[dict[str, object]]:
    """The first `n` cases of the shipped persuasion suite (with their gold)."""
    lines = [json.loads(line) for line in Path(SOURCE).read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:n]


def write_turns(path: Path, n: int) -> Path:
    """A turns file of `n` unlabelled cases (gold removed), as raters get it."""
    with path.open("w", encoding="utf-8") as fh:
        for case in gold_lines(n):
            case = {k: v for k, v in case.items() if k != "gold"}
            fh.write(json.dumps(case, ensure_ascii=False) + "\n")
    return path
