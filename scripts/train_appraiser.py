"""Train the local appraiser, measure it on the gold test split, and write the weights file that ships.

    .venv/bin/python scripts/train_appraiser.py            # train on everything labelled `train`
    .venv/bin/python scripts/train_appraiser.py --check    # retrain in memory, print metrics, write nothing

Training data: every `split == "train"` item of `simulator/grading/appraiser/data/*.jsonl` (our own turns) and of
`evals/suites/*.jsonl` (the gold suites). Test items are never trained on: they measure the appraiser.
Deterministic: fixed seeds, liblinear/lbfgs solvers, sorted inputs; the same data gives the same file.

Heads (all linear, scikit-learn here, numpy at runtime): 11 behaviours, a 5-class score head, 5 technique
presence heads, one shared "used manipulatively" head, 5 tactics. Binary thresholds are tuned on
out-of-fold predictions (4 group folds over the training items), then every head is refit on all of them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, f1_score
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from simulator.grading.appraiser.appraise import appraise_detailed, appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import (  # noqa: E402
    LabelledTurn,
    load_many,
)
from simulator.grading.appraiser.features import N_FEATURES, extract  # noqa: E402
from simulator.grading.appraiser.weights import (  # noqa: E402
    B_SLICE,
    BEHAVIOURS,
    DEFAULT_WEIGHTS,
    M_ROW,
    N_HEADS,
    S_SLICE,
    T_SLICE,
    TACTICS,
    TECHNIQUES,
    USE_ROW,
    X_SLICE,
    load_weights,
    save_weights,
)
from simulator.grading.integrity import strip_injection_spans  # noqa: E402
from simulator.grading.labels import TurnVerdict  # noqa: E402

SEED = 20240607
C_BINARY = 4.0
C_SCORE = 2.0
METRICS_PATH = ROOT / "simulator" / "grading" / "appraiser" / "data" / "metrics.json"
RELIABILITY_PLOT = ROOT / "docs" / "appraiser-reliability.png"


def data_files() -> list[Path]:
    """Our own training files first, then the gold suites, each sorted by name."""
    own = sorted((ROOT / "simulator" / "grading" / "appraiser" / "data").glob("*.jsonl"))
    gold = sorted((ROOT / "evals" / "suites").glob("*.jsonl"))
    return own + gold


def featurise(cases: Sequence[LabelledTurn]) -> sparse.csr_matrix:
    """The design matrix, built with the runtime feature code on the runtime's grading view."""
    rows, cols, vals = [], [], []
    for i, case in enumerate(cases):
        ctx = [(u.role, u.text) for u in case.context]
        idx, val = extract(strip_injection_spans(case.trainee_turn), ctx, case.scenario)
        rows.extend([i] * len(idx))
        cols.extend(idx.tolist())
        vals.extend(val.tolist())
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(cases), N_FEATURES), dtype=np.float64)


def targets(cases: Sequence[LabelledTurn]) -> dict[str, np.ndarray]:
    """Label arrays per head."""
    golds = [c.gold for c in cases]
    out: dict[str, np.ndarray] = {}
    for b in BEHAVIOURS:
        out[f"behaviour:{b.value}"] = np.array([b in g.behaviours for g in golds], dtype=int)
    for t in TECHNIQUES:
        out[f"technique:{t.value}"] = np.array([g.uses(t) is not None for g in golds], dtype=int)
    for x in TACTICS:
        out[f"tactic:{x.value}"] = np.array([x in g.manipulation_tactics for g in golds], dtype=int)
    out["use:manipulative"] = np.array([any(t.use == "manipulative" for t in g.techniques) for g in golds], dtype=int)
    out["has_technique"] = np.array([bool(g.techniques) for g in golds], dtype=int)
    out["manipulative"] = np.array([g.manipulative for g in golds], dtype=int)
    out["score"] = np.array([g.perspective_taking for g in golds], dtype=int)
    return out


def fit_binary(X: sparse.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, float]:
    """One logistic head; a label never (or always) seen gets a constant far from the threshold."""
    if y.min() == y.max():
        return np.zeros(X.shape[1]), (8.0 if y[0] else -8.0)
    model = LogisticRegression(
        C=C_BINARY, class_weight="balanced", solver="liblinear", random_state=SEED, max_iter=2000, tol=1e-3
    )
    model.fit(X, y)
    return model.coef_[0], float(model.intercept_[0])


