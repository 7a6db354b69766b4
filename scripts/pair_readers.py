"""How many of the development sets' matched pairs a reader can tell apart without the scenario.

usage: python scripts/pair_readers.py [WEIGHTS_DIR_OR_FILE]

`evals/pair_readers/` holds every ethical/manipulative matched pair of `dev` (r15-r18) and `dev2` (r19-r22),
shown to helper readers as A/B in random order, and their answers: two readers saw the scenario, two did not
(each pair was read once in each condition), and two more read every pair again without it, blind to the
first answers (`answers_without_scenario_second.jsonl`), for the agreement printed at the end.

This prints, per pair axis, how many pairs each condition picked right, how many the scenario-blind readers
could not tell, and how many the appraiser (`WEIGHTS`, default the shipped weights) gets right as
`training.target_metrics` counts a pair (both turns' `manipulative` right), split by whether a reader without
the scenario could tell them apart. Reads no blind data.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import load_many  # noqa: E402
from simulator.grading.appraiser.training import PACKAGE_DATA  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights, weights_file  # noqa: E402

HERE = ROOT / "evals" / "pair_readers"
SETS = {"dev": PACKAGE_DATA / "dev" / "authors_r15_r18.jsonl", "dev2": PACKAGE_DATA / "dev2" / "dev2.jsonl"}


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="?", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    weights = load_weights(weights_file(args.weights))
    cases = {c.id: c for path in SETS.values() for c in load_many([path])}
    pairs = _jsonl(HERE / "pairs.jsonl")
    blind = {a["pair"]: a["answer"] for a in _jsonl(HERE / "answers_without_scenario.jsonl")}
    seeing = {a["pair"]: a["answer"] for a in _jsonl(HERE / "answers_with_scenario.jsonl")}
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for pair in pairs:
        right = True
        for side in ("A", "B"):
            case = cases[pair[side]]
            verdict = appraise_with(weights, case.trainee_turn, case.context, case.scenario)
            right &= verdict.manipulative == case.gold.manipulative
        told = blind[pair["pair"]]
        blind_kind = "right" if told == pair["manipulative"] else "cannot" if told == "cannot tell" else "wrong"
        for axis in (pair["axis"], "all"):
            row = table[axis]
            row["n"] += 1
            row["with_right"] += seeing[pair["pair"]] == pair["manipulative"]
            row[f"without_{blind_kind}"] += 1
            row["appraiser"] += right
            row[f"appraiser_if_{blind_kind}"] += right
    second = {a["pair"]: a["answer"] for a in _jsonl(HERE / "answers_without_scenario_second.jsonl")}
    print(f"weights {weights.version}; pairs of dev (r15-r18) and dev2 (r19-r22)")
    print("axis | pairs | reader with scenario right | without: right / cannot tell / wrong | appraiser right "
          "| appraiser right where the reader without the scenario could tell / could not")  # fmt: skip
    for axis in sorted(table, key=lambda a: (a == "all", a)):
        r = table[axis]
        print(f"{axis} | {r['n']} | {r['with_right']} | {r['without_right']} / {r['without_cannot']} / "
              f"{r['without_wrong']} | {r['appraiser']} | {r['appraiser_if_right']} of {r['without_right']} / "
              f"{r['appraiser_if_cannot']} of {r['without_cannot']}")  # fmt: skip
    agree = sum(blind[p] == second[p] for p in blind)
    n = len(blind)
    kappa = cohen_kappa_score([blind[p] != "cannot tell" for p in blind], [second[p] != "cannot tell" for p in blind])
    truth = {p["pair"]: p["manipulative"] for p in pairs}
    print(f"second reading without the scenario: {sum(second[p] == truth[p] for p in second)} right, "
          f"{sum(a == 'cannot tell' for a in second.values())} cannot tell; same answer as the first on {agree} "
          f"of {n}; whether a pair can be told apart: kappa {kappa:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
