"""Cooldown's web page: the trainee's whole call in the browser (Gradio wiring over `simulator`).

Run with `cooldown app` (or `make run`; the top-level `app.py` runs it too): 127.0.0.1:7860 by default,
no share links, no analytics.
Tabs: Call (pick a caller, play the call with a live mood panel and per-turn feedback), Debrief (plots,
debrief, annotated transcript, downloads), History (your past calls), Persona designer (preview, lint).

Per-browser state lives in `gr.State` (a `LiveCall`, the trainee's download folder); models, graders and
the store are shared and hold nothing per trainee. Every handler validates its inputs itself; errors reach
the trainee as a short message (gr.Warning and the status line), never a traceback.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from simulator.call.session import CallSession
from simulator.config import Settings, load_settings
from simulator.errors import CooldownError, InputRejected
from simulator.persona.library import PersonaLibrary, default_library
from simulator.persona.loader import load_persona
from simulator.persona.schema import DIFFICULTIES, Persona
from simulator.resources import checkout_root, personas_dir, prompts_dir
from simulator.ui.deps import AppDeps, auth_from, clean_name, default_deps
from simulator.ui.designer import lint_text, preview
from simulator.ui.live import LiveCall, abandon_on_close
from simulator.ui.panels import PAGE_CSS, models_banner, persona_cards
from simulator.ui.review import history_choices, history_rows, new_download_dir, review, write_downloads

log = logging.getLogger("cooldown.app")
GRADE_WAIT_S = 20.0
"""How long ending a call waits for LLM grades still running (the rest are stored when they finish)."""
UNEXPECTED = "Something went wrong on our side. Your call so far is saved; try again."


NO_OPEN_CALL = (
    "No call is open on this page (it may have been reloaded, or the server restarted). Anything you said "
    "before is saved: see History. Pick a caller and press Start call to practise."
)

def _load_library(personas: PersonaLibrary) -> dict[str, tuple[Path, Persona]]:
    """Every valid persona in the library, read afresh (so added or edited files show without a restart)."""
    found = {}
    for entry in personas.valid():
        try:
            found[entry.id] = (entry.path, load_persona(entry.path))
        except CooldownError:  # edited between the listing and the load: skip it this time
            continue
    return found


def _warn(message: str) -> str:
    gr.Warning(message)
    return f"⚠ {message}"


def build(settings: Settings, deps: AppDeps | None = None) -> gr.Blocks:
    """The page.

    Args:
        settings: Limits, data paths and models.
        deps: Models, graders and store to use (tests pass fakes); default: the configured ones.
    """
    deps = deps or default_deps(settings)
    personas_library = default_library(settings)
    library = _load_library(personas_library)
    if not library:
        where = ", ".join(str(f) for f in personas_library.folders)
        raise CooldownError(f"no valid persona files in {where}; run `cooldown personas lint`")
    auth_on = auth_from(settings) is not None
    temp_root = Path(gr.utils.get_upload_folder())
    llm_on = deps.llm_grader is not None

    def choices_of(found: dict[str, tuple[Path, Persona]]) -> list[tuple[str, str]]:
        return [(f"{p.identity.name} — {p.identity.temperament}", pid) for pid, (_, p) in found.items()]

    persona_choices = choices_of(library)
    first = "backfire_brian" if "backfire_brian" in library else next(iter(library))

    def refresh_library(current: Any, designer_current: Any) -> tuple[Any, ...]:
        """On page load: the library as it is now (files added or edited since the server started)."""
        found = _load_library(personas_library)
        library.clear()
        library.update(found)
        choices = choices_of(found)
        pick = current if current in found else (first if first in found else next(iter(found), None))
        pick_d = designer_current if designer_current in found else pick
        cards = persona_cards([p for _, p in found.values()])
        return gr.Radio(choices=choices, value=pick), gr.Dropdown(choices=choices, value=pick_d), cards

    def trainee_of(name: Any, request: gr.Request | None) -> str:
        if auth_on:
            user = getattr(request, "username", None)
            if not user:
                raise InputRejected("Sign in to practise.")
            return clean_name(user)
        return clean_name(name)

    def downloads_dir(current: Any) -> Path:
        if isinstance(current, str) and Path(current).is_dir():
            return Path(current)
        return new_download_dir(temp_root)

    def review_outputs(session_id: str, trainee: str, dl: Any) -> tuple[Any, ...]:
        item = review(deps.store, session_id, trainee=trainee)
        folder = downloads_dir(dl)
        md_path, json_path = write_downloads(deps.store, item, folder)
        return (
            item.outcome_html, item.mood_plot, item.score_plot, item.markdown, item.transcript_html,
            gr.DownloadButton(value=str(md_path), visible=True), gr.DownloadButton(value=str(json_path), visible=True),
            str(folder),
        )  # fmt: skip

    # -- handlers --------------------------------------------------------------------------------

    async def start_call(
        name: Any, persona_id: Any, difficulty: Any, mode: Any, live: LiveCall | None, request: gr.Request
    ) -> tuple[Any, ...]:
        skip = gr.skip()
        try:
            trainee = trainee_of(name, request)
            if persona_id not in library:
                library.update(_load_library(personas_library))
            if persona_id not in library:
                raise InputRejected("Pick a caller from the library first.")
            if difficulty not in DIFFICULTIES:
                raise InputRejected("Pick a difficulty: easy, normal or hard.")
            if mode not in ("coach", "exam"):
                raise InputRejected("Pick coach or exam mode.")
            if live is not None and not live.ended:
                await live.finish(0)
            path, _ = library[persona_id]
            session = CallSession.start(
                deps.store, path, caller_model=deps.caller, local_grader=deps.local_grader,
                llm_grader=deps.llm_grader, difficulty=difficulty, trainee=trainee, mode=mode, settings=settings,
            )  # fmt: skip
        except CooldownError as exc:
            return (live, skip, skip, skip, skip, skip, _warn(str(exc)), skip)
        except Exception:
            log.exception("start_call failed")
            return (live, skip, skip, skip, skip, skip, _warn(UNEXPECTED), skip)
        new = LiveCall(session, trainee=trainee, mode=mode, llm_grading=llm_on)
        status = f"On the line: {session.persona.identity.name} ({difficulty}, {mode} mode). Say hello."
        return (
            new, gr.Column(visible=False), gr.Column(visible=True), new.messages(), new.mood_html(),
            new.feedback_html(), status, new.outcome_html(),
        )  # fmt: skip

    async def send(text: Any, live: LiveCall | None) -> AsyncIterator[tuple[Any, ...]]:
        skip = gr.skip()
        if live is None:
            yield (skip, skip, skip, _warn(NO_OPEN_CALL), skip, skip)
            return
        if not isinstance(text, str):
            yield (skip, skip, skip, _warn("Type your reply to the caller as text."), skip, skip)
            return
        try:
            cleared = False
            async for _ in live.send(text):
                box = skip if cleared else ""
                cleared = True
                yield (
                    live.messages(),
                    live.mood_html(),
                    live.feedback_html(),
                    live.status or "…",
                    live.outcome_html(),
                    box,
                )
            yield (live.messages(), live.mood_html(), live.feedback_html(), live.status, live.outcome_html(), skip)
        except InputRejected as exc:
            yield (skip, skip, skip, _warn(str(exc)), skip, skip)
        except CooldownError as exc:
            yield (live.messages(), skip, skip, _warn(str(exc)), skip, skip)
        except Exception:
            log.exception("send failed")
            yield (live.messages(), skip, skip, _warn(UNEXPECTED), skip, skip)

    async def retry(live: LiveCall | None) -> AsyncIterator[tuple[Any, ...]]:
        skip = gr.skip()
        if live is None or live.ended or not live.session.pending_reply:
            yield (skip, skip, skip, _warn("There is no caller reply to retry; type your next message."), skip, skip)
            return
        try:
            async for _ in live.retry():
                yield (
                    live.messages(),
                    live.mood_html(),
                    live.feedback_html(),
                    live.status or "…",
                    live.outcome_html(),
                    skip,
                )
            yield (live.messages(), live.mood_html(), live.feedback_html(), live.status, live.outcome_html(), skip)
        except CooldownError as exc:
            yield (skip, skip, skip, _warn(str(exc)), skip, skip)

    async def tick(live: LiveCall | None) -> Any:
        if live is None or live.ended or not await live.poll_grades():
            return gr.skip()
        return live.feedback_html()

    async def finish(live: LiveCall | None, dl: Any, force: bool) -> tuple[Any, ...]:
        skip = gr.skip()
        none = (skip,) * 9
        if live is None or not (force or live.ended):
            return (*none, skip, skip) if not force else (*none, _warn("There is no call to end."), skip)
        try:
            if not live.closed:
                await live.finish(GRADE_WAIT_S)
            outs = review_outputs(live.session.id, live.trainee, dl)
        except CooldownError as exc:
            return (*none, _warn(str(exc)), skip)
        except Exception:
            log.exception("finish failed")
            return (*none, _warn(UNEXPECTED), skip)
        status = "The call has ended. Your debrief is ready in the Debrief tab."
        tabs = gr.Tabs(selected="debrief") if force else skip
        return (*outs, live.feedback_html(reveal=True), status, tabs)

    async def end_call(live: LiveCall | None, dl: Any) -> tuple[Any, ...]:
        return await finish(live, dl, True)

    async def after_turn(live: LiveCall | None, dl: Any) -> tuple[Any, ...]:
        return await finish(live, dl, False)

    def new_call() -> tuple[Any, ...]:
        return gr.Column(visible=True), gr.Column(visible=False), "Pick a caller and press Start call."

    def history(name: Any, request: gr.Request) -> tuple[Any, ...]:
        try:
            trainee = trainee_of(name, request)
            sessions = deps.store.list_sessions(trainee, limit=200)
        except CooldownError as exc:
            return gr.skip(), gr.skip(), _warn(str(exc))
        note = f"{len(sessions)} call(s) for {trainee}." if sessions else f"No calls yet for {trainee}."
        return history_rows(sessions), gr.Dropdown(choices=history_choices(sessions), value=None), note

    def open_past(session_id: Any, name: Any, dl: Any, request: gr.Request) -> tuple[Any, ...]:
        none = (gr.skip(),) * 8
        if not isinstance(session_id, str) or not session_id:
            return (*none, _warn("Pick a call from the list first."))
        try:
            return (*review_outputs(session_id, trainee_of(name, request), dl), "")
        except CooldownError as exc:
            return (*none, _warn(str(exc)))

    def show_persona(persona_id: Any, difficulty: Any) -> tuple[Any, ...]:
        if persona_id not in library or difficulty not in DIFFICULTIES:
            return gr.skip(), gr.skip(), _warn("Pick a persona and a difficulty.")
        try:
            return preview(library[persona_id][0], difficulty)
        except CooldownError as exc:
            return gr.skip(), gr.skip(), _warn(str(exc))

    def lint(text: Any, filename: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            return _warn("Paste a persona YAML file first.")
        name = filename.strip() if isinstance(filename, str) else ""
        problems = lint_text(text, name)
        return "\n".join(problems) if problems else "No problems: this persona loads."

    # -- layout ----------------------------------------------------------------------------------

    with gr.Blocks(title="Cooldown", analytics_enabled=False) as demo:
        live_state = gr.State(None, delete_callback=abandon_on_close)
        dl_state = gr.State(None)
        gr.Markdown("# Cooldown\nPractise turning angry callers around: listen first, persuade honestly.")
        gr.HTML(models_banner(deps.caller.info, deps.grader_names(), llm_grader=deps.grader_info), js_on_load=None)
        with gr.Tabs(selected="call") as tabs:
            with gr.Tab("Call", id="call"):
                with gr.Column(visible=True) as setup:
                    name = gr.Textbox(
                        label="Your name (your calls are kept under it)", max_length=40, visible=not auth_on,
                        elem_id="trainee-name",
                    )  # fmt: skip
                    cards = gr.HTML(persona_cards([p for _, p in library.values()]), js_on_load=None)
                    persona = gr.Radio(persona_choices, value=first, label="Caller", elem_id="persona-pick")
                    with gr.Row():
                        difficulty = gr.Radio(list(DIFFICULTIES), value="normal", label="Difficulty")
                        mode = gr.Radio(
                            [("Coach: feedback after every turn", "coach"), ("Exam: feedback at the end", "exam")],
                            value="coach", label="Mode",
                        )  # fmt: skip
                    start = gr.Button("Start call", variant="primary", elem_id="start-call")
                with gr.Column(visible=False) as call_col, gr.Row():
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(
                            label="The call", height=440, render_markdown=False, sanitize_html=True,
                            allow_tags=False, feedback_options=None, buttons=["copy_all"], elem_id="call-chat",
                        )  # fmt: skip
                        msg = gr.Textbox(
                            label="You say", lines=1, max_lines=6, max_length=settings.max_turn_chars,
                            elem_id="turn-box",
                            placeholder="Type what you say to the caller, then Enter",
                        )  # fmt: skip
                        with gr.Row():
                            send_btn = gr.Button("Send", variant="primary", elem_id="send")
                            retry_btn = gr.Button("Retry the caller", elem_id="retry")
                            end_btn = gr.Button("End call", variant="stop", elem_id="end-call")
                            again_btn = gr.Button("New call", elem_id="new-call")
                    with gr.Column(scale=2):
                        mood = gr.HTML(elem_id="mood-panel", js_on_load=None)
                        feedback = gr.HTML(elem_id="feedback-panel", js_on_load=None, max_height=520)
                outcome = gr.HTML(elem_id="outcome", js_on_load=None)
                status = gr.Markdown(elem_id="status")
            with gr.Tab("Debrief", id="debrief"):
                d_outcome, d_mood, d_scores, d_md, d_tx, d_dlmd, d_dljson = _review_view("debrief")
            with gr.Tab("History", id="history"):
                gr.Markdown("Your past calls (under the name you gave, or your sign-in).")
                with gr.Row():
                    refresh = gr.Button("Refresh list", elem_id="history-refresh")
                    picker = gr.Dropdown(label="Open a call", choices=[], elem_id="history-pick")
                    open_btn = gr.Button("Open", elem_id="history-open")
                table = gr.Dataframe(
                    headers=["started", "caller", "difficulty", "mode", "messages", "outcome", "id"], interactive=False,
                    elem_id="history-table",
                )  # fmt: skip
                h_status = gr.Markdown()
                h_outcome, h_mood, h_scores, h_md, h_tx, h_dlmd, h_dljson = _review_view("history")
            with gr.Tab("Persona designer", id="designer"):
                with gr.Row():
                    d_persona = gr.Dropdown(persona_choices, value=first, label="Persona")
                    d_level = gr.Radio(list(DIFFICULTIES), value="normal", label="Difficulty")
                    show_btn = gr.Button("Show")
                p_tokens = gr.Markdown()
                p_md = gr.Markdown(sanitize_html=True)
                p_prompt = gr.Code(
                    label="Rendered caller prompt (opening turn)", language="markdown", interactive=False
                )
                gr.Markdown(
                    "### Lint a persona file\nPaste YAML; problems come back as `file:line:col: field: message`."
                )
                lint_name = gr.Textbox(label="File name (optional, e.g. dana_delayed_order.yaml)", max_length=64)
                lint_src = gr.Code(label="Persona YAML", language="yaml", interactive=True, elem_id="lint-src")
                lint_btn = gr.Button("Lint", elem_id="lint")
                lint_out = gr.Textbox(label="Problems", lines=6, interactive=False, elem_id="lint-out")

        timer = gr.Timer(3.0, active=llm_on)

        # -- events ------------------------------------------------------------------------------
        start.click(
            start_call, [name, persona, difficulty, mode, live_state],
            [live_state, setup, call_col, chat, mood, feedback, status, outcome],
            api_name="start_call", api_visibility="undocumented",
        )  # fmt: skip
        turn_outputs = [chat, mood, feedback, status, outcome, msg]
        debrief_outputs = [d_outcome, d_mood, d_scores, d_md, d_tx, d_dlmd, d_dljson, dl_state, feedback, status]
        for trigger, api in ((msg.submit, "send"), (send_btn.click, "send_button")):
            trigger(
                send, [msg, live_state], turn_outputs, api_name=api, api_visibility="undocumented",
                concurrency_id="turn",
            ).then(
                after_turn, [live_state, dl_state], [*debrief_outputs, tabs], api_visibility="private",
                show_progress="hidden",
            )  # fmt: skip
        retry_btn.click(retry, [live_state], turn_outputs, api_visibility="private", concurrency_id="turn").then(
            after_turn,
            [live_state, dl_state],
            [*debrief_outputs, tabs],
            api_visibility="private",
            show_progress="hidden",
        )
        end_btn.click(
            end_call,
            [live_state, dl_state],
            [*debrief_outputs, tabs],
            api_name="end_call",
            api_visibility="undocumented",
        )
        again_btn.click(new_call, None, [setup, call_col, status], api_visibility="private")
        timer.tick(tick, [live_state], [feedback], api_visibility="private", show_progress="hidden")
        refresh.click(history, [name], [table, picker, h_status], api_visibility="private")
        open_btn.click(
            open_past, [picker, name, dl_state],
            [h_outcome, h_mood, h_scores, h_md, h_tx, h_dlmd, h_dljson, dl_state, h_status], api_visibility="private",
        )  # fmt: skip
        show_btn.click(show_persona, [d_persona, d_level], [p_md, p_prompt, p_tokens], api_visibility="private")
        lint_btn.click(lint, [lint_src, lint_name], [lint_out], api_name="lint", api_visibility="undocumented")
        demo.load(refresh_library, [persona, d_persona], [persona, d_persona, cards], api_visibility="private")
    return demo


def _review_view(prefix: str) -> tuple[Any, ...]:
    """The components of one call review (used by the Debrief and History tabs)."""
    outcome = gr.HTML(elem_id=f"{prefix}-outcome", js_on_load=None)
    with gr.Row():
        mood = gr.Plot(label="The caller's mood", show_label=False, elem_id=f"{prefix}-mood-plot")
        scores = gr.Plot(label="Your scores", show_label=False, elem_id=f"{prefix}-score-plot")
    with gr.Row():
        dl_md = gr.DownloadButton("Download Markdown", visible=False, elem_id=f"{prefix}-dl-md")
        dl_json = gr.DownloadButton("Download JSON", visible=False, elem_id=f"{prefix}-dl-json")
    md = gr.Markdown(elem_id=f"{prefix}-text", sanitize_html=True)
    with gr.Accordion("Transcript with annotations", open=False):
        transcript = gr.HTML(elem_id=f"{prefix}-transcript", js_on_load=None)
    return outcome, mood, scores, md, transcript, dl_md, dl_json


def launch_kwargs(settings: Settings, host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """The keyword arguments `launch` passes to `Blocks.launch` (tested: no share, no errors shown, ...)."""
    root = checkout_root()
    repo = [root / ".env", root / ".git"] if root else []
    blocked = [settings.data_dir, personas_dir(), prompts_dir(), *repo, Path.cwd() / ".env"]
    return {
        "server_name": host or settings.host,
        "server_port": port or settings.port,
        "share": False,
        "show_error": False,
        "allowed_paths": [],
        "blocked_paths": [str(p) for p in dict.fromkeys(Path(b).resolve() for b in blocked)],
        "max_file_size": "1mb",
        "auth": auth_from(settings),
        "auth_message": "Sign in to practise with Cooldown.",
        "footer_links": ["gradio", "settings"],
        "css": PAGE_CSS,
        "enable_monitoring": False,
        "pwa": False,
        "mcp_server": False,
    }


def launch(host: str | None = None, port: int | None = None) -> None:
    """Start the server (blocking)."""
    from simulator.runtime import start_idle_sweeper

    settings = load_settings()
    deps = default_deps(settings)
    sweeper = start_idle_sweeper(settings, deps.store)  # calls left open when a page or an app died
    try:
        demo = build(settings, deps)
        demo.queue(default_concurrency_limit=16, max_size=100)
        demo.launch(**launch_kwargs(settings, host, port))
    finally:
        sweeper.stop()


if __name__ == "__main__":
    launch()
