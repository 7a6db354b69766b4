"""Build the JSON report of a run from its results: per suite, per grader, metrics against gold.

The report is rebuilt from `results.jsonl` (plus the manifest and suite notes), so it can be written
again at any time, also for an aborted run. Shape (abridged)::

    {"run": {...manifest...},
     "passed": true,
     "suites": [{"name", "kind", "note",
                 "graders": {"local:appraiser": {"version", "counts", "labels", "macro_f1",
                                                  "score", "technique_use", "pairs", "by_source",
                                                  "thresholds": [{"metric", "minimum", "value", "ci",
                                                                  "met", "conclusive", ...}]}},
                 "agreement": {...}}],
     "failed_suites": [...], "missed_thresholds": ["suite / grader / metric value < minimum", ...]}
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from evals import metrics, thresholds
from evals.labelsets import (
    BEHAVIOUR_KEYS,
    BINARY_KEYS,
    MANIPULATIVE_KEY,
    SCORE_KEY,
    TACTIC_KEYS,
    TECHNIQUE_KEYS,
    TECHNIQUE_USE_KEYS,
    USE_CLASSES,
    LabelValue,
    flatten,
)
from evals.runstore import Manifest, ResultRow

UNGRADED_FAIL_RATE = 0.02
"""RELIABILITY §3.3: a suite with more than 2% ungraded rows fails."""


def predicted(row: ResultRow) -> dict[str, LabelValue] | None:
    """The flat labels a grade gives, or None when ungraded."""
    if row.grade.status != "graded" or row.grade.verdict is None:
        return None
    return flatten(row.grade.verdict)


def _counts(rows: list[ResultRow]) -> dict[str, Any]:
    ungraded = [r for r in rows if r.grade.status != "graded"]
    reasons = Counter((r.grade.reason or "no reason given")[:120] for r in ungraded)
    rate = len(ungraded) / len(rows) if rows else 0.0
    return {
        "n": len(rows),
        "graded": len(rows) - len(ungraded),
        "ungraded": len(ungraded),
        "ungraded_rate": round(rate, 4),
        "failed": rate > UNGRADED_FAIL_RATE,
        "ungraded_reasons": dict(reasons.most_common(10)),
        "cached": sum(r.cached for r in rows),
        "mean_ms": round(float(np.mean([r.elapsed_ms for r in rows])), 3) if rows else None,
    }


def grader_metrics(rows: list[ResultRow]) -> dict[str, Any]:
    """Every metric for one grader over one suite's rows (ungraded rows are counted, not scored)."""
    out: dict[str, Any] = {"counts": _counts(rows)}
    graded = [(r, pred) for r in rows if (pred := predicted(r)) is not None]
    n = len(graded)
    if n == 0:
        return out
    idx = metrics.resample_index(n)
    arrays: dict[str, tuple[Any, Any, Any]] = {}
    for key in BINARY_KEYS:
        m = np.array([key in r.gold for r, _ in graded])
        if not m.any():
            continue
        t = np.array([bool(r.gold.get(key, False)) for r, _ in graded])
        p = np.array([bool(pred[key]) for _, pred in graded])
        arrays[key] = (t, p, m)
    out["labels"] = {k: metrics.binary_metrics(t, p, m, idx) for k, (t, p, m) in arrays.items()}
    groups = {"behaviours": BEHAVIOUR_KEYS, "techniques": TECHNIQUE_KEYS, "tactics": TACTIC_KEYS,
              "all": BINARY_KEYS}
    out["macro_f1"] = {
        name: metrics.macro_f1({k: arrays[k] for k in keys if k in arrays}, idx) for name, keys in groups.items()
    }
    scored = [(int(r.gold[SCORE_KEY]), int(p[SCORE_KEY])) for r, p in graded if SCORE_KEY in r.gold]
    if scored:
        t_s = np.array([a for a, _ in scored], dtype=np.int64)
        p_s = np.array([b for _, b in scored], dtype=np.int64)
        out["score"] = metrics.score_metrics(t_s, p_s, metrics.resample_index(len(scored)))
    out["score_predicted_distribution"] = np.bincount(
        np.array([int(p[SCORE_KEY]) for _, p in graded]), minlength=metrics.N_SCORES
    ).tolist()
    uses: dict[str, Any] = {}
    for key in TECHNIQUE_USE_KEYS:
        pairs = [(str(r.gold[key]), str(p[key])) for r, p in graded if key in r.gold]
        if pairs:
            uses[key.split(".", 1)[1]] = {
                "classes": list(USE_CLASSES),
                "confusion": metrics.confusion([a for a, _ in pairs], [b for _, b in pairs], list(USE_CLASSES)),
            }
    out["technique_use"] = uses
    out["pairs"] = _pairs(graded)
    out["by_source"] = _by_source(graded, list(arrays))
    return out


