"""The progress views' four charts, drawn on the server as small inline SVG.

Perspective-taking and manipulative moves per call, outcomes by caller and difficulty, behaviours used.
Each function turns a `simulator.storage.Progress` (already aggregated in SQL) into one `<figure>`;
`charts_html` puts the four in a grid that one `gr.HTML` shows.

Why SVG from the server and not Gradio's native plots (`gr.LinePlot`/`gr.BarPlot`, drawn by Vega in the
browser): at 100k stored turns the server built the whole cohort view in ~90 ms, but the browser took
0.6-1.5 s to draw four Vega plots after the click, and loading Vega with the page slowed the first click
too (docs/performance.md §7). A chart here is a few hundred SVG elements (at most `MAX_CALLS` bars), a few
kilobytes the browser lays out like any HTML. Matplotlib PNGs, as the debrief draws, cost 150-550 ms each.

Every text that comes from the store (persona names) is escaped. Colours that carry meaning are fixed
(outcomes, behaviour kinds); axes, grid and text follow the page theme through the `cd-chart` CSS in
`simulator.ui.panels`. Hovering a mark shows its figures (an SVG `<title>`). Every data mark carries
`data-mark`; a chart with no data says so in a `data-mark` text, so "drawn" is checkable the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from simulator.grading.labels import NEGATIVE_BEHAVIOURS, POSITIVE_BEHAVIOURS
from simulator.storage import Progress
from simulator.storage.progress import IN_PROGRESS
from simulator.ui.text import esc

CHARTS = ("scores", "manipulative", "outcomes", "behaviours")
"""The charts of a view, in the order shown (each a `<figure data-chart=...>`)."""
OUTCOME_COLOURS = {
    "resolved": "#16a34a",
    "escalated": "#d97706",
    "hung up": "#dc2626",
    "out of turns": "#6b7280",
    "abandoned": "#9ca3af",
    IN_PROGRESS: "#93c5fd",
}
KIND_COLOURS = {"listening": "#16a34a", "confronting": "#dc2626", "neutral": "#6b7280"}
LINE_COLOUR = "#ea580c"
DIFFICULTY_ORDER = {"easy": 0, "normal": 1, "hard": 2}

WIDTH = 560
"""viewBox width of every chart: about its width on screen in a two-column grid, so text stays ~11 px."""
PER_CALL_HEIGHT = 250
ROW = 19
"""Height of one bar row in the horizontal bar charts."""
LABEL_W = 178.0
"""Room for the row labels of the horizontal bar charts."""


def _n(value: float) -> str:
    """A coordinate with at most one decimal (short SVG)."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _step(span: float, ticks: int = 8) -> float:
    """A round tick step (1, 2 or 5 x 10^k) giving at most about `ticks` ticks over `span` (> 0)."""
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= raw - 1e-12)


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value - round(value)) < 1e-9 else f"{value:.1f}"


def _figure(key: str, title: str, height: float, body: Iterable[str], summary: str) -> str:
    return (
        f'<figure class="cd-chart" data-chart="{key}"><figcaption>{esc(title)}</figcaption>'
        f'<svg viewBox="0 0 {WIDTH} {_n(height)}" role="img" aria-label="{esc(summary)}" '
        f'preserveAspectRatio="xMidYMin meet">{"".join(body)}</svg></figure>'
    )


def _empty(x: float, y: float, text: str) -> str:
    return f'<text data-mark="" class="cd-note" x="{_n(x)}" y="{_n(y)}" text-anchor="middle">{esc(text)}</text>'


def _per_call_frame(
    xs: Sequence[int], y_max: float, y_step: float, y_title: str
) -> tuple[list[str], float, float, float, float, int]:
    """Axes and grid of a per-call chart; returns the elements and the plot box (left, top, width, height)."""
    left, top, right, bottom = 44.0, 8.0, 10.0, 34.0
    w, h = WIDTH - left - right, PER_CALL_HEIGHT - top - bottom
    last = max(xs, default=1)
    out = []
    for k in range(round(y_max / y_step) + 1):
        y = k * y_step
        py = top + h - h * y / y_max
        out.append(f'<line class="cd-grid" x1="{_n(left)}" x2="{_n(left + w)}" y1="{_n(py)}" y2="{_n(py)}"/>')
        out.append(f'<text class="cd-tick" x="{_n(left - 5)}" y="{_n(py + 3.5)}" text-anchor="end">{_fmt(y)}</text>')
    x_step = max(1, int(_step(last, 10)))
    for x in range(x_step if last > 1 else 1, last + 1, x_step):
        px = left + w * (x - 0.5) / last
        out.append(f'<text class="cd-tick" x="{_n(px)}" y="{_n(top + h + 14)}" text-anchor="middle">{x}</text>')
    out.append(f'<line class="cd-axis" x1="{_n(left)}" x2="{_n(left + w)}" y1="{_n(top + h)}" y2="{_n(top + h)}"/>')
    out.append(f'<text class="cd-title" x="{_n(left + w / 2)}" y="{_n(PER_CALL_HEIGHT - 4)}" '
               'text-anchor="middle">call</text>')
    out.append(f'<text class="cd-title" transform="translate(11 {_n(top + h / 2)}) rotate(-90)" '
               f'text-anchor="middle">{esc(y_title)}</text>')  # fmt: skip
    return out, left, top, w, h, last


