"""The Label tab: a rater labels trainee turns with the RUBRIC labels, saved through `LabelStore`.

The rater picks a turns file from the configured folder (`COOLDOWN_LABEL_DIR`), gives a name (the
sign-in name when sign-in is on), and sees each turn with its scenario and the call so far. Behaviours
are ticked, the 0-4 score picked, each technique given a use and its evidence, which is marked by
selecting words in the turn and pressing "Use selected text" (`TURN_SELECTION_JS` remembers the last
selection made inside the turn). Save checks the label, appends it durably and moves on to the next
unlabelled turn; errors show in plain words, nothing is saved until they are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from simulator.grading.labels import SCORE_MEANINGS, Behaviour, Tactic, Technique
from simulator.labelling import LabelItem
from simulator.ui.text import esc, highlight

NOT_USED = "not used"
POLARITY = {
    "open_question": "+", "reflection": "+", "validation": "+", "perspective_taking": "+", "needs_check": "+",
    "fact_confrontation": "−", "dismissal": "−", "blame": "−",
}  # fmt: skip

_IN_TURN_JS = """
window.cooldownTurnSelection = () => {
    const sel = window.getSelection();
    const turn = document.querySelector('#label-turn .cd-label-turn');
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed || !turn) return '';
    return turn.contains(sel.anchorNode) && turn.contains(sel.focusNode) ? sel.toString() : '';
};
"""

TURN_SELECTION_JS = _IN_TURN_JS + """
const remember = () => {
    const text = window.cooldownTurnSelection();
    if (text) window.cooldownLabelSelection = text;
};
document.addEventListener('selectionchange', remember);
element.addEventListener('mouseup', () => setTimeout(remember, 0));
element.addEventListener('keyup', remember);
"""
"""`js_on_load` of the turn: remembers the last non-empty selection made inside the turn's text (a click
elsewhere may clear the live selection before the button reads it)."""

TAKE_SELECTION_JS = """(current, file, item) => {
    const live = window.cooldownTurnSelection ? window.cooldownTurnSelection() : '';
    const picked = live || window.cooldownLabelSelection || '';
    window.cooldownLabelSelection = '';
    return [picked, file, item];
}"""
"""Runs before "Use selected text": hands the selection in the turn (live, else the one remembered) to the
handler, which makes it verbatim."""


@dataclass(frozen=True)
class TechniqueRow:
    """One technique: how it is used (or not) and the words that show it."""

    technique: str
    use: gr.Radio
    evidence: gr.Textbox
    take: gr.Button


@dataclass(frozen=True)
class LabelView:
    """Label tab: file and rater, the turn in its context, the label form, progress and status."""

    tab: gr.Tab
    file: gr.Dropdown
    refresh: gr.Button
    rater: gr.Textbox
    open: gr.Button
    progress: gr.Markdown
    item: gr.Dropdown
    prev: gr.Button
    next: gr.Button
    context: gr.HTML
    turn: gr.HTML
    behaviours: gr.CheckboxGroup
    score: gr.Radio
    techniques: list[TechniqueRow]
    tactics: gr.CheckboxGroup
    note: gr.Textbox
    save: gr.Button
    status: gr.Markdown
    versions: gr.Markdown

    def form(self) -> list[gr.components.Component]:
        """The label form's inputs (what a save reads)."""
        return [self.behaviours, self.score, *(r.use for r in self.techniques),
                *(r.evidence for r in self.techniques), self.tactics, self.note]  # fmt: skip

    def shown(self) -> list[gr.components.Component]:
        """Everything showing one turn (the outputs of open, move and save)."""
        return [self.progress, self.item, self.context, self.turn, *self.form(), self.status, self.versions]


def turns_files(folder: Path) -> list[str]:
    """The `*.jsonl` turns files of the label folder, by name."""
    return sorted(p.name for p in folder.glob("*.jsonl") if p.is_file()) if folder.is_dir() else []


