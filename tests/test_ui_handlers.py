"""The page's handlers called directly (no server, no browser): each returns updates keyed by component."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest

from simulator.config import load_settings
from simulator.llm.fake import FakeChatModel
from simulator.persona.library import default_library
from simulator.storage import Store
from simulator.ui.deps import AppDeps, local_grader
from simulator.ui.handlers import NO_NAME_FOR_HISTORY, NO_OPEN_CALL_OFFER, PageHandlers
from simulator.ui.layout import Page, page_layout
from simulator.ui.library import CallerLibrary


@pytest.fixture
def page() -> Iterator[tuple[Page, PageHandlers]]:
    settings = load_settings(llm_grading=False)
    store = Store.open(settings.database_url, settings.data_dir)
    deps = AppDeps(FakeChatModel(default_reply="I was home all day."), local_grader(), None, store)
    library = CallerLibrary(default_library(settings))
    with gr.Blocks():
        layout = page_layout("", library, ask_name=True, max_turn_chars=settings.max_turn_chars, llm_on=False)
    yield layout, PageHandlers(layout, settings, deps, library, auth_on=False)
    store.close()


def _run(gen: Any) -> list[dict[Any, Any]]:
    async def collect() -> list[dict[Any, Any]]:
        return [update async for update in gen]

    return asyncio.run(collect())


def test_a_call_start_to_end_through_named_updates(page: tuple[Page, PageHandlers]) -> None:
    layout, h = page
    call = layout.call
    started = asyncio.run(h.start_call("Sam", "backfire_brian", "normal", "coach", None, None))
    live = started[layout.live]
    assert "On the line: Brian Keller" in started[call.status]
    assert started[call.column].visible is True and started[layout.setup.column].visible is False

    updates = _run(h.send("I'm sorry. What happened while you waited?", live))
    assert updates[0][call.box] == "" and all(call.box not in u for u in updates[1:])
    last = updates[-1]
    assert set(last) == {call.chat, call.mood, call.feedback, call.status, call.outcome}
    assert "What happened" in str(last[call.chat]) and 'data-turn="1"' in last[call.mood]

    ended = asyncio.run(h.end_call(live, None))
    assert ended[layout.tabs].selected == "debrief"
    assert "Debrief" in ended[layout.debrief.markdown] and ended[layout.downloads]
    # the plots show with a call: before one, the tab had two empty plot frames
    assert layout.debrief.mood_plot.visible is False and layout.history.review.score_plot.visible is False
    assert ended[layout.debrief.mood_plot].visible and ended[layout.debrief.score_plot].value is not None


def test_refusals_only_touch_the_status_line(page: tuple[Page, PageHandlers]) -> None:
    layout, h = page
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        no_call = _run(h.send("hello", None))
        bad_name = asyncio.run(h.start_call("", "backfire_brian", "normal", "coach", None, None))
        no_caller = asyncio.run(h.start_call("Sam", "nobody_here", "normal", "coach", None, None))
        nothing_to_end = asyncio.run(h.end_call(None, None))
    assert list(no_call[0]) == [layout.call.status, layout.call.resume]  # a tab without its call is offered one
    assert no_call[0][layout.call.status] == f"⚠ {NO_OPEN_CALL_OFFER}" and no_call[0][layout.call.resume].visible
    assert list(bad_name) == [layout.call.status] and "name" in bad_name[layout.call.status]
    assert list(no_caller) == [layout.call.status] and "Pick a caller" in no_caller[layout.call.status]
    assert nothing_to_end == {layout.call.status: "⚠ There is no call to end."}
    # "nothing to do" must be gr.skip(): Gradio takes an empty dict as a value (and fails on 11 outputs)
    assert asyncio.run(h.after_turn(None, None)) == gr.skip()
    assert asyncio.run(h.poll_grades(None)) == gr.skip()


def test_a_page_load_changes_nothing_while_the_library_is_as_served(page: tuple[Page, PageHandlers]) -> None:
    _, h = page
    # the page opens with the library the server was built with: a reload must not undo a pick in progress
    assert h.refresh_library("dana_delayed_order", "grace_grieving") == gr.skip()


def test_a_card_click_picks_a_caller_of_the_library_only(page: tuple[Page, PageHandlers]) -> None:
    layout, h = page
    picked = h.pick_card(gr.EventData(None, {"persona": "dana_delayed_order"}))
    assert picked[layout.setup.persona].value == "dana_delayed_order"
    for data in ({"persona": "../../etc/passwd"}, {"persona": ["x"]}, {}, None):
        assert h.pick_card(gr.EventData(None, data)) == gr.skip()
    cards = h.show_pick("grace_grieving")[layout.setup.cards]
    assert 'data-persona="grace_grieving" role="button" tabindex="0" aria-pressed="true"' in cards
    assert cards.count('aria-pressed="true"') == 1


def test_a_tab_without_its_call_continues_the_trainees_open_call(page: tuple[Page, PageHandlers]) -> None:
    """The instance that held the tab's call is gone: this one rebuilds the call from the database."""
    layout, h = page
    call, setup = layout.call, layout.setup
    first = asyncio.run(h.start_call("Ria", "backfire_brian", "normal", "coach", None, None))[layout.live]
    _run(h.send("I'm sorry. What happened while you waited?", first))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nobody = asyncio.run(h.continue_call("Nobody Here", None, None))
    assert "no call left open" in nobody[call.status]
    offered = asyncio.run(h.offer_continue("Ria", None, None))
    assert offered[setup.resume].visible and "Brian Keller" in offered[call.status]
    assert "1 of your turns" in offered[call.status]

    resumed = asyncio.run(h.continue_call("Ria", None, None))
    live = resumed[layout.live]
    assert live.session.id == first.session.id and live.session.state == first.session.state
    assert resumed[call.chat] == first.messages() and "Back on the line" in resumed[call.status]
    assert not resumed[setup.resume].visible and not resumed[call.resume].visible
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused = _run(h.send("Are you still there?", first))  # the old tab lost its voice
    assert "continued in another window" in refused[-1][call.status] and refused[-1][call.resume].visible
    updates = _run(h.send("Let me look at the tracking with you.", live))
    assert "Let me look" in str(updates[-1][call.chat])


