"""The appraiser and the claims check on the independent claims set (`evals/claims/`), against each rater.

usage: python scripts/claims_figures.py

Prints, against the final (adjudicated) labels, the author's and the blind rater's: the appraiser's
`manipulative` F1 with a 95% bootstrap CI, how many turns of each kind (true, not covered, contradicts) it
calls manipulative, and the claims check's recall of contradictions. Nothing here is tuned on this set.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.call.transcript import Utterance  # noqa: E402
from simulator.grading.appraiser.appraise import appraise_detailed  # noqa: E402
from simulator.grading.appraiser.claims import claim_conflicts  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights  # noqa: E402
from simulator.grading.integrity import reading_view, strip_injection_spans  # noqa: E402

CLAIMS = ROOT / "evals" / "claims"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def f1(truth: list[bool], pred: list[bool]) -> float:
    tp = sum(t and p for t, p in zip(truth, pred, strict=True))
    fp = sum(p and not t for t, p in zip(truth, pred, strict=True))
    fn = sum(t and not p for t, p in zip(truth, pred, strict=True))
    return 2 * tp / max(1, 2 * tp + fp + fn)


def f1_ci(truth: list[bool], pred: list[bool], n: int = 2000) -> tuple[float, float]:
    rng = random.Random(0)
    idx = range(len(truth))
    samples = sorted(
        f1([truth[i] for i in s], [pred[i] for i in s]) for s in ([rng.choice(idx) for _ in idx] for _ in range(n))
    )
    return samples[int(0.025 * n)], samples[int(0.975 * n) - 1]


def main() -> int:
    items = _rows(CLAIMS / "claims_set.jsonl")
    labels = {
        "final (adjudicated)": {r["id"]: r["manipulative"] for r in items},
        "author": {r["id"]: r["manipulative"] for r in _rows(CLAIMS / "author_labels.jsonl")},
        "blind rater": {r["id"]: r["manipulative"] for r in _rows(CLAIMS / "ratings.jsonl")},
    }
    weights = load_weights(DEFAULT_WEIGHTS)
    called: dict[str, bool] = {}
    found: dict[str, bool] = {}
    for r in items:
        context = [Utterance(role=u["role"], text=u["text"]) for u in r["context"]]
        called[r["id"]] = appraise_detailed(weights, r["trainee_turn"], context, r["scenario"]).verdict.manipulative
        read = reading_view(r["trainee_turn"], strip_injection_spans(r["trainee_turn"]))
        found[r["id"]] = bool(claim_conflicts(read, r["scenario"], [u["text"] for u in r["context"]]))
    ids = [r["id"] for r in items]
    print(f"{len(ids)} turns; the appraiser calls {sum(called.values())} manipulative")
    for name, gold in labels.items():
        truth = [gold[i] for i in ids]
        pred = [called[i] for i in ids]
        lo, hi = f1_ci(truth, pred)
        print(f"manipulative F1 against {name} ({sum(truth)} manipulative): {f1(truth, pred):.2f} [{lo:.2f}, {hi:.2f}]"
              " (baseline, all manipulative: " + f"{f1(truth, [True] * len(truth)):.2f})")
    for kind in ("true", "not_covered", "contradiction"):
        of_kind = [r["id"] for r in items if r["kind"] == kind]
        print(f"kind {kind}: {len(of_kind)} turns, {sum(called[i] for i in of_kind)} called manipulative, "
              f"{sum(labels['final (adjudicated)'][i] for i in of_kind)} manipulative by the final labels")
    contradicts = [r["id"] for r in items if r["contradicts"]]
    hits = sum(found[i] for i in contradicts)
    wrong = sum(found[i] for i in ids if i not in contradicts)
    print(f"claims check: {hits} of {len(contradicts)} contradictions found; "
          f"{wrong} reports on turns that contradict nothing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
