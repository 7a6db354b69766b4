"""What the page does when the trainee acts: one method per event, each returning named updates.

Every handler returns (or yields) a dict keyed by the components it changes (`Updates`); a component left
out keeps its value, as `gr.skip()` would. A handler that changes nothing returns `no_change()`: Gradio
reads an empty dict as a value, not as "no updates". Handlers validate their own inputs (the API reaches
them too) and turn every error into a short message on the page (`warn`), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from simulator.call.session import CallSession
from simulator.config import Settings
from simulator.errors import CallTakenOver, CooldownError, InputRejected
from simulator.persona.schema import DIFFICULTIES, Persona
from simulator.storage.records import SessionSummary
from simulator.ui.deps import AppDeps, clean_name
from simulator.ui.designer import lint_text, plan_preview, preview
from simulator.ui.layout import TURN_PLACEHOLDER, WAIT_PLACEHOLDER, Page, ReviewView
from simulator.ui.library import CallerLibrary
from simulator.ui.live import LiveCall
from simulator.ui.panels import persona_cards
from simulator.ui.review import history_choices, history_rows, new_download_dir, review, write_downloads

log = logging.getLogger("cooldown.app")

Updates = dict[Any, Any]
"""New values (or `gr.Component(...)` property updates) keyed by the component they go to."""

GRADE_WAIT_S = 20.0
"""How long ending a call waits for LLM grades still running (the rest are stored when they finish)."""
UNEXPECTED = "Something went wrong on our side. Your call so far is saved; try again."
NO_OPEN_CALL = (
    "No call is open on this page (it may have been reloaded, or the server restarted). Anything you said "
    "before is saved: see History. Pick a caller and press Start call to practise."
)
NO_OPEN_CALL_OFFER = (
    "No call is open on this page. If you had one going (the page was reloaded, or the server holding it "
    "stopped), it is saved: press **Continue your call** to pick it up where you left off; anything you typed "
    "stays in the box. Otherwise pick a caller and press Start call."
)
"""Without sign-in a turn carries no name, so the offer cannot say whether a call is open."""
OPEN_CALL = (
    "Your call with {caller} is saved and still open ({turns} of your turns so far). Press **Continue your "
    "call** to pick it up where you left off; anything you typed stays in the box."
)
"""Offered when this tab holds no call but the trainee has one open (another tab, or a server that stopped)."""
NO_NAME_FOR_HISTORY = "Type your name in the Call tab to see the calls kept under it."
"""What History's list says when the tab opens before a name is typed (no warning: it is no mistake)."""


def no_change() -> Updates:
    """Updates that leave every output as it is (`gr.skip()`; an empty dict would be taken as a value)."""
    return gr.skip()


def warn(message: str) -> str:
    """Show `message` as a Gradio warning toast; returns it as a status line."""
    gr.Warning(message)
    return f"⚠ {message}"


