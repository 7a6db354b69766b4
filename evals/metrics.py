"""Agreement metrics with bootstrap confidence intervals and a majority-class baseline beside each figure.

All functions take plain numpy arrays and return JSON-ready dicts. Confidence intervals are 95%
percentile intervals over item-level bootstrap resamples (fixed seed, so reports are reproducible).
The majority-class baseline always predicts the most common gold value of the same items.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

BoolArr = NDArray[np.bool_]
IntArr = NDArray[np.int64]
N_BOOT = 1000
SEED = 20240611
N_SCORES = 5


def resample_index(n: int, n_boot: int = N_BOOT, seed: int = SEED) -> IntArr:
    """A (n_boot, n) matrix of bootstrap indices; the same matrix serves every label of one item set."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n), dtype=np.int64)


def _ci(samples: NDArray[np.float64]) -> list[float] | None:
    good = samples[~np.isnan(samples)]
    if good.size < 10:
        return None
    lo, hi = np.percentile(good, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def _f1(tp: Any, fp: Any, fn: Any) -> Any:
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)


def _ratio(num: Any, den: Any) -> Any:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _kappa_binary(tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
    tp, fp, fn, tn = (np.asarray(x, dtype=float) for x in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    with np.errstate(invalid="ignore", divide="ignore"):
        po = (tp + tn) / n
        pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        return np.where(pe < 1, (po - pe) / (1 - pe), np.nan)


def _r(x: Any) -> float | None:
    x = float(x)
    return None if np.isnan(x) else round(x, 4)


def binary_counts(t: BoolArr, p: BoolArr, m: BoolArr, idx: IntArr | None = None) -> tuple[Any, Any, Any, Any]:
    """tp, fp, fn, tn over the masked items (per bootstrap resample when `idx` is given)."""
    if idx is None:
        return (
            np.sum(m & t & p), np.sum(m & ~t & p), np.sum(m & t & ~p), np.sum(m & ~t & ~p),
        )
    return (
        (m & t & p)[idx].sum(1), (m & ~t & p)[idx].sum(1), (m & t & ~p)[idx].sum(1), (m & ~t & ~p)[idx].sum(1),
    )


def binary_metrics(t: BoolArr, p: BoolArr, m: BoolArr, idx: IntArr) -> dict[str, Any]:
    """Precision, recall, F1, accuracy, Cohen's kappa (each with a CI) and the majority baseline for one label.

    Args:
        t: gold, p: prediction, m: which items carry this label; all the same length.
        idx: bootstrap indices over those items.
    """
    tp, fp, fn, tn = (int(x) for x in binary_counts(t, p, m))
    n = tp + fp + fn + tn
    pos = tp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / pos if pos else float("nan")
        fpr = fp / (fp + tn) if fp + tn else float("nan")
    btp, bfp, bfn, btn = binary_counts(t, p, m, idx)
    majority_pos = pos * 2 > n
    base_f1 = (2 * pos / (pos + n)) if majority_pos and n else 0.0
    return {
        "n": n,
        "support": pos,
        "predicted": tp + fp,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": _r(precision),
        "precision_ci": _ci(_ratio(btp, btp + bfp)),
        "recall": _r(recall),
        "recall_ci": _ci(_ratio(btp, btp + bfn)),
        "f1": _r(_f1(tp, fp, fn)),
        "f1_ci": _ci(_f1(btp, bfp, bfn)),
        "accuracy": _r((tp + tn) / n) if n else None,
        "accuracy_ci": _ci(_ratio(btp + btn, btp + bfp + bfn + btn)),
        "false_positive_rate": _r(fpr),
        "kappa": _r(_kappa_binary(tp, fp, fn, tn)),
        "kappa_ci": _ci(_kappa_binary(btp, bfp, bfn, btn)),
        "baseline": {
            "predicts": bool(majority_pos),
            "f1": round(base_f1, 4) if pos else None,
            "accuracy": round(max(pos, n - pos) / n, 4) if n else None,
            "kappa": 0.0,
        },
    }


def macro_f1(labels: dict[str, tuple[BoolArr, BoolArr, BoolArr]], idx: IntArr) -> dict[str, Any]:
    """Mean F1 over the labels that have gold positives, with CI and the majority baseline's macro-F1."""
    used = {k: v for k, v in labels.items() if int(np.sum(v[2] & v[0])) > 0}
    if not used:
        return {"value": None, "ci": None, "labels": 0, "baseline": None}
    point, boots, base = [], [], []
    for t, p, m in used.values():
        tp, fp, fn, _ = binary_counts(t, p, m)
        point.append(_f1(tp, fp, fn))
        btp, bfp, bfn, _ = binary_counts(t, p, m, idx)
        boots.append(_f1(btp, bfp, bfn))
        n, pos = int(m.sum()), int((m & t).sum())
        base.append(2 * pos / (pos + n) if pos * 2 > n else 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: resamples with no positives
        boot_mean = np.nanmean(np.vstack(boots), axis=0)
    return {
        "value": _r(np.nanmean(point)),
        "ci": _ci(boot_mean),
        "labels": len(used),
        "baseline": round(float(np.mean(base)), 4),
    }


def quadratic_kappa(t: IntArr, p: IntArr, k: int = N_SCORES) -> float:
    """Cohen's kappa with quadratic weights for ordinal labels 0..k-1 (NaN when undefined)."""
    n = t.size
    if n == 0:
        return float("nan")
    obs = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(float)
    expected = np.outer(obs.sum(1), obs.sum(0)) / n
    i, j = np.indices((k, k))
    w = (i - j) ** 2 / (k - 1) ** 2
    denom = float((w * expected).sum())
    return float("nan") if denom == 0 else 1.0 - float((w * obs).sum()) / denom


def confusion(t: Any, p: Any, classes: list[Any]) -> list[list[int]]:
    """Rows = gold class, columns = predicted class."""
    pos = {c: i for i, c in enumerate(classes)}
    mat = [[0] * len(classes) for _ in classes]
    for a, b in zip(t, p, strict=True):
        mat[pos[a]][pos[b]] += 1
    return mat


def score_metrics(t: IntArr, p: IntArr, idx: IntArr | None) -> dict[str, Any]:
    """Exact and within-one accuracy, MAE, quadratic kappa (+CIs), confusion matrix, majority baseline."""
    n = t.size
    if n == 0:
        return {"n": 0}
    counts = np.bincount(t, minlength=N_SCORES)
    majority = int(np.argmax(counts))
    out: dict[str, Any] = {
        "n": int(n),
        "accuracy": _r(np.mean(t == p)),
        "within_one": _r(np.mean(np.abs(t - p) <= 1)),
        "mae": _r(np.mean(np.abs(t - p))),
        "kappa_quadratic": _r(quadratic_kappa(t, p)),
        "confusion": confusion(t.tolist(), p.tolist(), list(range(N_SCORES))),
        "gold_distribution": counts.tolist(),
        "predicted_distribution": np.bincount(p, minlength=N_SCORES).tolist(),
        "baseline": {
            "predicts": majority,
            "accuracy": _r(counts[majority] / n),
            "within_one": _r(np.mean(np.abs(t - majority) <= 1)),
            "mae": _r(np.mean(np.abs(t - majority))),
            "kappa_quadratic": 0.0,
        },
    }
    if idx is not None:
        accs = (t[idx] == p[idx]).mean(1)
        kappas = np.array([quadratic_kappa(t[row], p[row]) for row in idx])
        out["accuracy_ci"] = _ci(accs)
        out["within_one_ci"] = _ci((np.abs(t[idx] - p[idx]) <= 1).mean(1).astype(float))
        out["kappa_quadratic_ci"] = _ci(kappas)
    return out


def pair_accuracy(groups: list[list[tuple[Any, Any]]], seed: int = SEED) -> dict[str, Any]:
    """Matched-pair accuracy: a group counts as right only if every member's prediction equals its gold.

    Args:
        groups: per matched group, the (gold, predicted) values of its members. Only groups whose
            gold values differ are matched pairs; a constant predictor can never get one right, so
            the majority baseline is 0.
    """
    pairs = [g for g in groups if len({gold for gold, _ in g}) > 1]
    if not pairs:
        return {"pairs": 0, "accuracy": None, "ci": None, "baseline": 0.0}
    right = np.array([all(gold == pred for gold, pred in g) for g in pairs], dtype=float)
    idx = resample_index(len(pairs), seed=seed)
    return {
        "pairs": len(pairs),
        "correct": int(right.sum()),
        "accuracy": _r(right.mean()),
        "ci": _ci(right[idx].mean(1)),
        "baseline": 0.0,
    }


def spearman(x: NDArray[np.float64], y: NDArray[np.float64]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None if undefined."""
    if x.size < 3:
        return None

    def ranks(a: NDArray[np.float64]) -> NDArray[np.float64]:
        order = np.argsort(a, kind="mergesort")
        r = np.empty(a.size)
        r[order] = np.arange(a.size, dtype=float)
        for v in np.unique(a):
            sel = a == v
            r[sel] = r[sel].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return _r(np.corrcoef(rx, ry)[0, 1])
