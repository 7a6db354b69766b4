"""The issue's target figures on the development set, for choosing between appraiser weights.

usage: python scripts/dev_figures.py [--set dev|dev2] [--labels final|author|rater] [WEIGHTS_DIR_OR_FILE ...]

The development sets were never trained on by any shipped model, so candidates can be compared on them
without spending the blind suites: `dev` (`simulator/grading/appraiser/data/dev/`, authors r15-r18, 600
turns, the authors' labels only) and `dev2` (`data/dev2/`, authors r19-r22, 420 turns, adjudicated; the
authors' and the blind second rater's labels before adjudication are in `data/dev2/ratings/`, and
`--labels author` or `--labels rater` scores against them instead). With no weights argument it scores the
shipped weights. Each figure has a 95% bootstrap CI over turns
(400 resamples, seed 0); the matched pairs are given as a count, without a CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_many  # noqa: E402
from simulator.grading.appraiser.training import PACKAGE_DATA, target_metrics, target_metrics_with_ci  # noqa: E402
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("dev", "dev2"), default="dev")
    parser.add_argument("--labels", choices=("final", "author", "rater"), default="final")
    parser.add_argument("weights", nargs="*")
    args = parser.parse_args(argv)
    if args.labels != "final" and args.set != "dev2":
        parser.error("only dev2 has a second rater and an adjudication; dev has its authors' labels alone")
    cases = load_many(sorted((PACKAGE_DATA / args.set).glob("*.jsonl")))
    if args.labels != "final":
        cases = with_labels(cases, args.labels)
    targets = [weights_file(Path(a)) for a in args.weights] or [DEFAULT_WEIGHTS]
    for path in targets:
        weights = load_weights(path)
        preds = [appraise_with(weights, c.trainee_turn, c.context, c.scenario) for c in cases]
        figures = target_metrics_with_ci(cases, preds, FIGURES)
        print(f"{path} ({weights.version}), {len(cases)} {args.set} turns, {args.labels} labels")
        for name, (point, lo, hi) in figures.items():
            print(f"  {name:30s} {point:.3f} [{lo:.3f}, {hi:.3f}]")
        print(f"  {'pairs_right':30s} {target_metrics(cases, preds)['pairs_right']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
