"""Does the appraiser read the scenario? Figures on scenario pairs, for choosing between appraiser weights.

usage: python scripts/scenario_pair_figures.py PAIRS.jsonl [WEIGHTS_DIR_OR_FILE ...]

A scenario pair is the same context and trainee turn judged against two scenarios that differ in one fact
(`meta.category: scenario_pair`, one `meta.group` per pair, `meta.version` A or B). Where the gold
`manipulative` differs between the halves (a "flip"), a grader that never reads the scenario gives both
halves the same probability, so it orders them right half the time. (The shipped linear heads read it a
little, through decision features such as "the turn quotes a figure the scenario holds".) For each weights file:

- `ordered`: flip pairs where the manipulative half gets the higher probability of a manipulative verdict
  (ties count a half), with a 95% bootstrap CI over pairs;
- `both right`: flip pairs whose two verdicts are both right;
- `honest called manipulative`: honest halves of flip pairs called manipulative.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import appraise_detailed  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_cases  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, Weights, load_weights, weights_file  # noqa: E402


def flip_pairs(cases: list[LabelledTurn]) -> list[tuple[LabelledTurn, LabelledTurn]]:
    """(manipulative half, honest half) for every group whose halves differ on `manipulative`."""
    groups: dict[str, list[LabelledTurn]] = defaultdict(list)
    for c in cases:
        groups[str(c.meta.get("group", c.id))].append(c)
    pairs = []
    for items in groups.values():
        if len(items) == 2 and items[0].gold.manipulative != items[1].gold.manipulative:
            pairs.append((items[0], items[1]) if items[0].gold.manipulative else (items[1], items[0]))
    return pairs


def p_manipulative(weights: Weights, case: LabelledTurn) -> tuple[float, bool]:
    """The calibrated probability of a manipulative verdict, and the verdict."""
    a = appraise_detailed(weights, case.trainee_turn, case.context, case.scenario)
    conf = a.confidence.get("manipulative", 0.5)
    said = a.verdict.manipulative
    return (conf if said else 1.0 - conf), said


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    pairs = flip_pairs(load_cases(Path(argv[0])))
    targets = [weights_file(Path(a)) for a in argv[1:]] or [DEFAULT_WEIGHTS]
    rng = np.random.default_rng(0)
    boots = [rng.integers(0, len(pairs), len(pairs)) for _ in range(400)]
    for path in targets:
        weights = load_weights(path)
        order, both, honest_flagged = [], 0, 0
        for manip, honest in pairs:
            pm, sm = p_manipulative(weights, manip)
            ph, sh = p_manipulative(weights, honest)
            order.append(1.0 if pm > ph + 1e-9 else 0.5 if abs(pm - ph) <= 1e-9 else 0.0)
            both += int(sm and not sh)
            honest_flagged += int(sh)
        arr = np.array(order)
        vals = sorted(float(arr[b].mean()) for b in boots)
        lo, hi = vals[int(0.025 * len(vals))], vals[int(0.975 * len(vals)) - 1]
        n = len(pairs)
        print(f"{path} ({weights.version}), {n} flip pairs")
        print(f"  ordered                     {arr.mean():.3f} [{lo:.3f}, {hi:.3f}]  (blind to the scenario: 0.5)")
        print(f"  both right                  {both}/{n}")
        print(f"  honest called manipulative  {honest_flagged}/{n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