def test_signed_in_the_offer_names_the_open_call(page: tuple[Page, PageHandlers]) -> None:
    layout, h = page
    signed_in = PageHandlers(layout, h.settings, h.deps, h.library, auth_on=True)
    request: Any = SimpleNamespace(username="zoe")
    asyncio.run(signed_in.start_call(None, "backfire_brian", "normal", "coach", None, request))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        no_call = _run(signed_in.send("hello", None, request))
    assert "Brian Keller" in no_call[0][layout.call.status] and no_call[0][layout.call.resume].visible
    assert asyncio.run(signed_in.offer_continue(None, None, request))[layout.setup.resume].visible


def test_history_lists_the_calls_as_it_opens_and_keeps_the_pick(page: tuple[Page, PageHandlers]) -> None:
    layout, h = page
    history = layout.history
    live = asyncio.run(h.start_call("Uma", "backfire_brian", "normal", "coach", None, None))[layout.live]
    asyncio.run(h.end_call(live, None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opening History before typing a name is no mistake: no toast
        assert h.history_on_open("", None, None) == {history.status: NO_NAME_FOR_HISTORY}
    opened = h.history_on_open("Uma", None, None)
    assert opened[history.status] == "1 call(s) for Uma." and opened[history.table][0][1] == "Brian Keller"
    assert opened[history.picker].value is None
    again = h.history_on_open("Uma", live.session.id, None)  # back to the tab: the call picked stays picked
    assert again[history.picker].value == live.session.id
    assert h.history_on_open("Uma", "not-a-listed-id", None)[history.picker].value is None


def test_the_history_and_designer_tabs_fill_themselves_as_they_open(tmp_path: Any) -> None:
    """Opening History draws the trainee's progress, opening the designer shows the picked persona (and so
    does picking another persona or difficulty): no empty frames waiting for a button."""
    from simulator.ui.app import build

    settings = load_settings(llm_grading=False, data_dir=tmp_path)
    store = Store.open(settings.database_url, settings.data_dir)
    demo = build(settings, AppDeps(FakeChatModel(), local_grader(), None, store))
    assert {("tab designer", "select"), ("Persona", "input"), ("Difficulty", "input")} <= _triggers(
        demo, "show_persona"
    )
    assert ("tab history", "select") in _triggers(demo, "my_progress_on_open")
    assert ("tab history", "select") in _triggers(demo, "history_on_open")
    store.close()


def _triggers(demo: gr.Blocks, handler: str) -> set[tuple[str, str]]:
    """(what fires it, event) for every event wired to `handler`: a tab by its id, a component by its label."""
    def name(block: Any) -> str:
        return f"tab {block.id}" if isinstance(block, gr.Tab) else str(getattr(block, "label", block))

    return {(name(demo.blocks[block]), event) for fn in demo.fns.values()
            if getattr(fn.fn, "__name__", "") == handler for block, event in fn.targets}  # fmt: skip