def fit_score(X: sparse.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 0-4 score head (multinomial); classes absent from training get a very low bias."""
    model = LogisticRegression(C=C_SCORE, solver="lbfgs", max_iter=500, tol=1e-3, random_state=SEED)
    model.fit(X, y)
    W = np.zeros((5, X.shape[1]))
    b = np.full(5, -30.0)
    for k, cls in enumerate(model.classes_):
        W[int(cls)] = model.coef_[k]
        b[int(cls)] = model.intercept_[k]
    return W, b


def fit_all(X: sparse.csr_matrix, y: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Fit every head on (X, y); returns W (N_HEADS x features) and b."""
    W = np.zeros((N_HEADS, X.shape[1]))
    b = np.zeros(N_HEADS)
    for i, beh in enumerate(BEHAVIOURS):
        W[B_SLICE.start + i], b[B_SLICE.start + i] = fit_binary(X, y[f"behaviour:{beh.value}"])
    W[S_SLICE], b[S_SLICE] = fit_score(X, y["score"])
    for i, t in enumerate(TECHNIQUES):
        W[T_SLICE.start + i], b[T_SLICE.start + i] = fit_binary(X, y[f"technique:{t.value}"])
    mask = y["has_technique"] == 1
    if mask.sum() >= 2:
        W[USE_ROW], b[USE_ROW] = fit_binary(X[mask], y["use:manipulative"][mask])
    for i, x in enumerate(TACTICS):
        W[X_SLICE.start + i], b[X_SLICE.start + i] = fit_binary(X, y[f"tactic:{x.value}"])
    W[M_ROW], b[M_ROW] = fit_binary(X, y["manipulative"])
    return W, b


def binary_rows() -> list[tuple[int, str]]:
    """(row, target name) of every binary head."""
    rows = [(B_SLICE.start + i, f"behaviour:{b.value}") for i, b in enumerate(BEHAVIOURS)]
    rows += [(T_SLICE.start + i, f"technique:{t.value}") for i, t in enumerate(TECHNIQUES)]
    rows += [(USE_ROW, "use:manipulative")]
    rows += [(X_SLICE.start + i, f"tactic:{x.value}") for i, x in enumerate(TACTICS)]
    rows += [(M_ROW, "manipulative")]
    return rows


def out_of_fold_logits(X: sparse.csr_matrix, y: dict[str, np.ndarray], groups: list[str]) -> np.ndarray:
    """Every head's logits for every training item, each from a model that did not see its group."""
    oof = np.zeros((X.shape[0], N_HEADS))
    for train_idx, val_idx in GroupKFold(n_splits=4).split(X, groups=groups):
        sub = {k: v[train_idx] for k, v in y.items()}
        W, b = fit_all(X[train_idx], sub)
        oof[val_idx] = X[val_idx] @ W.T + b
    return oof


def calibrate(oof_logits: np.ndarray, y: dict[str, np.ndarray]) -> np.ndarray:
    """Platt scaling per binary head and a temperature for the score softmax, fitted on out-of-fold logits.

    Returns the (N_HEADS, 2) table `weights.calib`: `(a, b)` with `p = sigmoid(a * logit + b)`; the score
    rows hold `(1 / T, 0)`.
    """
    calib = np.tile(np.array([1.0, 0.0]), (N_HEADS, 1))
    for row, name in binary_rows():
        truth = y[name]
        mask = y["has_technique"] == 1 if name == "use:manipulative" else np.ones(len(truth), dtype=bool)
        if truth[mask].min() == truth[mask].max():
            continue
        model = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
        model.fit(oof_logits[mask, row].reshape(-1, 1), truth[mask])
        calib[row] = (float(model.coef_[0][0]), float(model.intercept_[0]))
    scores = oof_logits[:, S_SLICE]
    best_t, best_nll = 1.0, np.inf
    for t in np.round(np.arange(0.5, 4.01, 0.1), 2):
        z = scores / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -float(np.mean(logp[np.arange(len(z)), y["score"]]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    calib[S_SLICE] = (1.0 / best_t, 0.0)
    return calib


def tune_thresholds(
    X: sparse.csr_matrix, y: dict[str, np.ndarray], groups: list[str], oof_logits: np.ndarray | None = None
) -> np.ndarray:
    """Per-head thresholds that maximise out-of-fold F1 (4 group folds), shrunk towards 0.5."""
    logits = out_of_fold_logits(X, y, groups) if oof_logits is None else oof_logits
    oof = 1.0 / (1.0 + np.exp(-logits))
    thresholds = np.full(N_HEADS, 0.5)
    grid = np.round(np.arange(0.2, 0.81, 0.05), 2)
    for row, name in binary_rows():
        truth = y[name]
        mask = y["has_technique"] == 1 if name == "use:manipulative" else np.ones(len(truth), dtype=bool)
        if truth[mask].sum() < 3:
            continue
        scores = [f1_score(truth[mask], oof[mask, row] >= t, zero_division=0) for t in grid]
        best = float(grid[int(np.argmax(scores))])
        thresholds[row] = round(0.5 + 0.7 * (best - 0.5), 3)
    return thresholds


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


NEGATIVE = ("fact_confrontation", "dismissal", "blame")


def target_metrics(cases: Sequence[LabelledTurn], preds: Sequence[TurnVerdict]) -> dict[str, Any]:
    """The issue's target figures for one prediction set."""
    golds = [c.gold for c in cases]
    ts, ps = [g.perspective_taking for g in golds], [v.perspective_taking for v in preds]
    out: dict[str, Any] = {"n": len(cases)}
    out["score_qwk"] = round(float(cohen_kappa_score(ts, ps, weights="quadratic", labels=[0, 1, 2, 3, 4])), 3)
    out["manipulative_f1"] = round(float(f1_score([g.manipulative for g in golds], [v.manipulative for v in preds],
                                                  zero_division=0)), 3)  # fmt: skip
    neg_t = [any(b in g.behaviours for b in NEGATIVE) for g in golds]
    neg_p = [any(b in v.behaviours for b in NEGATIVE) for v in preds]
    tp = sum(a and b for a, b in zip(neg_t, neg_p, strict=True))
    out["negative_recall"] = round(tp / max(1, sum(neg_t)), 3)
    out["negative_precision"] = round(tp / max(1, sum(neg_p)), 3)
    for b in NEGATIVE:
        t = [b in g.behaviours for g in golds]
        p = [b in v.behaviours for v in preds]
        out[f"{b}_f1"] = round(float(f1_score(t, p, zero_division=0)), 3)
    eth = [(c, v) for c, v in zip(cases, preds, strict=True)
           if c.gold.techniques and all(t.use == "ethical" for t in c.gold.techniques) and not c.gold.manipulative]
    out["ethical_called_manipulative"] = round(sum(v.manipulative for _, v in eth) / max(1, len(eth)), 3)
    cue = [(c, v) for c, v in zip(cases, preds, strict=True)
           if c.meta.get("category") == "surface_cue" and c.gold.perspective_taking <= 1]
    out["surface_cue_scored_le1"] = round(sum(v.perspective_taking <= 1 for _, v in cue) / max(1, len(cue)), 3)
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        if c.meta.get("category") == "pair" or c.meta.get("pair_axis"):
            groups.setdefault(str(c.meta.get("group")), []).append(i)
    pairs = [ix for ix in groups.values() if len(ix) == 2 and golds[ix[0]].manipulative != golds[ix[1]].manipulative]
    right = sum(all(preds[i].manipulative == golds[i].manipulative for i in ix) for ix in pairs)
    out["pairs_right"] = f"{right}/{len(pairs)}"
    out["pairs_right_share"] = round(right / max(1, len(pairs)), 3)
    return out



def reliability(cases: Sequence[LabelledTurn], weights: Any, bins: int = 10) -> dict[str, Any]:
    """Calibration of the appraiser's confidence: every head decision's confidence against whether it
    was right, in equal-width bins; ECE is the weighted mean gap between confidence and accuracy."""
    pairs: list[tuple[float, bool]] = []
    for c in cases:
        verdict, conf = appraise_detailed(weights, c.trainee_turn, c.context, c.scenario)
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

    X = featurise(train)
    y = targets(train)
    cols = np.flatnonzero(np.asarray(abs(X).sum(axis=0)).ravel() > 0)
    Xc = X[:, cols].tocsr()
    groups = [str(c.meta.get("group", c.id)) for c in train]
    oof_logits = out_of_fold_logits(Xc, y, groups)
    thresholds = np.full(N_HEADS, 0.5) if args.no_tune else tune_thresholds(Xc, y, groups, oof_logits)
    calib = calibrate(oof_logits, y)
    W, b = fit_all(Xc, y)

    out = args.out
    if args.check:
        out = Path("/tmp") / "cooldown_appraiser_check.npz"
    meta = {
        "seed": SEED,
        "c_binary": C_BINARY,
        "c_score": C_SCORE,
        "train_items": len(train),
        "train_files": [str(p.relative_to(ROOT)) for p in files],
    }
    version = save_weights(out, cols, W, b, thresholds, meta, calib)
    load_weights.cache_clear()
    weights = load_weights(out)

    def predict(case: LabelledTurn) -> TurnVerdict:
        return appraise_with(weights, case.trainee_turn, case.context, case.scenario)

    report: dict[str, Any] = {"version": version, "train_items": len(train), "test_items": len(test)}
    report["train"] = evaluate(train, predict)
    print_metrics("train (fit, optimistic)", report["train"])
    if test:
        report["test"] = evaluate(test, predict)
        report["baseline_test"] = evaluate(test, majority_predictor(train))
        print_metrics("gold TEST split: appraiser", report["test"])
        print_metrics("gold TEST split: majority-class baseline", report["baseline_test"])
        per_file: dict[str, Any] = {}
        for prefix in sorted({c.id.split("-")[0] for c in test}):
            subset = [c for c in test if c.id.split("-")[0] == prefix]
            per_file[prefix] = evaluate(subset, predict)
            print_metrics(f"gold TEST split, ids {prefix}-*", per_file[prefix])
        report["test_by_prefix"] = per_file
        blind = [c for c in test if c.id.startswith("bt")]
        old = [c for c in test if not c.id.startswith("bt")]
        report["targets"] = {
            "blind": target_metrics(blind, [predict(c) for c in blind]),
            "old_test_split": target_metrics(old, [predict(c) for c in old]),
        }
        report["reliability"] = {"blind": reliability(blind, weights), "old_test_split": reliability(old, weights)}
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
    print(f"\nweights {out} version {version}, {len(cols)} feature columns, {time.perf_counter() - started:.1f}s")
    if not args.check:
        METRICS_PATH.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"metrics written to {METRICS_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
