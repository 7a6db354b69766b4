"""The progress views: "My progress" in the History tab, and the Trainer tab (cohort and per trainee).

A trainee sees their own progress across calls. With sign-in on (COOLDOWN_AUTH), users given the trainer
role (`tom@trainer:password`, see `simulator.ui.deps.parse_accounts`) also get a Trainer tab: the whole
cohort, or any one trainee, with the same charts, a table with one row per trainee, and a CSV download.
The tab is hidden from everyone else, and every trainer handler checks the role again on the server, so
a crafted request from a trainee gets a refusal, never data. Without sign-in there is no trainer view: a
typed name proves nothing.

All figures come from `Store.progress` (aggregated in SQL); this module lays out and fills the views.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import gradio as gr

from simulator.errors import CooldownError, InputRejected
from simulator.storage import Progress, progress_csv, write_export_file
from simulator.ui.progress_charts import charts_html
from simulator.ui.text import esc

if TYPE_CHECKING:
    from simulator.ui.handlers import PageHandlers
    from simulator.ui.layout import Page

Updates = dict[Any, Any]
"""As in `simulator.ui.handlers` (defined here too: Gradio reads the handlers' type hints at runtime to
find their `gr.Request` parameter, and importing the handlers module here would be circular)."""

log = logging.getLogger("cooldown.app")

COHORT = "*cohort*"
"""The trainer picker's value for the whole cohort (never a trainee's name: names cannot contain '*')."""
TABLE_HEADERS = ["trainee", "calls", "graded turns", "mean perspective-taking", "manipulative per call",
                 "resolved", "last call"]  # fmt: skip
NOT_TRAINER = "Only trainers can see the cohort. Ask whoever runs Cooldown to give you the trainer role."
NO_TRAINEE_YET = (
    "Your progress across calls shows here once Cooldown knows who you are: type your name in the Call tab "
    "(the one your calls are kept under), then come back to this tab."
)
"""What "My progress" says, instead of empty charts, when the History tab opens before a name is typed."""
TREND_CALLS = 5
"""The summary compares the mean score of the first and the last this many calls."""


@dataclass(frozen=True)
class ProgressView:
    """The summary and charts of one progress (a trainee's or the cohort's)."""

    summary: gr.Markdown
    charts: gr.HTML
    """The four charts (`simulator.ui.progress_charts`), drawn on the server as inline SVG."""

    def components(self) -> list[Any]:
        """Every output, in a fixed order."""
        return [self.summary, self.charts]


@dataclass(frozen=True)
class MyProgressView:
    """History tab: the signed-in trainee's progress across calls."""

    show: gr.Button
    view: ProgressView


@dataclass(frozen=True)
class TrainerView:
    """Trainer tab (hidden unless the signed-in user is a trainer): the cohort or one trainee."""

    tab: gr.Tab
    pick: gr.Dropdown
    show: gr.Button
    download: gr.DownloadButton
    status: gr.Markdown
    view: ProgressView
    table: gr.HTML


def progress_view(prefix: str) -> ProgressView:
    """Lay out a progress view (inside a Blocks context); element ids start with `prefix`."""
    summary = gr.Markdown(elem_id=f"{prefix}-summary", sanitize_html=True)
    charts = gr.HTML(elem_id=f"{prefix}-charts", js_on_load=None)
    return ProgressView(summary, charts)


def my_progress_layout() -> MyProgressView:
    """The History tab's "My progress" section."""
    with gr.Accordion("My progress across calls", open=True, elem_id="my-progress"):
        show = gr.Button("Refresh my progress", elem_id="my-progress-show")
        view = progress_view("my-progress")
    return MyProgressView(show, view)


def trainer_layout() -> TrainerView:
    """The Trainer tab, hidden until a trainer's page loads."""
    with gr.Tab("Trainer", id="trainer", visible=False, elem_id="trainer-tab") as tab:
        gr.Markdown("How the cohort is doing across calls. Pick the whole cohort or one trainee.")
        with gr.Row():
            pick = gr.Dropdown([("Whole cohort", COHORT)], value=COHORT, label="Show", elem_id="trainer-pick")
            show = gr.Button("Show", variant="primary", elem_id="trainer-show")
            download = gr.DownloadButton("Download CSV", visible=False, elem_id="trainer-csv")
        status = gr.Markdown(elem_id="trainer-status")
        view = progress_view("trainer")
        table = gr.HTML(elem_id="trainer-table", js_on_load=None)
    return TrainerView(tab, pick, show, download, status, view, table)


