"""The development sets' matched pairs judged one reply at a time, by readers with and without the scenario.

usage: python scripts/single_readers.py [WEIGHTS_DIR_OR_FILE]

`evals/pair_readers/single/` holds the 398 turns of the 199 pairs in `evals/pair_readers/pairs.jsonl`, each
shown alone (`key.json` maps each turn's id to the item id the readers saw). One half of every pair went to
one reader and the other half to another, so no reader saw both halves. Readers answered "manipulative",
"not manipulative" or, without the scenario, "cannot tell" (`brief_without.md`, `brief_with.md`). The
condition without the scenario was read twice, the second time by other readers blind to the first answers.

This prints, per pair axis, how many pairs each reading gets right as `training.target_metrics` counts a pair
(both turns right; "cannot tell" is not right), and the appraiser (`WEIGHTS`, default the shipped weights) on
the same turns; then the turn-level figures and the agreement of the two readings without the scenario.
Unlike `scripts/pair_readers.py`, where a reader saw both halves side by side, this is the task a grader has.
Reads no blind data.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from sklearn.metrics import cohen_kappa_score, f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import load_many  # noqa: E402
from simulator.grading.appraiser.training import PACKAGE_DATA  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights, weights_file  # noqa: E402

HERE = ROOT / "evals" / "pair_readers"
SETS = (PACKAGE_DATA / "dev" / "authors_r15_r18.jsonl", PACKAGE_DATA / "dev2" / "dev2.jsonl")
READINGS = {
    "without the scenario": "answers_without.jsonl",
    "without, second reading": "answers_without_second.jsonl",
    "with the scenario": "answers_with.jsonl",
}


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def answers(name: str, key: dict[str, str]) -> dict[str, str]:
    """Turn id -> the reading's answer, checked to cover every turn exactly once."""
    by_item = {}
    for row in _jsonl(HERE / "single" / name):
        if row["item"] in by_item:
            raise SystemExit(f"{name}: item {row['item']} is answered twice")
        by_item[row["item"]] = row["answer"]
    missing = [t for t, item in key.items() if item not in by_item]
    if missing:
        raise SystemExit(f"{name}: {len(missing)} turns have no answer (first: {missing[0]})")
    return {turn: by_item[item] for turn, item in key.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="?", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    weights = load_weights(weights_file(args.weights))
    key: dict[str, str] = json.loads((HERE / "single" / "key.json").read_text(encoding="utf-8"))
    cases = {c.id: c for c in load_many(list(SETS)) if c.id in key}
    gold = {t: cases[t].gold.manipulative for t in key}
    said = {}
    for t in key:
        c = cases[t]
        said[t] = "manipulative" if appraise_with(weights, c.trainee_turn, c.context, c.scenario).manipulative else (
            "not manipulative")
    readings = {name: answers(path, key) for name, path in READINGS.items()}
    readings["appraiser"] = said

    def right(answer: str, turn: str) -> bool:
        return answer == ("manipulative" if gold[turn] else "not manipulative")

    pairs = _jsonl(HERE / "pairs.jsonl")
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for pair in pairs:
        for axis in (pair["axis"], "all"):
            table[axis]["n"] += 1
            for name, got in readings.items():
                table[axis][name] += right(got[pair["A"]], pair["A"]) and right(got[pair["B"]], pair["B"])
    print(f"weights {weights.version}; {len(pairs)} pairs of dev (r15-r18) and dev2 (r19-r22), each reply judged alone")
    print("axis | pairs | " + " | ".join(readings))
    for axis in sorted(table, key=lambda a: (a == "all", a)):
        print(f"{axis} | {table[axis]['n']} | " + " | ".join(str(table[axis][name]) for name in readings))
    print("\nreading | turns right of 398 | cannot tell | manipulative F1 ('cannot tell' as not manipulative)")
    truth = [gold[t] for t in key]
    for name, got in readings.items():
        calls = [got[t] == "manipulative" for t in key]
        print(f"{name} | {sum(right(got[t], t) for t in key)} | {sum(got[t] == 'cannot tell' for t in key)} | "
              f"{f1_score(truth, calls):.3f}")
    first, second = readings["without the scenario"], readings["without, second reading"]
    same = sum(first[t] == second[t] for t in key)
    kappa = cohen_kappa_score([first[t] for t in key], [second[t] for t in key])
    print(f"\nthe two readings without the scenario, before any adjudication: same answer on {same} of {len(key)}, "
          f"kappa {kappa:.3f} over manipulative / not manipulative / cannot tell")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
