"""How well the whole-turn gate can separate manipulative turns at all, whatever its threshold or blend share.

usage: .venv/bin/python scripts/gate_ceiling.py [WEIGHTS_DIR_OR_FILE]

For the training files, r9-r11, r15-r18 and dev2, and every ethical/manipulative pair in them as the pairs target
counts them (`training.matched_pairs`), this prints:

* **ordering**: how often the manipulative half's gate logit is above its own ethical twin's, for the linear
  heads alone, the reading model alone and the shipped blend, and each one's AUC over all the set's turns;
* **separating**: for reading-model shares 0, 0.3, 0.5, 0.7 and 1, the gate's `manipulative` F1 and pairs with
  both halves right at the F1-best threshold chosen on that very set. That threshold is an oracle, so these
  figures are a ceiling for the gate on these turns (it bounds recall; the verdict also needs a tactic or a
  technique), not a result anything can ship with.

A diagnostic only (docs/grading-quality.md, seventeenth session): it never writes weights and decides nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import head_inputs  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_many  # noqa: E402
from simulator.grading.appraiser.training import PACKAGE_DATA, matched_pairs  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, M_ROW, Weights, load_weights, weights_file  # noqa: E402

SHARES = (0.0, 0.3, 0.5, 0.7, 1.0)


def sets() -> dict[str, list[Path]]:
    """The labelled files of each set, by name."""
    return {
        "training files": [*sorted(PACKAGE_DATA.glob("train_r*/*.jsonl")), PACKAGE_DATA / "train_authored.jsonl"],
        "r9-r11": [PACKAGE_DATA / "heldout" / "authors_r9_r11.jsonl"],
        "r15-r18": [PACKAGE_DATA / "dev" / "authors_r15_r18.jsonl"],
        "dev2": [PACKAGE_DATA / "dev2" / "dev2.jsonl"],
    }


def gate_parts(weights: Weights, cases: list[LabelledTurn]) -> np.ndarray:
    """(n, 2): the gate's linear logit and reading-model logit for every turn."""
    rows = []
    for c in cases:
        i = head_inputs(c.trainee_turn, c.context, c.scenario)
        linear, read = weights.logit_parts(i.features, i.customer, i.read, i.scenario)
        if read is None:
            raise SystemExit("these weights blend no reading model; give weights that do")
        rows.append((linear[M_ROW], read[M_ROW]))
    return np.array(rows, dtype=np.float64)


def pairs_of(cases: list[LabelledTurn]) -> list[tuple[str, int, int]]:
    """(axis, manipulative index, ethical index) for every matched pair the pairs target counts
    (`training.matched_pairs`)."""
    out = []
    for a, b in matched_pairs(cases):
        m, e = (a, b) if cases[a].gold.manipulative else (b, a)
        out.append((str(cases[a].meta.get("pair_axis") or "other"), m, e))
    return out


def oracle(z: np.ndarray, y: np.ndarray, pairs: list[tuple[str, int, int]]) -> tuple[float, int]:
    """F1 and pairs right at the F1-best threshold over z's 30th-95th percentiles."""
    best = (-1.0, 0)
    for th in np.quantile(z, np.linspace(0.3, 0.95, 40)):
        pred = z >= th
        f1 = 2 * float((pred & y).sum()) / max(1, int(pred.sum() + y.sum()))
        if f1 > best[0]:
            best = (f1, sum(bool(pred[m]) and not pred[e] for _, m, e in pairs))
    return best


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="?", default=None)
    args = parser.parse_args(argv)
    weights = load_weights(weights_file(Path(args.weights)) if args.weights else DEFAULT_WEIGHTS)
    share = weights.blend[M_ROW] if weights.blend is not None else 0.0
    print(f"gate ordering (manipulative half above its twin); blend share {share:g}")
    print("set | pairs | linear | reading model | blend | AUC linear / reading model / blend")
    results = {}
    for name, files in sets().items():
        cases = load_many(files)
        parts = gate_parts(weights, cases)
        y = np.array([c.gold.manipulative for c in cases])
        pairs = pairs_of(cases)
        blend = parts[:, 0] + share * (parts[:, 1] - parts[:, 0])
        ordered = [sum(z[m] > z[e] for _, m, e in pairs) for z in (parts[:, 0], parts[:, 1], blend)]
        aucs = " / ".join(f"{roc_auc_score(y, z):.3f}" for z in (parts[:, 0], parts[:, 1], blend))
        print(f"{name} | {len(pairs)} | " + " | ".join(str(o) for o in ordered) + f" | {aucs}")
        results[name] = (parts, y, pairs)
    print("\ngate F1 / pairs right at the oracle threshold, by reading-model share")
    print("set | " + " | ".join(f"share {s:g}" for s in SHARES))
    for name, (parts, y, pairs) in results.items():
        cells = []
        for s in SHARES:
            f1, right = oracle(parts[:, 0] + s * (parts[:, 1] - parts[:, 0]), y, pairs)
            cells.append(f"{f1:.3f} / {right} of {len(pairs)}")
        print(f"{name} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