# -- filling the views ------------------------------------------------------------------------------------


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def summary_markdown(progress: Progress) -> str:
    """One paragraph: calls, graded turns, mean score (and its trend), manipulative moves, behaviours."""
    who = "The whole cohort" if progress.trainee is None else f"**{esc(progress.trainee)}**"
    if progress.is_empty:
        return f"{who}: no calls yet. Play a call in the Call tab, then come back."
    parts = [f"{who}: {progress.call_count:,} call(s), {progress.graded_turns:,} graded turn(s)"]
    if progress.trainee is None:
        parts[0] += f", {len(progress.trainees)} trainee(s)"
    if progress.mean_score is not None:
        parts.append(f"mean perspective-taking **{progress.mean_score:.2f}** / 4")
    series = (
        [p.mean_score for p in progress.curve] if progress.trainee is None else [c.mean_score for c in progress.calls]
    )
    first, last = _mean(series[:TREND_CALLS]), _mean(series[-TREND_CALLS:])
    if len(series) >= 2 * TREND_CALLS and first is not None and last is not None:
        parts.append(f"first {TREND_CALLS} calls {first:.2f} → last {TREND_CALLS} calls {last:.2f}")
    per_call = progress.manipulative_turns / progress.call_count
    parts.append(f"{progress.manipulative_turns:,} manipulative move(s) ({per_call:.2f} per call)")
    used = [b for b in progress.behaviours if b.turns]
    if used:
        parts.append(f"most used: {used[0].behaviour.value.replace('_', ' ')}; "
                     f"least used: {progress.behaviours[-1].behaviour.value.replace('_', ' ')}")  # fmt: skip
    return " · ".join(parts) + "."


def with_caller_names(progress: Progress, names: Mapping[str, str]) -> Progress:
    """`progress` with each persona id replaced by the caller's name (`names`; unknown ids stay), for display.

    The CSV download keeps the ids: it is read by spreadsheets and scripts, not by a trainee.
    """
    calls = [c.model_copy(update={"persona": names.get(c.persona, c.persona)}) for c in progress.calls]
    outcomes = [o.model_copy(update={"persona": names.get(o.persona, o.persona)}) for o in progress.outcomes]
    return progress.model_copy(update={"calls": calls, "outcomes": outcomes})


def view_updates(view: ProgressView, progress: Progress, names: Mapping[str, str] | None = None) -> Updates:
    """The summary and the charts of `view` showing `progress` (callers by name when `names` maps their ids)."""
    shown = with_caller_names(progress, names) if names else progress
    return {view.summary: summary_markdown(shown), view.charts: charts_html(shown)}


