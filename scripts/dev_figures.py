"""The issue's target figures on the development set, for choosing between appraiser weights.

usage: python scripts/dev_figures.py [--set dev|dev2 | --files F.jsonl ...] [--labels final|author|rater]
       [WEIGHTS_DIR_OR_FILE ...]

The development sets were never trained on by any shipped model, so candidates can be compared on them
without spending the blind suites: `dev` (`simulator/grading/appraiser/data/dev/`, authors r15-r18, 600
turns, the authors' labels only) and `dev2` (`data/dev2/`, authors r19-r22, 420 turns, adjudicated; the
authors' and the blind second rater's labels before adjudication are in `data/dev2/ratings/`, and
`--labels author` or `--labels rater` scores against them instead). With no weights argument it scores the
shipped weights. Each figure has a 95% bootstrap CI over turns
(400 resamples, seed 0); the matched pairs are given as a count, without a CI, and by axis.
`--files` scores labelled files of your choice instead (for example a new training round, on weights that never
trained on it); `--` ends the list before the weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_many  # noqa: E402
from simulator.grading.appraiser.training import (  # noqa: E402
    NEGATIVE,
    PACKAGE_DATA,
    matched_pairs,
    target_metrics,
    target_metrics_with_ci,
)
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights, weights_file  # noqa: E402
from simulator.grading.labels import TurnVerdict  # noqa: E402

RATINGS = PACKAGE_DATA / "dev2" / "ratings"
FIGURES = ("score_qwk", "manipulative_f1", "ethical_called_manipulative", "negative_recall", "negative_precision",
           "surface_cue_scored_le1")  # fmt: skip


def with_labels(cases: list[LabelledTurn], who: str) -> list[LabelledTurn]:
    """The same turns with `who`'s labels before adjudication (`ratings/<who>_labels.jsonl`) as their gold."""
    path = RATINGS / f"{who}_labels.jsonl"
    labels: dict[str, TurnVerdict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            labels[row["id"]] = TurnVerdict.model_validate(row["labels"])
    missing = [c.id for c in cases if c.id not in labels]
    if missing:
        raise SystemExit(f"{path} has no labels for {len(missing)} turns (first: {missing[0]})")
    return [c.model_copy(update={"gold": labels[c.id]}) for c in cases]


def unsupported(cases: list[LabelledTurn]) -> dict[str, str]:
    """The figures these turns cannot measure (a recall with no gold positives reads 0, not "unknown"), with why."""
    out = {}
    if not any(set(c.gold.behaviours) & set(NEGATIVE) for c in cases):
        out["negative_recall"] = out["negative_precision"] = "no negative behaviours in the gold labels"
    if not any(c.gold.techniques and not c.gold.manipulative for c in cases):
        out["ethical_called_manipulative"] = "no ethical technique uses in the gold labels"
    if not any(c.meta.get("category") == "surface_cue" and c.gold.perspective_taking <= 1 for c in cases):
        out["surface_cue_scored_le1"] = "no surface-cue turns scored 0-1 in the gold labels"
    return out


def pairs_by_axis(cases: list[LabelledTurn], preds: list[TurnVerdict]) -> str:
    """The pairs target's matched pairs (`training.matched_pairs`) with both halves right, per `meta.pair_axis`,
    as "axis right/all"."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for ix in matched_pairs(cases):
        axis = str(cases[ix[0]].meta.get("pair_axis"))
        total[axis] += 1
        right[axis] += all(preds[i].manipulative == cases[i].gold.manipulative for i in ix)
    return " ".join(f"{axis} {right[axis]}/{total[axis]}" for axis in sorted(total))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("dev", "dev2"), default="dev")
    parser.add_argument("--labels", choices=("final", "author", "rater"), default="final")
    parser.add_argument("--files", nargs="+", type=Path, help="labelled JSONL files to score instead of a set")
    parser.add_argument("weights", nargs="*")
    args = parser.parse_args(argv)
    if args.labels != "final" and (args.set != "dev2" or args.files):
        parser.error("only dev2 has a second rater and an adjudication; dev has its authors' labels alone")
    set_name = "given" if args.files else args.set
    cases = load_many(args.files) if args.files else load_many(sorted((PACKAGE_DATA / args.set).glob("*.jsonl")))
    if args.labels != "final":
        cases = with_labels(cases, args.labels)
    targets = [weights_file(Path(a)) for a in args.weights] or [DEFAULT_WEIGHTS]
    empty = unsupported(cases)
    for path in targets:
        weights = load_weights(path)
        preds = [appraise_with(weights, c.trainee_turn, c.context, c.scenario) for c in cases]
        figures = target_metrics_with_ci(cases, preds, FIGURES)
        print(f"{path} ({weights.version}), {len(cases)} {set_name} turns, {args.labels} labels")
        for name, (point, lo, hi) in figures.items():
            shown = f"n/a ({empty[name]})" if name in empty else f"{point:.3f} [{lo:.3f}, {hi:.3f}]"
            print(f"  {name:30s} {shown}")
        print(f"  {'pairs_right':30s} {target_metrics(cases, preds)['pairs_right']}  {pairs_by_axis(cases, preds)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
