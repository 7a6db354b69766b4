"""Ablation for the local appraiser: which features and data generalise to turns nobody here wrote.

    .venv/bin/python scripts/appraiser_experiments.py [--no-cv] [--json OUT]

Model selection uses leave-one-author-out cross-validation over the training authors only: each
independent training author's turns are held out in turn, and the heads are trained on everything else.
The blind suite (`evals/suites/blind.jsonl`, split=test, other authors) is scored for every
configuration and reported beside it, but never trained on.

Configurations: the shipped weights (as they are); n-grams + cues on the original data; n-grams + cues
on all training data; + decision features. SmolLM2's contextual embeddings are measured apart, by
`scripts/embedding_probe.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_appraiser as ta  # noqa: E402

from simulator.grading.appraiser.appraise import appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_cases, load_many  # noqa: E402
from simulator.grading.appraiser.features import DENSE_NAMES, N_HASHED  # noqa: E402
from simulator.grading.appraiser.weights import (  # noqa: E402
    DEFAULT_WEIGHTS,
    N_HEADS,
    AppraiserWeightsError,
    load_weights,
    save_weights,
)
from simulator.grading.labels import TurnVerdict  # noqa: E402


def author_of(case: LabelledTurn) -> str:
    return str(case.meta.get("author") or "core")


def columns_for(config: str, used: np.ndarray) -> np.ndarray:
    """The feature columns a configuration may use (of the columns the data has)."""
    dense_start = N_HASHED
    decision_cols = {N_HASHED + i for i, n in enumerate(DENSE_NAMES) if n.startswith("d_")}
    keep = []
    for col in used:
        if col < dense_start:
            keep.append(col)
        elif col in decision_cols:
            if "decisions" in config:
                keep.append(col)
        elif col < dense_start + len(DENSE_NAMES):
            keep.append(col)
    return np.array(keep, dtype=np.int64)


def train_weights(train: Sequence[LabelledTurn], config: str, X: sparse.csr_matrix, out: Path,
                  tune: bool = True) -> Callable[[LabelledTurn], TurnVerdict]:  # fmt: skip
    y = ta.targets(train)
    used = np.flatnonzero(np.asarray(abs(X).sum(axis=0)).ravel() > 0)
    cols = columns_for(config, used)
    Xc = X[:, cols].tocsr()
    groups = [str(c.meta.get("group", c.id)) for c in train]
    thresholds = ta.tune_thresholds(Xc, y, groups) if tune else np.full(N_HEADS, 0.5)
    W, b = ta.fit_all(Xc, y)
    save_weights(out, cols, W, b, thresholds, {"config": config, "train_items": len(train)})
    load_weights.cache_clear()
    weights = load_weights(out)
    return lambda c: appraise_with(weights, c.trainee_turn, c.context, c.scenario)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-cv", action="store_true", help="skip leave-one-author-out (blind suite only)")
    args = ap.parse_args()
    started = time.perf_counter()
    pool = [c for c in load_many(ta.data_files()) if c.split == "train"]
    blind = [LabelledTurn.model_validate({**c.model_dump(), "split": "test"})
             for c in load_cases(ROOT / "evals" / "suites" / "blind.jsonl")]  # fmt: skip
    original = [c for c in pool if author_of(c) == "core"]
    authors = sorted({author_of(c) for c in pool} - {"core"})
    print(f"training pool {len(pool)} turns ({len(original)} original, authors {', '.join(authors)}); "
          f"blind {len(blind)}")  # fmt: skip
    X_pool = ta.featurise(pool)
    index = {c.id: i for i, c in enumerate(pool)}
    tmp = Path("/tmp/cooldown-ablation.npz")
    rows: list[dict[str, Any]] = []
    try:
        shipped = load_weights(DEFAULT_WEIGHTS)
        preds = [appraise_with(shipped, c.trainee_turn, c.context, c.scenario) for c in blind]
        rows.append({"config": "shipped weights", "blind": ta.target_metrics(blind, preds)})
    except AppraiserWeightsError as exc:
        print(f"shipped weights not scored: {exc}")
    configs = [("ngrams+cues", "original"), ("ngrams+cues", "all"), ("ngrams+cues+decisions", "all")]
    for config, data in configs:
        train = original if data == "original" else pool
        X = X_pool[[index[c.id] for c in train]]
        row: dict[str, Any] = {"config": f"{config} on {data} data ({len(train)} turns)"}
        if not args.no_cv and data == "all":
            folds = []
            for held in authors:
                tr = [c for c in train if author_of(c) != held]
                te = [c for c in train if author_of(c) == held]
                predict = train_weights(tr, config, X_pool[[index[c.id] for c in tr]], tmp, tune=False)
                folds.append(ta.target_metrics(te, [predict(c) for c in te]))
            row["loao"] = {k: round(float(np.mean([f[k] for f in folds])), 3)
                           for k in folds[0] if isinstance(folds[0][k], float)}  # fmt: skip
        predict = train_weights(train, config, X, tmp)
        row["blind"] = ta.target_metrics(blind, [predict(c) for c in blind])
        rows.append(row)
        print(json.dumps(row))
    keys = ["score_qwk", "manipulative_f1", "pairs_right_share", "negative_recall", "negative_precision",
            "ethical_called_manipulative", "surface_cue_scored_le1"]  # fmt: skip
    print(f"\nblind suite (n={len(blind)})")
    print(f"{'configuration':52}" + "".join(f"{k[:14]:>16}" for k in keys))
    for r in rows:
        print(f"{r['config'][:52]:52}" + "".join(f"{r['blind'][k]!s:>16}" for k in keys))
    print("\nleave-one-author-out over the training authors (mean of folds)")
    for r in rows:
        if "loao" in r:
            print(f"{r['config'][:52]:52}" + "".join(f"{r['loao'].get(k, '')!s:>16}" for k in keys))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
