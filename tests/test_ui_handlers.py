"""The page's handlers called directly (no server, no browser): each returns updates keyed by component."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import gradio as gr
import pytest

from simulator.config import load_settings
from simulator.llm.fake import FakeChatModel
from simulator.persona.library import default_library
from simulator.storage import Store
from simulator.ui.deps import AppDeps, local_grader
from simulator.ui.handlers import NO_OPEN_CALL, PageHandlers
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


def test_refusals_only_touch_the_status_line(page: tuple[Page, PageHandlers]) -> None:
    layout, h = page
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        no_call = _run(h.send("hello", None))
        bad_name = asyncio.run(h.start_call("", "backfire_brian", "normal", "coach", None, None))
        no_caller = asyncio.run(h.start_call("Sam", "nobody_here", "normal", "coach", None, None))
        nothing_to_end = asyncio.run(h.end_call(None, None))
    assert no_call == [{layout.call.status: f"⚠ {NO_OPEN_CALL}"}]
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
