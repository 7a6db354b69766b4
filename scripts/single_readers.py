"""Matched pairs judged one reply at a time, by readers who never saw both halves of a pair.

usage: python scripts/single_readers.py [--on dev|blind] [WEIGHTS_DIR_OR_FILE]

`--on dev` (the default): `evals/pair_readers/single/` holds the 398 turns of the development sets' 199 pairs in
`evals/pair_readers/pairs.jsonl`, each shown alone (`key.json` maps each turn's id to the item id the readers
saw). One half of every pair went to one reader and the other half to another, so no reader saw both halves.
Readers answered "manipulative", "not manipulative" or, without the scenario, "cannot tell" (`brief_without.md`,
`brief_with.md`). The condition without the scenario was read twice, the second time by other readers blind to
the first answers. Reads no blind data.

`--on blind`: `evals/blind_readers/` holds every turn of the two blind suites (`blind`, `blind2`: 500 turns, 71
matched pairs), read twice without the scenario by two groups of five readers (`key.json`: for each reading,
turn id -> item id; `brief.md`). It measures what a grader that never reads the scenario can reach on the very
turns issue 13's targets are measured on. It tunes nothing and nothing is trained on it.

This prints, per pair axis, how many pairs each reading gets right as `training.target_metrics` counts a pair
(both turns right; "cannot tell" is not right), and the appraiser (`WEIGHTS`, default the shipped weights) on
the same turns; then the turn-level figures per set and the agreement of the two readings without the scenario.
Unlike `scripts/pair_readers.py`, where a reader saw both halves side by side, this is the task a grader has.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

from sklearn.metrics import cohen_kappa_score, f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_many  # noqa: E402
from simulator.grading.appraiser.training import PACKAGE_DATA, matched_pairs  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights, weights_file  # noqa: E402

EVALS = ROOT / "evals"
FIRST, SECOND = "without the scenario", "without, second reading"
DEV_SETS = (PACKAGE_DATA / "dev" / "authors_r15_r18.jsonl", PACKAGE_DATA / "dev2" / "dev2.jsonl")
BLIND_SETS = (EVALS / "suites" / "blind.jsonl", EVALS / "suites" / "blind2.jsonl")


class Source(NamedTuple):
    """One set of readings: the labelled files read, each reading's answers by turn id, and the pairs."""

    sets: tuple[Path, ...]
    readings: dict[str, dict[str, str]]
    pairs: list[tuple[str, str, str]]  # (axis, turn id, turn id)


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def answers(path: Path, key: dict[str, str]) -> dict[str, str]:
    """Turn id -> the reading's answer, checked to cover every turn exactly once."""
    by_item = {}
    for row in _jsonl(path):
        if row["item"] in by_item:
            raise SystemExit(f"{path.name}: item {row['item']} is answered twice")
        by_item[row["item"]] = row["answer"]
    missing = [t for t, item in key.items() if item not in by_item]
    if missing:
        raise SystemExit(f"{path.name}: {len(missing)} turns have no answer (first: {missing[0]})")
    return {turn: by_item[item] for turn, item in key.items()}


def dev_source() -> Source:
    """The development sets' 199 pairs (`evals/pair_readers/`), read without the scenario twice and with it once."""
    here = EVALS / "pair_readers" / "single"
    key: dict[str, str] = json.loads((here / "key.json").read_text(encoding="utf-8"))
    files = {FIRST: "answers_without.jsonl", SECOND: "answers_without_second.jsonl",
             "with the scenario": "answers_with.jsonl"}
    pairs = [(p["axis"], p["A"], p["B"]) for p in _jsonl(EVALS / "pair_readers" / "pairs.jsonl")]
    return Source(
        DEV_SETS,
        {name: answers(here / f, key) for name, f in files.items()},
        pairs,
    )


