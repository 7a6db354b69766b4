"""Cooldown's web page: the trainee's whole call in the browser (Gradio wiring over `simulator`).

Run with `cooldown app` (or `make run`; the top-level `app.py` runs it too): 127.0.0.1:7860 by default,
no share links, no analytics.
Tabs: Call (pick a caller, play the call with a live mood panel and per-turn feedback), Debrief (plots,
debrief, annotated transcript, downloads), History (your past calls and your progress across them), Persona
designer (preview, lint), Label (raters label trainee turns with the rubric; `simulator.ui.labelling`), and
Trainer (the cohort's progress; only for users with the trainer role).

This module builds the page and starts the server: the components are laid out in `layout`, the event
handlers live in `handlers` (each returns updates keyed by component), and `_wire` connects the two.
Per-browser state lives in `gr.State` (a `LiveCall`, the trainee's download folder); models, graders and
the store are shared and hold nothing per trainee. Every handler validates its inputs itself; errors reach
the trainee as a short message (gr.Warning and the status line), never a traceback.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path
from typing import Any

import gradio as gr

from simulator.config import Settings, load_settings
from simulator.errors import CooldownError
from simulator.persona.library import default_library, parse_folders
from simulator.resources import checkout_root, personas_dir, prompts_dir
from simulator.ui.deps import AppDeps, auth_from, default_deps, raters_from, trainers_from
from simulator.ui.handlers import PageHandlers
from simulator.ui.label_handlers import LabelHandlers, wire_label
from simulator.ui.layout import Page, page_layout
from simulator.ui.library import CallerLibrary
from simulator.ui.panels import PAGE_CSS, models_banner
from simulator.ui.progress import ProgressHandlers, wire_progress


def build(settings: Settings, deps: AppDeps | None = None) -> gr.Blocks:
    """The page.

    Args:
        settings: Limits, data paths, models and persona folders (`COOLDOWN_PERSONAS`).
        deps: Models, graders and store to use (tests pass fakes); default: the configured ones.

    Raises:
        CooldownError: The persona library holds no valid persona.
    """
    deps = deps or default_deps(settings)
    source = default_library(settings)
    library = CallerLibrary(source)
    if not library:
        where = ", ".join(str(f) for f in source.folders)
        raise CooldownError(f"no valid persona files in {where}; run `cooldown personas lint`")
    auth_on = auth_from(settings) is not None
    banner = models_banner(deps.caller.info, deps.grader_names(), llm_grader=deps.grader_info)
    with gr.Blocks(title="Cooldown", analytics_enabled=False) as demo:
        page = page_layout(
            banner, library, ask_name=not auth_on, max_turn_chars=settings.max_turn_chars,
            llm_on=deps.llm_grader is not None, label_dir=settings.resolved_label_dir(),
        )  # fmt: skip
        handlers = PageHandlers(page, settings, deps, library, auth_on=auth_on)
        _wire(page, handlers)
        raters = raters_from(settings)
        wire_label(page.label, LabelHandlers(page.label, settings.resolved_label_dir(), auth_on=auth_on, raters=raters),
                   demo)  # fmt: skip
        wire_progress(page, ProgressHandlers(handlers, trainers_from(settings)), demo)
        setup, designer = page.setup, page.designer
        demo.load(  # the library as it is now: persona files added since the server started show on a reload
            handlers.refresh_library, [setup.persona, designer.persona], [setup.persona, designer.persona, setup.cards],
            api_visibility="private", queue=False, show_progress="hidden",
        )  # fmt: skip
        if auth_on:  # signed in, the trainee is known at once: offer a call left open (another tab, a dead server)
            demo.load(
                handlers.offer_continue, [setup.name, page.live], [setup.resume, page.call.status],
                api_visibility="private", show_progress="hidden",
            )  # fmt: skip
    return demo


def _wire(page: Page, h: PageHandlers) -> None:
    """Connect the components' events to the handlers.

    The outputs lists of the API endpoints (`start_call`, `send`, `end_call`, `lint`) keep their order: API
    clients read results by position.
    """
    setup, call, history, designer = page.setup, page.call, page.history, page.designer
    quick_offer: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    state = [page.live, page.downloads]
    debrief_out = [*page.debrief.components(), page.downloads, call.feedback, call.status, page.tabs]
    turn_out = [call.chat, call.mood, call.feedback, call.status, call.outcome, call.box, call.resume]
    call_out = [page.live, setup.column, call.column, call.chat, call.mood, call.feedback, call.status, call.outcome]
    setup.start.click(
        h.start_call, [setup.name, setup.persona, setup.difficulty, setup.mode, page.live], call_out,
        api_name="start_call", api_visibility="undocumented",
    )  # fmt: skip
    # A call survives its instance: a tab (or a new page) without its call is offered the trainee's open one,
    # rebuilt from the database by whichever instance the request reaches.
    for button in (setup.resume, call.resume):
        button.click(
            h.continue_call, [setup.name, page.live], [*call_out, setup.resume, call.resume],
            api_name="continue_call" if button is setup.resume else "continue_call_here",
            api_visibility="undocumented" if button is setup.resume else "private",
        )  # fmt: skip
    for trigger in (setup.name.blur, setup.name.submit):
        trigger(h.offer_continue, [setup.name, page.live], [setup.resume, call.status], **quick_offer)
    # The cards pick a caller. Only the radio's .input (the trainee's own picks, not the cards') redraws the
    # cards: redrawn after a card click, they would lose the keyboard focus. Both steps are instant, so they
    # skip the queue (whose progress overlay would flash over the cards).
    quick: dict[str, Any] = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    setup.cards.click(h.pick_card, None, [setup.persona], **quick)
    setup.persona.input(h.show_pick, [setup.persona], [setup.cards], **quick)
    # A turn in flight locks the box, Send and Retry (queue=False: at once) until its reply is in. The
    # unlock also hangs on .failure: Gradio's page runs no .then step after a step that raised.
    controls = call.turn_controls()

    def locked_turn(trigger: Any, fn: Any, inputs: list[Any], **turn: Any) -> None:
        taken = trigger(h.lock_turn, None, controls, **quick).then(fn, inputs, turn_out, concurrency_id="turn", **turn)
        after = taken.then(h.after_turn, state, debrief_out, api_visibility="private", show_progress="hidden")
        for step in (taken.failure, after.then, after.failure):
            step(h.unlock_turn, None, controls, **quick)

    for trigger, api in ((call.box.submit, "send"), (call.send.click, "send_button")):
        locked_turn(trigger, h.send, [call.box, page.live], api_name=api, api_visibility="undocumented")
    locked_turn(call.retry.click, h.retry, [page.live], api_name="retry", api_visibility="undocumented")
    call.end.click(h.end_call, state, debrief_out, api_name="end_call", api_visibility="undocumented")
    call.again.click(h.new_call, None, [setup.column, call.column, call.status], api_visibility="private")
    page.timer.tick(h.poll_grades, [page.live], [call.feedback], api_visibility="private", show_progress="hidden")

    listed = [history.table, history.picker, history.status]
    history.refresh.click(h.list_history, [setup.name], listed, api_visibility="private")
    # listed as the tab opens (the progress below is drawn then too): no empty table waiting for a click
    history.tab.select(h.history_on_open, [setup.name, history.picker], listed, api_visibility="private")
    history.open.click(
        h.open_past, [history.picker, setup.name, page.downloads],
        [*history.review.components(), page.downloads, history.status], api_visibility="private",
    )  # fmt: skip

    # The picked persona shows as the tab opens and on every pick: no blank tab waiting for a click.
    preview_out = [designer.facts, designer.prompt, designer.tokens]
    for trigger in (designer.tab.select, designer.persona.input, designer.level.input, designer.show.click):
        trigger(h.show_persona, [designer.persona, designer.level], preview_out, api_visibility="private")
    designer.try_plan.click(
        h.plan_reply, [designer.persona, designer.level, designer.try_line], [designer.plan_out],
        api_visibility="private",
    )  # fmt: skip
    designer.lint.click(
        h.lint, [designer.lint_src, designer.lint_name], [designer.lint_out], api_name="lint",
        api_visibility="undocumented",
    )  # fmt: skip


def launch_kwargs(settings: Settings, host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """The keyword arguments `launch` passes to `Blocks.launch` (tested: no share, no errors shown, ...)."""
    root = checkout_root()
    repo = [root / ".env", root / ".git"] if root else []
    designers = parse_folders(settings.personas)  # COOLDOWN_PERSONAS: never served, like the built-in ones
    blocked = [settings.data_dir, settings.resolved_label_dir(), personas_dir(), *designers, prompts_dir(), *repo,
               Path.cwd() / ".env"]  # fmt: skip
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
    """Start the server (blocking).

    Gradio's own start-up lines are silenced (`quiet`): they end with "To create a public link, set
    `share=True`", and Cooldown makes no share links. One line of ours says where the page is. Calls left
    open when a page or an app died are swept as abandoned, at start-up and then every minute.
    """
    from simulator.runtime import start_idle_sweeper

    settings = load_settings()
    deps = default_deps(settings)
    sweeper = start_idle_sweeper(settings, deps.store)
    try:
        demo = build(settings, deps)
        demo.queue(default_concurrency_limit=16, max_size=100)
        demo.launch(**launch_kwargs(settings, host, port), quiet=True, prevent_thread_lock=True)
        print(f"Cooldown is running on {demo.local_url} (no share link). Press Ctrl+C to stop.", flush=True)
        demo.block_thread()
    finally:
        sweeper.stop()


if __name__ == "__main__":
    launch()
