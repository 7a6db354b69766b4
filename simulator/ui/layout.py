"""The page's components, laid out tab by tab and grouped in small dataclasses (no behaviour here).

`page_layout` must run inside a `gr.Blocks` context. Handlers (`simulator.ui.handlers`) return updates keyed
by these components, so a handler reads as "set the status line", not "the fourth value of eleven". The
browser tests find components by their `elem_id`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from simulator.persona.schema import DIFFICULTIES
from simulator.ui.labelling import LabelView, label_tab
from simulator.ui.library import CallerLibrary
from simulator.ui.live import abandon_on_close
from simulator.ui.panels import CARD_PICKER_JS, persona_cards
from simulator.ui.progress import MyProgressView, TrainerView, my_progress_layout, trainer_layout

TURN_PLACEHOLDER = "Type what you say to the caller, then Enter"
WAIT_PLACEHOLDER = "The caller is answering… you can reply when they finish."
RESUME_LABEL = "Continue your call"
DESIGNER_HINT = "Pick a persona and a difficulty: its facts, emotional model and caller prompt show here."
"""What the designer says until the picked persona's preview arrives (it is drawn as the tab opens)."""
MODES = [("Coach: feedback after every turn", "coach"), ("Exam: feedback at the end", "exam")]


@dataclass(frozen=True)
class SetupView:
    """Call tab, before a call: who is practising, which caller (the cards pick too), how hard, which mode."""

    column: gr.Column
    name: gr.Textbox
    cards: gr.HTML
    persona: gr.Radio
    difficulty: gr.Radio
    mode: gr.Radio
    start: gr.Button
    resume: gr.Button
    """"Continue your call": shown when the trainee has a call still open (another tab, a dead instance)."""


@dataclass(frozen=True)
class CallView:
    """Call tab, during a call: the chat, the input, the call's buttons, the mood and feedback panels."""

    column: gr.Column
    chat: gr.Chatbot
    box: gr.Textbox
    send: gr.Button
    retry: gr.Button
    end: gr.Button
    again: gr.Button
    mood: gr.HTML
    feedback: gr.HTML
    outcome: gr.HTML
    status: gr.Markdown
    resume: gr.Button
    """"Continue your call", shown when this tab lost its call (the instance holding it stopped)."""

    def turn_controls(self) -> list[Any]:
        """What a trainee uses to say something: locked while a turn is in flight."""
        return [self.box, self.send, self.retry]


@dataclass(frozen=True)
class ReviewView:
    """One stored call as the Debrief and History tabs show it."""

    outcome: gr.HTML
    mood_plot: gr.Plot
    score_plot: gr.Plot
    markdown: gr.Markdown
    transcript: gr.HTML
    download_md: gr.DownloadButton
    download_json: gr.DownloadButton

    def components(self) -> list[Any]:
        """In the order the `end_call` API returns them."""
        return [self.outcome, self.mood_plot, self.score_plot, self.markdown, self.transcript,
                self.download_md, self.download_json]  # fmt: skip


@dataclass(frozen=True)
class HistoryView:
    """History tab: the trainee's past calls and the one opened."""

    tab: gr.Tab
    """Opening it lists the trainee's calls and draws their progress (`simulator.ui.progress`)."""
    refresh: gr.Button
    picker: gr.Dropdown
    open: gr.Button
    table: gr.Dataframe
    status: gr.Markdown
    review: ReviewView


@dataclass(frozen=True)
class DesignerView:
    """Persona designer tab: a persona's preview and rendered prompt, and lint for pasted YAML."""

    tab: gr.Tab
    """Opening it shows the picked persona (so does picking another persona or difficulty)."""
    persona: gr.Dropdown
    level: gr.Radio
    show: gr.Button
    tokens: gr.Markdown
    facts: gr.Markdown
    prompt: gr.Code
    try_line: gr.Textbox
    try_plan: gr.Button
    plan_out: gr.Markdown
    lint_name: gr.Textbox
    lint_src: gr.Code
    lint: gr.Button
    lint_out: gr.Textbox


@dataclass(frozen=True)
class Page:
    """Every component of the page, with the per-browser state."""

    live: gr.State
    """This browser tab's `LiveCall` (or None)."""
    downloads: gr.State
    """This browser tab's download folder (a path string, or None)."""
    tabs: gr.Tabs
    setup: SetupView
    call: CallView
    debrief: ReviewView
    history: HistoryView
    designer: DesignerView
    label: LabelView
    timer: gr.Timer
    my_progress: MyProgressView
    """History tab: the trainee's progress across calls."""
    trainer: TrainerView
    """Trainer tab (shown to trainers only)."""


