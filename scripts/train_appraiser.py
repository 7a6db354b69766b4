"""Train the local appraiser, measure it on the gold test split, and write the weights file that ships.

    .venv/bin/python scripts/train_appraiser.py            # train on everything labelled `train`
    .venv/bin/python scripts/train_appraiser.py --check    # retrain in memory, print metrics, write nothing

    .venv/bin/python scripts/train_appraiser.py --score-blind   # ... and score the blind suites' targets

Training data: every `split == "train"` item of `simulator/grading/appraiser/data/*.jsonl` (our own turns) and of
`evals/suites/*.jsonl` (the gold suites). Test items are never trained on: they measure the appraiser.

What a run prints: the fit, and the old test split (the gold suites' test items) beside a majority baseline.
The blind suites (`bt*`, `cf*` ids) are scored only with `--score-blind`, as the issue 13 target figures
and nothing more: each such run spends them once, so pass it once per candidate that has passed its gates.
The injection suites' gold labels are never printed here; the reliability tests measure them.
Deterministic: fixed seeds, liblinear/lbfgs solvers, sorted inputs; the same data gives the same file.

Heads (all linear, scikit-learn here, numpy at runtime): 11 behaviours, a 5-class score head, 5 technique
presence heads, one shared "used manipulatively" head, 5 tactics. Binary thresholds are tuned on
out-of-fold predictions (4 group folds over the training items), then every head is refit on all of them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score, f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from simulator.grading.appraiser.appraise import appraise_detailed, appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import (  # noqa: E402
    LabelledTurn,
    load_many,
)
from simulator.grading.appraiser.encoder import DEFAULT_ENCODER  # noqa: E402
from simulator.grading.appraiser.training import (  # noqa: E402
    SEED,
    heldout_files,
    shipped_training_files,
    target_metrics,
    train_blended_weights,
    train_weights,
)
from simulator.grading.appraiser.weights import (  # noqa: E402
    BEHAVIOURS,
    DEFAULT_WEIGHTS,
    TACTICS,
    TECHNIQUES,
    load_weights,
)
from simulator.grading.labels import TurnVerdict  # noqa: E402

BLIND_PREFIXES = ("bt", "cf")
"""Id prefixes of the blind suites (blind.jsonl, blind2.jsonl)."""
INJECTION_PREFIX = "inj"
"""Id prefix of the injection suites, measured by the reliability tests, not by this script."""
METRICS_PATH = ROOT / "simulator" / "grading" / "appraiser" / "data" / "metrics.json"
RELIABILITY_PLOT = ROOT / "docs" / "appraiser-reliability.png"


def data_files() -> list[Path]:
    """Our own training files first, then the gold suites, each sorted by name."""
    return shipped_training_files()


def evaluate(cases: Sequence[LabelledTurn], predict: Callable[[LabelledTurn], TurnVerdict]) -> dict[str, Any]:
    """Metrics of a predictor on labelled cases (per-label F1, macro-F1, score accuracy and kappa...)."""
    preds = [predict(c) for c in cases]
    golds = [c.gold for c in cases]
    m: dict[str, Any] = {"n": len(cases)}
    f1s: dict[str, float] = {}
    for b in BEHAVIOURS:
        truth = [b in g.behaviours for g in golds]
        pred = [b in v.behaviours for v in preds]
        f1s[b.value] = round(float(f1_score(truth, pred, zero_division=0)), 3)
    m["behaviour_f1"] = f1s
    m["behaviour_macro_f1"] = round(float(np.mean(list(f1s.values()))), 3)
    ts, ps = [g.perspective_taking for g in golds], [v.perspective_taking for v in preds]
    m["score_accuracy"] = round(float(np.mean([a == b for a, b in zip(ts, ps, strict=True)])), 3)
    m["score_within_1"] = round(float(np.mean([abs(a - b) <= 1 for a, b in zip(ts, ps, strict=True)])), 3)
    m["score_qwk"] = round(float(cohen_kappa_score(ts, ps, weights="quadratic", labels=[0, 1, 2, 3, 4])), 3)
    tm, pm = [g.manipulative for g in golds], [v.manipulative for v in preds]
    m["manipulative_accuracy"] = round(float(np.mean([a == b for a, b in zip(tm, pm, strict=True)])), 3)
    m["manipulative_f1"] = round(float(f1_score(tm, pm, zero_division=0)), 3)
    tech: dict[str, float] = {}
    use_hits = use_total = 0
    for tq in TECHNIQUES:
        tt = [g.uses(tq) is not None for g in golds]
        pp = [v.uses(tq) is not None for v in preds]
        tech[tq.value] = round(float(f1_score(tt, pp, zero_division=0)), 3)
        for g, v in zip(golds, preds, strict=True):
            if g.uses(tq) and v.uses(tq):
                use_total += 1
                use_hits += g.uses(tq) == v.uses(tq)
    m["technique_f1"] = tech
    m["technique_use_accuracy_when_both_found"] = round(use_hits / use_total, 3) if use_total else None
    m["tactic_f1"] = {
        x.value: round(
            float(
                f1_score(
                    [x in g.manipulation_tactics for g in golds],
                    [x in v.manipulation_tactics for v in preds],
                    zero_division=0,
                )
            ),
            3,
        )
        for x in TACTICS
    }
    m["evidence_verbatim"] = all(
        t.evidence in c.trainee_turn for c, v in zip(cases, preds, strict=True) for t in v.techniques
    )
    return m


def reliability(cases: Sequence[LabelledTurn], weights: Any, bins: int = 10) -> dict[str, Any]:
    """Calibration of the appraiser's confidence: every head decision's confidence against whether it
    was right, in equal-width bins; ECE is the weighted mean gap between confidence and accuracy."""
    pairs: list[tuple[float, bool]] = []
    for c in cases:
        verdict, conf, _ = appraise_detailed(weights, c.trainee_turn, c.context, c.scenario)
        g = c.gold
        for b in BEHAVIOURS:
            pairs.append((conf.get(f"behaviour:{b.value}", 1.0), (b in verdict.behaviours) == (b in g.behaviours)))
        for t in TECHNIQUES:
            found = verdict.uses(t) is not None
            pairs.append((conf.get(f"technique:{t.value}", 1.0), found == (g.uses(t) is not None)))
        for x in TACTICS:
            pred = x in verdict.manipulation_tactics
            pairs.append((conf.get(f"tactic:{x.value}", 1.0), pred == (x in g.manipulation_tactics)))
        pairs.append((conf.get("score", 1.0), verdict.perspective_taking == g.perspective_taking))
        pairs.append((conf.get("manipulative", 1.0), verdict.manipulative == g.manipulative))
    edges = np.linspace(0.0, 1.0, bins + 1)
    table = []
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = [(p, ok) for p, ok in pairs if lo <= p < hi or (hi == 1.0 and p == 1.0)]
        if not inside:
            continue
        mean_p = float(np.mean([p for p, _ in inside]))
        acc = float(np.mean([ok for _, ok in inside]))
        ece += len(inside) / len(pairs) * abs(mean_p - acc)
        table.append({"bin": [round(float(lo), 1), round(float(hi), 1)], "n": len(inside),
                      "confidence": round(mean_p, 3), "accuracy": round(acc, 3)})  # fmt: skip
    return {"decisions": len(pairs), "ece": round(ece, 4), "bins": table}


def plot_reliability(curves: dict[str, dict[str, Any]], path: Path) -> None:
    """A reliability diagram (confidence vs accuracy per bin) for each named set of decisions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, rel in curves.items():
        xs = [b["confidence"] for b in rel["bins"]]
        ys = [b["accuracy"] for b in rel["bins"]]
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {rel['ece']:.3f})")
    ax.set_xlabel("appraiser confidence in its decision")
    ax.set_ylabel("share of decisions that were right")
    ax.set_title("Local appraiser: reliability of its confidence")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def majority_predictor(train: Sequence[LabelledTurn]) -> Callable[[LabelledTurn], TurnVerdict]:
    """Predicts each label's majority value from the training items (the baseline)."""
    n = len(train)
    beh = [b for b in BEHAVIOURS if sum(b in c.gold.behaviours for c in train) > n / 2]
    score = Counter(c.gold.perspective_taking for c in train).most_common(1)[0][0]
    tactics = [x for x in TACTICS if sum(x in c.gold.manipulation_tactics for c in train) > n / 2]
    verdict = TurnVerdict(perspective_taking=score, behaviours=beh, manipulation_tactics=tactics)
    return lambda case: verdict


