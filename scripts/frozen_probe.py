"""Does a larger frozen encoder separate manipulative turns better? A linear probe on frozen sentence embeddings.

usage (in an environment with sentence-transformers and scikit-learn, not the project's):
    python scripts/frozen_probe.py MODEL_DIR

Each labelled turn is embedded as "Customer: <caller's last line>\\nAgent: <turn>" by the sentence-transformers
model in MODEL_DIR (normalised, frozen). A logistic regression on `manipulative` is fitted on the training files
(train_r*/ and train_authored.jsonl) with C picked by 5-fold CV grouped by author; r9-r11, r15-r18 and dev2 are
scored by AUC, the F1-best threshold picked on each set itself (an oracle, as in `scripts/gate_ceiling.py`),
pairs with both halves right at that threshold, and pairs ordered (manipulative half above its twin).
A diagnostic only (docs/grading-quality.md, seventeenth session); it writes nothing and decides nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "simulator" / "grading" / "appraiser" / "data"
SETS = {
    "train": [*sorted(DATA.glob("train_r*/*.jsonl")), DATA / "train_authored.jsonl"],
    "r9-r11": [DATA / "heldout" / "authors_r9_r11.jsonl"],
    "r15-r18": [DATA / "dev" / "authors_r15_r18.jsonl"],
    "dev2": [DATA / "dev2" / "dev2.jsonl"],
}
AXES = {"conditional", "free_choice", "interest", "transparency", "truth"}


def rows_of(files: list[Path]) -> list[dict]:
    return [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


def text_of(row: dict) -> str:
    said = [u["text"] for u in row.get("context", []) if u["role"] == "customer"]
    return (f"Customer: {said[-1]}\nAgent: " if said else "Agent: ") + row["trainee_turn"]


def pairs_of(rows: list[dict]) -> list[tuple[int, int]]:
    groups: dict[str, list[int]] = {}
    for k, r in enumerate(rows):
        meta = r.get("meta") or {}
        if meta.get("pair_axis") in AXES:
            groups.setdefault(str(meta.get("group")), []).append(k)
    out = []
    for ix in groups.values():
        if len(ix) == 2 and rows[ix[0]]["gold"]["manipulative"] != rows[ix[1]]["gold"]["manipulative"]:
            out.append((ix[0], ix[1]) if rows[ix[0]]["gold"]["manipulative"] else (ix[1], ix[0]))
    return out


def main(argv: list[str]) -> int:
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_score

    model = SentenceTransformer(argv[0], device="cpu")
    data = {}
    for name, files in SETS.items():
        rows = rows_of(files)
        X = model.encode([text_of(r) for r in rows], batch_size=32, normalize_embeddings=True)
        data[name] = (rows, X, np.array([r["gold"]["manipulative"] for r in rows]))
    rows, X, y = data["train"]
    authors = np.array([r["id"].split("-")[0] for r in rows])

    def cv_auc(C: float) -> float:
        clf = LogisticRegression(C=C, max_iter=3000)
        return float(cross_val_score(clf, X, y, groups=authors, cv=GroupKFold(5), scoring="roc_auc").mean())

    C = max((0.1, 0.3, 1.0, 3.0, 10.0), key=cv_auc)
    clf = LogisticRegression(C=C, max_iter=3000).fit(X, y)
    print(f"{argv[0]}: C {C}")
    for name in ("r9-r11", "r15-r18", "dev2"):
        rows, Xs, ys = data[name]
        z = clf.decision_function(Xs)
        pairs = pairs_of(rows)
        best = (-1.0, 0)
        for th in np.quantile(z, np.linspace(0.3, 0.95, 40)):
            p = z >= th
            f1 = 2 * float((p & ys).sum()) / max(1, int(p.sum() + ys.sum()))
            if f1 > best[0]:
                best = (f1, sum(bool(p[m]) and not p[e] for m, e in pairs))
        ordered = sum(z[m] > z[e] for m, e in pairs)
        print(f"  {name}: AUC {roc_auc_score(ys, z):.3f}  oracle F1 {best[0]:.3f}  pairs {best[1]}/{len(pairs)}  "
              f"ordered {ordered}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