def blind_source(cases: list[LabelledTurn]) -> Source:
    """Every turn of the two blind suites (`BLIND_SETS`, loaded as `cases`; `evals/blind_readers/`), read twice
    without the scenario."""
    here = EVALS / "blind_readers"
    keys: dict[str, dict[str, str]] = json.loads((here / "key.json").read_text(encoding="utf-8"))
    pairs = [(str(cases[a].meta.get("pair_axis") or "other"), cases[a].id, cases[b].id)
             for a, b in matched_pairs(cases)]
    files = {FIRST: "answers_first.jsonl", SECOND: "answers_second.jsonl"}
    return Source(BLIND_SETS, {name: answers(here / f, keys[name]) for name, f in files.items()}, pairs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--on", choices=("dev", "blind"), default="dev", help="which readings (default: dev)")
    parser.add_argument("weights", nargs="?", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    weights = load_weights(weights_file(args.weights))
    loaded = {path: load_many([path]) for path in (DEV_SETS if args.on == "dev" else BLIND_SETS)}
    source = dev_source() if args.on == "dev" else blind_source([c for cases in loaded.values() for c in cases])
    turns = list(source.readings[FIRST])
    by_id = {c.id: (c, path.stem) for path, cases in loaded.items() for c in cases}
    gold = {t: by_id[t][0].gold.manipulative for t in turns}
    said = {}
    for t in turns:
        c = by_id[t][0]
        said[t] = "manipulative" if appraise_with(weights, c.trainee_turn, c.context, c.scenario).manipulative else (
            "not manipulative")
    readings = {**source.readings, "appraiser": said}

    def right(answer: str, turn: str) -> bool:
        return answer == ("manipulative" if gold[turn] else "not manipulative")

    def suspect(answer: str) -> str:  # a reader who calls what it cannot check manipulative
        return "manipulative" if answer == "cannot tell" else answer

    table: dict[str, Counter[str]] = defaultdict(Counter)
    for axis, a, b in source.pairs:
        for row in (axis, "all", *((f"all in {by_id[a][1]}",) if len(source.sets) > 1 else ())):
            table[row]["n"] += 1
            for name, got in readings.items():
                table[row][name] += right(got[a], a) and right(got[b], b)
                table[row][name + "*"] += right(suspect(got[a]), a) and right(suspect(got[b]), b)
    print(f"weights {weights.version}; {len(source.pairs)} pairs in {', '.join(p.stem for p in source.sets)}, "
          "each reply judged alone")
    print("pairs right ('cannot tell' is not right; * 'cannot tell' read as manipulative)")
    names = [n for n in readings if n != "appraiser"]
    print("axis | pairs | " + " | ".join(names) + " | " + " | ".join(f"{n}*" for n in names) + " | appraiser")
    for axis in sorted(table, key=lambda a: (a.startswith("all"), a)):
        cells = [table[axis][n] for n in names] + [table[axis][n + "*"] for n in names] + [table[axis]["appraiser"]]
        print(f"{axis} | {table[axis]['n']} | " + " | ".join(str(c) for c in cells))
    per_set = [(p.stem, [t for t in turns if by_id[t][1] == p.stem]) for p in source.sets]
    for label, subset in [("all", turns), *per_set]:
        print(f"\n{label}: reading | turns right of {len(subset)} | cannot tell | manipulative F1 ('cannot tell' as "
              "not manipulative) | F1, 'cannot tell' as manipulative | honest turns not called 'not manipulative'")
        truth = [gold[t] for t in subset]
        for name, got in readings.items():
            calls = [got[t] == "manipulative" for t in subset]
            suspicious = [got[t] != "not manipulative" for t in subset]
            honest = [t for t in subset if not gold[t]]
            print(f"{name} | {sum(right(got[t], t) for t in subset)} | "
                  f"{sum(got[t] == 'cannot tell' for t in subset)} | {f1_score(truth, calls):.3f} | "
                  f"{f1_score(truth, suspicious):.3f} | "
                  f"{sum(got[t] != 'not manipulative' for t in honest)} of {len(honest)}")
    first, second = readings[FIRST], readings[SECOND]
    same = sum(first[t] == second[t] for t in turns)
    kappa = cohen_kappa_score([first[t] for t in turns], [second[t] for t in turns])
    print(f"\nthe two readings without the scenario, before any adjudication: same answer on {same} of {len(turns)}, "
          f"kappa {kappa:.3f} over manipulative / not manipulative / cannot tell")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
