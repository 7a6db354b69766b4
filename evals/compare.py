"""`cooldown evals compare RUN_A RUN_B`: what changed from run A to run B, per metric and item by item.

Only comparable runs are compared: the same suites, the same items (ids and the text a grader sees),
and at least one grader name in common. Anything else raises `NotComparable`, naming the difference,
so a CI gate can never pass by comparing unrelated runs.

The gold labels may differ between two runs (someone fixed a label). Then the two kinds of change are
kept apart: both runs are scored on B's gold, so the metric verdicts show only what the *grader*
changed; the effect of the gold edits alone (A's grades on A's gold, then on B's gold) is listed
separately, with every edited item, and never counts as a regression.

A metric counts as a regression when B's value falls below the lower end of A's 95% bootstrap
interval (an improvement when it rises above the upper end); changes inside the interval are noise.
Items are matched on (suite, item id, grader name), so runs with different grader versions compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.labelsets import BEHAVIOUR_KEYS, MANIPULATIVE_KEY, SCORE_KEY, LabelValue
from evals.report import build_report, predicted
from evals.runstore import Manifest, ResultRow, RunStore
from simulator.errors import CooldownError

ItemKey = tuple[str, str]
LABEL_FIELDS = ("gold", "group", "pair_axis", "near_miss", "attack", "source_labels")
"""What a row knows about an item's labels (gold and the grouping the pair metrics use)."""


class NotComparable(CooldownError):
    """Two runs measure different things (suites, items or graders); their figures cannot be compared."""


@dataclass
class _Run:
    path: Path
    manifest: Manifest
    rows: list[ResultRow]
    """Results of the run's current grader versions (the ones its report counts)."""

    @property
    def suites(self) -> set[str]:
        return set(self.manifest.suite_info) | {r.suite for r in self.rows}

    @property
    def graders(self) -> set[str]:
        return {g.name for g in self.manifest.graders} or {r.grader for r in self.rows}

    def items(self, suite: str, grader: str) -> dict[str, str | None]:
        return {r.item_id: r.item_hash for r in self.rows if r.suite == suite and r.grader == grader}

    def labels(self) -> dict[ItemKey, ResultRow]:
        return {(r.suite, r.item_id): r for r in self.rows}


def _open(run_dir: Path) -> _Run:
    store = RunStore.open(run_dir)
    manifest = store.read_manifest()
    current = {(g.name, g.version) for g in manifest.graders}
    rows = [r for r in store.read_results() if not current or (r.grader, r.grader_version) in current]
    return _Run(run_dir, manifest, rows)


def load_report(run_dir: Path) -> tuple[dict[str, Any], list[ResultRow]]:
    """A run's report (rebuilt from its results, so it is always current) and its result rows."""
    run = _open(run_dir)
    return build_report(run.manifest, run.rows, run.manifest.suite_info), run.rows


def _few(ids: set[str], n: int = 5) -> str:
    shown = sorted(ids)[:n]
    return ", ".join(shown) + (f", ... {len(ids) - n} more" if len(ids) > n else "")


def check_comparable(a: _Run, b: _Run) -> None:
    """Refuse runs over different suites, items or graders.

    Raises:
        NotComparable: naming every difference, and what to do about it.
    """
    problems: list[str] = []
    if a.suites != b.suites:
        only_a, only_b = a.suites - b.suites, b.suites - a.suites
        parts = [f"only in A: {_few(only_a)}" if only_a else "", f"only in B: {_few(only_b)}" if only_b else ""]
        problems.append("the runs cover different suites (" + "; ".join(p for p in parts if p) + ")")
    common = a.graders & b.graders
    if not common:
        problems.append(f"no grader in common (A: {_few(a.graders)}; B: {_few(b.graders)})")
    for suite in sorted(a.suites & b.suites):
        for grader in sorted(common):
            items_a, items_b = a.items(suite, grader), b.items(suite, grader)
            only_a, only_b = set(items_a) - set(items_b), set(items_b) - set(items_a)
            where = f"suite {suite}, grader {grader}"
            if only_a or only_b:
                parts = [f"{len(only_a)} only in A ({_few(only_a)})" if only_a else "",
                         f"{len(only_b)} only in B ({_few(only_b)})" if only_b else ""]
                problems.append(f"{where}: different items: " + "; ".join(p for p in parts if p))
            edited = {i for i in set(items_a) & set(items_b)
                      if items_a[i] and items_b[i] and items_a[i] != items_b[i]}
            if edited:
                problems.append(f"{where}: {len(edited)} items have the same id but different text "
                                f"({_few(edited)})")
    if not problems:
        return
    hints = [f"run {name} is {run.manifest.status}; finish it with `cooldown evals run --resume {run.path}`"
             for name, run in (("A", a), ("B", b)) if run.manifest.status != "complete"]
    ma, mb = a.manifest, b.manifest
    if (ma.split, ma.limit) != (mb.split, mb.limit):
        hints.append(f"A ran with --split {ma.split} --limit {ma.limit}, B with --split {mb.split} --limit {mb.limit}")
    raise NotComparable(
        "cannot compare these runs: they do not measure the same things.\n"
        + "\n".join(f"  - {p}" for p in problems + hints)
        + "\nCompare two runs of the same suite files with the same --split and --limit."
    )