def page_layout(
    banner: str, library: CallerLibrary, *, ask_name: bool, max_turn_chars: int, llm_on: bool,
    label_dir: Path | None = None,
) -> Page:
    """Lay out the page (inside a `gr.Blocks` context).

    Args:
        banner: The models banner (HTML).
        library: The callers offered when the page is built (each page load refreshes them).
        ask_name: Show the name box (off when sign-in names the trainee).
        max_turn_chars: The input box's length limit (the server checks it again).
        llm_on: LLM grading is on (a timer polls for its grades).
        label_dir: The Label tab's folder of turns files (`Settings.resolved_label_dir()`).
    """
    live = gr.State(None, delete_callback=abandon_on_close)
    downloads = gr.State(None)
    gr.Markdown("# Cooldown\nPractise turning angry callers around: listen first, persuade honestly.")
    gr.HTML(banner, js_on_load=None)
    with gr.Tabs(selected="call") as tabs:
        with gr.Tab("Call", id="call"):
            setup = _setup(library, ask_name)
            call = _call(max_turn_chars)
        with gr.Tab("Debrief", id="debrief"):
            debrief = _review("debrief")
        with gr.Tab("History", id="history") as history_tab:
            history = _history(history_tab)
            my_progress = my_progress_layout()
        with gr.Tab("Persona designer", id="designer") as designer_tab:
            designer = _designer(library, designer_tab)
        # With sign-in on (no name box), the Label tab shows only for trainers and raters (on page load).
        with gr.Tab("Label", id="label", visible=ask_name, elem_id="label-tab") as label_box:
            label = label_tab(label_dir or Path("labelling"), ask_name=ask_name, tab=label_box)
        trainer = trainer_layout()
    timer = gr.Timer(3.0, active=llm_on)
    return Page(
        live, downloads, tabs, setup, call, debrief, history, designer, label, timer, my_progress, trainer
    )


def _setup(library: CallerLibrary, ask_name: bool) -> SetupView:
    first = library.pick()
    with gr.Column(visible=True) as column:
        name = gr.Textbox(
            label="Your name (your calls are kept under it)", max_length=40, visible=ask_name, elem_id="trainee-name"
        )
        cards = gr.HTML(
            persona_cards(library.personas(), selected=first), js_on_load=CARD_PICKER_JS, elem_id="persona-cards"
        )
        persona = gr.Radio(
            library.choices(), value=first, label="Caller", info="Click a card above, or pick here.",
            elem_id="persona-pick",
        )  # fmt: skip
        with gr.Row():
            difficulty = gr.Radio(list(DIFFICULTIES), value="normal", label="Difficulty")
            mode = gr.Radio(MODES, value="coach", label="Mode")
        with gr.Row():
            start = gr.Button("Start call", variant="primary", elem_id="start-call")
            resume = gr.Button(RESUME_LABEL, visible=False, elem_id="continue-call")
    return SetupView(column, name, cards, persona, difficulty, mode, start, resume)


def _call(max_turn_chars: int) -> CallView:
    with gr.Column(visible=False) as column, gr.Row():
        with gr.Column(scale=3):
            chat = gr.Chatbot(
                label="The call", height=440, render_markdown=False, sanitize_html=True, allow_tags=False,
                feedback_options=None, buttons=["copy_all"], elem_id="call-chat",
            )  # fmt: skip
            box = gr.Textbox(
                label="You say", lines=1, max_lines=6, max_length=max_turn_chars, elem_id="turn-box",
                placeholder=TURN_PLACEHOLDER,
            )  # fmt: skip
            with gr.Row():
                send = gr.Button("Send", variant="primary", elem_id="send")
                retry = gr.Button("Retry the caller", elem_id="retry")
                end = gr.Button("End call", variant="stop", elem_id="end-call")
                again = gr.Button("New call", elem_id="new-call")
        with gr.Column(scale=2):
            mood = gr.HTML(elem_id="mood-panel", js_on_load=None)
            feedback = gr.HTML(elem_id="feedback-panel", js_on_load=None, max_height=520)
    outcome = gr.HTML(elem_id="outcome", js_on_load=None)
    status = gr.Markdown(elem_id="status")
    resume = gr.Button(RESUME_LABEL, visible=False, variant="primary", elem_id="continue-call-here")
    return CallView(column, chat, box, send, retry, end, again, mood, feedback, outcome, status, resume)


