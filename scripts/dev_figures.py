"""The issue's target figures on the development set, for choosing between appraiser weights.

usage: python scripts/dev_figures.py [WEIGHTS_DIR_OR_FILE ...]

The development set (`simulator/grading/appraiser/data/dev/`, authors r15-r18, 600 turns, one rater) was
never trained on by any shipped model, so candidates can be compared on it without spending the blind
suites. With no argument it scores the shipped weights. Each figure has a 95% bootstrap CI over turns
(400 resamples, seed 0); the matched pairs are given as a count, without a CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import load_many  # noqa: E402
from simulator.grading.appraiser.training import PACKAGE_DATA, target_metrics  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights, weights_file  # noqa: E402

DEV = sorted((PACKAGE_DATA / "dev").glob("*.jsonl"))
FIGURES = ("score_qwk", "manipulative_f1", "ethical_called_manipulative", "negative_recall", "negative_precision",
           "surface_cue_scored_le1")  # fmt: skip


def main(argv: list[str]) -> int:
    cases = load_many(DEV)
    targets = [weights_file(Path(a)) for a in argv] or [DEFAULT_WEIGHTS]
    rng = np.random.default_rng(0)
    boots = [rng.integers(0, len(cases), len(cases)) for _ in range(400)]
    for path in targets:
        weights = load_weights(path)
        preds = [appraise_with(weights, c.trainee_turn, c.context, c.scenario) for c in cases]
        point = target_metrics(cases, preds)
        samples = [target_metrics([cases[i] for i in b], [preds[i] for i in b]) for b in boots]
        print(f"{path} ({weights.version}), {len(cases)} dev turns")
        for name in FIGURES:
            vals = sorted(float(s[name]) for s in samples)
            lo, hi = vals[int(0.025 * len(vals))], vals[int(0.975 * len(vals)) - 1]
            print(f"  {name:30s} {point[name]:.3f} [{lo:.3f}, {hi:.3f}]")
        print(f"  {'pairs_right':30s} {point['pairs_right']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