def _per_call_points(progress: Progress) -> list[tuple[int, float | None, float, str]]:
    """(call number, mean score or None, manipulative moves, what a hover shows) per call, from 1.

    A trainee's calls in order; for the cohort, the mean over trainees of their n-th call.
    """
    if progress.trainee is None:
        return [(p.call_number, p.mean_score, p.manipulative_per_call,
                 f"call {p.call_number} ({p.trainees} trainee(s))") for p in progress.curve]  # fmt: skip
    return [
        (n, c.mean_score, float(c.manipulative_turns),
         f"call {n}: {c.persona} · {c.difficulty}, {c.started:%Y-%m-%d}, {c.outcome.replace('_', ' ')}")
        for n, c in enumerate(progress.calls, start=1)
    ]  # fmt: skip


def scores_chart(progress: Progress) -> str:
    """Mean perspective-taking (0-4) per call: a line (calls with no graded turn have no point)."""
    points = _per_call_points(progress)
    out, left, top, w, h, last = _per_call_frame([n for n, *_ in points], 4, 1, "perspective-taking")
    scored = [(left + w * (n - 0.5) / last, top + h - h * s / 4, s, hover)
              for n, s, _, hover in points if s is not None]  # fmt: skip
    if len(scored) >= 2:
        line = " ".join(f"{_n(x)},{_n(y)}" for x, y, _, _ in scored)
        out.append(f'<polyline data-mark="" class="cd-line" points="{line}" stroke="{LINE_COLOUR}"/>')
    radius = 3 if len(scored) <= 60 else 1.6
    out.extend(
        f'<circle data-mark="" cx="{_n(x)}" cy="{_n(y)}" r="{radius}" fill="{LINE_COLOUR}">'
        f"<title>{esc(hover)}: {s:.2f}</title></circle>"
        for x, y, s, hover in scored
    )
    if not scored:
        out.append(_empty(left + w / 2, top + h / 2, "No graded turn yet"))
    mean = [s for _, _, s, _ in scored]
    summary = f"{len(scored)} call(s) with a score" + (f", from {mean[0]:.2f} to {mean[-1]:.2f}" if mean else "")
    return _figure("scores", "Mean perspective-taking per call (0-4)", PER_CALL_HEIGHT, out, summary)


def manipulative_chart(progress: Progress) -> str:
    """Manipulative moves per call (for the cohort: per trainee's n-th call, on average): bars."""
    points = _per_call_points(progress)
    top_value = max((m for _, _, m, _ in points), default=0.0)
    y_step = _step(top_value or 1, 5)
    if progress.trainee is not None:  # whole moves per call
        y_step = max(1.0, y_step)
    y_max = y_step * max(1, math.ceil(top_value / y_step - 1e-9))
    out, left, top, w, h, last = _per_call_frame([n for n, *_ in points], y_max, y_step, "manipulative moves")
    slot = w / last
    bar = max(1.0, slot * 0.6)
    bars = [
        f'<rect data-mark="" x="{_n(left + slot * (n - 0.5) - bar / 2)}" y="{_n(top + h - h * m / y_max)}" '
        f'width="{_n(bar)}" height="{_n(max(h * m / y_max, 0.5))}" fill="{LINE_COLOUR}">'
        f"<title>{esc(hover)}: {m:.2f}</title></rect>"
        for n, _, m, hover in points
        if m > 0
    ]
    out.extend(bars or [_empty(left + w / 2, top + h / 2, "No manipulative move")])
    summary = f"{len(bars)} of {len(points)} call(s) with manipulative moves"
    return _figure("manipulative", "Manipulative moves per call", PER_CALL_HEIGHT, out, summary)


