"""Inter-rater agreement on the blind suite, before adjudication: author (rater 1) vs blind rater 2.

usage: python scripts/blind_agreement.py SUITE.jsonl RATINGS.jsonl... [--json OUT]

SUITE.jsonl holds rater 1's labels, as a suite (`gold`) or as a ratings file (`labels`): once a suite is
adjudicated its `gold` is the final label, so pass the author's labels kept beside it
(`evals/suites/blind2_ratings/author_labels.jsonl`).

Prints Cohen's kappa per label (behaviours, technique presence, technique use, tactics, manipulative)
and quadratic-weighted kappa on the 0-4 score, each with a 95% bootstrap CI over items.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.grading.agreement import features, kappa


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("suite")
    ap.add_argument("ratings", nargs="+")
    ap.add_argument("--json")
    args = ap.parse_args()
    gold = {}
    for line in open(args.suite, encoding="utf-8"):
        if line.strip():
            c = json.loads(line)
            gold[c["id"]] = c["gold"] if "gold" in c else c["labels"]
    second = {}
    for path in args.ratings:
        for line in open(path, encoding="utf-8"):
            if line.strip():
                r = json.loads(line)
                second[r["id"]] = r["labels"]
    ids = sorted(set(gold) & set(second))
    rng = random.Random(0)
    boots = [[rng.choice(ids) for _ in ids] for _ in range(1000)]
    rows = []

    def stat(name: str, fa, k: int = 2, quadratic: bool = False) -> None:
        a = [fa(gold[i]) for i in ids]
        b = [fa(second[i]) for i in ids]
        value = kappa(a, b, k, quadratic)
        idx = {i: n for n, i in enumerate(ids)}
        samples = sorted(kappa([a[idx[i]] for i in s], [b[idx[i]] for i in s], k, quadratic) for s in boots)
        lo, hi = samples[25], samples[974]
        pos = sum(a) if k == 2 else None
        agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        rows.append({"label": name, "kappa": round(value, 3), "ci95": [round(lo, 3), round(hi, 3)],
                     "agreement": round(agree, 3), "rater1_positives": pos,
                     "rater2_positives": sum(b) if k == 2 else None})

    stat("score (quadratic kappa)", lambda v: v["perspective_taking"], k=5, quadratic=True)
    for key in features(next(iter(gold.values()))):
        stat(key, lambda v, key=key: features(v)[key])
    print(f"{len(ids)} items rated twice")
    print(f"{'label':34} {'kappa':>6}  95% CI          agree  r1+  r2+")
    for r in rows:
        pos = f"{r['rater1_positives']:>4} {r['rater2_positives']:>4}" if r["rater1_positives"] is not None else ""
        ci = f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"
        print(f"{r['label']:34} {r['kappa']:6.3f}  {ci}  {r['agreement']:.2f} {pos}")
    if args.json:
        Path(args.json).write_text(json.dumps({"items": len(ids), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