def print_metrics(title: str, m: dict[str, Any]) -> None:
    """Human-readable metrics."""
    print(f"\n== {title} (n={m['n']}) ==")
    print("behaviour F1: " + ", ".join(f"{k} {v:.2f}" for k, v in m["behaviour_f1"].items()))
    print(f"behaviour macro-F1 {m['behaviour_macro_f1']:.3f}")
    print(
        f"score accuracy {m['score_accuracy']:.3f}, within 1 {m['score_within_1']:.3f}, "
        f"quadratic kappa {m['score_qwk']:.3f}"
    )
    print(f"manipulative accuracy {m['manipulative_accuracy']:.3f}, F1 {m['manipulative_f1']:.3f}")
    print("technique F1: " + ", ".join(f"{k} {v:.2f}" for k, v in m["technique_f1"].items()))
    print(f"technique use accuracy (found by both) {m['technique_use_accuracy_when_both_found']}")
    print("tactic F1: " + ", ".join(f"{k} {v:.2f}" for k, v in m["tactic_f1"].items()))
    print(f"all evidence verbatim: {m['evidence_verbatim']}")


def main(argv: Sequence[str] | None = None) -> int:
    """Train, evaluate, write weights and metrics. Returns a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="weights file to write")
    parser.add_argument("--check", action="store_true", help="train and evaluate, but write nothing")
    parser.add_argument("--no-tune", action="store_true", help="skip threshold tuning (all thresholds 0.5)")
    parser.add_argument("--score-blind", action="store_true",
                        help="also score the blind suites' target figures (spends them: once per candidate)")
    parser.add_argument("--encoder", type=Path, nargs="+", default=[DEFAULT_ENCODER],
                        help="the reading model to blend (default: the shipped one), or several with distinct "
                             "file names whose logits are averaged; copied beside --out")
    parser.add_argument("--linear-only", action="store_true",
                        help="linear heads alone, tuned out of fold (no reading model, no held-out blend)")
    args = parser.parse_args(argv)

    np.random.seed(SEED)
    started = time.perf_counter()
    files = data_files()
    cases = load_many(files)
    train = [c for c in cases if c.split == "train"]
    test = [c for c in cases if c.split == "test"]
    train_groups = {str(c.meta.get("group", c.id)) for c in train}
    leaked = [c.id for c in test if str(c.meta.get("group", c.id)) in train_groups]
    print(f"files: {', '.join(str(p.relative_to(ROOT)) for p in files)}")
    print(f"train items {len(train)}, test items {len(test)}; test groups also in train: {len(leaked)}")

    out = args.out
    if args.check:
        out = Path("/tmp") / "cooldown_appraiser_check.npz"
    meta = {"train_files": [str(p.relative_to(ROOT)) for p in files]}
    encoders: list[Path] = args.encoder
    if len({p.name for p in encoders}) != len(encoders):
        parser.error("--encoder: the reading models need distinct file names (rename one, e.g. encoder2.npz)")
    missing = [str(p) for p in encoders if not p.is_file()]
    if missing and encoders != [DEFAULT_ENCODER]:
        parser.error(f"--encoder: no such file: {', '.join(missing)}")
    held_files = heldout_files()
    if not missing and held_files and not args.linear_only:
        if args.check:
            out = Path(tempfile.mkdtemp(prefix="cooldown_appraiser_check_")) / DEFAULT_WEIGHTS.name
        for encoder in encoders:
            if out.parent.resolve() != encoder.parent.resolve():
                shutil.copy(encoder, out.parent / encoder.name)
        heldout = load_many(held_files)
        meta["heldout_files"] = [str(p.relative_to(ROOT)) for p in held_files]
        names = " + ".join(p.name for p in encoders)
        print(f"blend with the reading model {names}, fitted on {len(heldout)} held-out turns")
        version = train_blended_weights(train, heldout, [out.parent / p.name for p in encoders], out, meta)
    else:
        version = train_weights(train, out, meta, tune=not args.no_tune)
    load_weights.cache_clear()
    weights = load_weights(out)

    def predict(case: LabelledTurn) -> TurnVerdict:
        return appraise_with(weights, case.trainee_turn, case.context, case.scenario)

    report: dict[str, Any] = {"version": version, "train_items": len(train), "test_items": len(test),
                              "blind_scored": args.score_blind}
    report["train"] = evaluate(train, predict)
    print_metrics("train (fit, optimistic)", report["train"])
    old = [c for c in test if not c.id.startswith((*BLIND_PREFIXES, INJECTION_PREFIX))]
    if old:
        report["test"] = evaluate(old, predict)
        report["baseline_test"] = evaluate(old, majority_predictor(train))
        print_metrics("old TEST split: appraiser", report["test"])
        print_metrics("old TEST split: majority-class baseline", report["baseline_test"])
        per_file: dict[str, Any] = {}
        for prefix in sorted({c.id.split("-")[0] for c in old}):
            subset = [c for c in old if c.id.split("-")[0] == prefix]
            per_file[prefix] = evaluate(subset, predict)
            print_metrics(f"old TEST split, ids {prefix}-*", per_file[prefix])
        report["test_by_prefix"] = per_file
        report["targets"] = {"old_test_split": target_metrics(old, [predict(c) for c in old])}
        report["reliability"] = {"old_test_split": reliability(old, weights)}
        if args.score_blind:
            blind = [c for c in test if c.id.startswith("bt")]
            blind2 = [c for c in test if c.id.startswith("cf")]  # the second blind suite decides what ships
            report["targets"]["blind"] = target_metrics(blind, [predict(c) for c in blind])
            report["targets"]["blind2"] = target_metrics(blind2, [predict(c) for c in blind2])
            report["reliability"]["blind"] = reliability(blind, weights)
        print("\n== targets ==")
        for name, figures in report["targets"].items():
            print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
        for name, rel in report["reliability"].items():
            print(f"reliability {name}: ECE {rel['ece']} over {rel['decisions']} head decisions")
        if not args.check:
            plot_reliability(report["reliability"], RELIABILITY_PLOT)
            print(f"reliability plot written to {RELIABILITY_PLOT.relative_to(ROOT)}")
    else:
        print("\nno test items yet: held-out metrics need the gold suites in evals/suites/")
    elapsed = time.perf_counter() - started
    print(f"\nweights {out} version {version}, {len(weights.cols)} feature columns, {elapsed:.1f}s")
    if not args.check:
        METRICS_PATH.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"metrics written to {METRICS_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