def _review(prefix: str) -> ReviewView:
    outcome = gr.HTML(elem_id=f"{prefix}-outcome", js_on_load=None)
    with gr.Row():  # hidden until a call is shown: empty plot frames read as "something failed to load"
        mood = gr.Plot(label="The caller's mood", show_label=False, visible=False, elem_id=f"{prefix}-mood-plot")
        scores = gr.Plot(label="Your scores", show_label=False, visible=False, elem_id=f"{prefix}-score-plot")
    with gr.Row():
        dl_md = gr.DownloadButton("Download Markdown", visible=False, elem_id=f"{prefix}-dl-md")
        dl_json = gr.DownloadButton("Download JSON", visible=False, elem_id=f"{prefix}-dl-json")
    md = gr.Markdown(elem_id=f"{prefix}-text", sanitize_html=True)
    with gr.Accordion("Transcript with annotations", open=False, elem_id=f"{prefix}-transcript-box"):
        transcript = gr.HTML(elem_id=f"{prefix}-transcript", js_on_load=None)
    return ReviewView(outcome, mood, scores, md, transcript, dl_md, dl_json)


def _history(tab: gr.Tab) -> HistoryView:
    gr.Markdown("Your past calls (under the name you gave, or your sign-in).")
    with gr.Row(equal_height=True):  # the picker gets the room: its labels are date · caller · outcome · id
        refresh = gr.Button("Refresh list", scale=1, elem_id="history-refresh")
        picker = gr.Dropdown(label="Open a call", choices=[], scale=3, elem_id="history-pick")
        open_btn = gr.Button("Open", scale=1, elem_id="history-open")
    table = gr.Dataframe(
        headers=["started", "caller", "difficulty", "mode", "messages", "outcome", "id"], interactive=False,
        elem_id="history-table",
    )  # fmt: skip
    status = gr.Markdown()
    return HistoryView(tab, refresh, picker, open_btn, table, status, _review("history"))


def _designer(library: CallerLibrary, tab: gr.Tab) -> DesignerView:
    with gr.Row():
        persona = gr.Dropdown(library.choices(), value=library.pick(), label="Persona")
        level = gr.Radio(list(DIFFICULTIES), value="normal", label="Difficulty")
        show = gr.Button("Show again", elem_id="designer-show")  # re-reads a persona file edited meanwhile
    tokens = gr.Markdown(DESIGNER_HINT, elem_id="designer-tokens")
    facts = gr.Markdown(sanitize_html=True)
    prompt = gr.Code(  # scrolls past 24 lines: the ~50-line prompt pushed the plan box below the fold
        label="Rendered caller prompt (opening turn)", language="markdown", interactive=False, max_lines=24,
        elem_id="designer-prompt",
    )  # fmt: skip
    with gr.Column(elem_id="designer-try"):
        gr.Markdown("### What would the caller do?\nType a first trainee line: see the reply's plan, why, and the "
                    "persona's own line for it.")  # fmt: skip
        with gr.Row():
            try_line = gr.Textbox(label="The trainee says", placeholder="How much did you pay for it?",
                                  max_length=500, scale=4, elem_id="try-line")  # fmt: skip
            try_plan = gr.Button("Plan the reply", scale=1, elem_id="try-plan")
        plan_out = gr.Markdown(sanitize_html=True, elem_id="plan-out")
    gr.Markdown("### Lint a persona file\nPaste YAML; problems come back as `file:line:col: field: message`.")
    lint_name = gr.Textbox(label="File name (optional, e.g. dana_delayed_order.yaml)", max_length=64)
    lint_src = gr.Code(label="Persona YAML", language="yaml", interactive=True, elem_id="lint-src")
    lint = gr.Button("Lint", elem_id="lint")
    lint_out = gr.Textbox(label="Problems", lines=6, interactive=False, elem_id="lint-out")
    return DesignerView(
        tab, persona, level, show, tokens, facts, prompt, try_line, try_plan, plan_out, lint_name, lint_src, lint,
        lint_out,
    )
