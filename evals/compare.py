"""`cooldown evals compare RUN_A RUN_B`: what changed from run A to run B, per metric and item by item.

A metric counts as a regression when B's value falls below the lower end of A's 95% bootstrap
interval (an improvement when it rises above the upper end); changes inside the interval are noise.
Items are matched on (suite, item id, grader name), so runs with different grader versions compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.labelsets import BEHAVIOUR_KEYS, MANIPULATIVE_KEY, SCORE_KEY
from evals.report import build_report, predicted
from evals.runstore import ResultRow, RunStore


def load_report(run_dir: Path) -> tuple[dict[str, Any], list[ResultRow]]:
    """A run's report (rebuilt from its results, so it is always current) and its result rows."""
    store = RunStore.open(run_dir)
    manifest = store.read_manifest()
    rows = store.read_results()
    return build_report(manifest, rows, manifest.suite_info), rows


def _metric_points(m: dict[str, Any]) -> dict[str, tuple[float | None, list[float] | None]]:
    points: dict[str, tuple[float | None, list[float] | None]] = {}
    for name, v in (m.get("macro_f1") or {}).items():
        points[f"macro_f1.{name}"] = (v.get("value"), v.get("ci"))
    score = m.get("score") or {}
    if score.get("n"):
        points["score.accuracy"] = (score["accuracy"], score.get("accuracy_ci"))
        points["score.kappa_quadratic"] = (score["kappa_quadratic"], score.get("kappa_quadratic_ci"))
    for name, p in (m.get("pairs") or {}).items():
        if p.get("pairs"):
            points[f"pairs.{name}"] = (p["accuracy"], p["ci"])
    for key, lm in (m.get("labels") or {}).items():
        if lm["support"]:
            points[f"f1.{key}"] = (lm["f1"], lm["f1_ci"])
    points["ungraded_rate"] = (m["counts"]["ungraded_rate"], None)
    return points


def _judge(name: str, a: float | None, ci: list[float] | None, b: float | None) -> str:
    if a is None or b is None:
        return "n/a"
    if name == "ungraded_rate":
        return "regression" if b > max(a, 0.02) else ("improvement" if b < a else "same")
    if ci is None:
        return "changed" if b != a else "same"
    if b < ci[0]:
        return "regression"
    if b > ci[1]:
        return "improvement"
    return "within CI" if b != a else "same"


def _item_changes(rows_a: list[ResultRow], rows_b: list[ResultRow]) -> list[dict[str, Any]]:
    index = {(r.suite, r.item_id, r.grader): r for r in rows_a}
    changes = []
    for rb in rows_b:
        ra = index.get((rb.suite, rb.item_id, rb.grader))
        if ra is None:
            continue
        pa, pb = predicted(ra), predicted(rb)
        entry: dict[str, Any] = {"suite": rb.suite, "item_id": rb.item_id, "grader": rb.grader}
        if (pa is None) != (pb is None):
            entry["change"] = "now ungraded" if pb is None else "now graded"
            changes.append(entry)
            continue
        if pa is None or pb is None:
            continue
        notes = []
        for key in (SCORE_KEY, MANIPULATIVE_KEY):
            if pa[key] != pb[key]:
                gold = rb.gold.get(key)
                verdict = ""
                if gold is not None:
                    verdict = " (fixed)" if pb[key] == gold else (" (broken)" if pa[key] == gold else "")
                notes.append(f"{key} {pa[key]}→{pb[key]}, gold {gold}{verdict}")
        added = [k.split(".")[1] for k in BEHAVIOUR_KEYS if pb[k] and not pa[k]]
        removed = [k.split(".")[1] for k in BEHAVIOUR_KEYS if pa[k] and not pb[k]]
        if added:
            notes.append("+" + ",".join(added))
        if removed:
            notes.append("-" + ",".join(removed))
        if notes:
            entry["change"] = "; ".join(notes)
            entry["fixed"] = sum(n.endswith("(fixed)") for n in notes)
            entry["broken"] = sum(n.endswith("(broken)") for n in notes)
            changes.append(entry)
    return changes


def compare_runs(run_a: Path, run_b: Path) -> dict[str, Any]:
    """Metric deltas per suite and grader, regressions flagged, and the items whose grades changed."""
    rep_a, rows_a = load_report(run_a)
    rep_b, rows_b = load_report(run_b)
    suites_a = {s["name"]: s for s in rep_a["suites"]}
    metrics_out = []
    for sb in rep_b["suites"]:
        sa = suites_a.get(sb["name"])
        if sa is None:
            continue
        for grader, mb in sb["graders"].items():
            ma = sa["graders"].get(grader)
            if ma is None:
                continue
            pa, pb = _metric_points(ma), _metric_points(mb)
            for name, (va, ci) in pa.items():
                vb = pb.get(name, (None, None))[0]
                metrics_out.append({
                    "suite": sb["name"], "grader": grader, "metric": name, "a": va, "a_ci": ci, "b": vb,
                    "delta": None if va is None or vb is None else round(vb - va, 4),
                    "verdict": _judge(name, va, ci, vb),
                })
    items = _item_changes(rows_a, rows_b)
    return {
        "a": str(run_a),
        "b": str(run_b),
        "metrics": metrics_out,
        "regressions": [m for m in metrics_out if m["verdict"] == "regression"],
        "items": items,
    }


def compare_lines(result: dict[str, Any], *, max_items: int = 40) -> list[str]:
    """The comparison as terminal text."""
    lines = [f"A = {result['a']}", f"B = {result['b']}", ""]
    lines.append(f"{'suite / grader / metric':<62} {'A':>6} {'B':>6} {'delta':>7}  verdict")
    for m in result["metrics"]:
        if m["verdict"] == "same":
            continue
        a = "n/a" if m["a"] is None else f"{m['a']:.3f}"
        b = "n/a" if m["b"] is None else f"{m['b']:.3f}"
        d = "" if m["delta"] is None else f"{m['delta']:+.3f}"
        flag = "  <-- REGRESSION" if m["verdict"] == "regression" else ""
        label = f"{m['suite']} / {m['grader']} / {m['metric']}"[:62]
        lines.append(f"{label:<62} {a:>6} {b:>6} {d:>7}  {m['verdict']}{flag}")
    items = result["items"]
    fixed = sum(i.get("fixed", 0) for i in items)
    broken = sum(i.get("broken", 0) for i in items)
    lines += ["", f"{len(items)} items changed ({fixed} label fixes, {broken} label breaks):"]
    for item in items[:max_items]:
        lines.append(f"  {item['suite']} {item['item_id']} [{item['grader']}]: {item['change']}")
    if len(items) > max_items:
        lines.append(f"  ... and {len(items) - max_items} more (see --json)")
    lines += ["", f"{len(result['regressions'])} regression(s) outside A's confidence interval."]
    return lines