class PageHandlers:
    """The page's event handlers over its components, models and persona library.

    Shared by every browser session: per-trainee state arrives as the `live` and `downloads` inputs.
    """

    def __init__(
        self, page: Page, settings: Settings, deps: AppDeps, library: CallerLibrary, *, auth_on: bool
    ) -> None:
        self.page = page
        self.settings = settings
        self.deps = deps
        self.library = library
        self.auth_on = auth_on
        self.temp_root = Path(gr.utils.get_upload_folder())
        self._served_library = self._library_view()
        """The callers every page opens with (the page's config is built once, with the server)."""

    # -- helpers ---------------------------------------------------------------------------------

    def trainee_of(self, name: Any, request: gr.Request | None) -> str:
        """The signed-in user (with sign-in on), else the name typed in; `InputRejected` if neither."""
        if self.auth_on:
            user = getattr(request, "username", None)
            if not user:
                raise InputRejected("Sign in to practise.")
            return clean_name(user)
        return clean_name(name)

    def _downloads_dir(self, current: Any) -> Path:
        if isinstance(current, str) and Path(current).is_dir():
            return Path(current)
        return new_download_dir(self.temp_root)

    def _review(self, view: ReviewView, session_id: str, trainee: str, downloads: Any) -> Updates:
        """A stored call shown in `view`, with its download files written to the tab's folder."""
        item = review(self.deps.store, session_id, trainee=trainee)
        folder = self._downloads_dir(downloads)
        md_path, json_path = write_downloads(self.deps.store, item, folder)
        return {
            view.outcome: item.outcome_html,
            view.mood_plot: gr.Plot(value=item.mood_plot, visible=True),
            view.score_plot: gr.Plot(value=item.score_plot, visible=True),
            view.markdown: item.markdown,
            view.transcript: item.transcript_html,
            view.download_md: gr.DownloadButton(value=str(md_path), visible=True),
            view.download_json: gr.DownloadButton(value=str(json_path), visible=True),
            self.page.downloads: str(folder),
        }

    def _call_panels(self, live: LiveCall, *, working: bool) -> Updates:
        """The chat, mood, feedback, outcome and status of a running call (`working`: a reply is coming)."""
        call = self.page.call
        return {
            call.chat: live.messages(),
            call.mood: live.mood_html(),
            call.feedback: live.feedback_html(),
            call.status: (live.status or "…") if working else live.status,
            call.outcome: live.outcome_html(),
        }

    async def _open_call(self, name: Any, request: gr.Request | None) -> tuple[str, SessionSummary] | None:
        """(trainee, their newest call still open), or None (no name yet, no open call, database down)."""
        try:
            trainee = self.trainee_of(name, request)
            found = await asyncio.to_thread(self.deps.store.open_call, trainee)
        except CooldownError:
            return None
        return (trainee, found) if found is not None else None

    def caller_names(self) -> dict[str, str]:
        """Persona id -> the caller's name (identity.name), for the library as last read."""
        return {p.id: p.identity.name for p in self.library.personas()}

    def _offer(self, found: SessionSummary) -> str:
        caller = self.caller_names().get(found.persona_name, found.persona_name)
        return OPEN_CALL.format(caller=caller, turns=found.trainee_turns)

    # -- page load -------------------------------------------------------------------------------

    def _library_view(self) -> tuple[list[tuple[str, str]], list[Persona]]:
        return self.library.choices(), self.library.personas()

    def refresh_library(self, current: Any, designer_current: Any) -> Updates:
        """On page load: the library as it is now (files added or edited since the server started).

        An unchanged library changes nothing on the page, so a caller picked while the page was loading
        is not put back to the default.
        """
        self.library.reload()
        if self._library_view() == self._served_library:
            return no_change()
        choices = self.library.choices()
        pick = self.library.pick(current)
        designer_pick = designer_current if designer_current in self.library else pick
        setup = self.page.setup
        return {
            setup.persona: gr.Radio(choices=choices, value=pick),
            self.page.designer.persona: gr.Dropdown(choices=choices, value=designer_pick),
            setup.cards: persona_cards(self.library.personas(), selected=pick),
        }

    # -- picking a caller ------------------------------------------------------------------------

    def pick_card(self, event: gr.EventData) -> Updates:
        """A caller card was clicked (or Enter pressed on it): the picker follows."""
        try:
            persona_id = event.persona
        except (AttributeError, TypeError):  # a click event without our data
            return no_change()
        if persona_id not in self.library:
            return no_change()
        return {self.page.setup.persona: gr.Radio(value=persona_id)}

    def show_pick(self, persona_id: Any) -> Updates:
        """The trainee picked in the radio: the cards show the same caller picked."""
        return {self.page.setup.cards: persona_cards(self.library.personas(), selected=self.library.pick(persona_id))}

    # -- the call --------------------------------------------------------------------------------

    async def start_call(
        self, name: Any, persona_id: Any, difficulty: Any, mode: Any, live: LiveCall | None, request: gr.Request
    ) -> Updates:
        """Open a call with the picked caller (ending this tab's previous call, if one is open)."""
        call = self.page.call
        try:
            trainee = self.trainee_of(name, request)
            if persona_id not in self.library:
                self.library.reload()
            if persona_id not in self.library:
                raise InputRejected("Pick a caller from the library first.")
            if difficulty not in DIFFICULTIES:
                raise InputRejected("Pick a difficulty: easy, normal or hard.")
            if mode not in ("coach", "exam"):
                raise InputRejected("Pick coach or exam mode.")
            if live is not None and not live.ended:
                await live.finish(0)
            deps = self.deps
            session = CallSession.start(
                deps.store, self.library.path(persona_id), caller_model=deps.caller, local_grader=deps.local_grader,
                llm_grader=deps.llm_grader, difficulty=difficulty, trainee=trainee, mode=mode, settings=self.settings,
            )  # fmt: skip
        except CooldownError as exc:
            return {call.status: warn(str(exc))}
        except Exception:
            log.exception("start_call failed")
            return {call.status: warn(UNEXPECTED)}
        new = LiveCall(session, trainee=trainee, mode=mode, llm_grading=self.deps.llm_grader is not None)
        return {
            self.page.live: new,
            self.page.setup.column: gr.Column(visible=False),
            call.column: gr.Column(visible=True),
            **self._call_panels(new, working=False),
            call.status: f"On the line: {session.persona.identity.name} ({difficulty}, {mode} mode). Say hello.",
        }

    async def offer_continue(self, name: Any, live: LiveCall | None, request: gr.Request) -> Updates:
        """On page load (signed in) or when a name is typed: offer "Continue your call" for a call left open."""
        if live is not None and not live.ended:
            return no_change()
        open_call = await self._open_call(name, request)
        if open_call is None:
            return {self.page.setup.resume: gr.Button(visible=False)}
        return {self.page.setup.resume: gr.Button(visible=True), self.page.call.status: self._offer(open_call[1])}

    async def continue_call(self, name: Any, live: LiveCall | None, request: gr.Request) -> Updates:
        """Pick up the trainee's open call from storage: same persona snapshot, mood and transcript.

        This is how a call survives its instance: the tab's state died with the instance that held it, so
        another instance rebuilds the call from the database (`CallSession.resume`) and the trainee goes on.
        """
        call = self.page.call
        try:
            trainee = self.trainee_of(name, request)
            found = await asyncio.to_thread(self.deps.store.open_call, trainee)
            if found is None:
                raise InputRejected("You have no call left open. Pick a caller and press Start call.")
            if live is not None and not live.ended:
                if live.session.id == found.id:  # this tab's own call, taken over elsewhere: take it back
                    live.closed = True
                    await live.session.aclose()
                else:
                    await live.finish(0)
            deps = self.deps
            session = await CallSession.resume(
                deps.store, found.id, caller_model=deps.caller, local_grader=deps.local_grader,
                llm_grader=deps.llm_grader, settings=self.settings,
            )  # fmt: skip
            if session.ended:  # the replay found an outcome reached but never recorded: it is now
                raise InputRejected("That call had already ended; its debrief is in History.")
        except CooldownError as exc:
            return {call.status: warn(str(exc))}
        except Exception:
            log.exception("continue_call failed")
            return {call.status: warn(UNEXPECTED)}
        resumed = LiveCall.resumed(session, trainee=trainee, llm_grading=deps.llm_grader is not None)
        note = f"Back on the line with {session.persona.identity.name}: carry on where you left off."
        if session.pending_reply:
            note += " The caller's reply to your last message was lost; press Retry the caller to hear it."
        return {
            self.page.live: resumed,
            self.page.setup.column: gr.Column(visible=False),
            call.column: gr.Column(visible=True),
            **self._call_panels(resumed, working=False),
            call.status: note,
            **self._resume_hidden(),
        }

    def _offer_back(self, live: LiveCall) -> Updates:
        """"Continue your call" for a tab whose call was continued elsewhere (nothing otherwise)."""
        return {self.page.call.resume: gr.Button(visible=True)} if live.taken_over else {}

    def _resume_hidden(self) -> Updates:
        return {self.page.setup.resume: gr.Button(visible=False), self.page.call.resume: gr.Button(visible=False)}

    async def _no_call(self, request: gr.Request | None) -> Updates:
        """This tab holds no call (its instance stopped, the page was reloaded): offer "Continue your call".

        Signed in, the trainee is known, so the offer names their open call (or says how to start one).
        Without sign-in the turn carries no name (the API's inputs stay the text alone), so the button is
        offered and `continue_call` looks the call up under the name in the box.
        """
        call = self.page.call
        if not self.auth_on:
            return {call.status: warn(NO_OPEN_CALL_OFFER), call.resume: gr.Button(visible=True)}
        open_call = await self._open_call(None, request)
        if open_call is None:
            return {call.status: warn(NO_OPEN_CALL)}
        return {call.status: warn(self._offer(open_call[1])), call.resume: gr.Button(visible=True)}

    def lock_turn(self) -> Updates:
        """A turn is in flight: the box, Send and Retry are disabled until the caller has answered.

        Without this, text typed during the reply was silently dropped (Gradio ignores a trigger whose event
        is still running), or erased when the box was cleared as the previous turn was taken.
        """
        return self._turn_controls(enabled=False)

    def unlock_turn(self) -> Updates:
        """The turn is over (answered, refused or failed): the trainee can speak again."""
        return self._turn_controls(enabled=True)

    def _turn_controls(self, *, enabled: bool) -> Updates:
        call = self.page.call
        return {
            call.box: gr.Textbox(interactive=enabled, placeholder=TURN_PLACEHOLDER if enabled else WAIT_PLACEHOLDER),
            call.send: gr.Button(interactive=enabled),
            call.retry: gr.Button(interactive=enabled),
        }

    async def send(self, text: Any, live: LiveCall | None, request: gr.Request | None = None) -> AsyncIterator[Updates]:
        """Play one trainee turn; the chat and panels redraw as the caller's reply streams in.

        The input box is cleared once the turn is taken; text that is refused stays in it to be edited. A tab
        that holds no call (its instance stopped, the page was reloaded) is offered the trainee's open call.
        """
        call = self.page.call
        if live is None:
            yield await self._no_call(request)
            return
        if not isinstance(text, str):
            yield {call.status: warn("Type your reply to the caller as text.")}
            return
        try:
            cleared = False
            async for _ in live.send(text):
                yield self._call_panels(live, working=True) | ({} if cleared else {call.box: ""})
                cleared = True
            yield self._call_panels(live, working=False) | self._offer_back(live)
        except InputRejected as exc:
            yield {call.status: warn(str(exc))}
        except CallTakenOver as exc:
            yield {call.chat: live.messages(), call.status: warn(str(exc)), call.resume: gr.Button(visible=True)}
        except CooldownError as exc:
            yield {call.chat: live.messages(), call.status: warn(str(exc))}
        except Exception:
            log.exception("send failed")
            yield {call.chat: live.messages(), call.status: warn(UNEXPECTED)}

    async def retry(self, live: LiveCall | None, request: gr.Request | None = None) -> AsyncIterator[Updates]:
        """Ask the caller again after a reply that failed."""
        call = self.page.call
        if live is None:
            yield await self._no_call(request)
            return
        if live.ended or not live.session.pending_reply:
            yield {call.status: warn("There is no caller reply to retry; type your next message.")}
            return
        try:
            async for _ in live.retry():
                yield self._call_panels(live, working=True)
            yield self._call_panels(live, working=False)
        except CooldownError as exc:
            yield {call.status: warn(str(exc))}

    async def poll_grades(self, live: LiveCall | None) -> Updates:
        """Timer tick: LLM grades that finished since the last redraw."""
        if live is None or live.ended or not await live.poll_grades():
            return no_change()
        return {self.page.call.feedback: live.feedback_html()}

    async def end_call(self, live: LiveCall | None, downloads: Any) -> Updates:
        """The trainee ends the call: the debrief opens."""
        return await self._finish(live, downloads, by_trainee=True)

    async def after_turn(self, live: LiveCall | None, downloads: Any) -> Updates:
        """After each turn: if the caller ended the call, the debrief is ready (the tab stays)."""
        return await self._finish(live, downloads, by_trainee=False)

    async def _finish(self, live: LiveCall | None, downloads: Any, *, by_trainee: bool) -> Updates:
        call = self.page.call
        if live is None or not (by_trainee or live.ended):
            return {call.status: warn("There is no call to end.")} if by_trainee else no_change()
        try:
            if not live.closed:
                await live.finish(GRADE_WAIT_S)
            updates = self._review(self.page.debrief, live.session.id, live.trainee, downloads)
        except CooldownError as exc:
            return {call.status: warn(str(exc))}
        except Exception:
            log.exception("finish failed")
            return {call.status: warn(UNEXPECTED)}
        updates |= {
            call.feedback: live.feedback_html(reveal=True),
            call.status: "The call has ended. Your debrief is ready in the Debrief tab.",
        }
        if by_trainee:
            updates[self.page.tabs] = gr.Tabs(selected="debrief")
        return updates

    def new_call(self) -> Updates:
        """Back to picking a caller."""
        page = self.page
        return {
            page.setup.column: gr.Column(visible=True),
            page.call.column: gr.Column(visible=False),
            page.call.status: "Pick a caller and press Start call.",
        }

    # -- history ---------------------------------------------------------------------------------

    def list_history(self, name: Any, request: gr.Request, picked: Any = None) -> Updates:
        """The trainee's past calls, newest first (`picked` stays picked while it is still listed)."""
        view = self.page.history
        try:
            trainee = self.trainee_of(name, request)
            sessions = self.deps.store.list_sessions(trainee, limit=200)
        except CooldownError as exc:
            return {view.status: warn(str(exc))}
        note = f"{len(sessions)} call(s) for {trainee}." if sessions else f"No calls yet for {trainee}."
        names = self.caller_names()
        keep = picked if any(s.id == picked for s in sessions) else None
        return {
            view.table: history_rows(sessions, names),
            view.picker: gr.Dropdown(choices=history_choices(sessions, names), value=keep),
            view.status: note,
        }

    def history_on_open(self, name: Any, picked: Any, request: gr.Request) -> Updates:
        """The History tab was opened: the list as it is now, or (quietly) where to type a name first."""
        try:
            self.trainee_of(name, request)
        except InputRejected:
            return {self.page.history.status: NO_NAME_FOR_HISTORY}
        return self.list_history(name, request, picked)

    def open_past(self, session_id: Any, name: Any, downloads: Any, request: gr.Request) -> Updates:
        """One of the trainee's past calls, reviewed as the debrief shows it."""
        view = self.page.history
        if not isinstance(session_id, str) or not session_id:
            return {view.status: warn("Pick a call from the list first.")}
        try:
            return self._review(view.review, session_id, self.trainee_of(name, request), downloads) | {view.status: ""}
        except CooldownError as exc:
            return {view.status: warn(str(exc))}

    # -- persona designer ------------------------------------------------------------------------

    def show_persona(self, persona_id: Any, difficulty: Any) -> Updates:
        """A persona's facts, emotional model and rendered caller prompt."""
        view = self.page.designer
        if persona_id not in self.library or difficulty not in DIFFICULTIES:
            return {view.tokens: warn("Pick a persona and a difficulty.")}
        try:
            facts, prompt, tokens = preview(self.library.path(persona_id), difficulty)
        except CooldownError as exc:
            return {view.tokens: warn(str(exc))}
        return {view.facts: facts, view.prompt: prompt, view.tokens: tokens}

    async def plan_reply(self, persona_id: Any, difficulty: Any, said: Any) -> Updates:
        """The caller's plan for a first trainee line: act, fact, why, and the persona's own line."""
        out = self.page.designer.plan_out
        if persona_id not in self.library or difficulty not in DIFFICULTIES:
            return {out: warn("Pick a persona and a difficulty.")}
        if not isinstance(said, str) or not said.strip():
            return {out: warn("Type what the trainee says first.")}
        try:
            return {out: await plan_preview(self.library.path(persona_id), difficulty, said, self.deps.local_grader)}
        except CooldownError as exc:
            return {out: warn(str(exc))}

    def lint(self, text: Any, filename: Any) -> Updates:
        """Problems in pasted persona YAML, as `file:line:col: field: message` lines."""
        out = self.page.designer.lint_out
        if not isinstance(text, str) or not text.strip():
            return {out: warn("Paste a persona YAML file first.")}
        name = filename.strip() if isinstance(filename, str) else ""
        problems = lint_text(text, name)
        return {out: "\n".join(problems) if problems else "No problems: this persona loads."}
