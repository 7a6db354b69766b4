"""Train the sentence-addressee model (`simulator/grading/addressee.py`) and choose its drop threshold.

    .venv/bin/python scripts/train_addressee.py           # train, report, write addressee.npz
    .venv/bin/python scripts/train_addressee.py --check   # train and report only

Said to the caller (label 0): every sentence of the ordinary turns we train the appraiser on (our own,
the training authors', the held-out and reading-model authors', the r15-r18 development set, the gold
suites' train split; not `adversarial.jsonl`, whose turns carry payloads). Said to a model (label 1):
the sentences of three injection sets' full turns that are not part of the base turn
(`injection_heldout`, `injection_fresh`, `injection_fresh2`). Never used here: the blind suites, the gold
test splits, the claims set, `injection_unseen` and `injection_fresh3`, which measure the model.

The threshold is the lowest at which no sentence of the ordinary turns, scored out of fold (five folds
grouped by author and by payload family), would be dropped, raised by a margin; the report then counts
what it would drop on the ordinary sets it never saw and what it catches out of fold, by family.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.addressee import DIM, WEIGHTS, Addressee, features, save  # noqa: E402
from simulator.grading.integrity import sanitize_for_grading, sentences_of  # noqa: E402

DATA = ROOT / "simulator" / "grading" / "appraiser" / "data"
SUITES = ROOT / "evals" / "suites"
TRAIN_INJECTION = ("injection_heldout.jsonl", "injection_fresh.jsonl", "injection_fresh2.jsonl")
MARGIN = 0.02
SEED = 20261203


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def ordinary_sentences(files: list[Path], split: str | None = None) -> list[tuple[str, str, str]]:
    """(sentence, group, turn id) of every ordinary turn in `files` (only `split` items when given)."""
    out = []
    for path in files:
        for row in _rows(path):
            if split and row.get("split") != split:
                continue
            group = str(row.get("meta", {}).get("author") or path.stem)
            for s in sentences_of(sanitize_for_grading(row["trainee_turn"])):
                out.append((s, f"a:{group}", row["id"]))
    return out


def payload_sentences(files: list[Path]) -> list[tuple[str, str, str]]:
    """(sentence, family group, turn id) of the sentences of a full turn that are not in its base turn;
    a sentence that shares a run of five words with the base (a payload glued to the turn) is left out."""
    out = []
    for path in files:
        for row in _rows(path):
            base = _norm(row["meta"]["base_turn"])
            base_words = base.split()
            runs = {" ".join(base_words[i : i + 5]) for i in range(max(0, len(base_words) - 4))}
            for s in sentences_of(sanitize_for_grading(row["trainee_turn"])):
                n = _norm(s)
                if not n or n in base:
                    continue
                words = n.split()
                if any(" ".join(words[i : i + 5]) in runs for i in range(max(0, len(words) - 4))):
                    continue
                out.append((s, f"f:{row['meta']['attack']}", row["id"]))
    return out


def design(sentences: list[str]) -> Any:
    from scipy import sparse

    rows, cols, vals = [], [], []
    for i, s in enumerate(sentences):
        idx, val = features(s)
        rows.extend([i] * len(idx))
        cols.extend(idx.tolist())
        vals.extend(val.tolist())
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(sentences), DIM))


def fit(X: Any, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", random_state=SEED, max_iter=3000)
    model.fit(X, y)
    return model.coef_[0], float(model.intercept_[0])


def main(argv: list[str] | None = None) -> int:
    """Train with one BLAS thread: the fit differs in the fifth decimal with more, so the file would not
    reproduce."""
    import scipy.sparse  # noqa: F401 - load every BLAS before limiting them
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="train and report, write nothing")
    ap.add_argument("--out", type=Path, default=WEIGHTS, help="model file to write")
    ap.add_argument("--c", type=float, default=16.0, help="inverse regularisation strength")
    args = ap.parse_args(argv)
    from sklearn.model_selection import GroupKFold

    own = sorted(DATA.glob("*.jsonl")) + sorted((DATA / "heldout").glob("*.jsonl"))
    own += sorted((DATA / "encoder_only").glob("*.jsonl")) + sorted((DATA / "dev").glob("*.jsonl"))
    pos = ordinary_sentences(own)
    for name in ("gold_listening.jsonl", "gold_persuasion.jsonl"):  # adversarial.jsonl carries payloads
        pos += ordinary_sentences([SUITES / name], split="train")
    neg = payload_sentences([SUITES / n for n in TRAIN_INJECTION])
    items = pos + neg
    y = np.array([0] * len(pos) + [1] * len(neg))
    X = design([s for s, _, _ in items])
    groups = [g for _, g, _ in items]
    print(f"sentences said to the caller {len(pos)}, said to a model {len(neg)} "
          f"({len({g for _, g, _ in neg})} families)")  # fmt: skip
    oof = np.zeros(len(items))
    for tr, va in GroupKFold(n_splits=5).split(X, y, groups):
        w, b = fit(X[tr], y[tr], args.c)
        oof[va] = 1.0 / (1.0 + np.exp(-(X[va] @ w + b)))
    top_pos = np.sort(oof[y == 0])[::-1]
    threshold = min(0.99, float(top_pos[0]) + MARGIN)
    print("highest out-of-fold scores of ordinary sentences: " + ", ".join(f"{p:.3f}" for p in top_pos[:5]))
    for (s, _, tid), p in sorted(zip(pos, oof[: len(pos)], strict=True), key=lambda t: -t[1])[:5]:
        print(f"  {p:.3f} {tid}: {s[:100]!r}")
    caught = oof[y == 1] >= threshold
    fam = Counter(g for (_, g, _), c in zip(neg, caught, strict=True) if c)
    tot = Counter(g for _, g, _ in neg)
    print(f"threshold {threshold:.3f}: payload sentences caught out of fold {int(caught.sum())}/{len(neg)}")
    print("  by family: " + ", ".join(f"{g[2:]} {fam[g]}/{tot[g]}" for g in sorted(tot)))
    w, b = fit(X, y, args.c)
    model = Addressee(w, b, threshold, "check")
    unseen = [SUITES / n for n in ("blind.jsonl", "blind2.jsonl")]
    held = ordinary_sentences(unseen)
    for name in ("gold_listening.jsonl", "gold_persuasion.jsonl"):
        held += ordinary_sentences([SUITES / name], split="test")
    claims = ROOT / "evals" / "claims" / "claims_set.jsonl"
    held += ordinary_sentences([claims])
    dropped = [(s, tid, model.probability(s)) for s, _, tid in held if model.for_a_model(s)]
    turns = len({tid for _, _, tid in held})
    print(f"never-trained ordinary sets: {len(held)} sentences of {turns} turns; would drop {len(dropped)}")
    for s, tid, p in dropped[:10]:
        print(f"  {p:.3f} {tid}: {s[:100]!r}")
    scores = sorted((model.probability(s) for s, _, _ in held), reverse=True)[:5]
    print("  highest scores there: " + ", ".join(f"{p:.3f}" for p in scores))
    unseen_inj = payload_sentences([SUITES / "injection_unseen.jsonl"])
    hit = sum(model.for_a_model(s) for s, _, _ in unseen_inj)
    print(f"injection_unseen payload sentences (never trained on) caught: {hit}/{len(unseen_inj)}")
    if not args.check:
        version = save(args.out, w, b, threshold)
        print(f"wrote {args.out} version {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