def table_html(progress: Progress) -> str:
    """The cohort table as plain HTML, every value escaped (a Dataframe took longer to draw than the plots)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in TABLE_HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in table_rows(progress))
    return f'<table class="cd-cohort" data-cohort-table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def table_rows(progress: Progress) -> list[list[str]]:
    """The cohort table: one row per trainee."""
    return [
        [t.trainee, str(t.calls), str(t.graded_turns), "-" if t.mean_score is None else f"{t.mean_score:.2f}",
         f"{t.manipulative_per_call:.2f}", str(t.resolved), f"{t.last_call:%Y-%m-%d %H:%M}"]
        for t in progress.trainees
    ]  # fmt: skip


class ProgressHandlers:
    """The progress views' event handlers, over the page's handlers (trainee names, downloads, the store)."""

    def __init__(self, base: PageHandlers, trainers: frozenset[str]) -> None:
        self.base = base
        self.page = base.page
        self.store = base.deps.store
        self.trainers = trainers if base.auth_on else frozenset()

    def is_trainer(self, request: gr.Request | None) -> bool:
        """True when sign-in is on and the signed-in user has the trainer role."""
        user = getattr(request, "username", None)
        return bool(user) and user in self.trainers

    def my_progress(self, name: Any, request: gr.Request) -> Updates:
        """The signed-in (or named) trainee's own progress."""
        view = self.page.my_progress.view
        try:
            trainee = self.base.trainee_of(name, request)
            return view_updates(view, self.store.progress(trainee), self.base.caller_names())
        except CooldownError as exc:
            return {view.summary: _warn(str(exc))}

    def my_progress_on_open(self, name: Any, request: gr.Request) -> Updates:
        """The History tab was opened: the trainee's progress drawn at once, or what to do when nobody is named.

        Quiet where `my_progress` warns: opening a tab before typing a name is no mistake.
        """
        view = self.page.my_progress.view
        try:
            self.base.trainee_of(name, request)
        except InputRejected:
            return {view.summary: NO_TRAINEE_YET, view.charts: ""}
        return self.my_progress(name, request)

    def trainer_load(self, request: gr.Request) -> Updates:
        """On page load: the Trainer tab shows for trainers only, with the trainees to pick from."""
        if not self.is_trainer(request):
            return {self.page.trainer.tab: gr.Tab(visible=False)}
        return {self.page.trainer.tab: gr.Tab(visible=True), self.page.trainer.pick: self._picker(None)}

    def _picker(self, current: Any) -> gr.Dropdown:
        names = self.store.trainee_names()
        value = current if current in names else COHORT
        return gr.Dropdown(choices=[("Whole cohort", COHORT), *((n, n) for n in names)], value=value)

    def trainer_show(self, pick: Any, downloads: Any, request: gr.Request) -> Updates:
        """The cohort (or the picked trainee) with the table and a CSV of what is shown."""
        trainer = self.page.trainer
        if not self.is_trainer(request):
            return {trainer.status: _warn(NOT_TRAINER)}
        try:
            scope = None if pick in (None, "", COHORT) else _name(pick)
            progress = self.store.progress(scope)
            folder = self.base._downloads_dir(downloads)
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
            stem = "cohort" if scope is None else "calls-" + "".join(c if c.isalnum() else "-" for c in scope)
            path = folder / f"cooldown-{stem}-{stamp}.csv"
            write_export_file(path, progress_csv(progress))
        except CooldownError as exc:
            return {trainer.status: _warn(str(exc))}
        cohort = scope is None
        label = "Download cohort CSV" if cohort else f"Download {scope}'s calls CSV"
        return view_updates(trainer.view, progress, self.base.caller_names()) | {
            trainer.table: table_html(progress) if cohort else "",
            trainer.download: gr.DownloadButton(value=str(path), visible=True, label=label),
            trainer.status: "",
            self.page.downloads: str(folder),
        }  # fmt: skip


def _name(pick: Any) -> str:
    if not isinstance(pick, str) or not pick.strip():
        raise InputRejected("Pick the whole cohort or a trainee from the list.")
    return pick


def _warn(message: str) -> str:
    gr.Warning(message)
    return f"⚠ {message}"


def wire_progress(page: Page, handlers: ProgressHandlers, demo: gr.Blocks) -> None:
    """Connect the progress views' events (and the Trainer tab's page-load check)."""
    mine, trainer = page.my_progress, page.trainer
    mine.show.click(handlers.my_progress, [page.setup.name], mine.view.components(), api_visibility="private")
    page.history.tab.select(  # drawn as the tab opens: no empty charts waiting for "Show my progress"
        handlers.my_progress_on_open, [page.setup.name], mine.view.components(), api_visibility="private",
        show_progress="hidden",
    )  # fmt: skip
    trainer.show.click(
        handlers.trainer_show, [trainer.pick, page.downloads],
        [*trainer.view.components(), trainer.table, trainer.download, trainer.status, page.downloads],
        api_visibility="private",
    )  # fmt: skip
    demo.load(handlers.trainer_load, None, [trainer.tab, trainer.pick], api_visibility="private", queue=False,
              show_progress="hidden")  # fmt: skip
