"""HTML panels of the trainee's page. Every piece of untrusted text goes through `esc`/`highlight`.

The classes used here are styled by `PAGE_CSS`; the browser tests find panels by their `data-*` marks.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.call.mood import MoodState
from simulator.grading.labels import NEGATIVE_BEHAVIOURS, POSITIVE_BEHAVIOURS, SCORE_MEANINGS, TurnGrade
from simulator.llm.base import ModelInfo
from simulator.persona.schema import Persona
from simulator.ui.text import esc, highlight
from simulator.vocabulary import readable_reason

PAGE_CSS = """
.cd-banner {padding:8px 12px;border-radius:8px;background:var(--block-background-fill);
  border:1px solid var(--border-color-primary);font-size:0.92em;line-height:1.5}
.cd-banner .demo {color:#b45309;font-weight:600}
.cd-cards {display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:10px}
.cd-card {border:1px solid var(--border-color-primary);border-radius:8px;padding:10px;font-size:0.9em;
  cursor:pointer}
.cd-card:hover {border-color:var(--color-accent)}
.cd-card:focus-visible {outline:2px solid var(--color-accent);outline-offset:2px}
.cd-card[aria-pressed="true"] {border-color:var(--color-accent);box-shadow:0 0 0 1px var(--color-accent);
  background:var(--color-accent-soft)}
.cd-card h4 {margin:0 0 4px 0;font-size:1.05em}
.cd-card .meta {opacity:0.75;font-size:0.85em;margin-bottom:4px}
.cd-stars {color:#d97706;letter-spacing:1px}
.cd-mood {border:1px solid var(--border-color-primary);border-radius:8px;padding:10px}
.cd-mood .row {display:flex;align-items:center;gap:8px;margin:5px 0}
.cd-mood .name {width:95px;font-size:0.9em}
.cd-mood .bar {flex:1;height:14px;background:var(--background-fill-secondary);border-radius:7px;overflow:hidden}
.cd-mood .fill {height:100%;border-radius:7px}
.cd-mood .val {width:70px;text-align:right;font-variant-numeric:tabular-nums;font-size:0.9em}
.cd-mood .anger .fill {background:#dc2626} .cd-mood .trust .fill {background:#16a34a}
.cd-mood .entrenchment .fill {background:#d97706}
.cd-mood .label {font-weight:700;text-transform:capitalize}
.cd-mood ul {margin:6px 0 0 16px;padding:0;font-size:0.85em}
.cd-fb {border:1px solid var(--border-color-primary);border-radius:8px;padding:10px;margin-bottom:8px;
  font-size:0.9em}
.cd-fb .said {padding:6px 8px;background:var(--background-fill-secondary);border-radius:6px;margin:4px 0}
.cd-fb .score {font-weight:700}
.cd-chip {display:inline-block;padding:1px 7px;border-radius:10px;margin:2px 3px 2px 0;font-size:0.85em;
  border:1px solid var(--border-color-primary)}
.cd-chip.pos {background:#dcfce7;color:#14532d} .cd-chip.neg {background:#fee2e2;color:#7f1d1d}
.cd-chip.neu {background:#e5e7eb;color:#1f2937}
mark.ev {padding:0 2px;border-radius:3px} mark.ev-ethical {background:#bbf7d0;color:#14532d}
mark.ev-manipulative {background:#fecaca;color:#7f1d1d}
.cd-tech.manipulative {color:#b91c1c;font-weight:600} .cd-tech.ethical {color:#15803d;font-weight:600}
.cd-outcome {padding:12px;border-radius:8px;font-size:1.05em;font-weight:600}
.cd-outcome.resolved {background:#dcfce7;color:#14532d} .cd-outcome.hung_up {background:#fee2e2;color:#7f1d1d}
.cd-outcome.escalated {background:#ffedd5;color:#7c2d12}
.cd-outcome.out_of_turns, .cd-outcome.abandoned {background:#e5e7eb;color:#1f2937}
.cd-transcript .utt {margin:6px 0;padding:6px 8px;border-radius:6px}
.cd-transcript .agent {background:var(--background-fill-secondary)}
.cd-transcript .who {font-weight:700;font-size:0.85em}
.cd-transcript .ann {font-size:0.85em;opacity:0.85;margin-top:3px}
.cd-transcript .ann.plan {border-left:3px solid var(--border-color-primary);padding-left:6px}
.cd-transcript .ann.plan .by-line {font-style:italic}
#debrief-text th, #debrief-text td, #history-text th, #history-text td {word-break:normal;overflow-wrap:break-word}
.cd-cohort {border-collapse:collapse;width:100%;font-size:0.9em}
.cd-cohort th, .cd-cohort td {border-bottom:1px solid var(--border-color-primary);padding:4px 8px;text-align:left}
.cd-charts {display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px;margin:8px 0}
.cd-chart {margin:0;padding:8px 10px;border:1px solid var(--border-color-primary);border-radius:8px;
  color:var(--body-text-color)}
.cd-chart figcaption {text-align:center;font-size:0.9em;margin-bottom:4px}
.cd-chart svg {display:block;width:100%;height:auto;font-size:11px;overflow:visible}
.cd-chart text {fill:currentColor} .cd-chart .cd-note {opacity:0.7;font-size:13px}
.cd-chart .cd-grid {stroke:var(--border-color-primary);stroke-width:1}
.cd-chart .cd-axis {stroke:currentColor;stroke-opacity:0.6;stroke-width:1}
.cd-chart .cd-line {fill:none;stroke-width:2;stroke-linejoin:round}
"""
"""The page's styles. The debrief tables wrap long words only when they must (`overflow-wrap:break-word`):
Gradio's Markdown (`word-break:break-word`, `overflow-wrap:anywhere`) lets a column shrink below its longest
word and break its header and cells mid-word ("tur / n", "local:appraise / r"). No `:is(a, b)` here: Gradio
scopes each comma-separated part of a selector, and splits inside one."""

VARIABLE_LABELS = {"anger": "Anger", "trust": "Trust", "entrenchment": "Entrenchment"}
OUTCOME_TEXT = {
    "resolved": "Resolved: the caller accepted a remedy and calmed down.",
    "hung_up": "The caller hung up.",
    "escalated": "The caller demanded a manager: the call was escalated.",
    "out_of_turns": "Out of time: the call ended before it was resolved.",
    "abandoned": "You ended the call before it was resolved.",
}


def challenge(persona: Persona) -> int:
    """A 1-5 difficulty rating from the persona's starting state (normal level): the higher, the harder."""
    start = persona.emotion.start
    raw = start.anger + start.entrenchment + (100 - start.trust)
    return max(1, min(5, round(raw / 60)))


def stars(n: int) -> str:
    """`n` of five stars as text."""
    return "★" * n + "☆" * (5 - n)


CARD_PICKER_JS = """
const pick = (card) => {
    element.querySelectorAll('[data-persona]').forEach((c) => c.setAttribute('aria-pressed', String(c === card)));
    trigger('click', {persona: card.dataset.persona});
};
element.addEventListener('click', (event) => {
    const card = event.target.closest('[data-persona]');
    if (card) pick(card);
});
element.addEventListener('keydown', (event) => {
    const card = event.target.closest('[data-persona]');
    if (card && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        pick(card);
    }
});
"""
"""`js_on_load` of the cards: a click on a card, or Enter/Space on a focused one, marks it picked at once and
sends its persona id as the `click` event's data (the handler checks the id against the library)."""


def persona_cards(personas: Sequence[Persona], selected: str | None = None) -> str:
    """The persona library as cards: name, temperament, situation, challenge, what the caller wants.

    Each card is a toggle button (focusable, `aria-pressed`) that picks its caller (`CARD_PICKER_JS`);
    `selected` is the one picked now. Only the caller's side is shown: the scenario summary and ground
    truth would give the call away.
    """
    cards = []
    for p in personas:
        focus = p.scenario.technique_focus
        meta = esc(p.identity.temperament) + (f" · technique: {esc(focus)}" if focus else "")
        brief = "Wants: " + " ".join(p.scenario.demands)  # the caller's view; the summary holds the truth
        pressed = "true" if p.id == selected else "false"
        cards.append(
            f'<div class="cd-card" data-persona="{esc(p.id)}" role="button" tabindex="0" aria-pressed="{pressed}" '
            f'title="Pick {esc(p.identity.name)}"><h4>{esc(p.identity.name)}</h4>'
            f'<div class="meta">{meta} · <span class="cd-stars" title="challenge">'
            f"{stars(challenge(p))}</span></div>"
            f"<div><b>Situation:</b> {esc(p.identity.situation)}</div>"
            f'<div class="meta" style="margin-top:4px">{esc(brief)}</div></div>'
        )
    return '<div class="cd-cards" role="group" aria-label="Callers: pick one">' + "".join(cards) + "</div>"


def models_banner(caller: ModelInfo, graders: Sequence[str], *, llm_grader: ModelInfo | None = None) -> str:
    """Who plays the caller and who grades, with a clear warning for the demo-grade embedded model, and a
    pointer to a grader model when only the local appraiser grades (docs/grading-quality.md: a capable LLM
    grader catches far more manipulation)."""
    if caller.provider == "scripted":
        parts = [f"<b>Caller:</b> {esc(caller.label)} (no model: the persona's own lines, one per planned reply)"]
    else:
        parts = [f"<b>Caller model:</b> {esc(caller.label)}"]
    parts.append("<b>Graded by:</b> " + esc(" + ".join(graders)))
    demo = [i for i in (caller, llm_grader) if i is not None and i.demo_grade]
    warning = ""
    if demo:
        warning = (
            '<div class="demo">⚠ Demo-grade model: the embedded 135M model loses the thread and cannot '
            "grade reliably. It is for trying Cooldown offline; configure a capable model for real "
            "practice. The caller's mood and outcome come from the local appraiser either way.</div>"
        )
    if not any(name.startswith("llm:") for name in graders):
        warning += (
            '<div class="meta" data-appraiser-only>Only the local appraiser grades this call. It misses more '
            "manipulation than a capable LLM grader; set a grader model (README, \"Models\") to add LLM grades.</div>"
        )
    return (
        '<div class="cd-banner" data-models>'
        + " · ".join(parts)
        + warning
        + "<div>Use fictional details only: calls are stored.</div></div>"
    )


def _bar(name: str, value: int, before: int | None) -> str:
    delta = ""
    if before is not None and before != value:
        delta = f" ({value - before:+d})"
    return (
        f'<div class="row {name}" data-var="{name}" data-value="{value}"><span class="name">'
        f'{VARIABLE_LABELS[name]}</span><div class="bar"><div class="fill" style="width:{value}%"></div></div>'
        f'<span class="val">{value}{delta}</span></div>'
    )


def mood_panel(
    state: MoodState,
    label: str,
    *,
    before: MoodState | None = None,
    turn_limit: int | None = None,
    reasons: Sequence[str] = (),
) -> str:
    """The live mood panel: anger, trust and entrenchment bars with the change from the last turn.

    Args:
        state: The caller's state now.
        label: The mood word (furious, angry, wary, calming, open).
        before: The state before the last turn (shows deltas).
        turn_limit: Trainee turns allowed in this call.
        reasons: The rules that fired on the last turn (shown in coach mode only).
    """
    limit = f" of {turn_limit}" if turn_limit else ""
    rows = "".join(
        _bar(v, getattr(state, v), getattr(before, v) if before is not None else None)
        for v in ("anger", "trust", "entrenchment")
    )
    why = ""
    if reasons:
        why = "<ul>" + "".join(f"<li>{esc(readable_reason(r))}</li>" for r in reasons[:6]) + "</ul>"
    return (
        f'<div class="cd-mood" data-mood="{esc(label)}" data-turn="{state.turn}">'
        f'<div>Caller mood: <span class="label">{esc(label)}</span> · turn {state.turn}{limit}</div>'
        f"{rows}{why}</div>"
    )


def _chip(behaviour: str) -> str:
    kind = "pos" if behaviour in POSITIVE_BEHAVIOURS else "neg" if behaviour in NEGATIVE_BEHAVIOURS else "neu"
    sign = {"pos": "+ ", "neg": "− ", "neu": ""}[kind]
    return f'<span class="cd-chip {kind}" data-label="{esc(behaviour)}">{sign}{esc(behaviour.replace("_", " "))}</span>'


def primary_grade(grades: Sequence[TurnGrade]) -> TurnGrade | None:
    """The grade to show first: a graded LLM grade, else any graded one, else the first."""
    graded = [g for g in grades if g.status == "graded"]
    llm = [g for g in graded if g.grader.startswith("llm:")]
    chosen = llm or graded or list(grades)
    return chosen[0] if chosen else None


def feedback_card(number: int, text: str, grades: Sequence[TurnGrade], *, pending: bool = False) -> str:
    """One trainee turn's feedback: score, behaviours, technique verdicts with evidence highlighted, tip.

    Args:
        number: 1-based trainee turn number.
        text: What the trainee said (evidence is highlighted inside it).
        grades: Every grade the turn has so far.
        pending: An LLM grade is still running for this turn.
    """
    main = primary_grade(grades)
    head = f"<b>Turn {number}</b>"
    if main is None:
        return f'<div class="cd-fb" data-turn="{number}">{head}: grading…<div class="said">{esc(text)}</div></div>'
    quotes = []
    body: list[str] = []
    if main.status != "graded" or main.verdict is None:
        body.append(f"<div>Not graded: {esc(main.reason or 'the grader could not grade this turn')}</div>")
    else:
        v = main.verdict
        body.append(
            f'<div><span class="score">Perspective-taking {v.perspective_taking}/4</span> · '
            f"{esc(SCORE_MEANINGS[v.perspective_taking])}</div>"
        )
        if v.behaviours:
            body.append("<div>" + "".join(_chip(str(b)) for b in v.behaviours) + "</div>")
        for t in v.techniques:
            quotes.append((t.evidence, t.use))
            name = t.technique.value.replace("_", " ")
            body.append(f'<div class="cd-tech {t.use}">{esc(name)}: {t.use} — “{esc(t.evidence)}”</div>')
        if v.manipulation_tactics:
            tactics = ", ".join(t.value.replace("_", " ") for t in v.manipulation_tactics)
            body.append(f'<div class="cd-tech manipulative">Manipulation tactics: {esc(tactics)}</div>')
    if main.integrity_flags:
        body.append(f"<div>Integrity flags (for review): {esc(', '.join(main.integrity_flags))}</div>")
    if main.tip:
        body.append(f"<div><b>Tip:</b> {esc(main.tip)}</div>")
    if main.better_phrasing:
        body.append(f"<div><b>Try:</b> “{esc(main.better_phrasing)}”</div>")
    others = [g for g in grades if g is not main]
    graders = esc(main.grader) + "".join(
        f" · {esc(g.grader)}: {g.verdict.perspective_taking if g.verdict else 'ungraded'}" for g in others
    )
    if pending:
        graders += " · LLM grade on its way…"
    return (
        f'<div class="cd-fb" data-turn="{number}" data-grader="{esc(main.grader)}">{head}'
        f'<div class="said">{highlight(text, quotes)}</div>{"".join(body)}'
        f'<div class="meta" style="opacity:0.7;font-size:0.85em">graded by {graders}</div></div>'
    )


def exam_notice(turns: int) -> str:
    """What the feedback panel shows in exam mode."""
    return (
        f'<div class="cd-fb" data-exam>Exam mode: feedback is hidden until the call ends '
        f"({turns} turn(s) graded so far). The debrief shows everything.</div>"
    )


def outcome_banner(outcome: str | None, reason: str | None = None, *, hint: bool = True) -> str:
    """The call's outcome as a coloured banner (empty while the call is going); `hint` points to the debrief."""
    if not outcome:
        return ""
    text = OUTCOME_TEXT.get(outcome, outcome.replace("_", " "))
    why = f'<div style="font-weight:400;font-size:0.9em">{esc(reason)}</div>' if reason else ""
    return (
        f'<div class="cd-outcome {esc(outcome)}" data-outcome="{esc(outcome)}">Call ended — {esc(text)}{why}'
        + ('<div style="font-weight:400;font-size:0.9em">Open the Debrief tab for the review.</div>' if hint else "")
        + "</div>"
    )