def _labels(row: ResultRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in LABEL_FIELDS}


def _gold_diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    """What changed in an item's labels, e.g. `perspective_taking 2→3; +behaviour.dismissal`."""
    ga: dict[str, LabelValue] = a["gold"]
    gb: dict[str, LabelValue] = b["gold"]
    changed = [k for k in dict.fromkeys([*ga, *gb]) if ga.get(k) != gb.get(k)]
    notes = []
    for key in changed:
        if key.startswith("technique.") and f"technique_use.{key.split('.', 1)[1]}" in changed:
            continue  # the use (none/ethical/manipulative) says it
        va, vb = ga.get(key), gb.get(key)
        if isinstance(va, bool | None) and isinstance(vb, bool | None) and (va or vb):
            notes.append(("+" if vb else "-") + key)
        else:
            notes.append(f"{key} {va}→{vb}")
    for name in LABEL_FIELDS[1:]:
        if a[name] != b[name]:
            notes.append(f"{name} {a[name]}→{b[name]}")
    return "; ".join(notes)


def gold_changes(a: _Run, b: _Run) -> list[dict[str, Any]]:
    """Items whose gold labels (or pair grouping) differ between the runs."""
    labels_b = b.labels()
    out = []
    for key, row_a in sorted(a.labels().items()):
        row_b = labels_b.get(key)
        if row_b is not None and _labels(row_a) != _labels(row_b):
            out.append({"suite": key[0], "item_id": key[1], "change": _gold_diff(_labels(row_a), _labels(row_b))})
    return out


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
    if a is None and b is None:
        return "same"
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


def _metric_deltas(rep_a: dict[str, Any], rep_b: dict[str, Any], graders: set[str]) -> list[dict[str, Any]]:
    suites_a = {s["name"]: s for s in rep_a["suites"]}
    out = []
    for sb in rep_b["suites"]:
        sa = suites_a[sb["name"]]
        for grader, mb in sb["graders"].items():
            ma = sa["graders"].get(grader)
            if ma is None or grader not in graders:
                continue
            pa, pb = _metric_points(ma), _metric_points(mb)
            for name in dict.fromkeys([*pa, *pb]):
                va, ci = pa.get(name, (None, None))
                vb = pb.get(name, (None, None))[0]
                out.append({
                    "suite": sb["name"], "grader": grader, "metric": name, "a": va, "a_ci": ci, "b": vb,
                    "delta": None if va is None or vb is None else round(vb - va, 4),
                    "verdict": _judge(name, va, ci, vb),
                })
    return out


