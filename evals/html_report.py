"""A self-contained HTML report: inline CSS, matplotlib PNGs embedded as base64, no external assets.

Every string that comes from a suite or a dataset is escaped: dataset rows are untrusted text.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

from matplotlib.figure import Figure

from evals.terminal import threshold_text, verdict_line

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 7px;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.proxy{background:#fff4d6;border-left:4px solid #e0a800;padding:.6em 1em}.fail{color:#b00020;font-weight:600}
.ok{color:#1b7f3b;font-weight:600}.muted{color:#777}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
.base{color:#777}
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _ci(ci: list[float] | None, digits: int = 2) -> str:
    return f" <span class=muted>[{ci[0]:.{digits}f}–{ci[1]:.{digits}f}]</span>" if ci else ""


def _f1_plot(labels: dict[str, Any]) -> str:
    keys = [k for k, m in labels.items() if m["support"] > 0 and m["f1"] is not None]
    if not keys:
        return ""
    fig = Figure(figsize=(9, max(2.2, 0.28 * len(keys) + 0.8)))
    ax = fig.subplots()
    y = list(range(len(keys)))
    vals = [labels[k]["f1"] for k in keys]
    lo = [v - (labels[k]["f1_ci"] or [v, v])[0] for k, v in zip(keys, vals, strict=True)]
    hi = [(labels[k]["f1_ci"] or [v, v])[1] - v for k, v in zip(keys, vals, strict=True)]
    ax.barh(y, vals, xerr=[lo, hi], color="#4c78a8", capsize=2, label="F1 (95% CI)")
    ax.scatter([labels[k]["baseline"]["f1"] or 0 for k in keys], y, marker="|", s=200, color="#e45756",
               label="majority baseline", zorder=3)
    ax.set_yticks(y, keys, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _matrix_plot(matrix: list[list[int]], classes: list[str], title: str) -> str:
    fig = Figure(figsize=(3.6, 3.2))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if v > max(map(max, matrix)) / 2 else "black")
    ax.set_xticks(range(len(classes)), classes, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=9)
    return _png(fig)


def _dist_plot(gold: list[int] | None, pred: list[int]) -> str:
    fig = Figure(figsize=(4.2, 2.6))
    ax = fig.subplots()
    xs = list(range(len(pred)))
    if gold:
        ax.bar([x - 0.2 for x in xs], gold, width=0.4, label="gold", color="#9ecae9")
    ax.bar([x + (0.2 if gold else 0) for x in xs], pred, width=0.4, label="predicted", color="#4c78a8")
    ax.set_xticks(xs)
    ax.set_xlabel("perspective-taking score")
    ax.set_ylabel("turns")
    ax.legend(fontsize=8)
    return _png(fig)


def _source_plot(dim: str, table: dict[str, Any]) -> str:
    values = list(table)[:14]
    keys = list(next(iter(table.values()))["rates"]) if table else []
    if not values or not keys:
        return ""
    data = [[table[v]["rates"][k] for k in keys] for v in values]
    fig = Figure(figsize=(1.2 + 0.75 * len(keys), 0.9 + 0.32 * len(values)))
    ax = fig.subplots()
    ax.imshow(data, cmap="Greens", vmin=0, vmax=1, aspect="auto")
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(keys)), [k.split(".")[-1] for k in keys], rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(values)), [f"{v[:34]} (n={table[v]['n']})" for v in values], fontsize=8)
    ax.set_title(f"how often the grader gave each label, by {dim}", fontsize=9)
    return _png(fig)


def _label_table(labels: dict[str, Any]) -> str:
    head = ("<tr><th>label</th><th>n</th><th>gold +</th><th>pred +</th><th>precision</th><th>recall</th>"
            "<th>F1 [95% CI]</th><th class=base>baseline F1</th><th>κ [95% CI]</th><th>FPR</th></tr>")
    rows = []
    for key, m in labels.items():
        rows.append(
            f"<tr><td>{escape(key)}</td><td>{m['n']}</td><td>{m['support']}</td><td>{m['predicted']}</td>"
            f"<td>{_f(m['precision'])}</td><td>{_f(m['recall'])}</td><td>{_f(m['f1'])}{_ci(m['f1_ci'])}</td>"
            f"<td class=base>{_f(m['baseline']['f1'])}</td><td>{_f(m['kappa'])}{_ci(m['kappa_ci'])}</td>"
            f"<td>{_f(m['false_positive_rate'])}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _threshold_table(results: list[dict[str, Any]]) -> str:
    if not results:
        return ""
    rows = []
    for t in results:
        verdict = threshold_text(t)
        css = "ok" if t["met"] else "fail"
        rows.append(f"<tr><td>{escape(t['metric'])}</td><td>≥ {t['minimum']:g}</td>"
                    f"<td>{_f(t['value'], 3)}{_ci(t['ci'], 3)}</td><td class={css}>{escape(verdict)}</td>"
                    f"<td class=muted>{escape(t['source'])}</td></tr>")
    met = sum(t["met"] for t in results)
    return (f"<h4>Thresholds: {met} of {len(results)} met</h4><table><tr><th>metric</th><th>minimum</th>"
            f"<th>value [95% CI]</th><th>verdict</th><th>set in</th></tr>{''.join(rows)}</table>")


def _grader_section(name: str, m: dict[str, Any]) -> str:
    c = m["counts"]
    status = ('<span class=fail>FAILED (more than 2% ungraded)</span>' if c["failed"]
              else '<span class=ok>ungraded within limit</span>')
    parts = [f"<h3>{escape(name)} <span class=muted>{escape(m['version'])}</span></h3>",
             f"<p>{c['graded']} of {c['n']} graded, {c['ungraded']} ungraded ({c['ungraded_rate']:.1%}) — "
             f"{status}; {c['cached']} from cache; mean {_f(c['mean_ms'])} ms per item.</p>"]
    if c["ungraded_reasons"]:
        parts.append("<p class=muted>Ungraded reasons: " + "; ".join(
            f"{escape(r)} ×{n}" for r, n in c["ungraded_reasons"].items()) + "</p>")
    parts.append(_threshold_table(m.get("thresholds") or []))
    macro = m.get("macro_f1", {})
    rows = "".join(
        f"<tr><td>{k}</td><td>{_f(v['value'])}{_ci(v['ci'])}</td><td class=base>{_f(v['baseline'])}</td>"
        f"<td>{v['labels']}</td></tr>" for k, v in macro.items() if v.get("value") is not None)
    score = m.get("score")
    if score and score.get("n"):
        b = score["baseline"]
        rows += (f"<tr><td>score exact accuracy</td><td>{_f(score['accuracy'])}{_ci(score.get('accuracy_ci'))}"
                 f"</td><td class=base>{_f(b['accuracy'])}</td><td></td></tr>"
                 f"<tr><td>score quadratic κ</td><td>{_f(score['kappa_quadratic'])}"
                 f"{_ci(score.get('kappa_quadratic_ci'))}</td><td class=base>0.00</td><td></td></tr>"
                 f"<tr><td>score within ±1</td><td>{_f(score['within_one'])}</td>"
                 f"<td class=base>{_f(b['within_one'])}</td><td></td></tr>")
    for pname, p in m.get("pairs", {}).items():
        if p.get("pairs"):
            rows += (f"<tr><td>matched pairs: {escape(pname)} ({p['correct']}/{p['pairs']})</td>"
                     f"<td>{_f(p['accuracy'])}{_ci(p['ci'])}</td><td class=base>0.00</td><td></td></tr>")
    if rows:
        parts.append("<table><tr><th>summary</th><th>value [95% CI]</th><th class=base>majority baseline</th>"
                     f"<th>labels</th></tr>{rows}</table>")
    plots = []
    if score and score.get("n"):
        plots.append(_matrix_plot(score["confusion"], [str(i) for i in range(5)], "perspective-taking score"))
        plots.append(_dist_plot(score["gold_distribution"], score["predicted_distribution"]))
    elif m.get("score_predicted_distribution"):
        plots.append(_dist_plot(None, m["score_predicted_distribution"]))
    if "manipulative" in m.get("labels", {}):
        lm = m["labels"]["manipulative"]
        plots.append(_matrix_plot([[lm["tn"], lm["fp"]], [lm["fn"], lm["tp"]]], ["no", "yes"], "manipulative"))
    parts.append("".join(plots))
    if m.get("labels"):
        parts.append(_f1_plot(m["labels"]))
        parts.append(_label_table(m["labels"]))
    uses = m.get("technique_use") or {}
    if uses:
        parts.append("<h4>technique use (rows gold, columns predicted: none / ethical / manipulative)</h4>")
        parts.append("".join(_matrix_plot(u["confusion"], ["none", "eth", "manip"], t) for t, u in uses.items()))
    for dim, table in (m.get("by_source") or {}).items():
        parts.append(_source_plot(dim, table))
    return "\n".join(parts)


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML document with no external references."""
    run = report["run"]
    verdict = '<span class=ok>PASSED</span>' if report["passed"] else (
        '<span class=fail>NOT PASSED</span> ' + escape(verdict_line(report).removeprefix("NOT PASSED: ")))
    # Each suite says what the split filter kept; a run from before that was recorded says --split here.
    split = "" if all(s.get("split") for s in report["suites"]) else f"; --split {escape(run['split'])}"
    body = [
        f"<h1>Cooldown grading suites — {escape(run['name'])}</h1>",
        f"<p>{verdict}. Created {escape(run['created'])}; grader <b>{escape(run['grader'])}</b>{split}; "
        f"status {escape(run['status'])}"
        + (f" ({escape(run['status_reason'])})" if run.get("status_reason") else "") + ".</p>",
        "<p class=muted>Figures: point estimate with a 95% bootstrap interval in brackets; the majority-class "
        "baseline (always predicting the most common gold value) beside each figure. A suite with more than "
        "2% ungraded items fails. A threshold is met when the point estimate reaches the minimum; it is "
        "marked not conclusive when the 95% interval spans the minimum.</p>",
    ]
    usage = run.get("usage") or {}
    if usage:
        body.append("<p class=muted>Model usage: " + escape(", ".join(f"{k} {v}" for k, v in usage.items()))
                    + "</p>")
    for suite in report["suites"]:
        body.append(f"<h2>{escape(suite['name'])}</h2>")
        if suite.get("split"):
            body.append(f"<p class=muted>{escape(suite['split'])}</p>")
        if suite.get("description"):
            body.append(f"<p>{escape(suite['description'])}</p>")
        if suite.get("kind") == "external":
            body.append("<div class=proxy><b>Proxy labels.</b> These labels come from another dataset, "
                        "mapped to ours as its README proposes; agreement is reported only per mapped label "
                        f"and is not customer-service ground truth. {escape(suite.get('note', ''))}</div>")
        for name, m in suite["graders"].items():
            body.append(_grader_section(name, m))
        for pair, a in (suite.get("agreement") or {}).items():
            if a.get("n"):
                rows = "".join(f"<tr><td>{escape(k)}</td><td>{_f(v['agreement'])}</td><td>{_f(v['kappa'])}</td>"
                               "</tr>" for k, v in a["labels"].items())
                body.append(f"<h3>Agreement {escape(pair)} (n={a['n']})</h3><p>score exact "
                            f"{_f(a['score_exact'])}, quadratic κ {_f(a['score_kappa_quadratic'])}</p>"
                            f"<table><tr><th>label</th><th>agreement</th><th>κ</th></tr>{rows}</table>")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Cooldown suite report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def _trajectory_plot(persona: str, items: list[dict[str, Any]]) -> str:
    fig = Figure(figsize=(10, 2.6))
    axes = fig.subplots(1, 3, sharey=True)
    for ax, var in zip(axes, ("anger", "trust", "entrenchment"), strict=True):
        for item in items:
            ys = [item["start"][var]] + [p[var] for p in item["points"] if var in p]
            ax.plot(range(len(ys)), ys, marker=".", label=item["strategy"])
        ax.set_title(var, fontsize=9)
        ax.set_ylim(0, 100)
        ax.set_xlabel("turn", fontsize=8)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(persona, fontsize=10)
    return _png(fig)