def label_tab(folder: Path, *, ask_name: bool, tab: gr.Tab) -> LabelView:
    """Lay out the Label tab (inside `tab`).

    With sign-in on (`ask_name` off) the file list starts empty: the page load fills it for trainers and
    raters only, so the page sent to a trainee names no turns file.
    """
    gr.Markdown(
        "Label trainee turns with the rubric's labels (docs/rubric.md). "
        f"Files come from the label folder (`COOLDOWN_LABEL_DIR`, now `{esc(folder)}`); every save is kept."
    )
    files = turns_files(folder) if ask_name else []
    with gr.Row():
        file = gr.Dropdown(files, value=files[0] if files else None, label="Turns file", elem_id="label-file")
        refresh = gr.Button("Refresh files", elem_id="label-refresh", scale=0)
        rater = gr.Textbox(label="Rater name", max_length=40, visible=ask_name, elem_id="label-rater")
        open_btn = gr.Button("Open", variant="primary", elem_id="label-open", scale=0)
    progress = gr.Markdown(elem_id="label-progress")
    with gr.Row():
        item = gr.Dropdown([], label="Turn (✓ labelled by you)", elem_id="label-item")
        prev = gr.Button("◀ Previous", elem_id="label-prev", scale=0)
        nxt = gr.Button("Next unlabelled ▶", elem_id="label-next", scale=0)
    context = gr.HTML(elem_id="label-context", js_on_load=None)
    turn = gr.HTML(elem_id="label-turn", js_on_load=TURN_SELECTION_JS)
    behaviours = gr.CheckboxGroup(
        [(f"{b.value} ({POLARITY[b.value]})" if b.value in POLARITY else b.value, b.value) for b in Behaviour],
        label="Behaviours (+ listening, − pushes back)", elem_id="label-behaviours",
    )  # fmt: skip
    score = gr.Radio(
        [(f"{n}: {meaning}", n) for n, meaning in SCORE_MEANINGS.items()], label="Perspective-taking score",
        elem_id="label-score",
    )  # fmt: skip
    gr.Markdown("**Techniques**: for each one the turn uses, pick the use and mark its evidence: select the "
                "words in the turn above, then press *Use selected text*.")
    rows = []
    for t in Technique:
        with gr.Row(equal_height=True):
            use = gr.Radio([NOT_USED, "ethical", "manipulative"], value=NOT_USED, label=t.value,
                           elem_id=f"label-use-{t.value}", scale=2)
            evidence = gr.Textbox(label=f"{t.value}: evidence", max_lines=3, elem_id=f"label-ev-{t.value}", scale=3)
            take = gr.Button("Use selected text", elem_id=f"label-take-{t.value}", scale=0)
        rows.append(TechniqueRow(t.value, use, evidence, take))
    tactics = gr.CheckboxGroup([t.value for t in Tactic], label="Manipulation tactics", elem_id="label-tactics")
    note = gr.Textbox(label="Note (optional: why these labels)", max_length=2000, elem_id="label-note")
    save = gr.Button("Save and next", variant="primary", elem_id="label-save")
    status = gr.Markdown(elem_id="label-status")
    with gr.Accordion("Your saved versions of this turn", open=False):
        versions = gr.Markdown(elem_id="label-versions")
    return LabelView(tab, file, refresh, rater, open_btn, progress, item, prev, nxt, context, turn, behaviours, score,
                     rows, tactics, note, save, status, versions)  # fmt: skip


def context_html(item: LabelItem) -> str:
    """The scenario, persona and the call so far, escaped."""
    parts = []
    if item.scenario:
        parts.append(f'<p class="cd-label-scenario"><b>Scenario:</b> {esc(item.scenario)}</p>')
    if item.persona:
        parts.append(f"<p><b>Persona:</b> {esc(item.persona)}</p>")
    for u in item.context:
        who = "Customer" if u.role == "customer" else "Agent"
        parts.append(f'<p class="cd-label-line"><b>{who}:</b> {esc(u.text)}</p>')
    return "".join(parts)


def turn_html(item: LabelItem, quotes: list[tuple[str, str]]) -> str:
    """The trainee's turn (the evidence already marked highlighted), ready for selecting words in it."""
    return (
        '<div style="font-weight:600;margin-bottom:4px">Trainee turn: select words to use as evidence</div>'
        '<div class="cd-label-turn" style="user-select:text;padding:10px;border:1px solid #999;border-radius:6px;'
        f'font-size:1.05em;line-height:1.5">{highlight(item.trainee_turn, quotes)}</div>'
    )