def _item_changes(rows_a: list[ResultRow], rows_b: list[ResultRow]) -> list[dict[str, Any]]:
    """Items graded differently; `fixed`/`broken` judged against B's gold (the same gold for both)."""
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
    """Metric deltas per suite and grader, regressions flagged, grade changes and gold edits per item.

    Raises:
        NotComparable: the runs cover different suites or items, or share no grader.
    """
    a, b = _open(run_a), _open(run_b)
    check_comparable(a, b)
    common = a.graders & b.graders
    labels_b = b.labels()
    rows_a_on_b = [r.model_copy(update=_labels(labels_b[key])) if (key := (r.suite, r.item_id)) in labels_b else r
                   for r in a.rows]
    rep_a = build_report(a.manifest, a.rows, a.manifest.suite_info)
    rep_a_on_b = build_report(a.manifest, rows_a_on_b, a.manifest.suite_info)
    rep_b = build_report(b.manifest, b.rows, b.manifest.suite_info)
    edits = gold_changes(a, b)
    metrics_out = _metric_deltas(rep_a_on_b, rep_b, common)
    gold_effect = []
    if edits:
        for m in _metric_deltas(rep_a, rep_a_on_b, common):
            m["verdict"] = {"regression": "lower", "improvement": "higher"}.get(m["verdict"], m["verdict"])
            gold_effect.append(m)
    versions = {name: [g.version for g in run.manifest.graders if g.name in common]
                for name, run in (("a", a), ("b", b))}
    return {
        "a": str(run_a),
        "b": str(run_b),
        "graders": sorted(common),
        "grader_versions": versions,
        "graders_not_compared": sorted(a.graders ^ b.graders),
        "gold_changed": edits,
        "metrics": metrics_out,
        "regressions": [m for m in metrics_out if m["verdict"] == "regression"],
        "gold_effect": gold_effect,
        "items": _item_changes(rows_a_on_b, b.rows),
    }


def _metric_table(metrics: list[dict[str, Any]], *, flag_regressions: bool, heads: tuple[str, str] = ("A", "B")
                  ) -> list[str]:
    shown = [m for m in metrics if m["verdict"] != "same"]
    if not shown:
        return ["  (no metric changed)"]
    lines = [f"  {'suite / grader / metric':<62} {heads[0]:>6} {heads[1]:>6} {'delta':>7}  verdict"]
    for m in shown:
        a = "n/a" if m["a"] is None else f"{m['a']:.3f}"
        b = "n/a" if m["b"] is None else f"{m['b']:.3f}"
        d = "" if m["delta"] is None else f"{m['delta']:+.3f}"
        flag = "  <-- REGRESSION" if flag_regressions and m["verdict"] == "regression" else ""
        label = f"{m['suite']} / {m['grader']} / {m['metric']}"[:62]
        lines.append(f"  {label:<62} {a:>6} {b:>6} {d:>7}  {m['verdict']}{flag}")
    return lines


def compare_lines(result: dict[str, Any], *, max_items: int = 40) -> list[str]:
    """The comparison as terminal text."""
    lines = [f"A = {result['a']}", f"B = {result['b']}"]
    versions = result.get("grader_versions") or {}
    lines.append(f"graders compared: {', '.join(result['graders'])} (versions A: "
                 f"{', '.join(versions.get('a', [])) or '?'}; B: {', '.join(versions.get('b', [])) or '?'})")
    if result["graders_not_compared"]:
        lines.append(f"graders in only one run (not compared): {', '.join(result['graders_not_compared'])}")
    edits = result["gold_changed"]
    if edits:
        lines += ["", f"NOTE: the gold labels differ between the runs for {len(edits)} items (listed below). "
                      "Both runs are scored on B's gold in the first table, so it shows only what the grader "
                      "changed; the edits' own effect is in the second table and never counts as a regression."]
    lines += ["", "Grader changes" + (" (both runs scored on B's gold):" if edits else ":")]
    lines += _metric_table(result["metrics"], flag_regressions=True)
    if edits:
        lines += ["", "Effect of the gold edits alone (A's grades scored on A's gold, then on B's gold):"]
        lines += _metric_table(result["gold_effect"], flag_regressions=False, heads=("A gold", "B gold"))
    items = result["items"]
    fixed = sum(i.get("fixed", 0) for i in items)
    broken = sum(i.get("broken", 0) for i in items)
    lines += ["", f"{len(items)} items graded differently ({fixed} now match the gold, {broken} no longer do):"]
    for item in items[:max_items]:
        lines.append(f"  {item['suite']} {item['item_id']} [{item['grader']}]: {item['change']}")
    if len(items) > max_items:
        lines.append(f"  ... and {len(items) - max_items} more (see --json)")
    if edits:
        lines += ["", f"{len(edits)} items with edited gold labels (A→B):"]
        for edit in edits[:max_items]:
            lines.append(f"  {edit['suite']} {edit['item_id']}: {edit['change']}")
        if len(edits) > max_items:
            lines.append(f"  ... and {len(edits) - max_items} more (see --json)")
    lines += ["", f"{len(result['regressions'])} grader regression(s) outside A's confidence interval."]
    return lines
