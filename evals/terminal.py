"""A compact terminal summary of a report: one block per suite and grader."""

from __future__ import annotations

from typing import Any


def _fmt(value: float | None, ci: list[float] | None = None) -> str:
    if value is None:
        return "  n/a"
    text = f"{value:5.2f}"
    if ci:
        text += f" [{ci[0]:.2f}-{ci[1]:.2f}]"
    return text


def _base(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def summary_lines(report: dict[str, Any], *, max_labels: int = 30) -> list[str]:
    """The summary as lines of text (figures with 95% CI, and the majority baseline in parentheses)."""
    run = report["run"]
    lines = [f"run {run['name']}: {run['status']}" + (f" ({run['status_reason']})" if run.get("status_reason")
                                                        else "")]
    for suite in report["suites"]:
        lines.append("")
        split = f"; {suite['split']}" if suite.get("split") else ""
        lines.append(f"== {suite['name']} ({suite.get('kind', 'gold')}{split})")
        if suite.get("kind") == "external":
            lines.append("   PROXY labels mapped from another dataset; not customer-service ground truth.")
        for grader, m in suite["graders"].items():
            c = m["counts"]
            flag = "  FAILED: more than 2% ungraded" if c["failed"] else ""
            lines.append(
                f"-- {grader} ({m['version']}): {c['graded']}/{c['n']} graded, {c['ungraded']} ungraded "
                f"({c['ungraded_rate']:.1%}), {c['cached']} from cache{flag}"
            )
            macro = m.get("macro_f1", {})
            for name in ("behaviours", "techniques", "tactics", "all"):
                mf = macro.get(name) or {}
                if mf.get("value") is not None:
                    lines.append(f"   macro-F1 {name:<11} {_fmt(mf['value'], mf['ci'])}   "
                                 f"(baseline {_base(mf['baseline'])}, {mf['labels']} labels)")
            score = m.get("score")
            if score and score.get("n"):
                b = score["baseline"]
                lines.append(
                    f"   score 0-4: exact {_fmt(score['accuracy'], score.get('accuracy_ci'))} "
                    f"(baseline {_base(b['accuracy'])}), quadratic kappa "
                    f"{_fmt(score['kappa_quadratic'], score.get('kappa_quadratic_ci'))} (baseline 0.00), "
                    f"MAE {score['mae']:.2f}"
                )
            pairs = m.get("pairs", {})
            for name, p in pairs.items():
                if p.get("pairs"):
                    lines.append(f"   matched pairs {name}: {_fmt(p['accuracy'], p['ci'])} "
                                 f"({p['correct']}/{p['pairs']}; baseline 0.00)")
            labels = m.get("labels", {})
            if labels:
                lines.append(f"   {'label':<34} {'n':>5} {'pos':>5}  {'P':>5} {'R':>5}  {'F1 [95% CI]':<19}"
                             f" {'base':>5}  {'kappa':>5}")
            for key, lm in list(labels.items())[:max_labels]:
                if lm["support"] == 0:
                    lines.append(f"   {key:<34} {lm['n']:>5} {0:>5}  no gold positives: "
                                 f"false-positive rate {_fmt(lm['false_positive_rate'])}")
                    continue
                lines.append(
                    f"   {key:<34} {lm['n']:>5} {lm['support']:>5}  {_fmt(lm['precision'])} "
                    f"{_fmt(lm['recall'])}  {_fmt(lm['f1'], lm['f1_ci']):<19} "
                    f"{_base(lm['baseline']['f1']):>5}  {_fmt(lm['kappa'])}"
                )
            lines += threshold_lines(m.get("thresholds") or [])
        for pair, a in suite.get("agreement", {}).items():
            if a.get("n"):
                lines.append(f"-- agreement {pair}: n={a['n']}, score exact {a['score_exact']:.2f}, "
                             f"quadratic kappa {_base(a['score_kappa_quadratic'])}, manipulative kappa "
                             f"{_base(a['labels']['manipulative']['kappa'])}")
    lines.append("")
    lines.append(verdict_line(report))
    return lines


def verdict_line(report: dict[str, Any]) -> str:
    """`PASSED`, or `NOT PASSED:` with every reason (run status, failed suites, missed thresholds)."""
    if report["passed"]:
        return "PASSED"
    reasons = []
    status = report["run"]["status"]
    if status != "complete":
        reasons.append(f"run {status}")
    reasons += [f"{s} (over 2% ungraded)" for s in report["failed_suites"]]
    missed = report.get("missed_thresholds") or []
    if missed:
        reasons.append(f"{len(missed)} threshold(s) missed: " + "; ".join(missed))
    return "NOT PASSED: " + ", ".join(reasons)


def threshold_text(t: dict[str, Any]) -> str:
    """A threshold's verdict in words: `met`, or `MISSED`, with why and whether the CI settles it."""
    if t["value"] is None:
        return f"MISSED (no value: {t['note']})"
    verdict = "met" if t["met"] else "MISSED"
    return verdict if t["conclusive"] else f"{verdict} (not conclusive: the 95% CI spans the minimum)"


def threshold_lines(results: list[dict[str, Any]]) -> list[str]:
    """One line per threshold: name, minimum, value with 95% CI, met or MISSED."""
    if not results:
        return []
    width = max(len(t["metric"]) for t in results)
    lines = [f"   thresholds ({sum(t['met'] for t in results)}/{len(results)} met):"]
    for t in results:
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        if t["ci"]:
            value += f" [{t['ci'][0]:.3f}-{t['ci'][1]:.3f}]"
        lines.append(f"     {t['metric']:<{width}} >= {t['minimum']:<5g} {value:<21} {threshold_text(t)}")
    return lines
