"""Page behaviours in headless Chromium, on a slow scripted caller (the page built in-process, no LLM).

- The caller cards are the picker: a click, or Tab + Enter, selects that caller.
- A turn in flight locks the input: while the caller answers, the box and Send are disabled, so nothing
  typed can be silently dropped; both come back when the reply is in.
- The debrief is titled with the caller's name, not the persona id.
- No event step fails on the server along the way (each failed step is recorded as the page marks it).

The page runs on `FakeChatModel(latency_s=...)`, so a caller reply takes seconds, as a real one does.
Screenshots go to .cooldown-cache/screenshots/ (COOLDOWN_UPDATE_SCREENSHOTS=1: docs/screenshots/).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import chromium, screenshots_dir, served_in_process, wait_settled

from simulator.config import load_settings
from simulator.llm.fake import FakeChatModel
from simulator.storage import Store
from simulator.ui.deps import AppDeps, local_grader

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SLOW_REPLY_S = 6.0
"""How long the scripted caller takes to start answering."""
REPLY = "I was home all day and nobody knocked."


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("page-data")
    settings = load_settings(data_dir=data, llm_grading=False)
    with Store.open(settings.database_url, settings.data_dir) as store:
        caller = FakeChatModel(default_reply=REPLY, latency_s=SLOW_REPLY_S)
        with served_in_process(settings, AppDeps(caller, local_grader(), None, store)) as url:
            yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


FAILED_STEPS = """
window.__failedSteps = [];
new MutationObserver(() => document.querySelectorAll('.toast-body.error, span.error').forEach(e => {
    if (!e.dataset.seen) { e.dataset.seen = '1'; window.__failedSteps.push(e.textContent.trim()); }
})).observe(document, {subtree: true, childList: true});
"""
"""Records every event step that failed on the server. With show_error=False Gradio shows no toast, only an
"Error" mark on the step's outputs (often in a tab not shown), so a failing handler is easy to miss."""


@pytest.fixture
def page(browser: Any, page_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    context.add_init_script(FAILED_STEPS)
    page = context.new_page()
    page.goto(page_url)
    page.locator(".cd-card").first.wait_for()
    wait_settled(page)
    yield page
    context.close()


def _start(page: Any, name: str) -> None:
    page.locator("#trainee-name textarea, #trainee-name input").first.fill(name)
    page.locator("#start-call").click()
    page.locator('#call-chat [data-testid="bot"]').first.wait_for(timeout=30_000)


def _failed_steps(page: Any) -> list[str]:
    return list(page.evaluate("() => window.__failedSteps"))


def _replies(page: Any) -> int:
    return int(page.locator('#call-chat [data-testid="bot"]').count())


def _wait_replies(page: Any, n: int) -> None:
    page.wait_for_function(
        """n => document.querySelectorAll('#call-chat [data-testid="bot"]').length >= n
              && !((document.querySelector('#status') || {}).innerText || '').includes('…')""",
        arg=n,
        timeout=60_000,
    )


def test_the_input_is_locked_while_a_turn_is_in_flight_and_no_turn_is_lost(page: Any) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    _start(page, "Flight")
    box, send = page.locator("#turn-box textarea"), page.locator("#send")
    first, second = "I'm so sorry. What happened while you waited?", "SECOND: That sounds exhausting."
    box.fill(first)
    send.click()
    # the turn is taken (it shows in the chat); the caller is still thinking
    page.locator("#call-chat").get_by_text(first).wait_for(timeout=30_000)
    assert _replies(page) == 1, "the scripted caller answered too fast to test a turn in flight"
    locked = {"send": send.is_disabled(), "box": box.is_disabled(), "retry": page.locator("#retry").is_disabled()}
    expect(box).to_have_attribute("placeholder", re.compile("answering"))
    page.screenshot(path=str(screenshots_dir() / "08-turn-in-flight.png"), full_page=True)
    # try to say something else before the caller has answered: the page must not take it and drop it
    try:
        box.fill(second, timeout=1_000)
        send.click(timeout=1_000)
    except PlaywrightTimeout:
        pass  # disabled: nothing can be typed or sent
    typed = box.input_value() == second
    _wait_replies(page, 2)
    lost = typed and second not in str(page.locator("#call-chat").inner_text())
    assert not lost, "a turn typed while the caller answered stayed in the box, unsent and unexplained"
    assert locked == {"send": True, "box": True, "retry": True}, locked

    expect(send).to_be_enabled(timeout=10_000)
    expect(box).to_be_editable(timeout=10_000)
    expect(box).to_have_attribute("placeholder", re.compile("Type what you say"))
    box.fill(second)
    box.press("Enter")
    page.locator("#call-chat").get_by_text(second).wait_for(timeout=30_000)
    _wait_replies(page, 3)
    expect(box).to_have_value("", timeout=10_000)

    page.locator("#end-call").click()
    debrief = page.locator("#debrief-text")
    expect(debrief).to_contain_text("Debrief: call with Brian Keller", timeout=60_000)
    for said in (first, second):
        assert said in debrief.inner_text()
    assert _failed_steps(page) == []


def test_clicking_a_caller_card_picks_that_caller(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator('.cd-card[data-persona="dana_delayed_order"]').click()
    expect(page.get_by_label("Dana Okafor — anxious")).to_be_checked(timeout=10_000)
    expect(page.locator('.cd-card[data-persona="dana_delayed_order"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator('.cd-card[data-persona="backfire_brian"]')).to_have_attribute("aria-pressed", "false")

    # keyboard: Tab from the name box reaches the cards; Enter picks the focused one
    page.locator("#trainee-name textarea, #trainee-name input").first.focus()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement?.dataset?.persona") == "grace_grieving":
            break
    else:
        pytest.fail("Tab never reached Grace Whitfield's card")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Grace Whitfield — grieving")).to_be_checked(timeout=10_000)
    assert page.evaluate("() => document.activeElement?.dataset?.persona") == "grace_grieving", "focus lost"
    page.screenshot(path=str(screenshots_dir() / "09-caller-picked-by-card.png"), full_page=True)

    # the radio still works, and the cards follow it
    page.get_by_label("Kofi Asante — hot-headed but fair").check()
    expect(page.locator('.cd-card[data-persona="kofi_roaming_bill"]')).to_have_attribute(
        "aria-pressed", "true", timeout=10_000
    )
    page.locator('.cd-card[data-persona="grace_grieving"]').click()
    _start(page, "Picker")
    expect(page.locator("#status")).to_contain_text("On the line: Grace Whitfield", timeout=10_000)
    assert _failed_steps(page) == []