def _pairs(graded: list[tuple[ResultRow, dict[str, LabelValue]]]) -> dict[str, Any]:
    manip: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    near: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for r, p in graded:
        if r.group and r.pair_axis and MANIPULATIVE_KEY in r.gold:
            manip[r.group].append((r.gold[MANIPULATIVE_KEY], p[MANIPULATIVE_KEY]))
        if r.group and r.near_miss == "information_vs_confrontation" and "behaviour.fact_confrontation" in r.gold:
            key = "behaviour.fact_confrontation"
            near[r.group].append((r.gold[key], p[key]))
    return {
        "manipulative": metrics.pair_accuracy(list(manip.values())),
        "information_vs_confrontation": metrics.pair_accuracy(list(near.values())),
    }


def _by_source(graded: list[tuple[ResultRow, dict[str, LabelValue]]], keys: list[str]) -> dict[str, Any]:
    """Cross-tab: per dataset label (and per adversarial attack), how often the grader gave each label."""
    dims: dict[str, dict[str, list[dict[str, LabelValue]]]] = defaultdict(lambda: defaultdict(list))
    for r, p in graded:
        for dim, value in r.source_labels.items():
            dims[dim][value].append(p)
        if r.attack:
            dims["attack"][r.attack].append(p)
    shown = [*[k for k in keys if k != MANIPULATIVE_KEY][:8], MANIPULATIVE_KEY]
    out: dict[str, Any] = {}
    for dim, values in dims.items():
        out[dim] = {
            value: {
                "n": len(preds),
                "mean_score": round(float(np.mean([int(p[SCORE_KEY]) for p in preds])), 3),
                "rates": {k: round(float(np.mean([bool(p[k]) for p in preds])), 3) for k in shown},
            }
            for value, preds in sorted(values.items(), key=lambda kv: -len(kv[1]))
        }
    return out


def agreement(a: list[ResultRow], b: list[ResultRow]) -> dict[str, Any]:
    """How far two graders agree with each other on the items both graded (no gold needed)."""
    pb = {r.item_id: pred for r in b if (pred := predicted(r)) is not None}
    both = [(pa, pb[r.item_id]) for r in a if (pa := predicted(r)) is not None and r.item_id in pb]
    if not both:
        return {"n": 0}
    labels: dict[str, Any] = {}
    for key in BINARY_KEYS:
        x = np.array([bool(u[key]) for u, _ in both])
        y = np.array([bool(v[key]) for _, v in both])
        tp, fp, fn, tn = (int(c) for c in metrics.binary_counts(x, y, np.ones_like(x)))
        labels[key] = {"agreement": round((tp + tn) / len(both), 4),
                       "kappa": metrics._r(metrics._kappa_binary(tp, fp, fn, tn))}
    ts = np.array([int(u[SCORE_KEY]) for u, _ in both], dtype=np.int64)
    ps = np.array([int(v[SCORE_KEY]) for _, v in both], dtype=np.int64)
    return {
        "n": len(both),
        "score_exact": round(float(np.mean(ts == ps)), 4),
        "score_kappa_quadratic": metrics._r(metrics.quadratic_kappa(ts, ps)),
        "labels": labels,
    }


def build_report(
    manifest: Manifest, rows: list[ResultRow], suite_info: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The whole report.

    Args:
        manifest: the run's manifest; its grader versions select which results count.
        rows: all results of the run.
        suite_info: per suite name, `kind`, `note` and `description` (from `evals.suites.Suite`).
    """
    current = {(g.name, g.version) for g in manifest.graders}
    by_suite: dict[str, dict[str, list[ResultRow]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if not current or (r.grader, r.grader_version) in current:
            by_suite[r.suite][r.grader].append(r)
    suites = []
    for name in list(suite_info) + [s for s in by_suite if s not in suite_info]:
        graders = by_suite.get(name, {})
        entry: dict[str, Any] = {"name": name, **suite_info.get(name, {"kind": "gold", "note": ""})}
        entry["graders"] = {
            g: {"version": rs[0].grader_version, **grader_metrics(rs)} for g, rs in graders.items()
        }
        for m in entry["graders"].values():
            m["thresholds"] = thresholds.check(m, manifest.thresholds.get(name, []))
        names = list(graders)
        if len(names) == 2:
            entry["agreement"] = {f"{names[0]} vs {names[1]}": agreement(graders[names[0]], graders[names[1]])}
        suites.append(entry)
    failed = [
        f"{s['name']} / {g}" for s in suites for g, m in s["graders"].items() if m["counts"]["failed"]
    ]
    missed = [
        f"{s['name']} / {g} / {t['metric']} " + (f"{t['value']:.3f} < {t['minimum']:g}" if t["value"] is not None
                                                 else f"has no value ({t['note']}), minimum {t['minimum']:g}")
        for s in suites for g, m in s["graders"].items() for t in m["thresholds"] if not t["met"]
    ]
    return {
        "run": manifest.model_dump(mode="json"),
        "passed": not failed and not missed and manifest.status == "complete",
        "failed_suites": failed,
        "missed_thresholds": missed,
        "suites": suites,
    }