def render_selfplay_html(result: dict[str, Any]) -> str:
    """Self-play report: outcome rates per strategy, trajectories per persona, unearned-softening flags."""
    who = result["grader"]["name"] if result["grader"] else "the strategies' own labels"
    outcomes = sorted({o for r in result["outcome_rates"].values() for o in r})
    head = "".join(f"<th>{escape(o)}</th>" for o in outcomes)
    rows = "".join(
        f"<tr><td>{escape(s)}</td>" + "".join(f"<td>{r.get(o, 0):.0%}</td>" for o in outcomes) + "</tr>"
        for s, r in result["outcome_rates"].items())
    body = [f"<h1>Cooldown self-play — mood driven by {escape(who)}</h1>",
            f"<p>Difficulty {escape(result['difficulty'])}. Each scripted strategy is played against each "
            "persona; flags mark a caller that softened without the trainee earning it.</p>",
            f"<h2>Outcome rates per strategy</h2><table><tr><th>strategy</th>{head}</tr>{rows}</table>"]
    flagged = result["flagged"]
    body.append(f"<h2>Flags ({len(flagged)})</h2>")
    body.append("<ul>" + "".join(f"<li class=fail>{escape(f)}</li>" for f in flagged) + "</ul>"
                if flagged else "<p class=ok>No unearned softening.</p>")
    by_persona: dict[str, list[dict[str, Any]]] = {}
    for item in result["items"]:
        by_persona.setdefault(item["persona"], []).append(item)
    body.append("<h2>Mood trajectories</h2>")
    for persona, items in by_persona.items():
        body.append(_trajectory_plot(persona, items))
        body.append("<table><tr><th>strategy</th><th>outcome</th><th>turns</th><th>ungraded</th></tr>" + "".join(
            f"<tr><td>{escape(i['strategy'])}</td><td>{escape(str(i['outcome']))}</td><td>{i['turns']}</td>"
            f"<td>{i['ungraded']}</td></tr>" for i in items) + "</table>")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Cooldown self-play</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")