def _hbars(rows: Sequence[tuple[str, list[tuple[float, str, str]], str]], scale_max: float,
           legend: Sequence[tuple[str, str]]) -> tuple[list[str], float]:  # fmt: skip
    """Horizontal (stacked) bars: per row a label, segments (value, colour, hover) and an end label."""
    left, top, right = LABEL_W, 4.0, 52.0
    w = WIDTH - left - right
    out = []
    for i, (label, segments, end) in enumerate(rows):
        y = top + i * ROW
        shown = label if len(label) <= 30 else label[:29] + "…"
        out.append(f'<text class="cd-tick" x="{_n(left - 6)}" y="{_n(y + ROW / 2 + 3.5)}" text-anchor="end">'
                   f"<title>{esc(label)}</title>{esc(shown)}</text>")  # fmt: skip
        x = left
        for value, colour, hover in segments:
            if value <= 0:
                continue
            length = max(w * value / scale_max, 1.0)
            out.append(f'<rect data-mark="" x="{_n(x)}" y="{_n(y + 2)}" width="{_n(length)}" height="{ROW - 4}" '
                       f'fill="{colour}"><title>{esc(hover)}</title></rect>')  # fmt: skip
            x += length
        out.append(f'<text class="cd-tick" x="{_n(x + 4)}" y="{_n(y + ROW / 2 + 3.5)}">{esc(end)}</text>')
    height = top + len(rows) * ROW + 8
    out.append(f'<line class="cd-axis" x1="{_n(left)}" x2="{_n(left)}" y1="{_n(top)}" y2="{_n(height - 8)}"/>')
    x = left
    for name, colour in legend:
        out.append(f'<rect x="{_n(x)}" y="{_n(height + 2)}" width="10" height="10" fill="{colour}"/>'
                   f'<text class="cd-tick" x="{_n(x + 14)}" y="{_n(height + 11)}">{esc(name)}</text>')  # fmt: skip
        x += 24 + 6.2 * len(name)
    return out, height + (18 if legend else 0)


def outcomes_chart(progress: Progress) -> str:
    """Calls per caller and difficulty, each bar split by how the calls ended."""
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for o in progress.outcomes:
        counts = groups.setdefault((o.persona, o.difficulty), {})
        counts[o.outcome.replace("_", " ")] = counts.get(o.outcome.replace("_", " "), 0) + o.calls  # names may merge
    order = sorted(groups, key=lambda g: (g[0], DIFFICULTY_ORDER.get(g[1], 9), g[1]))
    scale = max((sum(c.values()) for c in groups.values()), default=1)
    rows = []
    for persona, difficulty in order:
        counts, label = groups[(persona, difficulty)], f"{persona} · {difficulty}"
        total = sum(counts.values())
        segments = [(float(counts.get(o, 0)), colour, f"{label}: {counts.get(o, 0)} of {total} {o}")
                    for o, colour in OUTCOME_COLOURS.items()]  # fmt: skip
        rows.append((label, segments, str(total)))
    used = {o for c in groups.values() for o, n in c.items() if n}
    legend = [(o, c) for o, c in OUTCOME_COLOURS.items() if o in used]
    out, height = _hbars(rows, scale, legend)
    if not rows:
        out.append(_empty(WIDTH / 2, 30, "No call yet"))
        height = 50.0
    summary = f"{sum(sum(c.values()) for c in groups.values())} call(s) over {len(rows)} caller and difficulty pair(s)"
    return _figure("outcomes", "Outcomes by caller and difficulty (calls)", height, out, summary)


def _kind(behaviour: object) -> str:
    if behaviour in POSITIVE_BEHAVIOURS:
        return "listening"
    return "confronting" if behaviour in NEGATIVE_BEHAVIOURS else "neutral"


def behaviours_chart(progress: Progress) -> str:
    """Each rubric behaviour's share of graded turns, most used first, coloured by kind."""
    items = progress.behaviours if progress.graded_turns else []
    rows = []
    for b in items:
        name, share = b.behaviour.value.replace("_", " "), 100 * b.share
        hover = f"{name} ({_kind(b.behaviour)}): {b.turns:,} of {progress.graded_turns:,} graded turns"
        rows.append((name, [(share, KIND_COLOURS[_kind(b.behaviour)], hover)], f"{share:.1f} %"))
    legend = list(KIND_COLOURS.items()) if rows else []
    out, height = _hbars(rows, max((r[1][0][0] for r in rows), default=1.0) or 1.0, legend)
    if not rows:
        out.append(_empty(WIDTH / 2, 30, "No graded turn yet"))
        height = 50.0
    return _figure("behaviours", "Behaviours used, % of graded turns", height, out,
                   f"{len(rows)} behaviour(s), most used first")  # fmt: skip


def charts_html(progress: Progress) -> str:
    """The four charts of a progress view in a grid ("" when there is no call to show)."""
    if progress.is_empty:
        return ""
    charts = (scores_chart(progress), manipulative_chart(progress), outcomes_chart(progress),
              behaviours_chart(progress))  # fmt: skip
    return '<div class="cd-charts">' + "".join(charts) + "</div>"
